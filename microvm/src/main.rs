//! `microvm`: the command line of the micro-VM launcher.
//!
//! - `microvm run --kernel PATH ...` boots a Linux kernel (or one of our test
//!   guests) and runs it until it resets;
//! - `microvm initramfs IMAGE -o OUT.cpio.gz` makes a container image bootable;
//! - `microvm guests --out DIR` writes our own small test guests;
//! - `microvm doctor` says what this host's KVM can run.
//!
//! Exit codes: 0 when the guest ended by resetting the machine (or the user
//! quit), 1 when the VM failed, 124 when `--timeout` stopped it, 2 for a wrong
//! command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use microvm::boot::initramfs;
use microvm::direct::{self, ElfConfig};
use microvm::host;
use microvm::layout::{MAX_MEM_MIB, MIN_MEM_MIB};
use microvm::memory_use::MemoryUse;
use microvm::run::{self, Console, RunConfig};
use microvm::syscalls::Grant;
use microvm::timeline::Timeline;

/// A tiny KVM micro-VM launcher built on the rust-vmm crates.
#[derive(Parser)]
#[command(name = "microvm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The command line Firecracker's guides use, plus a serial console: reset
/// through the keyboard controller, reboot instead of hanging on a panic, no
/// PCI probing, and an i8042 driver that does not look for a mouse.
const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off nomodules \
                               i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd";

// Deferred, as peti's are: only the subcommand given has its arguments built,
// which saves page faults and time on every start (see peti's cli/mod.rs).
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// Boot a kernel in a new VM and run it until it resets; or (--elf) run a
    /// static program in a VM with no guest kernel.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["kernel", "elf"])))]
    Run {
        /// The kernel: a bzImage, or an ELF (vmlinux; with a PVH note it is
        /// entered through PVH).
        #[arg(long, value_name = "PATH")]
        kernel: Option<PathBuf>,
        /// A static x86-64 Linux program to run at user level, its system calls
        /// served by microvm.
        #[arg(long, value_name = "PATH", conflicts_with_all = ["initrd", "cmdline", "console"])]
        elf: Option<PathBuf>,
        /// With --elf: an environment variable for the program (repeatable).
        #[arg(long, value_name = "K=V", requires = "elf")]
        env: Vec<String>,
        /// With --elf: let the program open HOST's file as GUEST (`:ro` for
        /// read-only).
        #[arg(long, value_name = "HOST:GUEST[:ro]", requires = "elf")]
        file: Vec<String>,
        /// With --elf: print each system call, strace-style, on stderr.
        #[arg(long, requires = "elf")]
        trace_syscalls: bool,
        /// With --elf: the program's arguments (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
        /// An initrd (initramfs) to load high in guest memory.
        #[arg(long, value_name = "PATH")]
        initrd: Option<PathBuf>,
        /// The kernel command line.
        #[arg(long, value_name = "STR", default_value = DEFAULT_CMDLINE)]
        cmdline: String,
        /// Guest memory in MiB.
        #[arg(long, value_name = "MIB", default_value_t = 128,
              value_parser = clap::value_parser!(u64).range(MIN_MEM_MIB..=MAX_MEM_MIB))]
        mem: u64,
        /// Number of vCPUs (only 1 for now).
        #[arg(long, value_name = "N", default_value_t = 1)]
        vcpus: u8,
        /// Where the serial console goes: stdio, none, or a file.
        #[arg(long, value_name = "stdio|FILE|none", default_value = "stdio")]
        console: String,
        /// Stop the guest if it has not ended after this many seconds.
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Print when each phase of the boot ended (on stderr).
        #[arg(long)]
        timeline: bool,
        /// With --timeline: print one JSON object on stdout instead.
        #[arg(long, requires = "timeline")]
        json: bool,
    },
    /// Build a gzipped newc initramfs from an OCI image layout or a rootfs tarball,
    /// whose /init runs the image's command (or COMMAND) and ends the VM.
    Initramfs {
        /// An OCI image layout directory, or a rootfs .tar (or .tar.gz).
        input: PathBuf,
        /// Where to write the initramfs (.cpio.gz).
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// The command to run instead of the image's Cmd (after its Entrypoint).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Write microvm's own small test guests into DIR, to boot with `run --kernel`.
    Guests {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Report what this host's KVM can run, and exit non-zero if nothing.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// musl's malloc maps and unmaps memory for small allocations, a cost paid on
/// every start; dlmalloc keeps what it maps (see .cargo/config.toml).
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    let timeline = Timeline::start();
    match Cli::parse().command {
        Command::Doctor { json } => doctor(json),
        Command::Guests { out } => write_guests(&out),
        Command::Initramfs {
            input,
            output,
            command,
        } => initramfs(&input, &output, &command),
        Command::Run {
            kernel,
            elf,
            env,
            file,
            trace_syscalls,
            args,
            initrd,
            cmdline,
            mem,
            vcpus,
            console,
            timeout,
            timeline: show,
            json,
        } => {
            if let Some(program) = elf {
                let files = match file.iter().map(|f| Grant::parse(f).ok_or(f)).collect() {
                    Ok(files) => files,
                    Err(bad) => {
                        eprintln!(
                            "microvm: error: invalid --file {bad:?}: use HOST:GUEST or HOST:GUEST:ro, GUEST absolute"
                        );
                        return ExitCode::from(2);
                    }
                };
                let config = ElfConfig {
                    args: std::iter::once(program.display().to_string())
                        .chain(args)
                        .collect(),
                    program,
                    env,
                    files,
                    mem_mib: mem,
                    timeout: timeout.map(Duration::from_secs),
                    trace_syscalls,
                };
                return run_program(&config, timeline, show, json);
            }
            let Some(kernel) = kernel else {
                return ExitCode::from(2);
            };
            let config = RunConfig {
                kernel,
                initrd,
                cmdline,
                mem_mib: mem,
                vcpus,
                console: match console.as_str() {
                    "stdio" => Console::Stdio,
                    "none" => Console::None,
                    file => Console::File(file.into()),
                },
                timeout: timeout.map(Duration::from_secs),
            };
            run_kernel(&config, timeline, show, json)
        }
    }
}

fn run_program(config: &ElfConfig, timeline: Timeline, show: bool, json: bool) -> ExitCode {
    let shown = Shown { show, json };
    match direct::run_elf(config, timeline) {
        Ok(report) => shown.ended(&report.timeline, &report, report.exit_code as u8),
        Err(failed) => shown.failed_with(
            &failed.timeline,
            &failed.error,
            failed.error.exit_code(),
            failed.memory.as_ref(),
        ),
    }
}

fn run_kernel(config: &RunConfig, timeline: Timeline, show: bool, json: bool) -> ExitCode {
    let shown = Shown { show, json };
    match run::run_linux(config, timeline) {
        Ok(report) => shown.ended(&report.timeline, &report, 0),
        Err(failed) => shown.failed(&failed.timeline, &failed.error, failed.error.exit_code()),
    }
}

/// What `--timeline` and `--json` ask to be shown at the end of a run: the
/// timeline as a table on stderr, or the whole report as one JSON line on
/// stdout.
struct Shown {
    show: bool,
    json: bool,
}

impl Shown {
    fn ended(&self, timeline: &Timeline, report: &impl serde::Serialize, code: u8) -> ExitCode {
        if self.json {
            println!("{}", serde_json::json!({ "microvm": report }));
        } else if self.show {
            eprint!("{}", timeline.render());
        }
        ExitCode::from(code)
    }

    fn failed(&self, timeline: &Timeline, error: &dyn std::fmt::Display, code: u8) -> ExitCode {
        self.failed_with(timeline, error, code, None)
    }

    /// A failed run's report, with the memory the VM held when it ended, if known.
    fn failed_with(
        &self,
        timeline: &Timeline,
        error: &dyn std::fmt::Display,
        code: u8,
        memory: Option<&MemoryUse>,
    ) -> ExitCode {
        let mut report = serde_json::json!({ "error": error.to_string(), "timeline": timeline });
        if let Some(memory) = memory {
            report["memory"] = serde_json::json!(memory);
        }
        self.ended(timeline, &report, code);
        eprintln!("microvm: error: {error}");
        ExitCode::from(code)
    }
}

fn initramfs(input: &std::path::Path, output: &std::path::Path, command: &[String]) -> ExitCode {
    let built = initramfs::read_image(input, command)
        .and_then(|image| initramfs::build(&image))
        .and_then(|(bytes, written)| initramfs::write_atomically(output, &bytes).map(|()| written));
    match built {
        Ok(written) => {
            println!(
                "wrote {}: {} entries, {} bytes ({} before gzip); /init runs {:?}",
                output.display(),
                written.entries,
                written.gzip_bytes,
                written.cpio_bytes,
                written.command
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("microvm: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_guests(dir: &std::path::Path) -> ExitCode {
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        microvm::guests::GUESTS
            .iter()
            .try_for_each(|(name, what, bytes)| {
                std::fs::write(dir.join(name), bytes)?;
                println!("{:<22} {what}", name);
                Ok(())
            })
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "microvm: error: cannot write the guests to {}: {e}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn doctor(json: bool) -> ExitCode {
    let report = host::report();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serialises")
        );
    } else {
        print!("{}", render_doctor(&report));
    }
    if report.runs_direct || report.runs_linux {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn render_doctor(report: &host::Report) -> String {
    let device = &report.kvm_device;
    let mut out = String::new();
    out.push_str(&match (&device.mode, device.uid, device.gid) {
        (Some(mode), Some(uid), Some(gid)) => format!(
            "/dev/kvm: present, mode {mode}, owner {uid}:{gid}, {}\n",
            if device.openable {
                "opened read-write"
            } else {
                "cannot be opened by this user"
            }
        ),
        _ => "/dev/kvm: missing\n".to_string(),
    });
    if let Some(version) = report.api_version {
        out.push_str(&format!("KVM API version: {version}\n"));
    }
    for cap in &report.capabilities {
        out.push_str(&format!(
            "  {:<24} {:<4} {}\n",
            cap.name,
            if cap.present { "yes" } else { "NO" },
            cap.purpose
        ));
    }
    out.push_str(&format!(
        "virtualisation: {}\n",
        report.virtualisation.as_str()
    ));
    out.push_str(&format!("verdict: {}\n", report.verdict));
    out
}
