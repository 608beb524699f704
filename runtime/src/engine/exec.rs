//! `peti exec`: one more process in a running container.

use super::{Engine, EngineError};
use crate::container::exec::{self, ExecRequest};
use crate::container::lifecycle;
use crate::container::spec::{self, ProcessOptions};
use crate::container::state::exit_code_of;
use crate::container::tty;

/// What to run, and how.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub process: ProcessOptions,
    pub interactive: bool,
    pub tty: bool,
}

impl Engine {
    /// Runs a command in a running container, attached to this terminal, and
    /// waits for it; returns its exit code. Its environment is the container's,
    /// then `-e`; `-w` and `-u` default to the container's.
    pub fn exec(&self, name: &str, options: &ExecOptions) -> Result<i32, EngineError> {
        let container = self.container(name)?;
        // Its processes are frozen: one more would be too, at once.
        if container.state.paused {
            return Err(lifecycle::LifecycleError::Paused(container.name).into());
        }
        let env = spec::merge_env(&container.spec.env, &options.process.env, |k| {
            std::env::var(k).ok()
        })?;
        if let Some(user) = &options.process.user {
            spec::check_user(user)?;
        }
        if let Some(workdir) = &options.process.workdir {
            spec::check_workdir(workdir)?;
        }
        let request = ExecRequest {
            args: &options.command,
            env,
            workdir: options
                .process
                .workdir
                .as_deref()
                .unwrap_or(&container.spec.workdir),
            user: options
                .process
                .user
                .as_deref()
                .or(container.spec.user.as_deref()),
            tty: options.tty,
            stdin: options.interactive,
        };
        let executed = exec::exec(&container, request)?;
        if let Some(master) = executed.pty_master {
            // Docker does not log what an exec prints.
            let _ = tty::relay(master, options.interactive, None);
        }
        let status = lifecycle::wait_forwarding(executed.pid)
            .map_err(|e| EngineError::io("wait")(e.into()))?;
        Ok(exit_code_of(status))
    }
}
