//! What the container's process may do once it runs: its user, its capabilities,
//! and, when asked, the no_new_privs bit.
//!
//! Root inside a container is root on the host kernel (no user namespace here), so
//! the kernel's finer-grained powers are cut to Docker's default set: enough for
//! ordinary software (chown files, bind port 80, switch users), not enough to load
//! modules, change the clock, mount file systems or trace other processes.

use std::collections::HashSet;
use std::fs;

use caps::{CapSet, Capability};
use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

/// What can go wrong while dropping privileges.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("capabilities: {0}")]
    Caps(#[from] caps::errors::CapsError),
    #[error("{step}: {source}")]
    Sys {
        step: &'static str,
        source: nix::errno::Errno,
    },
    #[error("unable to find user {0}: no matching entries in the container's /etc/passwd")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in the container's /etc/group")]
    UnknownGroup(String),
}

/// Docker's default capabilities (moby's `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// What a container's processes may do beyond Docker's defaults, or less:
/// `--cap-add`, `--cap-drop`, `--privileged`, `--security-opt
/// no-new-privileges`. Capabilities are named as the kernel names them
/// (`CAP_NET_ADMIN`), or `ALL`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Privileges {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Set no_new_privs: a setuid program, or one with file capabilities,
    /// gains nothing at exec. Docker leaves it off unless asked, so that
    /// `su`, `sudo` and `ping` work; the capability bounding set and the
    /// seccomp filter still hold whatever a setuid program does.
    pub no_new_privileges: bool,
    pub privileged: bool,
}

/// The capabilities a container's processes get, by Docker's rules: with
/// `--privileged` every one; else Docker's default set, less `--cap-drop`,
/// plus `--cap-add` (an add wins over a drop; `--cap-add ALL` is every one
/// but those dropped, `--cap-drop ALL` leaves only those added).
///
/// CAP_MKNOD stays out unless the devices cgroup limits which nodes work
/// (cgroup v1's devices controller; on v2 that takes an eBPF program, which
/// peti does not load): without it, a container could make /dev/sda and read
/// the host's disk. Only `--privileged`, which opens every device anyway,
/// gets it there.
pub fn container_capabilities(
    cgroup: Option<&super::cgroups::Cgroup>,
    privileges: &Privileges,
) -> Vec<Capability> {
    // "Every" capability is every one peti itself may hand on: its bounding
    // set (a host, or a container peti runs in, may lack some). Read only
    // when asked for: it is a system call per capability, on every start.
    let all = || -> Vec<Capability> {
        caps::read(None, CapSet::Bounding)
            .unwrap_or_else(|_| caps::all())
            .into_iter()
            .collect()
    };
    if privileges.privileged {
        return sorted(all());
    }
    let named = |names: &[String]| -> Vec<Capability> {
        names.iter().filter_map(|n| n.parse().ok()).collect()
    };
    let has_all = |names: &[String]| names.iter().any(|n| n == "ALL");
    let (add, drop) = (named(&privileges.cap_add), named(&privileges.cap_drop));
    let chosen: Vec<Capability> = if has_all(&privileges.cap_add) {
        all().into_iter().filter(|c| !drop.contains(c)).collect()
    } else if has_all(&privileges.cap_drop) {
        add
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !drop.contains(c))
            .chain(add)
            .collect()
    };
    let devices_guarded = cgroup.is_some_and(|c| c.guards_devices());
    sorted(
        chosen
            .into_iter()
            .filter(|c| *c != Capability::CAP_MKNOD || devices_guarded)
            .collect(),
    )
}

/// In the kernel's order, each once.
fn sorted(mut caps: Vec<Capability>) -> Vec<Capability> {
    caps.sort_by_key(|c| c.index());
    caps.dedup();
    caps
}

/// A resolved user: numbers, as the kernel wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Resolves `-u` (UID, UID:GID, NAME, NAME:GROUP, or empty for root) against the
/// container's own /etc/passwd and /etc/group, read after pivot_root: names mean
/// what the image says, not what the host says.
pub fn resolve_user(user: &str) -> Result<User, SecurityError> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && (f[0] == user_part || f[2] == user_part));
    let (uid, mut gid, home) = match (entry, user_part.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[5].to_string(),
        ),
        (None, Ok(uid)) => (uid, 0, "/".to_string()),
        (None, Err(_)) => return Err(SecurityError::UnknownUser(user_part.to_string())),
    };
    if let Some(group) = group_part {
        gid = match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = fs::read_to_string("/etc/group").unwrap_or_default();
                groups
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == group)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| SecurityError::UnknownGroup(group.to_string()))?
            }
        };
    }
    let home = if uid == 0 && home == "/" {
        "/root".to_string()
    } else {
        home
    };
    Ok(User { uid, gid, home })
}

/// Drops to `user` with `keep` as the only capabilities, then sets
/// no_new_privs if asked.
///
/// The order matters. The bounding set is cut first, while we still hold
/// CAP_SETPCAP. Then the ids change; for a non-root user the kernel clears the
/// permitted and effective sets by itself at that moment. Last, a root process
/// gets exactly `keep` as permitted and effective, and nobody any inheritable.
pub fn drop_privileges(
    user: &User,
    keep: &[Capability],
    no_new_privs: bool,
) -> Result<(), SecurityError> {
    let keep: HashSet<Capability> = keep.iter().copied().collect();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)?;
        }
    }
    caps::clear(None, CapSet::Ambient)?;
    let sys = |step| move |source| SecurityError::Sys { step, source };
    setgroups(&[Gid::from_raw(user.gid)]).map_err(sys("setgroups"))?;
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid).map_err(sys("setresgid"))?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid).map_err(sys("setresuid"))?;
    // The inheritable set is empty for every user, as in Docker since
    // CVE-2022-24769: with it full, a program whose file carries inheritable
    // capabilities would gain them at exec, past what the container was given.
    caps::clear(None, CapSet::Inheritable)?;
    if user.uid == 0 {
        caps::set(None, CapSet::Effective, &keep)?;
        caps::set(None, CapSet::Permitted, &keep)?;
    }
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(sys("prctl(PR_SET_NO_NEW_PRIVS)"))?;
    }
    Ok(())
}
