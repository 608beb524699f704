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

/// Which kind of guest needs a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NeededBy {
    Both,
    /// `run --kernel`: a Linux guest, with interrupts, a timer and a serial port.
    Linux,
    /// `run --elf`: a program at user level, whose system calls microvm serves.
    Direct,
}

/// The capabilities microvm relies on, who needs each, and what for.
pub const NEEDED_CAPABILITIES: [(Cap, &str, NeededBy, &str); 7] = [
    (
        Cap::UserMemory,
        "KVM_CAP_USER_MEMORY",
        NeededBy::Both,
        "guest RAM from our own mmap",
    ),
    (
        Cap::ExtCpuid,
        "KVM_CAP_EXT_CPUID",
        NeededBy::Both,
        "KVM_GET_SUPPORTED_CPUID",
    ),
    (
        Cap::Irqchip,
        "KVM_CAP_IRQCHIP",
        NeededBy::Linux,
        "Linux guests: in-kernel PIC, IOAPIC and LAPIC",
    ),
    (
        Cap::Pit2,
        "KVM_CAP_PIT2",
        NeededBy::Linux,
        "Linux guests: in-kernel timer (PIT)",
    ),
    (
        Cap::Irqfd,
        "KVM_CAP_IRQFD",
        NeededBy::Linux,
        "Linux guests: the serial port raises IRQ 4 through an eventfd",
    ),
    (
        Cap::SetTssAddr,
        "KVM_CAP_SET_TSS_ADDR",
        NeededBy::Linux,
        "Linux guests: a TSS address, required on Intel",
    ),
    (
        Cap::SyncRegs,
        "KVM_CAP_SYNC_REGS",
        NeededBy::Direct,
        "direct guests: registers on the shared run page, at each system call",
    ),
];

/// What a stock Linux guest needs, and where a reader finds it: said wherever one
/// is refused, so that the refusal tells what would make it work. (A kernel
/// built as a PVM guest needs none of it, and runs on PVM deprivileged; microvm
/// boots only stock kernels, so that is not what it can offer.)
pub const LINUX_NEEDS: &str = "hardware virtualisation (VT-x or AMD-V): a laptop, \
    bare metal, or a cloud VM with nested virtualisation turned on";

/// Which kind of virtualisation provides `/dev/kvm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Virtualisation {
    /// VT-x or AMD-V: the CPU runs guests natively.
    Hardware,
    /// The kvm_pvm module: paravirtual KVM, with no help from the CPU. A
    /// kernel built as a PVM guest runs natively, deprivileged to ring 3, with
    /// shadow page tables and hypercalls (Cloud Hypervisor boots such guests);
    /// a stock kernel's ring-0 code lands in KVM's instruction emulator, which
    /// fails on it. User-level code runs natively either way.
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
    pub needed_by: NeededBy,
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
        .map(|(cap, name, needed_by, purpose)| CapabilityReport {
            name,
            needed_by: *needed_by,
            purpose,
            present: kvm.as_ref().is_ok_and(|k| k.check_extension(*cap)),
        })
        .collect();
    let has_all_for = |who: NeededBy| {
        device.openable
            && capabilities
                .iter()
                .filter(|c| c.needed_by == who || c.needed_by == NeededBy::Both)
                .all(|c| c.present)
    };
    let runs_direct = has_all_for(NeededBy::Direct);
    let linux_capable = has_all_for(NeededBy::Linux);
    let virtualisation = virtualisation();
    let runs_linux = linux_capable && virtualisation.boots_linux();
    let verdict = verdict(&device, virtualisation, linux_capable, runs_direct);
    Report {
        api_version: kvm.as_ref().ok().map(Kvm::get_api_version),
        kvm_device: device,
        capabilities,
        virtualisation,
        verdict,
        runs_direct,
        runs_linux,
    }
}

/// What can run here, in a sentence.
fn verdict(
    device: &DeviceReport,
    virtualisation: Virtualisation,
    linux_capable: bool,
    runs_direct: bool,
) -> String {
    const LACKS: &str = "KVM lacks capabilities they need (see the list)";
    if !device.exists {
        return "no /dev/kvm: load the kvm_intel or kvm_amd module, or enable \
                virtualisation in the firmware or the cloud VM's settings; nothing can run"
            .to_string();
    }
    if !device.openable {
        return format!(
            "/dev/kvm cannot be opened ({}): run as root or join the kvm group; nothing can run",
            device.error.as_deref().unwrap_or("unknown error")
        );
    }
    let direct_clause = if runs_direct {
        "direct ELF guests can (their user-level code runs natively)".to_string()
    } else {
        format!("direct ELF guests cannot either: {LACKS}")
    };
    match (virtualisation, linux_capable, runs_direct) {
        (_, false, false) => {
            "KVM lacks capabilities microvm needs (see the list); nothing can run".to_string()
        }
        (Virtualisation::NestedPvm, ..) => format!(
            "nested PVM: a stock Linux kernel cannot boot here (its ring-0 code lands in \
             KVM's instruction emulator, which fails on it; a kernel built as a PVM guest \
             would run, but microvm boots stock kernels, which need {LINUX_NEEDS}); \
             {direct_clause}"
        ),
        (kind, linux, _) => {
            let kind = match kind {
                Virtualisation::Unknown => {
                    "no vmx/svm CPU flag and no kvm_pvm module, so assuming hardware virtualisation"
                }
                _ => "hardware virtualisation",
            };
            match (linux, runs_direct) {
                (true, true) => format!("{kind}: Linux guests and direct ELF guests can run"),
                (true, false) => {
                    format!("{kind}: Linux guests can run; direct ELF guests cannot: {LACKS}")
                }
                _ => format!("{kind}: direct ELF guests can run; Linux guests cannot: {LACKS}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(exists: bool, openable: bool) -> DeviceReport {
        DeviceReport {
            exists,
            mode: None,
            uid: None,
            gid: None,
            openable,
            error: (!openable).then(|| "Permission denied".to_string()),
        }
    }

    #[test]
    fn the_verdict_names_what_can_run_and_why_not() {
        let ok = device(true, true);
        let say = |kind, linux, direct| verdict(&ok, kind, linux, direct);
        assert!(
            verdict(&device(false, false), Virtualisation::Hardware, true, true)
                .starts_with("no /dev/kvm")
        );
        assert!(
            verdict(&device(true, false), Virtualisation::Hardware, true, true)
                .contains("run as root or join the kvm group")
        );
        assert_eq!(
            say(Virtualisation::Hardware, true, true),
            "hardware virtualisation: Linux guests and direct ELF guests can run"
        );
        assert!(
            say(Virtualisation::Hardware, true, false)
                .contains("Linux guests can run; direct ELF guests cannot")
        );
        assert!(
            say(Virtualisation::Hardware, false, true)
                .contains("direct ELF guests can run; Linux guests cannot")
        );
        assert!(say(Virtualisation::Hardware, false, false).ends_with("nothing can run"));
        assert!(
            say(Virtualisation::NestedPvm, true, true)
                .ends_with("direct ELF guests can (their user-level code runs natively)")
        );
        assert!(say(Virtualisation::NestedPvm, true, false).ends_with(
            "direct ELF guests cannot either: KVM lacks capabilities they need (see the list)"
        ));
        assert!(say(Virtualisation::Unknown, true, true).contains("assuming hardware"));
    }

    #[test]
    fn each_kind_of_guest_has_its_own_capabilities() {
        let for_kind = |who| {
            NEEDED_CAPABILITIES
                .iter()
                .filter(|c| c.2 == who)
                .map(|c| c.1)
                .collect::<Vec<_>>()
        };
        assert_eq!(for_kind(NeededBy::Direct), ["KVM_CAP_SYNC_REGS"]);
        assert!(for_kind(NeededBy::Linux).contains(&"KVM_CAP_IRQCHIP"));
        assert!(for_kind(NeededBy::Both).contains(&"KVM_CAP_USER_MEMORY"));
    }
}
