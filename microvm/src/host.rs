//! What this host can run: `/dev/kvm`, the KVM API, and which kind of
//! virtualisation is behind it. `microvm doctor` prints this report, and
//! `microvm run --kernel` consults it before starting a Linux guest.
//!
//! Two kinds of KVM matter here:
//! - hardware virtualisation (Intel VT-x, AMD-V): guests run natively, in every
//!   mode; a Linux guest boots;
//! - nested PVM (the `kvm_pvm` module): a shadow-paging hypervisor meant for
//!   specially built guests. User-level (CPL3) guest code runs natively, but
//!   kernel-level code is emulated instruction by instruction, and KVM's emulator
//!   fails on instructions a Linux kernel uses early. Our own short test guests
//!   run; a stock Linux guest does not.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use kvm_ioctls::{Cap, Kvm};
use serde::Serialize;

/// The capabilities microvm relies on, with what each is for.
pub const NEEDED_CAPABILITIES: [(Cap, &str, &str); 7] = [
    (
        Cap::UserMemory,
        "KVM_CAP_USER_MEMORY",
        "guest RAM from our own mmap",
    ),
    (
        Cap::Irqchip,
        "KVM_CAP_IRQCHIP",
        "in-kernel PIC, IOAPIC and LAPIC",
    ),
    (Cap::Pit2, "KVM_CAP_PIT2", "in-kernel timer (PIT)"),
    (
        Cap::Irqfd,
        "KVM_CAP_IRQFD",
        "the serial port raises IRQ 4 through an eventfd",
    ),
    (
        Cap::SetTssAddr,
        "KVM_CAP_SET_TSS_ADDR",
        "a TSS address, required on Intel",
    ),
    (
        Cap::ExtCpuid,
        "KVM_CAP_EXT_CPUID",
        "KVM_GET_SUPPORTED_CPUID",
    ),
    (
        Cap::ImmediateExit,
        "KVM_CAP_IMMEDIATE_EXIT",
        "stopping a vCPU for --timeout",
    ),
];

/// Which kind of virtualisation provides `/dev/kvm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Virtualisation {
    /// VT-x or AMD-V: the CPU runs guests natively.
    Hardware,
    /// The kvm_pvm module: kernel-mode guest code is emulated.
    NestedPvm,
    /// /dev/kvm is there but neither sign is: assume hardware, say so.
    Unknown,
}

impl Virtualisation {
    pub fn as_str(self) -> &'static str {
        match self {
            Virtualisation::Hardware => "hardware",
            Virtualisation::NestedPvm => "nested-pvm",
            Virtualisation::Unknown => "unknown",
        }
    }

    /// Whether a stock Linux kernel can boot as a guest.
    pub fn boots_linux(self) -> bool {
        self != Virtualisation::NestedPvm
    }
}

/// Tells the kind from the loaded modules and the CPU flags.
pub fn virtualisation() -> Virtualisation {
    if Path::new("/sys/module/kvm_pvm").exists() {
        return Virtualisation::NestedPvm;
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has_flag = |flag: &str| {
        cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == flag))
    };
    if has_flag("vmx") || has_flag("svm") {
        Virtualisation::Hardware
    } else {
        Virtualisation::Unknown
    }
}

/// Everything `doctor` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    pub kvm_device: DeviceReport,
    pub api_version: Option<i32>,
    pub capabilities: Vec<CapabilityReport>,
    pub virtualisation: Virtualisation,
    /// What can run here, in a sentence.
    pub verdict: String,
    /// Whether a direct (`--elf`) and a Linux (`--kernel`) guest can run.
    pub runs_direct: bool,
    pub runs_linux: bool,
}

#[derive(Debug, Serialize)]
pub struct DeviceReport {
    pub exists: bool,
    /// Octal permission bits, owner and group ids.
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Whether this process could open it read-write.
    pub openable: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CapabilityReport {
    pub name: &'static str,
    pub purpose: &'static str,
    pub present: bool,
}

/// Looks at /dev/kvm and asks KVM what it offers.
pub fn report() -> Report {
    let path = Path::new("/dev/kvm");
    let metadata = std::fs::metadata(path).ok();
    let kvm = Kvm::new();
    let device = DeviceReport {
        exists: metadata.is_some(),
        mode: metadata
            .as_ref()
            .map(|m| format!("{:o}", m.permissions().mode() & 0o7777)),
        uid: metadata.as_ref().map(MetadataExt::uid),
        gid: metadata.as_ref().map(MetadataExt::gid),
        openable: kvm.is_ok(),
        error: kvm.as_ref().err().map(|e| e.to_string()),
    };
    let capabilities: Vec<CapabilityReport> = NEEDED_CAPABILITIES
        .iter()
        .map(|(cap, name, purpose)| CapabilityReport {
            name,
            purpose,
            present: kvm.as_ref().is_ok_and(|k| k.check_extension(*cap)),
        })
        .collect();
    let virtualisation = virtualisation();
    let usable = device.openable && capabilities.iter().all(|c| c.present);
    let runs_linux = usable && virtualisation.boots_linux();
    let verdict = match (device.exists, device.openable, usable, virtualisation) {
        (false, ..) => "no /dev/kvm: load the kvm_intel or kvm_amd module, or enable \
                        virtualisation in the firmware or the cloud VM's settings; nothing can run"
            .to_string(),
        (true, false, ..) => format!(
            "/dev/kvm cannot be opened ({}): run as root or join the kvm group; nothing can run",
            device.error.as_deref().unwrap_or("unknown error")
        ),
        (true, true, false, _) => {
            "KVM lacks capabilities microvm needs (see the list); nothing can run".to_string()
        }
        (_, _, true, Virtualisation::NestedPvm) => "nested PVM: Linux guests cannot boot here \
            (their kernel code is emulated, and the emulator fails on it); direct ELF guests \
            can (their user-level code runs natively)"
            .to_string(),
        (_, _, true, Virtualisation::Hardware) => {
            "hardware virtualisation: Linux guests and direct ELF guests can run".to_string()
        }
        (_, _, true, Virtualisation::Unknown) => "no vmx/svm CPU flag and no kvm_pvm module: \
            assuming hardware virtualisation; Linux guests and direct ELF guests should run"
            .to_string(),
    };
    Report {
        api_version: kvm.as_ref().ok().map(Kvm::get_api_version),
        kvm_device: device,
        capabilities,
        virtualisation,
        verdict,
        runs_direct: usable,
        runs_linux,
    }
}
