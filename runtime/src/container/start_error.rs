//! Why a container's process did not start, typed: each reason carries its own
//! exit status, Docker's, instead of a number chosen where the words are.
//!
//! - 127: the program is not there (not in `$PATH`, no such file, or a missing
//!   interpreter on its `#!` line);
//! - 126: it is there but cannot be run (a directory, no permission);
//! - 125: peti itself failed at a step of the start.
//!
//! It crosses the start-up channel from the container's process to peti, so it
//! is plain data (serde), and its words are Docker's.

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// Docker's exit status when the command cannot be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Docker's exit status when the command is not found.
pub const EXIT_NOT_FOUND: u8 = 127;
/// Docker's exit status when the runtime itself failed.
pub const EXIT_RUNTIME_FAILED: u8 = 125;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum StartError {
    /// A bare name that no directory of `$PATH` holds as an executable.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotInPath(String),
    /// A path that does not exist.
    #[error("exec: \"{program}\": stat {program}: {reason}")]
    NoSuchFile { program: String, reason: String },
    /// Found, but nothing to run: a directory, or without execute permission.
    #[error("exec: \"{program}\": {reason}")]
    NotExecutable { program: String, reason: String },
    /// The exec itself failed, once the file was found executable: ENOENT is
    /// then a missing interpreter (a `#!` line, or a dynamic loader).
    #[error("exec: \"{program}\": {}", Errno::from_raw(*.errno).desc().to_lowercase())]
    Exec { program: String, errno: i32 },
    /// A step of peti's own failed.
    #[error("{0}")]
    Runtime(String),
}

impl StartError {
    /// peti's own failure, in the words of `what` went wrong.
    pub fn runtime(what: impl std::fmt::Display) -> Self {
        StartError::Runtime(what.to_string())
    }

    /// Docker's exit status for this reason.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::NotInPath(_) | StartError::NoSuchFile { .. } => EXIT_NOT_FOUND,
            StartError::NotExecutable { .. } => EXIT_CANNOT_EXECUTE,
            StartError::Exec { errno, .. } if *errno == Errno::ENOENT as i32 => EXIT_NOT_FOUND,
            StartError::Exec { .. } => EXIT_CANNOT_EXECUTE,
            StartError::Runtime(_) => EXIT_RUNTIME_FAILED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_dockers_code_and_words() {
        let program = || "x".to_string();
        let cases = [
            (
                StartError::NotInPath(program()),
                127,
                "exec: \"x\": executable file not found in $PATH",
            ),
            (
                StartError::NoSuchFile {
                    program: program(),
                    reason: "no such file or directory".into(),
                },
                127,
                "exec: \"x\": stat x: no such file or directory",
            ),
            (
                StartError::NotExecutable {
                    program: program(),
                    reason: "permission denied".into(),
                },
                126,
                "exec: \"x\": permission denied",
            ),
            (
                StartError::Exec {
                    program: program(),
                    errno: libc::ENOENT,
                },
                127,
                "exec: \"x\": no such file or directory",
            ),
            (
                StartError::Exec {
                    program: program(),
                    errno: libc::ENOEXEC,
                },
                126,
                "exec: \"x\": exec format error",
            ),
            (
                StartError::runtime("mount /x: EPERM"),
                125,
                "mount /x: EPERM",
            ),
        ];
        for (error, code, words) in cases {
            assert_eq!(
                (error.exit_code(), error.to_string()),
                (code, words.to_string())
            );
        }
    }
}
