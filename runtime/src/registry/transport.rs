//! How peti reaches a registry: HTTPS unless the registry is on this
//! machine (`localhost`, 127.0.0.0/8, `::1`) or `--tls-verify=false` says
//! otherwise, as Docker decides; the CAs it trusts; and timeouts that turn a
//! registry that cannot be reached, or stops answering, into an error that
//! names it rather than a command that hangs.
//!
//! Docker's rule for a registry that may speak plain HTTP is to try HTTPS
//! first and fall back only when the server does not speak TLS at all; a
//! certificate that does not verify is an error, not a reason to fall back.
//! A CA of one's own goes in `certs.d/HOST:PORT/ca.crt` (Docker's layout,
//! under `/etc/peti/certs.d`, or `$PETI_CERTS_D`).
//!
//! A transport also carries the login: the challenge the registry answered
//! its first request (`GET /v2/`) with, the credentials kept for it, and the
//! `Authorization` header they turn into (see [`super::auth`]).

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};

use super::auth::{self, Challenge, ChallengeError, Credentials};
use super::credentials::{ConfigFile, CredentialsError};

/// Where extra CAs are looked for, per registry: Docker's layout.
pub const CERTS_D: &str = "/etc/peti/certs.d";

/// Docker Hub's API host: `docker.io` names the registry, this serves it.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--tls-verify=false`: plain HTTP allowed, and certificates not checked.
    pub insecure: bool,
    /// The `certs.d` folder.
    pub certs_dir: PathBuf,
    /// Where logins are kept (Docker's config.json); `None`: anonymous.
    pub logins: Option<ConfigFile>,
    /// The most a push sends in one request: a larger blob goes in PATCH
    /// chunks of this size.
    pub chunk_size: u64,
}

/// [`Options::chunk_size`] by default: most layers go whole.
pub const CHUNK_SIZE: u64 = 64 << 20;

impl Default for Options {
    fn default() -> Options {
        Options {
            insecure: false,
            certs_dir: std::env::var_os("PETI_CERTS_D")
                .map_or_else(|| PathBuf::from(CERTS_D), PathBuf::from),
            logins: ConfigFile::locate().ok(),
            chunk_size: CHUNK_SIZE,
        }
    }
}

/// Why a registry could not be talked to.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot reach the registry {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error(
        "the registry {host}'s TLS certificate is not trusted ({detail}): put the CA that signed it at {ca}, or use --tls-verify=false"
    )]
    Certificate {
        host: String,
        detail: String,
        ca: PathBuf,
    },
    #[error("{host}: {detail}")]
    Http { host: String, detail: String },
    #[error("reading {0}: {1}")]
    Ca(PathBuf, String),
    #[error("{host}: {source}")]
    Challenge {
        host: String,
        source: ChallengeError,
    },
    #[error(transparent)]
    Logins(#[from] CredentialsError),
    #[error("{host}: unauthorized: {detail}")]
    Unauthorized { host: String, detail: String },
    #[error(
        "{host}: its token service {realm} is plain HTTP on another machine, and would see the password: refused (--tls-verify=false allows it)"
    )]
    PlainRealm { host: String, realm: String },
}

impl TransportError {
    /// ureq's error, in words that say what to do.
    pub fn from_ureq(host: &str, error: ureq::Error) -> TransportError {
        let host = host.to_string();
        match error {
            ureq::Error::Timeout(what) => TransportError::Unreachable {
                host,
                detail: format!(
                    "no answer in time ({what:?}): is it running, and is this machine online?"
                ),
            },
            ureq::Error::HostNotFound => TransportError::Unreachable {
                host,
                detail: "its name does not resolve (no network, or a wrong name)".into(),
            },
            ureq::Error::ConnectionFailed => TransportError::Unreachable {
                host,
                detail: "the connection failed".into(),
            },
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                TransportError::Unreachable {
                    host,
                    detail: "connection refused: nothing listens there".into(),
                }
            }
            // rustls's verdict on a certificate comes through an io::Error.
            ureq::Error::Io(e) if e.to_string().contains("certificate") => {
                TransportError::Certificate {
                    host,
                    detail: e.to_string(),
                    ca: PathBuf::from(CERTS_D),
                }
            }
            ureq::Error::Io(e) => TransportError::Unreachable {
                host,
                detail: e.to_string(),
            },
            ureq::Error::Rustls(e) => {
                let ca = PathBuf::from(CERTS_D).join(&host).join("ca.crt");
                TransportError::Certificate {
                    host,
                    detail: e.to_string(),
                    ca,
                }
            }
            ureq::Error::TooManyRedirects => TransportError::Http {
                host,
                detail: "too many redirects (a redirect loop?)".into(),
            },
            other => TransportError::Http {
                host,
                detail: other.to_string(),
            },
        }
    }

    /// A certificate error names where this registry's CA goes.
    fn with_ca(self, ca: &std::path::Path) -> TransportError {
        match self {
            TransportError::Certificate { host, detail, .. } => TransportError::Certificate {
                host,
                detail,
                ca: ca.to_path_buf(),
            },
            other => other,
        }
    }

    /// An error while a body streams.
    pub fn body(host: &str, error: std::io::Error) -> TransportError {
        match error
            .get_ref()
            .and_then(|e| e.downcast_ref::<ureq::Error>())
        {
            Some(ureq::Error::Timeout(_)) => TransportError::Unreachable {
                host: host.to_string(),
                detail: "it stopped sending in the middle of a blob".into(),
            },
            _ => TransportError::Unreachable {
                host: host.to_string(),
                detail: error.to_string(),
            },
        }
    }
}

/// A registry on this machine, where Docker allows plain HTTP.
pub fn is_local(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An agent that reaches one registry, with the scheme it speaks and the
/// login it uses. Clones share the `Authorization` header, so a token one
/// download thread refreshes serves them all.
#[derive(Clone)]
pub struct Transport {
    agent: ureq::Agent,
    base: String,
    host: String,
    insecure: bool,
    /// What the registry asked for when first called, if it wants a login.
    challenge: Option<Challenge>,
    credentials: Option<Credentials>,
    /// The scopes the current token was asked for (Bearer).
    scopes: Arc<Mutex<Vec<String>>>,
    authorization: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Finds how `host` (a registry as a reference names it) is reached,
    /// with the login kept for it if there is one: see [`Transport::connect_as`].
    pub fn connect(host: &str, options: &Options) -> Result<Transport, TransportError> {
        let credentials = match &options.logins {
            Some(logins) => logins.get(host)?,
            None => None,
        };
        Transport::connect_as(host, options, credentials)
    }

    /// Finds how `host` is reached: pings `/v2/` over HTTPS, and over HTTP
    /// where that is allowed and the server does not speak TLS; a `401`
    /// answer says which login the registry wants.
    pub fn connect_as(
        host: &str,
        options: &Options,
        credentials: Option<Credentials>,
    ) -> Result<Transport, TransportError> {
        let api = if host == crate::image::reference::DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            host
        };
        let agent = agent(host, options)?;
        let mut https = Transport {
            agent,
            base: format!("https://{api}"),
            host: host.to_string(),
            insecure: options.insecure,
            challenge: None,
            credentials,
            scopes: Arc::default(),
            authorization: Arc::default(),
        };
        let plain_allowed = options.insecure || is_local(host);
        match https.ping().map_err(|e| e.with_ca(&ca_path(options, host))) {
            Ok(challenge) => {
                https.challenge = challenge;
                Ok(https)
            }
            Err(e) if plain_allowed && speaks_no_tls(&e) => {
                let mut http = Transport {
                    base: format!("http://{api}"),
                    ..https
                };
                http.challenge = http.ping()?;
                Ok(http)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/`: any answer will do to know the server is there; a `401`
    /// carries the challenge.
    fn ping(&self) -> Result<Option<Challenge>, TransportError> {
        let response = self.get(&format!("{}/v2/", self.base), "application/json")?;
        if response.status().as_u16() != 401 {
            return Ok(None);
        }
        let header = response
            .headers()
            .get("WWW-Authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        auth::parse_challenge(header)
            .map(Some)
            .map_err(|source| TransportError::Challenge {
                host: self.host.clone(),
                source,
            })
    }

    /// Gets the `Authorization` header that requests for `scopes` need (a
    /// token, for a Bearer registry), or nothing if the registry wants no
    /// login. With no scope, a Bearer login is only checked (`peti login`).
    pub fn authorize(&self, scopes: &[String]) -> Result<(), TransportError> {
        let header = match (&self.challenge, &self.credentials) {
            (None, _) | (Some(Challenge::Basic { .. }), None) => None,
            (Some(Challenge::Basic { .. }), Some(credentials)) => Some(credentials.basic()),
            (Some(Challenge::Bearer { realm, service, .. }), credentials) => Some(format!(
                "Bearer {}",
                self.token(realm, service.as_deref(), scopes, credentials.as_ref())?
            )),
        };
        *self.scopes.lock().unwrap_or_else(|e| e.into_inner()) = scopes.to_vec();
        *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = header;
        Ok(())
    }

    /// Checks the credentials with the registry, as `docker login` does: a
    /// Basic registry must accept them on `/v2/`, a Bearer registry's token
    /// service must give a token for them.
    pub fn check_login(&self) -> Result<(), TransportError> {
        self.authorize(&[])?;
        if let Some(Challenge::Basic { .. }) = self.challenge {
            let response = self.get(&format!("{}/v2/", self.base), "application/json")?;
            if response.status().as_u16() == 401 {
                return Err(self.refused_login());
            }
        }
        Ok(())
    }

    /// Asks a Bearer registry's token service for a token.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        credentials: Option<&Credentials>,
    ) -> Result<String, TransportError> {
        let plain = realm.strip_prefix("http://");
        let realm_host = plain.map(|rest| rest.split('/').next().unwrap_or(rest));
        if !realm.starts_with("https://") && plain.is_none() {
            return Err(TransportError::Challenge {
                host: self.host.clone(),
                source: ChallengeError::Malformed("a realm that is no http(s) address"),
            });
        }
        if credentials.is_some() && !self.insecure && realm_host.is_some_and(|h| !is_local(h)) {
            return Err(TransportError::PlainRealm {
                host: self.host.clone(),
                realm: realm.to_string(),
            });
        }
        let url = auth::token_url(realm, service, scopes);
        let mut request = self.agent.get(&url);
        if let Some(credentials) = credentials {
            request = request.header("Authorization", &credentials.basic());
        }
        let mut response = request
            .call()
            .map_err(|e| TransportError::from_ureq(&self.host, e))?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.refused_login()),
            status => {
                return Err(TransportError::Http {
                    host: self.host.clone(),
                    detail: format!("its token service {realm} answered {status}"),
                });
            }
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .map_err(|e| TransportError::from_ureq(&self.host, e))?;
        auth::token_from(&body).ok_or_else(|| TransportError::Http {
            host: self.host.clone(),
            detail: format!("its token service {realm} sent no token"),
        })
    }

    /// The error for a request the registry refused to serve unauthorised.
    pub fn unauthorized(&self) -> TransportError {
        let detail = if self.credentials.is_some() {
            "incorrect username or password, or no access to this repository".to_string()
        } else {
            format!(
                "authentication required: log in first with `peti login {}`",
                self.host
            )
        };
        TransportError::Unauthorized {
            host: self.host.clone(),
            detail,
        }
    }

    /// The error for credentials the registry (or its token service) refused.
    fn refused_login(&self) -> TransportError {
        TransportError::Unauthorized {
            host: self.host.clone(),
            detail: match self.credentials {
                Some(_) => "incorrect username or password".into(),
                None => "the token service refused an anonymous token: log in first".into(),
            },
        }
    }

    /// Sends a request built by `build`, with the login's header; a `401`
    /// from a Bearer registry (an expired token) gets one new token and one
    /// more try.
    fn send(
        &self,
        build: impl Fn(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        let response = build(&self.agent).map_err(|e| TransportError::from_ureq(&self.host, e))?;
        if response.status().as_u16() == 401
            && matches!(self.challenge, Some(Challenge::Bearer { .. }))
        {
            let scopes = self
                .scopes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            self.authorize(&scopes)?;
            return build(&self.agent).map_err(|e| TransportError::from_ureq(&self.host, e));
        }
        Ok(response)
    }

    /// The `Authorization` header's value now, if there is one.
    fn authorization(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn get(
        &self,
        url: &str,
        accept: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        self.send(|agent| {
            with_auth(agent.get(url), self.authorization())
                .header("Accept", accept)
                .call()
        })
    }

    /// A GET of a blob of `size` bytes, whose body must come in 30 s plus
    /// a second for each 256 KiB: a registry that stops sending in the middle
    /// is an error in bounded time, while a slow link still gets a big blob.
    pub fn get_blob(
        &self,
        url: &str,
        size: u64,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        let budget = Duration::from_secs(30 + size / (256 * 1024));
        self.send(|agent| {
            with_auth(agent.get(url), self.authorization())
                .header("Accept", "*/*")
                .config()
                .timeout_recv_body(Some(budget))
                .build()
                .call()
        })
    }

    pub fn head(&self, url: &str) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        self.send(|agent| with_auth(agent.head(url), self.authorization()).call())
    }

    pub fn post_empty(
        &self,
        url: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        self.send(|agent| with_auth(agent.post(url), self.authorization()).send_empty())
    }

    /// A PUT of `size` bytes from `body`; not tried twice, since the body
    /// is read once.
    pub fn put(
        &self,
        url: &str,
        content_type: &str,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        with_auth(self.agent.put(url), self.authorization())
            .header("Content-Type", content_type)
            .header("Content-Length", &size.to_string())
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| TransportError::from_ureq(&self.host, e))
    }

    /// A PATCH of the `size` bytes from `body` that go at offset `start` of
    /// an upload.
    pub fn patch(
        &self,
        url: &str,
        start: u64,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        let end = (start + size).saturating_sub(1);
        with_auth(self.agent.patch(url), self.authorization())
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", &format!("{start}-{end}"))
            .header("Content-Length", &size.to_string())
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| TransportError::from_ureq(&self.host, e))
    }

    /// An upload's `Location` as a URL: a relative one is on this registry;
    /// an absolute one must be too (a registry that sent the blob elsewhere
    /// could make peti upload an image to a host it never named).
    pub fn resolve(&self, location: &str) -> Result<String, super::RegistryError> {
        if location.starts_with('/') {
            return Ok(format!("{}{location}", self.base));
        }
        let prefix = format!("{}/", self.base);
        if location.starts_with(&prefix) {
            return Ok(location.to_string());
        }
        Err(super::RegistryError::ForeignLocation {
            host: self.host.clone(),
            location: location.to_string(),
        })
    }
}

/// `request` with the `Authorization` header, if there is one.
fn with_auth<B>(
    request: ureq::RequestBuilder<B>,
    authorization: Option<String>,
) -> ureq::RequestBuilder<B> {
    match authorization {
        Some(value) => request.header("Authorization", &value),
        None => request,
    }
}

/// Whether an HTTPS attempt failed because the server does not speak TLS:
/// rustls sees an answer that is no TLS record (a plain-HTTP server's "400
/// Bad Request"), which it calls a corrupt message of an invalid content
/// type. A certificate it does not trust is another error, and no reason to
/// fall back.
fn speaks_no_tls(error: &TransportError) -> bool {
    let detail = match error {
        TransportError::Certificate { detail, .. }
        | TransportError::Http { detail, .. }
        | TransportError::Unreachable { detail, .. } => detail,
        _ => return false,
    };
    !detail.contains("certificate")
        && (detail.contains("InvalidContentType") || detail.contains("corrupt message"))
}

/// An agent for `host`: its CA from certs.d if there is one (else the Mozilla
/// roots rustls ships), bounded timeouts, redirects followed a few times.
fn agent(host: &str, options: &Options) -> Result<ureq::Agent, TransportError> {
    let ca = options.certs_dir.join(host).join("ca.crt");
    let roots = match std::fs::read(&ca) {
        Ok(pem) => {
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| TransportError::Ca(ca.clone(), e.to_string()))?;
            RootCerts::Specific(Arc::new(vec![cert]))
        }
        Err(_) => RootCerts::WebPki,
    };
    let tls = TlsConfig::builder()
        .root_certs(roots)
        .disable_verification(options.insecure)
        .build();
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_resolve(Some(Duration::from_secs(5)))
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .max_redirects(5)
        .build();
    Ok(config.into())
}

/// The CA file Docker's layout gives `host`.
pub fn ca_path(options: &Options, host: &str) -> PathBuf {
    options.certs_dir.join(host).join("ca.crt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_registries_are_dockers() {
        for local in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "docker.io",
            "10.0.0.1:5000",
            "registry.example:443",
            "127.0.0.1.example",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }
}
