//! seccomp: which system calls a container's processes may make at all.
//!
//! Namespaces decide what a container sees and cgroups how much it may use; the
//! third guard decides what it may ask the kernel. Root in a container is root
//! on the host's kernel, and every system call is a door into that kernel, so
//! Docker shuts those that a container has no business with: making user
//! namespaces, loading modules, the kernel keyring, rebooting, mounting. The
//! kernel's tool for it is seccomp: a small BPF program, installed before the
//! container's program starts and inherited by all it runs, that sees each
//! system call's number and arguments and answers allow, or fail with an errno,
//! or kill.
//!
//! peti applies Docker's default profile ([`default`]) unless told otherwise,
//! reads Docker's JSON format for `--security-opt seccomp=FILE` ([`profile`]),
//! emits each filter as a compact BPF program ([`bpf`], which says why it is our
//! own), and installs it with seccompiler, Firecracker's seccomp crate.
//!
//! How a profile becomes filters. A filter here has one action on a match and
//! one on no match, and a profile has many actions; the kernel
//! runs every installed filter and keeps the most severe answer (EPERM over
//! allow, kill over EPERM; of equals, the newest filter's). So a profile is
//! compiled into:
//! 1. one filter that allows every system call some rule names (with its
//!    argument conditions) and gives the profile's default action otherwise;
//! 2. one filter per other action (`clone3`'s ENOSYS, say), which gives that
//!    action to its rules' calls and allows everything else.
//!
//! What peti does not do: a filter accepts only the host's own architecture,
//! and kills a process that makes a 32-bit (`int 0x80`) call, where Docker
//! translates the profile for x86 and x32 too; SCMP_ACT_NOTIFY needs an agent
//! peti does not have, and is refused.

pub mod bpf;
pub mod default;
pub mod profile;
pub mod syscalls;

use std::collections::BTreeMap;
use std::path::Path;

use seccompiler::{BpfProgram, SeccompAction};
use serde::{Deserialize, Serialize};

use bpf::{Check, Match, Op};
use profile::{Arg, Gate, Profile, Rule};

/// What is wrong with a profile, or with installing it.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("--security-opt seccomp={path}: {detail}")]
    BadFile { path: String, detail: String },
    #[error(
        "seccomp profile: unknown action {0:?}: use SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE or SCMP_ACT_LOG"
    )]
    UnknownAction(String),
    #[error("seccomp profile: SCMP_ACT_NOTIFY needs a listening agent, which peti does not have")]
    Notify,
    #[error(
        "seccomp profile: unknown comparison {0:?}: use SCMP_CMP_EQ, _NE, _LT, _LE, _GT, _GE or _MASKED_EQ"
    )]
    UnknownOp(String),
    #[error("seccomp profile: minKernel {0:?} is not a kernel version like \"4.8\"")]
    BadKernelVersion(String),
    #[error("seccomp profile: {0}")]
    Compile(#[from] bpf::BpfError),
    #[error("installing the seccomp filter: {0}")]
    Install(std::io::Error),
    #[error("a seccomp filter of {0} instructions is longer than the kernel takes (65535)")]
    TooLong(usize),
}

/// Which filter a container gets (`--security-opt seccomp=...`). A profile read
/// from a file is kept whole in the container's record, as Docker keeps it, so
/// that a restart does not depend on the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter at all.
    Unconfined,
    Custom(Profile),
}

impl Seccomp {
    /// `unconfined`, or the path of a profile in Docker's JSON format.
    pub fn from_option(value: &str) -> Result<Seccomp, SeccompError> {
        if value == "unconfined" {
            return Ok(Seccomp::Unconfined);
        }
        let bad = |detail: String| SeccompError::BadFile {
            path: value.to_string(),
            detail,
        };
        let (file, _) =
            crate::image::source::open_regular(Path::new(value)).map_err(|e| bad(e.to_string()))?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, crate::image::source::MAX_DOCUMENT),
            &mut text,
        )
        .map_err(|e| bad(e.to_string()))?;
        let profile: Profile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        // Compile it once now, so that a bad profile fails `run`, not the start.
        compile(
            &Seccomp::Custom(profile.clone()),
            &[],
            KernelVersion::host(),
        )?;
        Ok(Seccomp::Custom(profile))
    }

    /// How `peti inspect` names it, as Docker's SecurityOpt does.
    pub fn label(&self) -> &'static str {
        match self {
            Seccomp::Default => "default",
            Seccomp::Unconfined => "unconfined",
            Seccomp::Custom(_) => "custom",
        }
    }
}

/// A kernel version, major and minor, for `minKernel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion(pub u32, pub u32);

impl KernelVersion {
    /// The running kernel's, from uname (0.0 if it cannot be read: then no
    /// `minKernel` rule applies, the safe side).
    pub fn host() -> KernelVersion {
        nix::sys::utsname::uname()
            .ok()
            .and_then(|u| KernelVersion::parse(&u.release().to_string_lossy()))
            .unwrap_or(KernelVersion(0, 0))
    }

    /// "6.1.0-13-amd64" -> 6.1.
    pub fn parse(text: &str) -> Option<KernelVersion> {
        let mut parts = text.split(['.', '-']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(KernelVersion(major, minor))
    }
}

/// The filters a profile compiles to, in the order they are installed.
#[derive(Debug, Default)]
pub struct Filters(Vec<BpfProgram>);

impl Filters {
    /// How many filters there are: none when unconfined.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// BPF instructions in all (a filter's cost grows with its length).
    pub fn instructions(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    /// Each instruction as one number (code, jt, jf, k), to cross the start-up
    /// channel.
    pub fn to_words(&self) -> Vec<Vec<u64>> {
        self.0
            .iter()
            .map(|program| {
                program
                    .iter()
                    .map(|i| {
                        u64::from(i.code) << 48
                            | u64::from(i.jt) << 40
                            | u64::from(i.jf) << 32
                            | u64::from(i.k)
                    })
                    .collect()
            })
            .collect()
    }

    /// The inverse of [`Filters::to_words`]; refuses what no filter could be.
    pub fn from_words(words: Vec<Vec<u64>>) -> Result<Filters, SeccompError> {
        let programs = words
            .into_iter()
            .map(|program| {
                if program.is_empty() || program.len() > bpf::MAX_INSTRUCTIONS {
                    return Err(bpf::BpfError::TooLong(program.len()).into());
                }
                Ok(program
                    .into_iter()
                    .map(|w| seccompiler::sock_filter {
                        code: (w >> 48) as u16,
                        jt: (w >> 40) as u8,
                        jf: (w >> 32) as u8,
                        k: w as u32,
                    })
                    .collect())
            })
            .collect::<Result<_, SeccompError>>()?;
        Ok(Filters(programs))
    }
}

/// The architecture name Docker's `arches` gates use for this host.
const ARCH: &str = "amd64";

/// Compiles the filter a container gets, for a container with `capabilities`
/// (by name, like "CAP_SYS_ADMIN") on a kernel of version `kernel`.
pub fn compile(
    seccomp: &Seccomp,
    capabilities: &[&str],
    kernel: KernelVersion,
) -> Result<Filters, SeccompError> {
    let profile = match seccomp {
        Seccomp::Unconfined => return Ok(Filters::default()),
        Seccomp::Default => default::profile(),
        Seccomp::Custom(profile) => profile.clone(),
    };
    let default = action(
        &profile.default_action,
        profile.default_errno_ret.or(Some(libc::EPERM as u32)),
    )?;
    // Each rule that applies here, by its action: system call -> conditions,
    // where None means "whatever its arguments".
    let mut by_action: Vec<(SeccompAction, Calls)> = Vec::new();
    for rule in &profile.syscalls {
        if !applies(rule, capabilities, kernel)? {
            continue;
        }
        let action = action(&rule.action, rule.errno_ret)?;
        let conditions = conditions(&rule.args)?;
        let group = match by_action.iter().position(|(a, _)| *a == action) {
            Some(i) => &mut by_action[i].1,
            None => {
                by_action.push((action, Calls::new()));
                &mut by_action.last_mut().expect("just pushed").1
            }
        };
        for name in rule.all_names() {
            // A name x86-64 does not have (a 32-bit or another architecture's
            // call) cannot be made here: skipped, as runc skips it.
            if let Some(nr) = syscalls::number(name) {
                add(group, nr as u32, conditions.clone());
            }
        }
    }
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        let mut named = Calls::new();
        for (_, calls) in &by_action {
            for (nr, matching) in calls {
                match matching {
                    Match::Always => add(&mut named, *nr, None),
                    Match::AnyOf(rules) => rules
                        .iter()
                        .for_each(|r| add(&mut named, *nr, Some(r.clone()))),
                }
            }
        }
        filters.push(filter(&named, default, SeccompAction::Allow)?);
    }
    for (action, calls) in &by_action {
        // A group whose calls x86-64 does not have would allow everything.
        if *action != SeccompAction::Allow && !calls.is_empty() {
            filters.push(filter(calls, SeccompAction::Allow, action.clone())?);
        }
    }
    Ok(Filters(filters))
}

/// System call -> when it matches.
type Calls = BTreeMap<u32, Match>;

/// Adds one rule for `nr`: `None` for a rule without argument checks.
fn add(calls: &mut Calls, nr: u32, rule: Option<Vec<Check>>) {
    let entry = calls.entry(nr).or_insert_with(|| Match::AnyOf(Vec::new()));
    match (entry, rule) {
        // Already unconditional: no rule can widen it.
        (Match::Always, _) => {}
        (entry, None) => *entry = Match::Always,
        (Match::AnyOf(rules), Some(rule)) => rules.push(rule),
    }
}

fn filter(
    calls: &Calls,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, SeccompError> {
    Ok(bpf::emit(calls, u32::from(matched), u32::from(mismatch))?)
}

/// Whether a rule's `includes` and `excludes` let it apply to this container.
fn applies(
    rule: &Rule,
    capabilities: &[&str],
    kernel: KernelVersion,
) -> Result<bool, SeccompError> {
    let has = |cap: &profile::Text| capabilities.contains(&cap.as_ref());
    let Gate {
        caps,
        arches,
        min_kernel,
    } = &rule.includes;
    if !caps.iter().all(has) || (!arches.is_empty() && !arches.iter().any(|a| a == ARCH)) {
        return Ok(false);
    }
    if let Some(min) = min_kernel {
        let min = KernelVersion::parse(min)
            .ok_or_else(|| SeccompError::BadKernelVersion(min.to_string()))?;
        if kernel < min {
            return Ok(false);
        }
    }
    let excluded = &rule.excludes;
    Ok(!excluded.caps.iter().any(has) && !excluded.arches.iter().any(|a| a == ARCH))
}

/// A profile's action, with its errno where it takes one (EPERM by default).
fn action(name: &str, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        // libseccomp's SCMP_ACT_KILL is the thread's kill.
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(errno.unwrap_or(0)),
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_NOTIFY" => return Err(SeccompError::Notify),
        other => return Err(SeccompError::UnknownAction(other.to_string())),
    })
}

/// A rule's argument checks, all of which must hold; none for an empty list.
fn conditions(args: &[Arg]) -> Result<Option<Vec<Check>>, SeccompError> {
    if args.is_empty() {
        return Ok(None);
    }
    let checks = args
        .iter()
        .map(|arg| {
            let (op, value) = match arg.op.as_ref() {
                "SCMP_CMP_EQ" => (Op::Eq, arg.value),
                "SCMP_CMP_NE" => (Op::Ne, arg.value),
                "SCMP_CMP_LT" => (Op::Lt, arg.value),
                "SCMP_CMP_LE" => (Op::Le, arg.value),
                "SCMP_CMP_GT" => (Op::Gt, arg.value),
                "SCMP_CMP_GE" => (Op::Ge, arg.value),
                // libseccomp's (arg & value) == valueTwo.
                "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq(arg.value), arg.value_two),
                other => return Err(SeccompError::UnknownOp(other.to_string())),
            };
            if arg.index > 5 {
                return Err(bpf::BpfError::ArgumentIndex(arg.index).into());
            }
            Ok(Check {
                index: arg.index,
                op,
                value,
            })
        })
        .collect::<Result<Vec<_>, SeccompError>>()?;
    Ok(Some(checks))
}

/// Installs the filters on this thread. The kernel takes a filter from a
/// process that holds CAP_SYS_ADMIN or has set no_new_privs; the caller sees
/// to one of the two (see `process`). The call is made here, not with
/// seccompiler's `apply_filter`, because that sets no_new_privs itself,
/// which Docker leaves off unless asked: with it, `su` and `ping` fail.
pub fn install(filters: &Filters) -> Result<(), SeccompError> {
    filters.0.iter().try_for_each(|program| load(program))
}

/// seccomp(SECCOMP_SET_MODE_FILTER, 0, program).
fn load(program: &[seccompiler::sock_filter]) -> Result<(), SeccompError> {
    let len = u16::try_from(program.len()).map_err(|_| SeccompError::TooLong(program.len()))?;
    let fprog = libc::sock_fprog {
        len,
        // seccompiler's sock_filter is the kernel's struct (u16, u8, u8, u32),
        // as libc's is.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `program`, which lives across the call, with
    // its length; the kernel copies the program and keeps no pointer to it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(SeccompError::Install(std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_DEFAULT_CAPS: [&str; 14] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];

    #[test]
    fn the_default_profile_compiles_to_two_filters() {
        let start = std::time::Instant::now();
        let filters =
            compile(&Seccomp::Default, &DOCKER_DEFAULT_CAPS, KernelVersion(6, 1)).unwrap();
        eprintln!(
            "compiled in {:?}: {} instructions",
            start.elapsed(),
            filters.instructions()
        );
        // The allow-list, and clone3's ENOSYS.
        assert_eq!(filters.len(), 2);
        assert!(filters.instructions() < 4096, "BPF's limit");
        assert!(
            compile(&Seccomp::Unconfined, &[], KernelVersion(6, 1))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn gates_follow_capabilities_arches_and_the_kernel() {
        let profile = default::profile();
        let rule_for = |name: &'static str| {
            profile
                .syscalls
                .iter()
                .filter(move |r| r.all_names().any(|n| n == name))
        };
        let chroot = rule_for("chroot").next().unwrap();
        assert!(applies(chroot, &DOCKER_DEFAULT_CAPS, KernelVersion(6, 1)).unwrap());
        let mount = rule_for("mount").next().unwrap();
        assert!(!applies(mount, &DOCKER_DEFAULT_CAPS, KernelVersion(6, 1)).unwrap());
        assert!(applies(mount, &["CAP_SYS_ADMIN"], KernelVersion(6, 1)).unwrap());
        let ptrace = rule_for("ptrace").next().unwrap();
        assert!(applies(ptrace, &[], KernelVersion(4, 8)).unwrap());
        assert!(!applies(ptrace, &[], KernelVersion(4, 4)).unwrap());
        let clone3: Vec<_> = rule_for("clone3").collect();
        let enosys = clone3.iter().find(|r| r.errno_ret == Some(38)).unwrap();
        assert!(applies(enosys, &DOCKER_DEFAULT_CAPS, KernelVersion(6, 1)).unwrap());
        assert!(!applies(enosys, &["CAP_SYS_ADMIN"], KernelVersion(6, 1)).unwrap());
    }

    #[test]
    fn a_profile_in_dockers_format_is_read_and_checked() {
        let text = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "comment": "no new directories"},
                {"name": "chown32", "action": "SCMP_ACT_KILL"},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]
        }"#;
        let profile: Profile = serde_json::from_str(text).unwrap();
        let filters = compile(&Seccomp::Custom(profile), &[], KernelVersion(6, 1)).unwrap();
        // Default allow: no allow-list filter; one filter per errno (13 and the
        // EPERM of personality's rule); none for chown32, which x86-64 lacks.
        assert_eq!(filters.len(), 2);
        for (bad, said) in [
            (r#"{"defaultAction": "SCMP_ACT_NOPE"}"#, "unknown action"),
            (r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#, "listening agent"),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
                    "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}"#,
                "unknown comparison",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
                    "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
                "is not one of a system call's six",
            ),
        ] {
            let profile: Profile = serde_json::from_str(bad).unwrap();
            let err = compile(&Seccomp::Custom(profile), &[], KernelVersion(6, 1)).unwrap_err();
            assert!(err.to_string().contains(said), "{err}");
        }
    }
}
