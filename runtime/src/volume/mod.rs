//! Volumes: directories that peti keeps for containers, apart from any one
//! container's writable layer, so that what is written there outlives the
//! container (`docker volume`).
//!
//! A volume is a directory `$PETI_ROOT/volumes/<name>/`: its files are in
//! `_data`, which is what a container gets bound at its path, and
//! `volume.json` says when it was made and whether it is anonymous (made for
//! `-v /path` with no name, and removed with its container by `rm -v` or
//! `--rm`). As in Docker's `local` driver, there is nothing more to it: no
//! size, no quota, the host's file system underneath.
//!
//! A name becomes a path here, so it is checked first: Docker's rule (two or
//! more of letters, digits, `_`, `.` and `-`, starting with a letter or a
//! digit) leaves no `/`, and no `.` or `..` on its own.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil;

/// What can go wrong with a volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(
        "invalid volume name {0:?}: use 2 or more letters, digits, and _ . - (starting with a letter or digit)"
    )]
    BadName(String),
    #[error("no such volume: {0}")]
    NoSuchVolume(String),
    #[error("remove {name}: volume is in use - [{containers}]")]
    InUse { name: String, containers: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `volume.json` keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    created_at: String,
    #[serde(default)]
    anonymous: bool,
}

/// One volume, as `volume ls` and `volume inspect` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    /// Its `_data` directory: what a container gets.
    pub mountpoint: PathBuf,
    /// RFC 3339, in UTC.
    pub created_at: String,
    pub anonymous: bool,
}

/// The volumes under one root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    dir: PathBuf,
}

/// Docker's rule for a volume's name, which is its rule for a container's.
pub fn check_name(name: &str) -> Result<(), VolumeError> {
    crate::container::state::check_name(name).map_err(|_| VolumeError::BadName(name.to_string()))
}

impl VolumeStore {
    /// The volumes of the store at `root` (the folder is made when the first
    /// volume is).
    pub fn new(root: &Path) -> VolumeStore {
        VolumeStore {
            dir: root.join("volumes"),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, VolumeError> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }

    /// The `_data` directory a volume of this name has, or would have.
    pub fn mountpoint(&self, name: &str) -> Result<PathBuf, VolumeError> {
        Ok(self.path(name)?.join("_data"))
    }

    /// Takes the volumes' lock until dropped: a creation and a removal of
    /// one name never interleave. Staged and trashed folders exist only
    /// while a holder of the lock works on them, so any found now were left
    /// by a command that was killed: they go.
    pub fn lock(&self) -> Result<nix::fcntl::Flock<fs::File>, VolumeError> {
        fs::create_dir_all(&self.dir).map_err(io_at(&self.dir))?;
        // Root's alone: a volume holds what containers wrote, setuid files too.
        fsutil::private_dir(&self.dir).map_err(io_at(&self.dir))?;
        let lock = self.dir.join(".lock");
        let locked = fsutil::lock_exclusive(&lock).map_err(io_at(&lock))?;
        for entry in fs::read_dir(&self.dir).map_err(io_at(&self.dir))?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".new-") || name.starts_with(".trash-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        Ok(locked)
    }

    /// `docker volume create [NAME]`: makes the volume, or finds it made (as
    /// Docker, a second create of a name is no error). No name makes an
    /// anonymous one, named by 64 random hex digits.
    pub fn create(&self, name: Option<&str>) -> Result<VolumeInfo, VolumeError> {
        let anonymous = name.is_none();
        let name = match name {
            Some(n) => n.to_string(),
            None => crate::container::state::new_id(),
        };
        let dir = self.path(&name)?;
        let _lock = self.lock()?;
        if !dir.join("_data").is_dir() {
            // Made aside and renamed into place: a volume is whole or absent.
            let staged = tempfile::Builder::new()
                .prefix(".new-")
                .tempdir_in(&self.dir)
                .map_err(io_at(&self.dir))?;
            let data = staged.path().join("_data");
            fs::create_dir(&data).map_err(io_at(&data))?;
            let record = Record {
                created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
                anonymous,
            };
            let json = serde_json::to_vec(&record).expect("a record serialises");
            fs::write(staged.path().join("volume.json"), json).map_err(io_at(staged.path()))?;
            fs::set_permissions(
                staged.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .map_err(io_at(staged.path()))?;
            let staged = staged.keep();
            if let Err(e) = fs::rename(&staged, &dir) {
                let _ = fs::remove_dir_all(&staged);
                return Err(io_at(&dir)(e));
            }
        }
        self.get(&name)
    }

    /// `docker volume inspect NAME`.
    pub fn get(&self, name: &str) -> Result<VolumeInfo, VolumeError> {
        let dir = self.path(name)?;
        let data = dir.join("_data");
        if !data.is_dir() {
            return Err(VolumeError::NoSuchVolume(name.to_string()));
        }
        // A volume whose record is missing (its _data made by a start that
        // found the volume gone) dates from its folder.
        let record = fs::read(dir.join("volume.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            .unwrap_or_else(|| Record {
                created_at: fs::metadata(&data)
                    .and_then(|m| m.modified())
                    .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                    .unwrap_or_default(),
                anonymous: false,
            });
        Ok(VolumeInfo {
            name: name.to_string(),
            mountpoint: data,
            created_at: record.created_at,
            anonymous: record.anonymous,
        })
    }

    /// `docker volume ls`: every volume, by name.
    pub fn list(&self) -> Result<Vec<VolumeInfo>, VolumeError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_at(&self.dir)(e)),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names.iter().filter_map(|n| self.get(n).ok()).collect())
    }

    /// Removes a volume and all its files. The caller has checked, under
    /// the containers' lock, that no container uses it.
    pub fn remove(&self, name: &str) -> Result<(), VolumeError> {
        let dir = self.path(name)?;
        let _lock = self.lock()?;
        if !dir.join("_data").is_dir() {
            return Err(VolumeError::NoSuchVolume(name.to_string()));
        }
        // Renamed aside first: a removal cut short leaves a trash folder
        // (which `list` does not show), never half a volume.
        let trash = self.dir.join(format!(".trash-{name}"));
        let _ = fs::remove_dir_all(&trash);
        fs::rename(&dir, &trash).map_err(io_at(&dir))?;
        fs::remove_dir_all(&trash).map_err(io_at(&trash))
    }

    /// The bytes a volume's files hold.
    pub fn size(&self, info: &VolumeInfo) -> u64 {
        fsutil::file_bytes_under(&info.mountpoint).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dockers_and_cannot_be_paths() {
        for good in ["data", "db_1", "my.vol-2", "a1"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            ".",
            "..",
            "../etc",
            "a/b",
            "-x",
            "_x",
            "with space",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_volume_is_made_once_listed_and_removed_whole() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::new(root.path());
        assert!(store.list().unwrap().is_empty());
        let made = store.create(Some("data")).unwrap();
        assert_eq!(made.mountpoint, root.path().join("volumes/data/_data"));
        assert!(!made.anonymous);
        fs::write(made.mountpoint.join("kept"), "x").unwrap();
        // A second create finds it, files and all.
        assert_eq!(store.create(Some("data")).unwrap(), made);
        assert!(made.mountpoint.join("kept").exists());
        let anonymous = store.create(None).unwrap();
        assert!(anonymous.anonymous);
        assert_eq!(anonymous.name.len(), 64);
        let names: Vec<String> = store.list().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"data".to_string()));
        store.remove("data").unwrap();
        assert!(matches!(
            store.get("data"),
            Err(VolumeError::NoSuchVolume(_))
        ));
        assert!(matches!(
            store.remove("data"),
            Err(VolumeError::NoSuchVolume(_))
        ));
        assert!(matches!(
            store.create(Some("../x")),
            Err(VolumeError::BadName(_))
        ));
        let left: Vec<_> = fs::read_dir(root.path().join("volumes"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| n != ".lock")
            .collect();
        assert_eq!(
            left,
            std::slice::from_ref(&anonymous.name),
            "no staging or trash left"
        );
        // What a killed create or remove left goes with the next command.
        fs::create_dir_all(root.path().join("volumes/.new-killed/_data")).unwrap();
        fs::create_dir_all(root.path().join("volumes/.trash-old/_data")).unwrap();
        store.create(Some("next")).unwrap();
        assert!(!root.path().join("volumes/.new-killed").exists());
        assert!(!root.path().join("volumes/.trash-old").exists());
    }
}
