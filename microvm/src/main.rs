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

use clap::{Args, Parser, Subcommand};
use microvm::layout::{MAX_MEM_MIB, MIN_MEM_MIB};
use microvm::linux::{self, Console, LinuxConfig, initramfs};
use microvm::program::syscalls::Grant;
use microvm::program::{self, ProgramConfig};
use microvm::run::{Failed, JsonLine, Machine, Printed, Report};
use microvm::timeline::Timeline;
use microvm::{host, test_guests};

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
    Run(RunArgs),
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

// `microvm run`: what every guest gets, then one group per kind of guest.
// (A doc comment here would replace the subcommand's own in --help.)
#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    machine: MachineArgs,
    #[command(flatten)]
    linux: LinuxArgs,
    #[command(flatten)]
    program: ProgramArgs,
}

// A Linux guest: `--kernel` and what only a kernel takes.
#[derive(Args)]
#[command(next_help_heading = "A Linux guest (--kernel)")]
struct LinuxArgs {
    /// The kernel: a bzImage, or an ELF (vmlinux; with a PVH note it is
    /// entered through PVH).
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
    /// An initrd (initramfs) to load high in guest memory.
    #[arg(long, value_name = "PATH", requires = "kernel")]
    initrd: Option<PathBuf>,
    /// The kernel command line.
    #[arg(long, value_name = "STR", default_value = DEFAULT_CMDLINE)]
    cmdline: String,
    /// Number of vCPUs (only 1 for now).
    #[arg(long, value_name = "N", default_value_t = 1)]
    vcpus: u8,
    /// Where the serial console goes: stdio, none, or a file.
    #[arg(long, value_name = "stdio|FILE|none", default_value = "stdio")]
    console: String,
}

// A program guest: `--elf` and what only a program takes.
#[derive(Args)]
#[command(next_help_heading = "A program guest (--elf)")]
struct ProgramArgs {
    /// A static x86-64 Linux program to run at user level, its system calls
    /// served by microvm.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["initrd", "cmdline", "console", "vcpus"])]
    elf: Option<PathBuf>,
    /// An environment variable for the program (repeatable).
    #[arg(long, value_name = "K=V", requires = "elf")]
    env: Vec<String>,
    /// Let the program open HOST's file as GUEST (`:ro` for read-only).
    #[arg(long, value_name = "HOST:GUEST[:ro]", requires = "elf")]
    file: Vec<String>,
    /// Print each system call, strace-style, on stderr.
    #[arg(long, requires = "elf")]
    trace_syscalls: bool,
    /// The program's arguments (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

// What every guest gets, and what a run shows.
#[derive(Args)]
struct MachineArgs {
    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(MIN_MEM_MIB..=MAX_MEM_MIB))]
    mem: u64,
    /// Stop the guest if it has not ended after this many seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Print when each phase of the boot ended (on stderr).
    #[arg(long)]
    timeline: bool,
    /// With --timeline: print one JSON object on stdout instead.
    #[arg(long, requires = "timeline")]
    json: bool,
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
        Command::Run(args) => run(args, timeline),
    }
}

fn run(mut args: RunArgs, timeline: Timeline) -> ExitCode {
    let shown = Shown {
        show: args.machine.timeline,
        json: args.machine.json,
    };
    let machine = Machine {
        mem_mib: args.machine.mem,
        timeout: args.machine.timeout.map(Duration::from_secs),
    };
    if let Some(elf) = args.program.elf.take() {
        let config = match program_config(elf, args.program) {
            Ok(config) => config,
            Err(bad) => {
                eprintln!(
                    "microvm: error: invalid --file {bad:?}: use HOST:GUEST or HOST:GUEST:ro, GUEST absolute"
                );
                return ExitCode::from(2);
            }
        };
        return match program::run_program(config, &machine, timeline) {
            Ok(report) => {
                let code = report.guest.exit_code as u8;
                shown.ended(report, code)
            }
            Err(failed) => shown.failed(*failed),
        };
    }
    // clap's group makes one of --kernel and --elf required.
    let Some(kernel) = args.linux.kernel else {
        return ExitCode::from(2);
    };
    let config = LinuxConfig {
        kernel,
        initrd: args.linux.initrd,
        cmdline: args.linux.cmdline,
        vcpus: args.linux.vcpus,
        console: match args.linux.console.as_str() {
            "stdio" => Console::Stdio,
            "none" => Console::None,
            file => Console::File(file.into()),
        },
    };
    match linux::run_linux(config, &machine, timeline) {
        Ok(report) => shown.ended(report, 0),
        Err(failed) => shown.failed(*failed),
    }
}

/// The program's configuration, or the `--file` that does not parse.
fn program_config(elf: PathBuf, args: ProgramArgs) -> Result<ProgramConfig, String> {
    let files = args
        .file
        .iter()
        .map(|f| Grant::parse(f).ok_or_else(|| f.clone()))
        .collect::<Result<_, _>>()?;
    Ok(ProgramConfig {
        args: std::iter::once(elf.display().to_string())
            .chain(args.args)
            .collect(),
        program: elf,
        env: args.env,
        files,
        trace_syscalls: args.trace_syscalls,
    })
}

/// What `--timeline` and `--json` ask to be shown at the end of a run: the
/// timeline as a table on stderr, or the whole report as one JSON line on
/// stdout.
struct Shown {
    show: bool,
    json: bool,
}

impl Shown {
    fn ended<O: serde::Serialize>(&self, report: Report<O>, code: u8) -> ExitCode {
        self.show(Printed::Ran(report));
        ExitCode::from(code)
    }

    fn failed(&self, failed: Failed) -> ExitCode {
        let (message, code) = (failed.error.to_string(), failed.error.exit_code());
        self.show::<()>(Printed::Failed(failed.into()));
        eprintln!("microvm: error: {message}");
        ExitCode::from(code)
    }

    fn show<O: serde::Serialize>(&self, report: Printed<O>) {
        if self.json {
            let line = JsonLine { microvm: report };
            println!(
                "{}",
                serde_json::to_string(&line).expect("a report serialises")
            );
        } else if self.show {
            eprint!("{}", report.timeline().render());
        }
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
        test_guests::GUESTS
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
