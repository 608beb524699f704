//! `peti cp`: the library side. Which root the copy enters depends on the
//! container's state (see `container::copy`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{Engine, EngineError};
use crate::container::copy::{self, Root};
use crate::container::state::{Container, Status};

/// One side of a copy on the host: a path, or a tar stream (`-`).
pub enum HostSide<'a> {
    Path(&'a Path),
    Reader(&'a mut dyn Read),
    Writer(&'a mut dyn Write),
}

impl Engine {
    /// `peti cp CONTAINER:SRC DEST` (or `-` for a tar on standard output).
    /// Returns the bytes copied.
    pub fn copy_from(&self, name: &str, src: &Path, dest: HostSide) -> Result<u64, EngineError> {
        let (container, upper, work) = self.copy_target(name)?;
        let root = self.copy_root(&container, &upper, &work);
        let (path, stream) = match dest {
            HostSide::Path(p) => (p, None),
            HostSide::Writer(w) => (Path::new("-"), Some(w)),
            HostSide::Reader(_) => (Path::new("-"), None),
        };
        Ok(copy::from_container(
            &root,
            &container.name,
            src,
            path,
            stream,
        )?)
    }

    /// `peti cp SRC CONTAINER:DEST` (or `-` for a tar on standard input).
    pub fn copy_to(&self, name: &str, src: HostSide, dest: &Path) -> Result<u64, EngineError> {
        let (container, upper, work) = self.copy_target(name)?;
        let root = self.copy_root(&container, &upper, &work);
        let (path, stream) = match src {
            HostSide::Path(p) => (p, None),
            HostSide::Reader(r) => (Path::new("-"), Some(r)),
            HostSide::Writer(_) => (Path::new("-"), None),
        };
        Ok(copy::to_container(&root, path, dest, stream)?)
    }

    /// The container, and its upper and work directories.
    fn copy_target(&self, name: &str) -> Result<(Container, PathBuf, PathBuf), EngineError> {
        let container = self.container(name)?;
        let dir = self.containers.dir(&container.id);
        Ok((container, dir.join("upper"), dir.join("work")))
    }

    fn copy_root<'a>(&'a self, c: &'a Container, upper: &'a Path, work: &'a Path) -> Root<'a> {
        match (c.state.status, c.state.process) {
            (Status::Running, Some(p)) if p.is_alive() => Root::Process(p.pid),
            _ => Root::Overlay {
                lower: &c.lower_dirs,
                upper,
                work,
                scratch: self.containers.scratch_dir(),
            },
        }
    }
}
