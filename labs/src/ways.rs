//! The three ways to run a workload, as a reader would run them by hand:
//!
//! 1. **container**: `peti run --rm IMAGE ARGS`, a process on the host kernel in
//!    namespaces of its own, on an overlay of the workload's image;
//! 2. **direct VM**: `microvm run --elf BINARY -- ARGS`, the same static program
//!    in a KVM virtual machine with no guest kernel;
//! 3. **Linux VM**: `microvm run --kernel VMLINUZ --initrd IMAGE.cpio.gz`, a Linux
//!    guest booting an initramfs made from the same image. This needs hardware
//!    virtualisation; elsewhere it is skipped, with `microvm doctor`'s reason.
//!
//! The labs call the real binaries, not library functions: what is measured is
//! what a user meets, process start and exit included. peti keeps the labs'
//! images and containers in a store of their own (under the lab directory), so
//! a lab neither needs nor disturbs the reader's own images.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use microvm::run::{JsonLine, Printed};
use runtime::engine::view::{Inspect, StatsRow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What can go wrong running a workload some way.
#[derive(Debug, thiserror::Error)]
pub enum WayError {
    #[error("{program}: {source}: is it built? run `cargo build --release` first")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed with exit code {code}: {stderr}")]
    Failed {
        command: String,
        code: i32,
        stderr: String,
    },
    #[error("{what}: {reason}")]
    Report { what: String, reason: String },
    #[error("no lab images in {0}: run `labs prepare` first")]
    NotPrepared(PathBuf),
}

/// A way of running a workload.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Way {
    Container,
    DirectVm,
    LinuxVm,
}

impl Way {
    pub const ALL: [Way; 3] = [Way::Container, Way::DirectVm, Way::LinuxVm];

    pub fn label(self) -> &'static str {
        match self {
            Way::Container => "container (peti)",
            Way::DirectVm => "direct VM (microvm --elf)",
            Way::LinuxVm => "Linux VM (microvm --kernel)",
        }
    }

    /// The colour index charts use, so a way keeps its colour everywhere.
    pub fn colour(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Way {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Way::Container => "container",
            Way::DirectVm => "direct-vm",
            Way::LinuxVm => "linux-vm",
        })
    }
}

/// One run of a workload: what it printed and how long it took, spawn to exit.
#[derive(Debug, Clone)]
pub struct Run {
    pub command: String,
    pub wall_ms: f64,
    /// The peak resident memory of the command's own process (wait4's
    /// ru_maxrss), in KiB: for a client such as docker, the client's.
    pub peak_rss_kib: f64,
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The workload's own lines (READY, INFO, RESULT, and anything it says).
    pub fn workload_lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter(|l| !l.starts_with("{\"microvm\""))
            .map(str::to_string)
            .collect()
    }

    /// `key=value` from the workload's INFO lines.
    pub fn info(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}=");
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("INFO "))
            .flat_map(info_fields)
            .find_map(|field| field.strip_prefix(&prefix).map(str::to_string))
    }

    pub fn result_line(&self) -> Option<String> {
        self.stdout
            .lines()
            .find(|l| l.starts_with("RESULT "))
            .map(str::to_string)
    }
}

/// Splits an INFO line into `key=value` fields. A value may hold spaces inside
/// parentheses ("unavailable (No such file or directory)"), so a field runs to
/// the next space outside parentheses.
fn info_fields(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in line.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ' ' if depth == 0 && !line[i + 1..].starts_with('(') => {
                if i > start {
                    fields.push(&line[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < line.len() {
        fields.push(&line[start..]);
    }
    fields
}

/// Where the binaries and the lab's files are.
#[derive(Debug, Clone)]
pub struct Tools {
    pub peti: PathBuf,
    pub microvm: PathBuf,
    /// What `labs prepare` wrote: bin/ and images/.
    pub lab_dir: PathBuf,
    /// The labs' own peti store and run-time directory.
    pub peti_root: PathBuf,
    pub peti_run: PathBuf,
}

impl Tools {
    /// peti and microvm next to this `labs` binary (one `cargo build` puts all
    /// three in one folder), or on PATH.
    pub fn find(lab_dir: &Path) -> Result<Tools, WayError> {
        if !lab_dir.join("images/lab").is_dir() {
            return Err(WayError::NotPrepared(lab_dir.to_path_buf()));
        }
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf));
        let find = |name: &str| {
            beside
                .as_ref()
                .map(|dir| dir.join(name))
                .filter(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from(name))
        };
        Ok(Tools {
            peti: find("peti"),
            microvm: find("microvm"),
            lab_dir: lab_dir.to_path_buf(),
            peti_root: lab_dir.join("peti-root"),
            peti_run: lab_dir.join("peti-run"),
        })
    }

    pub fn binary(&self, workload: &str) -> PathBuf {
        self.lab_dir.join("bin").join(workload)
    }

    pub fn image_layout(&self, image: &str) -> PathBuf {
        self.lab_dir.join("images").join(image)
    }

    /// `peti ARGS` against the labs' store.
    pub fn peti(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.peti);
        command
            .env("PETI_ROOT", &self.peti_root)
            .env("PETI_RUN", &self.peti_run)
            .args(args);
        command
    }

    /// `peti stats --no-stream --format json NAME`, read with peti's own type.
    pub fn stats(&self, name: &str) -> Result<StatsRow, WayError> {
        self.peti_json(&["stats", "--no-stream", "--format", "json", name])
    }

    /// `peti inspect NAME`: the container's record, read with peti's own type.
    pub fn inspect(&self, name: &str) -> Result<Inspect, WayError> {
        let shown = format!("peti inspect {name}");
        let mut all: Vec<Inspect> = self.peti_json(&["inspect", name])?;
        all.pop().ok_or_else(|| WayError::Report {
            what: shown,
            reason: "no record".into(),
        })
    }

    fn peti_json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> Result<T, WayError> {
        let shown = format!("peti {}", args.join(" "));
        let ran = checked(&mut self.peti(args), &shown)?;
        serde_json::from_str(ran.stdout.trim()).map_err(|e| WayError::Report {
            what: shown,
            reason: e.to_string(),
        })
    }

    /// Loads an image into the labs' store (once; loading again is cheap).
    pub fn load_image(&self, image: &str) -> Result<(), WayError> {
        let layout = self.image_layout(image);
        let layout = layout.to_string_lossy();
        checked(&mut self.peti(&["load", "-i", &layout]), "peti load")?;
        Ok(())
    }

    /// `peti run --rm IMAGE ARGS`, with its start-up trace written to `trace`.
    pub fn container(
        &self,
        image: &str,
        args: &[&str],
        trace: Option<&Path>,
    ) -> Result<Run, WayError> {
        let mut line = vec!["run", "--rm"];
        let trace = trace.map(|t| t.to_string_lossy().into_owned());
        if let Some(t) = &trace {
            line.extend(["--trace-json", t.as_str()]);
        }
        line.push(image);
        line.extend(args);
        let shown = format!("peti run --rm {image} {}", args.join(" "));
        timed(&mut self.peti(&line), shown.trim())
    }

    /// `microvm run --elf BINARY --timeline --json -- ARGS`.
    pub fn direct_vm(
        &self,
        workload: &str,
        extra: &[&str],
        args: &[&str],
    ) -> Result<Run, WayError> {
        let binary = self.binary(workload);
        let mut command = Command::new(&self.microvm);
        command
            .args(["run", "--elf"])
            .arg(&binary)
            .args(extra)
            .args(["--timeline", "--json", "--"])
            .args(args);
        let mut shown = format!("microvm run --elf {}", binary.display());
        for word in extra {
            shown.push(' ');
            shown.push_str(word);
        }
        if !args.is_empty() {
            shown.push_str(&format!(" -- {}", args.join(" ")));
        }
        timed(&mut command, &shown)
    }
}

impl Tools {
    /// Boots `kernel` with an initramfs made from the workload's image, whose
    /// /init runs the workload with `args`. The guest's console goes to a file;
    /// its lines come back as the run's stdout, followed by microvm's report, so
    /// a Linux VM run reads like the other two ways.
    pub fn linux_vm(
        &self,
        kernel: &Path,
        workload: &str,
        args: &[&str],
        scratch: &Path,
    ) -> Result<Run, WayError> {
        let tag: String = std::iter::once(workload)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join("_")
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "-");
        let initrd = scratch.join(format!("{tag}.cpio.gz"));
        if !initrd.is_file() {
            let mut build = Command::new(&self.microvm);
            build
                .arg("initramfs")
                .arg(self.image_layout(workload))
                .arg("-o")
                .arg(&initrd)
                .arg("--")
                .arg(format!("/{workload}"))
                .args(args);
            checked(&mut build, &format!("microvm initramfs images/{workload}"))?;
        }
        let console = scratch.join(format!("{tag}.console"));
        let mut command = Command::new(&self.microvm);
        command
            .args(["run", "--kernel"])
            .arg(kernel)
            .arg("--initrd")
            .arg(&initrd)
            .args(["--mem", "256", "--timeout", "120", "--timeline", "--json"])
            .arg("--console")
            .arg(&console);
        let shown = format!(
            "microvm run --kernel {} --initrd {workload}.cpio.gz --mem 256",
            kernel.display()
        );
        let mut ran = timed(&mut command, &shown)?;
        let serial = std::fs::read_to_string(&console).unwrap_or_default();
        ran.stdout = format!("{}\n{}", serial.replace('\r', ""), ran.stdout);
        Ok(ran)
    }
}

/// The report `microvm --json` prints as its last line, read with microvm's
/// own types: `O` is the kind of guest's outcome (a program's or a Linux
/// guest's).
pub fn microvm_report<O: serde::de::DeserializeOwned>(run: &Run) -> Result<Printed<O>, WayError> {
    let line = run
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"microvm\""))
        .ok_or_else(|| WayError::Report {
            what: run.command.clone(),
            reason: "no JSON report on stdout".into(),
        })?;
    let line: JsonLine<O> = serde_json::from_str(line).map_err(|e| WayError::Report {
        what: run.command.clone(),
        reason: e.to_string(),
    })?;
    Ok(line.microvm)
}

/// Runs a command to the end and times it, spawn to exit, whatever its status;
/// its peak RSS comes from wait4(2).
pub fn timed(command: &mut Command, shown: &str) -> Result<Run, WayError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = command.get_program().to_string_lossy().into_owned();
    let start = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|source| WayError::Spawn { program, source })?;
    // Read stderr on a thread so that neither pipe can fill and stall the child.
    let mut stderr_pipe = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stderr_pipe.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let mut stdout = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    let mut status = 0;
    // SAFETY: rusage is a plain C struct that wait4 fills; all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own unreaped child (std's Child never waited on
    // it, and is not used after this), and `status` and `usage` are live.
    let reaped = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    if reaped < 0 {
        return Err(WayError::Spawn {
            program: shown.to_string(),
            source: std::io::Error::last_os_error(),
        });
    }
    let exit_code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok(Run {
        command: shown.to_string(),
        wall_ms,
        peak_rss_kib: usage.ru_maxrss as f64,
        exit_code,
        stdout,
        stderr: stderr_reader.join().unwrap_or_default(),
    })
}

/// Like [`timed`], but a non-zero exit is an error naming the command.
pub fn checked(command: &mut Command, shown: &str) -> Result<Run, WayError> {
    let ran = timed(command, shown)?;
    if ran.exit_code != 0 {
        return Err(WayError::Failed {
            command: shown.to_string(),
            code: ran.exit_code,
            stderr: ran.stderr.trim().to_string(),
        });
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_keep_parenthesised_spaces() {
        let run = Run {
            command: String::new(),
            wall_ms: 0.0,
            peak_rss_kib: 0.0,
            exit_code: 0,
            stdout: "READY workload=observe\nINFO kernel=Linux release=6.1 pid=1\n\
                     INFO mounts=unavailable (No such file or directory)\nRESULT workload=x status=ok\n"
                .into(),
            stderr: String::new(),
        };
        assert_eq!(run.info("release").as_deref(), Some("6.1"));
        assert_eq!(run.info("pid").as_deref(), Some("1"));
        assert_eq!(
            run.info("mounts").as_deref(),
            Some("unavailable (No such file or directory)")
        );
        assert_eq!(run.info("missing"), None);
        assert_eq!(
            run.result_line().as_deref(),
            Some("RESULT workload=x status=ok")
        );
    }
}
