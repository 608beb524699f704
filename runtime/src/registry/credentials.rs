//! Where logins are kept: Docker's own `config.json` (`$DOCKER_CONFIG`, else
//! `~/.docker`), so that a `docker login` serves `peti pull` and a `peti
//! login` serves `docker push`.
//!
//! The file maps registries to `BASE64(user:password)`:
//!
//! ```json
//! { "auths": { "127.0.0.1:5000": { "auth": "bGVhcm5lcjpzM2NyZXQ=" } } }
//! ```
//!
//! That is an encoding, not encryption: anyone who can read the file has the
//! password. So it is written `0600` in a `0700` folder, atomically (a new
//! file renamed over the old one, so a crash leaves the old file or the new
//! one, never half of either), under a lock on the folder so that two logins
//! at once do not lose one another's entry. Whatever else the file holds
//! (Docker's `credsStore`, `proxies`, ...) is kept as it was. Docker's
//! credential helpers are not run: a login kept by one is not seen here.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use serde_json::{Map, Value};

use super::auth::Credentials;

/// The key Docker files Docker Hub's login under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Why the login file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not valid JSON ({1}): fix or remove it")]
    Parse(PathBuf, serde_json::Error),
    #[error("writing {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("no home folder to keep logins in: set HOME or DOCKER_CONFIG")]
    NoHome,
}

/// Docker's `config.json`.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`, as
    /// Docker's command line finds it.
    pub fn locate() -> Result<ConfigFile, CredentialsError> {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => match std::env::var_os("HOME") {
                Some(home) if !home.is_empty() => PathBuf::from(home).join(".docker"),
                _ => return Err(CredentialsError::NoHome),
            },
        };
        Ok(ConfigFile::at(dir.join("config.json")))
    }

    pub fn at(path: PathBuf) -> ConfigFile {
        ConfigFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The login kept for `registry` (a host as a reference names it), if any.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
        let config = self.read()?;
        let wanted = hostname(&key_for(registry));
        let found = config
            .get("auths")
            .and_then(Value::as_object)
            .and_then(|auths| auths.iter().find(|(key, _)| hostname(key) == wanted))
            .and_then(|(_, entry)| entry.get("auth")?.as_str())
            .and_then(Credentials::decode);
        Ok(found)
    }

    /// Keeps `credentials` for `registry`.
    pub fn set(&self, registry: &str, credentials: &Credentials) -> Result<(), CredentialsError> {
        self.change(|auths| {
            let wanted = hostname(&key_for(registry));
            auths.retain(|key, _| hostname(key) != wanted);
            auths.insert(
                key_for(registry),
                serde_json::json!({ "auth": credentials.encoded() }),
            );
            true
        })
        .map(drop)
    }

    /// Forgets the login for `registry`; whether there was one.
    pub fn remove(&self, registry: &str) -> Result<bool, CredentialsError> {
        self.change(|auths| {
            let wanted = hostname(&key_for(registry));
            let before = auths.len();
            auths.retain(|key, _| hostname(key) != wanted);
            auths.len() != before
        })
    }

    fn read(&self) -> Result<Value, CredentialsError> {
        match fs::read(&self.path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Value::Object(Map::new())),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CredentialsError::Parse(self.path.clone(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Object(Map::new())),
            Err(e) => Err(CredentialsError::Read(self.path.clone(), e)),
        }
    }

    /// Reads, changes the `auths` map with `edit`, and writes the file back
    /// if `edit` says it changed; all under the folder's lock.
    fn change(
        &self,
        edit: impl FnOnce(&mut Map<String, Value>) -> bool,
    ) -> Result<bool, CredentialsError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let write_error = |e| CredentialsError::Write(self.path.clone(), e);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_error)?;
        let _lock = lock(dir).map_err(write_error)?;
        let mut config = self.read()?;
        if !config.is_object() {
            config = Value::Object(Map::new());
        }
        let root = config.as_object_mut().expect("an object, made so above");
        let auths = root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let changed = edit(auths.as_object_mut().expect("an object, made so above"));
        if changed {
            let mut text = serde_json::to_vec_pretty(&config).expect("JSON values serialise");
            text.push(b'\n');
            crate::fsutil::write_atomically(&self.path, &text, 0o600).map_err(write_error)?;
        }
        Ok(changed)
    }
}

/// An exclusive lock on the folder itself (flock(2) takes a directory as
/// well as a file), so no lock file is left in the user's `~/.docker`.
fn lock(dir: &Path) -> std::io::Result<Flock<fs::File>> {
    Flock::lock(fs::File::open(dir)?, FlockArg::LockExclusive).map_err(|(_, e)| e.into())
}

/// The key `registry`'s login is filed under.
fn key_for(registry: &str) -> String {
    if registry == crate::image::reference::DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// A key (or a registry as a user types it) as a host, as Docker compares
/// them: no scheme, no path, and Docker Hub's names as one (`docker.io`).
pub fn hostname(key: &str) -> String {
    let host = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learner() -> Credentials {
        Credentials {
            username: "learner".into(),
            password: "s3cret".into(),
        }
    }

    #[test]
    fn a_login_is_kept_private_and_the_rest_of_the_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker/config.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            r#"{"credsStore":"x","auths":{"other:1":{"auth":"YTpi"}}}"#,
        )
        .unwrap();
        let config = ConfigFile::at(path.clone());
        config.set("127.0.0.1:5000", &learner()).unwrap();
        assert_eq!(config.get("127.0.0.1:5000").unwrap(), Some(learner()));
        let text: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(text["credsStore"], "x");
        assert_eq!(text["auths"]["other:1"]["auth"], "YTpi");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(config.remove("127.0.0.1:5000").unwrap());
        assert!(!config.remove("127.0.0.1:5000").unwrap());
        assert_eq!(config.get("127.0.0.1:5000").unwrap(), None);
        let left: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn docker_hub_and_scheme_spellings_are_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let encoded = learner().encoded();
        fs::write(
            &path,
            format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{encoded}"}},"http://r:5000/":{{"auth":"{encoded}"}}}}}}"#),
        )
        .unwrap();
        let config = ConfigFile::at(path);
        assert_eq!(config.get("docker.io").unwrap(), Some(learner()));
        assert_eq!(config.get("r:5000").unwrap(), Some(learner()));
        assert_eq!(config.get("r:5001").unwrap(), None);
    }

    #[test]
    fn a_broken_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{not json").unwrap();
        let error = ConfigFile::at(path.clone()).get("r").unwrap_err();
        assert!(error.to_string().contains(&path.display().to_string()));
    }
}
