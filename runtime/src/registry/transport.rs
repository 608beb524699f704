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

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};

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
}

impl Default for Options {
    fn default() -> Options {
        Options {
            insecure: false,
            certs_dir: std::env::var_os("PETI_CERTS_D")
                .map_or_else(|| PathBuf::from(CERTS_D), PathBuf::from),
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

/// An agent that reaches one registry, with the scheme it speaks.
#[derive(Clone)]
pub struct Transport {
    agent: ureq::Agent,
    base: String,
    host: String,
}

impl Transport {
    /// Finds how `host` (a registry as a reference names it) is reached:
    /// pings `/v2/` over HTTPS, and over HTTP where that is allowed and the
    /// server does not speak TLS.
    pub fn connect(host: &str, options: &Options) -> Result<Transport, TransportError> {
        let api = if host == crate::image::reference::DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            host
        };
        let agent = agent(host, options)?;
        let https = Transport {
            agent: agent.clone(),
            base: format!("https://{api}"),
            host: host.to_string(),
        };
        let plain_allowed = options.insecure || is_local(host);
        match https.ping().map_err(|e| e.with_ca(&ca_path(options, host))) {
            Ok(()) => Ok(https),
            Err(e) if plain_allowed && speaks_no_tls(&e) => {
                let http = Transport {
                    agent,
                    base: format!("http://{api}"),
                    host: host.to_string(),
                };
                http.ping()?;
                Ok(http)
            }
            Err(e) => Err(e),
        }
    }

    fn ping(&self) -> Result<(), TransportError> {
        // Any answer will do (401 asks for a login): the server is there.
        self.get(&format!("{}/v2/", self.base), "application/json")
            .map(drop)
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
        self.agent
            .get(url)
            .header("Accept", accept)
            .call()
            .map_err(|e| TransportError::from_ureq(&self.host, e))
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
        self.agent
            .get(url)
            .header("Accept", "*/*")
            .config()
            .timeout_recv_body(Some(budget))
            .build()
            .call()
            .map_err(|e| TransportError::from_ureq(&self.host, e))
    }

    pub fn head(&self, url: &str) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        self.agent
            .head(url)
            .call()
            .map_err(|e| TransportError::from_ureq(&self.host, e))
    }

    pub fn post_empty(
        &self,
        url: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        self.agent
            .post(url)
            .send_empty()
            .map_err(|e| TransportError::from_ureq(&self.host, e))
    }

    pub fn put(
        &self,
        url: &str,
        content_type: &str,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        self.agent
            .put(url)
            .header("Content-Type", content_type)
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
        TransportError::Ca(..) => return false,
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
