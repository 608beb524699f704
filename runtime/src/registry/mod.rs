//! A client of the OCI distribution API (what `docker pull` and `docker
//! push` speak to a registry), on ureq: blocking HTTP, TLS by rustls.
//!
//! A registry serves two things under `/v2/REPOSITORY/`: *manifests*, the
//! JSON documents that name an image's parts (`manifests/TAG` or
//! `manifests/sha256:...`), and *blobs*, the parts themselves, by digest
//! (`blobs/sha256:...`). Everything is addressed by content, so a client
//! trusts nothing it receives until it has hashed it: the bytes of a
//! manifest are hashed as they came (never parsed and written again, which
//! would change them) and compared with the digest asked for and with the
//! registry's `Docker-Content-Digest`; a blob is hashed as it streams.
//!
//! - [`transport`]: HTTPS or HTTP, the timeouts, which CAs are trusted;
//! - [`auth`]: the login a registry asks for (Basic, or a Bearer token);
//! - [`credentials`]: where logins are kept (Docker's config.json).

pub mod auth;
pub mod credentials;
pub mod transport;

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

pub use auth::Credentials;
pub use transport::{Options, Transport};

/// The media types asked for in `Accept`, as Docker asks: OCI's manifest and
/// index, Docker's schema 2 manifest and manifest list.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// The most a manifest may be: the store's limit for any JSON document.
pub const MAX_MANIFEST: u64 = crate::image::source::MAX_DOCUMENT;

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach the registry {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("manifest for {host}/{repository}:{reference} not found: manifest unknown")]
    ManifestUnknown {
        host: String,
        repository: String,
        reference: String,
    },
    #[error("{method} {url}: the registry answered {status}{message}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "{what} from {url} is {actual}, not {expected} as asked: the registry sent something else"
    )]
    DigestMismatch {
        what: &'static str,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{what} from {url} is larger than {max} bytes: refused")]
    TooLarge {
        what: &'static str,
        url: String,
        max: u64,
    },
    #[error("{what} from {url} is {actual} bytes, not the {expected} its descriptor says")]
    WrongSize {
        what: &'static str,
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("the registry's upload location {location} is not on {host}: refused")]
    ForeignLocation { host: String, location: String },
    #[error("{0}")]
    Transport(#[from] transport::TransportError),
    #[error(transparent)]
    Logins(#[from] credentials::CredentialsError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: io::Error,
    },
}

/// `peti login`: checks `credentials` with `registry` (see
/// [`Transport::check_login`]), then keeps them; returns the file they
/// are kept in.
pub fn login(
    registry: &str,
    credentials: Credentials,
    options: &Options,
) -> Result<std::path::PathBuf, RegistryError> {
    let logins = options
        .logins
        .as_ref()
        .ok_or(credentials::CredentialsError::NoHome)?;
    let transport = Transport::connect_as(registry, options, Some(credentials.clone()))?;
    transport.check_login()?;
    logins.set(registry, &credentials)?;
    Ok(logins.path().to_path_buf())
}

/// `peti logout`: forgets the login kept for `registry`; whether there was
/// one. The registry is not asked: a login is only a saved password.
pub fn logout(registry: &str, options: &Options) -> Result<bool, RegistryError> {
    let logins = options
        .logins
        .as_ref()
        .ok_or(credentials::CredentialsError::NoHome)?;
    Ok(logins.remove(registry)?)
}

/// A manifest (or index) as it came: its exact bytes, their digest, and the
/// media type the registry gave.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

/// One repository of one registry.
pub struct Repository {
    transport: Transport,
    name: String,
}

impl Repository {
    /// The repository `name` on `transport`'s registry, logged in for a
    /// pull, or for a push too: a Bearer registry's token names which.
    pub fn open(transport: Transport, name: &str, push: bool) -> Result<Repository, RegistryError> {
        Repository::open_for(transport, name, &[auth::scope(name, push)])
    }

    /// [`Repository::open`], logged in for `scopes`: a push that mounts
    /// blobs from other repositories needs to pull from them too.
    pub fn open_for(
        transport: Transport,
        name: &str,
        scopes: &[String],
    ) -> Result<Repository, RegistryError> {
        transport.authorize(scopes)?;
        Ok(Repository {
            transport,
            name: name.to_string(),
        })
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.transport.base(), self.name)
    }

    /// GET `manifests/REFERENCE` (a tag or a digest), checked: no larger than
    /// [`MAX_MANIFEST`], and its bytes' digest the one asked for (a digest
    /// reference) and the one the registry names.
    pub fn manifest(&self, reference: &str) -> Result<Fetched, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let mut response = self.transport.get(&url, &MANIFEST_TYPES.join(", "))?;
        match response.status().as_u16() {
            200 => {}
            404 => {
                return Err(RegistryError::ManifestUnknown {
                    host: self.transport.host().to_string(),
                    repository: self.name.clone(),
                    reference: reference.to_string(),
                });
            }
            status => return Err(self.status_error("GET", &url, status, &mut response)),
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let media_type = header("Content-Type").unwrap_or_default();
        let named = header("Docker-Content-Digest");
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => RegistryError::TooLarge {
                    what: "the manifest",
                    url: url.clone(),
                    max: MAX_MANIFEST,
                },
                other => transport::TransportError::from_ureq(self.transport.host(), other).into(),
            })?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        for expected in [
            reference
                .starts_with("sha256:")
                .then(|| reference.to_string()),
            named,
        ]
        .into_iter()
        .flatten()
        {
            if expected != digest {
                return Err(RegistryError::DigestMismatch {
                    what: "the manifest",
                    url,
                    expected,
                    actual: digest,
                });
            }
        }
        Ok(Fetched {
            bytes,
            digest,
            media_type: media_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
        })
    }

    /// GET `blobs/DIGEST` into `out`, hashed and counted as it streams:
    /// the bytes must be `size` long and hash to `digest`. `progress` is
    /// told each chunk's length.
    pub fn blob_into(
        &self,
        digest: &str,
        size: u64,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let mut response = self.transport.get_blob(&url, size)?;
        if response.status().as_u16() != 200 {
            let status = response.status().as_u16();
            return Err(self.status_error("GET", &url, status, &mut response));
        }
        let mut body = response
            .body_mut()
            .with_config()
            .limit(size.saturating_add(1))
            .reader();
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total: u64 = 0;
        loop {
            let n = body
                .read(&mut buffer)
                .map_err(|e| transport::TransportError::body(self.transport.host(), e))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > size {
                return Err(RegistryError::WrongSize {
                    what: "a blob",
                    url,
                    expected: size,
                    actual: total,
                });
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])
                .map_err(|source| RegistryError::Io {
                    path: "the blob's temporary file".into(),
                    source,
                })?;
            progress(n as u64);
        }
        if total != size {
            return Err(RegistryError::WrongSize {
                what: "a blob",
                url,
                expected: size,
                actual: total,
            });
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: "a blob",
                url,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(())
    }

    /// HEAD `blobs/DIGEST`: whether the registry has it already.
    pub fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let mut response = self.transport.head(&url)?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            status => Err(self.status_error("HEAD", &url, status, &mut response)),
        }
    }

    /// Uploads a blob, unless `mount_from` (another repository of this
    /// registry that has it) lends it: POST `blobs/uploads/?mount=&from=`
    /// answers 201 when the registry linked the blob, and 202 with an
    /// upload's `Location` when it would not, so the bytes go after all. A
    /// blob of up to `chunk` bytes is PUT whole; a larger one is sent in
    /// PATCH requests of `chunk` bytes, then closed by a PUT with its digest.
    /// Returns whether the blob was mounted.
    pub fn push_blob(
        &self,
        digest: &str,
        size: u64,
        blob: &mut dyn Read,
        mount_from: Option<&str>,
        chunk: u64,
    ) -> Result<bool, RegistryError> {
        let url = match mount_from {
            Some(from) => self.url(&format!("blobs/uploads/?mount={digest}&from={from}")),
            None => self.url("blobs/uploads/"),
        };
        let mut response = self.transport.post_empty(&url)?;
        let mut location = match response.status().as_u16() {
            201 if mount_from.is_some() => return Ok(true),
            202 => self.location(&response)?,
            status => return Err(self.status_error("POST", &url, status, &mut response)),
        };
        let mut whole: &mut dyn Read = blob;
        if size > chunk {
            let mut sent = 0u64;
            while sent < size {
                let n = chunk.min(size - sent);
                let mut part = (&mut whole).take(n);
                let mut response = self.transport.patch(&location, sent, n, &mut part)?;
                if response.status().as_u16() != 202 {
                    let status = response.status().as_u16();
                    return Err(self.status_error("PATCH", &location, status, &mut response));
                }
                location = self.location(&response)?;
                sent += n;
            }
        }
        let left = if size > chunk { 0 } else { size };
        let mut put = location;
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={digest}"));
        let mut response = self
            .transport
            .put(&put, "application/octet-stream", left, whole)?;
        match response.status().as_u16() {
            201 | 204 => Ok(false),
            status => Err(self.status_error("PUT", &put, status, &mut response)),
        }
    }

    /// An upload's next address, from its `Location` (relative or absolute,
    /// on this registry only).
    fn location(
        &self,
        response: &ureq::http::Response<ureq::Body>,
    ) -> Result<String, RegistryError> {
        let location = response
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        self.transport.resolve(location)
    }

    /// PUT `manifests/TAG`, the bytes as they are, with their own media type.
    pub fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("manifests/{tag}"));
        let mut response =
            self.transport
                .put(&url, media_type, bytes.len() as u64, &mut &bytes[..])?;
        match response.status().as_u16() {
            200 | 201 | 204 => Ok(()),
            status => Err(self.status_error("PUT", &url, status, &mut response)),
        }
    }
}

/// A status the exchange did not expect, with the registry's own words
/// (its error JSON: `{"errors":[{"code":..,"message":..}]}`) when it sent some.
impl Repository {
    fn status_error(
        &self,
        method: &'static str,
        url: &str,
        status: u16,
        response: &mut ureq::http::Response<ureq::Body>,
    ) -> RegistryError {
        if status == 401 {
            return self.transport.unauthorized().into();
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                let first = v.get("errors")?.get(0)?.clone();
                Some(format!(
                    ": {} ({})",
                    first.get("message")?.as_str()?,
                    first.get("code")?.as_str()?
                ))
            })
            .unwrap_or_default();
        RegistryError::Status {
            method,
            url: url.to_string(),
            status,
            message,
        }
    }
}
