//! File-system helpers shared by the runtime and the labs.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `bytes` to `path` with `mode`, through a temporary sibling file that is
/// flushed to disk and then renamed over `path`. A rename within one directory is
/// atomic, so a reader (or a crash) sees the old file or the new one, never half of
/// one, and a failure leaves no temporary file behind.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut staged = tempfile::Builder::new()
        .prefix(".staged-")
        .tempfile_in(dir)?;
    staged.write_all(bytes)?;
    // tempfile creates files 0600; the caller says who may read this one.
    fs::set_permissions(staged.path(), fs::Permissions::from_mode(mode))?;
    staged.as_file().sync_all()?;
    staged.persist(path).map_err(|e| e.error)?;
    Ok(())
}
