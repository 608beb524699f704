//! What a container is made of, once `peti create` has combined the image's
//! config with the command line: the process to run, its environment and user,
//! the file system, the limits. This is peti's small cousin of an OCI runtime
//! `config.json`; it is saved with the container so `start` can run it again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::seccomp::{Seccomp, SeccompError};

use super::cgroups::{CPU_PERIOD_US, Limits};
pub use super::security::Privileges;

/// Reads `--security-opt` values, as Docker takes them: `seccomp=unconfined`,
/// `seccomp=PROFILE.json` (or the older `seccomp:PROFILE.json`), and
/// `no-new-privileges[=true|false]` (also with `:`). Returns the seccomp
/// profile and whether no_new_privs is asked for.
pub fn parse_security_opts(options: &[String]) -> Result<(Seccomp, bool), SpecError> {
    let mut seccomp = Seccomp::Default;
    let mut no_new_privileges = false;
    for option in options {
        if let Some(value) = option
            .strip_prefix("seccomp=")
            .or_else(|| option.strip_prefix("seccomp:"))
        {
            seccomp = Seccomp::from_option(value)?;
            continue;
        }
        no_new_privileges = match option.as_str() {
            "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => true,
            "no-new-privileges=false" | "no-new-privileges:false" => false,
            _ => return Err(SpecError::BadSecurityOpt(option.clone())),
        };
    }
    Ok((seccomp, no_new_privileges))
}

/// What can be wrong in the options a user gave.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// `--memory` is not a size.
    #[error(
        "invalid --memory {0:?}: give a number with an optional unit b, k, m, g or t (for example 64m)"
    )]
    BadMemory(String),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(
        "invalid --security-opt {0:?}: peti takes seccomp=unconfined, seccomp=PROFILE.json (Docker's format) and no-new-privileges[=true|false]"
    )]
    BadSecurityOpt(String),
    #[error("invalid label {0:?}: use KEY=VALUE (or KEY alone)")]
    BadLabel(String),
    /// `--cap-add` or `--cap-drop` names no capability this kernel has.
    #[error(
        "invalid {flag} {given:?}: unknown capability (give a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL)"
    )]
    BadCapability { flag: &'static str, given: String },
    /// A size or a count that must be above zero was zero or negative.
    #[error("invalid {flag} {given:?}: the value must be positive")]
    NotPositive { flag: &'static str, given: String },
    /// `--memory` is below what a container can start in.
    #[error("--memory {0:?} is too small: the minimum is 6m, as in Docker")]
    MemoryTooSmall(String),
    /// `--memory` is more than a cgroup can be given.
    #[error(
        "--memory {0:?} is too large: a cgroup takes less than 8 EiB (8388608t); leave --memory out for no limit"
    )]
    MemoryTooLarge(String),
    /// `--cpus` is not a positive number within the host's CPUs.
    #[error(
        "invalid --cpus {given:?}: give a number from 0.01 to {max} (this host has {max} CPUs)"
    )]
    BadCpus { given: String, max: usize },
    /// `--pids-limit` is not a number.
    #[error("invalid --pids-limit {0:?}: give a positive number, or -1 for no limit")]
    BadPidsLimit(String),
    /// `-v` is not HOST:CONTAINER[:ro|rw].
    #[error(
        "invalid volume {0:?}: use HOST:CONTAINER[:ro] (HOST an absolute path, or one starting with ./ or ../), NAME:CONTAINER[:ro] for a named volume, or CONTAINER alone for an anonymous one; CONTAINER is an absolute path"
    )]
    BadVolume(String),
    /// `-v` would cover what the runtime itself mounts.
    #[error("invalid volume {volume:?}: {why}")]
    ReservedVolumeTarget { volume: String, why: &'static str },
    /// `-u` is not UID[:GID] or a name.
    #[error("invalid --user {0:?}: use UID, UID:GID, NAME or NAME:GROUP")]
    BadUser(String),
    /// `-w` is not an absolute path (Docker's words).
    #[error("the working directory {0:?} is invalid: it needs to be an absolute path")]
    RelativeWorkdir(String),
    /// `-e` is empty or starts with `=`.
    #[error("invalid environment variable {0:?}: use KEY=VALUE, or KEY to copy it from this shell")]
    BadEnv(String),
    /// `--hostname` is not a host name Linux accepts.
    #[error(
        "invalid --hostname {0:?}: use at most 64 letters, digits, '-' and '.', with no empty label"
    )]
    BadHostname(String),
    /// `--cgroup-parent` is not a path of cgroup names.
    #[error(
        "invalid --cgroup-parent {0:?}: give a cgroup path such as /labs or labs/web, with no '.' or '..'"
    )]
    BadCgroupParent(String),
    /// The image gives no command and neither does the command line.
    #[error(
        "no command given and the image has no Entrypoint or Cmd: put the command after the image name"
    )]
    NoCommand,
}

/// Which network namespace the container gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A new network namespace with only a loopback device, up.
    #[default]
    None,
    /// The host's own network namespace.
    Host,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
    }
}

/// What is bound into the container at a path: a host directory or file
/// (`-v HOST:CTR[:ro]`), or a volume that peti keeps (`-v NAME:CTR`, or
/// `-v CTR` for an anonymous one; see `crate::volume`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// The host path bound. For a volume, its `_data` directory, which the
    /// engine fills in when it makes or finds the volume.
    pub host: PathBuf,
    pub container: PathBuf,
    pub read_only: bool,
    /// A volume's name (empty for an anonymous one until the engine names
    /// it); none for a host path. (Absent from older records: a host path.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// Made for this container alone (`-v CTR`): `rm -v` and `--rm` remove it.
    #[serde(default)]
    pub anonymous: bool,
}

impl Volume {
    /// Parses Docker's short syntax: `HOST:CTR`, `NAME:CTR`, `CTR`, each
    /// with `:ro` or `:rw` after it but the last. A relative host path
    /// (`./site`) is taken from the current directory, as Docker's CLI does;
    /// anything else that does not start with `/` is a volume's name.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let bad = || SpecError::BadVolume(text.to_string());
        let parts: Vec<&str> = text.split(':').collect();
        let (source, container, read_only) = match parts.as_slice() {
            [c] => ("", *c, false),
            [h, c] => (*h, *c, false),
            [h, c, "ro"] => (*h, *c, true),
            [h, c, "rw"] => (*h, *c, false),
            _ => return Err(bad()),
        };
        if !container.starts_with('/') {
            return Err(bad());
        }
        let container = clean(container);
        check_volume_target(text, &container)?;
        let relative = source == "." || source.starts_with("./") || source.starts_with("../");
        let (host, volume) = if source.starts_with('/') {
            (PathBuf::from(source), None)
        } else if relative {
            let cwd = std::env::current_dir().map_err(|_| bad())?;
            (clean(&cwd.join(source).to_string_lossy()), None)
        } else {
            if !source.is_empty() {
                crate::volume::check_name(source).map_err(|_| bad())?;
            }
            (PathBuf::new(), Some(source.to_string()))
        };
        Ok(Volume {
            host,
            container,
            read_only,
            anonymous: volume.as_deref() == Some(""),
            volume,
        })
    }

    /// What `ps` shows in MOUNTS and `inspect` as the source: a volume's
    /// name, or the host path.
    pub fn source_name(&self) -> String {
        self.volume
            .clone()
            .unwrap_or_else(|| self.host.display().to_string())
    }
}

/// The files in /proc that runc lets a bind mount cover: those that tools like
/// LXCFS replace with a container's own view (its memory, its CPUs, its uptime).
const PROC_FILES_A_VOLUME_MAY_COVER: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Refuses a container path that would cover the root or the kernel's /proc,
/// as runc does: a host directory over /proc would hide the masked and
/// read-only paths that keep the container away from the host's kernel.
fn check_volume_target(volume: &str, target: &Path) -> Result<(), SpecError> {
    let reserved = |why| {
        Err(SpecError::ReservedVolumeTarget {
            volume: volume.to_string(),
            why,
        })
    };
    if target == Path::new("/") {
        return reserved("the container path cannot be /, which is the image's root");
    }
    let in_proc = target.starts_with("/proc");
    if in_proc
        && !PROC_FILES_A_VOLUME_MAY_COVER
            .iter()
            .any(|f| target == Path::new(f))
    {
        return reserved(
            "/proc belongs to the kernel: a volume may cover only files like /proc/cpuinfo, \
             /proc/meminfo or /proc/uptime, as runc allows",
        );
    }
    Ok(())
}

/// A container path with `.` and `..` worked out, as Docker cleans it: the
/// checks above must see the path that will be mounted, not one that only
/// looks different (`/x/../proc`).
fn clean(path: &str) -> PathBuf {
    let mut clean = PathBuf::from("/");
    for part in Path::new(path).components() {
        match part {
            std::path::Component::Normal(name) => clean.push(name),
            std::path::Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    clean
}

/// Everything needed to start the container's first process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The program and its arguments: the image's Entrypoint, then the command
    /// line's CMD (or the image's Cmd when none is given).
    pub args: Vec<String>,
    /// `KEY=VALUE` strings: the image's, then `-e`.
    pub env: Vec<String>,
    /// The working directory inside the container.
    pub workdir: String,
    /// Whether `-w` or the image chose it (Docker's inspect shows `""` for
    /// the default, `/`).
    #[serde(default)]
    pub workdir_given: bool,
    /// `-u` or the image's User: a name or number, resolved inside the
    /// container; `None` is the image's default, root. (Records written before
    /// this was an option say `""` for it.)
    #[serde(default, deserialize_with = "not_set_if_empty")]
    pub user: Option<String>,
    /// `--hostname`, the host's with `--network host`, or the short ID.
    pub hostname: String,
    /// `-t`: a pseudo-terminal.
    pub tty: bool,
    /// `-i`: stdin stays open.
    pub stdin: bool,
    pub limits: Limits,
    pub volumes: Vec<Volume>,
    pub read_only: bool,
    pub network: NetworkMode,
    /// `--rm`: remove the container when it exits.
    pub auto_remove: bool,
    /// `--security-opt seccomp=...`: which system calls it may make.
    #[serde(default)]
    pub seccomp: Seccomp,
    /// `--cap-add`, `--cap-drop`, `--privileged` and `--security-opt
    /// no-new-privileges`: what its processes may do beyond Docker's
    /// defaults, or less. (Absent from older records: the defaults.)
    #[serde(default)]
    pub privileges: Privileges,
    /// `--init`: PID 1 is peti-init, which runs `args` as its child, passes
    /// signals on and reaps orphans. (Absent from older records: false.)
    #[serde(default)]
    pub init: bool,
    /// The image's labels, then `--label`'s, which win. (Absent from older
    /// records: none.)
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--cgroup-parent`: the cgroup the container's goes under, instead of
    /// `peti/`. (Absent from older records: the default.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
}

/// What a user asked for when creating a container (the flags of `peti run`
/// and `peti create`), before anything is checked or combined with the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub name: Option<String>,
    pub process: ProcessOptions,
    pub hostname: Option<String>,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<String>,
    /// `-v HOST:CTR[:ro]`, as given.
    pub volumes: Vec<String>,
    pub read_only: bool,
    pub network: NetworkMode,
    pub interactive: bool,
    pub tty: bool,
    pub auto_remove: bool,
    /// `--security-opt`, as given.
    pub security_opt: Vec<String>,
    /// `--cap-add` and `--cap-drop`, as given.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--init`.
    pub init: bool,
    /// `--cgroup-parent`, as given.
    pub cgroup_parent: Option<String>,
    /// `--entrypoint`, as given.
    pub entrypoint: Option<String>,
    /// `--label KEY=VALUE`, as given.
    pub labels: Vec<String>,
}

/// How a process runs, shared by `run`, `create` and `exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessOptions {
    /// `-e KEY=VALUE`, or `-e KEY` to copy it from peti's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

/// The one place a container's spec is made: the image's config, then the
/// options, which win where both speak; and `command`, which replaces the
/// image's Cmd (after its Entrypoint). `lookup` reads peti's own environment,
/// for `-e KEY`. Nothing on the host is touched here.
pub fn from_image(
    config: &oci_spec::image::ImageConfiguration,
    options: &Options,
    command: &[String],
    short_id: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ContainerSpec, SpecError> {
    let config = config.config().clone().unwrap_or_default();
    let strings = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    // `--entrypoint` replaces the image's, and drops the image's Cmd too, as
    // Docker's does; `--entrypoint ""` leaves none.
    let (entrypoint, image_cmd) = match &options.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (strings(config.entrypoint()), strings(config.cmd())),
    };
    let args = command_line(&entrypoint, &image_cmd, command)?;
    let env = merge_env(&strings(config.env()), &options.process.env, lookup)?;
    let chosen = options
        .process
        .workdir
        .clone()
        .or_else(|| config.working_dir().clone())
        .filter(|w| !w.is_empty());
    let workdir_given = chosen.is_some();
    let workdir = chosen.unwrap_or_else(|| "/".to_string());
    check_workdir(&workdir)?;
    let user = options
        .process
        .user
        .clone()
        .or_else(|| config.user().clone())
        .filter(|u| !u.is_empty());
    if let Some(user) = &user {
        check_user(user)?;
    }
    let limits = parse_limits(
        options.memory.as_deref(),
        options.cpus.as_deref(),
        options.pids_limit.as_deref(),
    )?;
    let volumes = options
        .volumes
        .iter()
        .map(|v| Volume::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    let hostname = match (&options.hostname, options.network) {
        (Some(h), _) => {
            check_hostname(h)?;
            h.clone()
        }
        (None, NetworkMode::Host) => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| short_id.to_string()),
        (None, NetworkMode::None) => short_id.to_string(),
    };
    let (seccomp, no_new_privileges) = parse_security_opts(&options.security_opt)?;
    let cgroup_parent = options.cgroup_parent.clone().filter(|p| !p.is_empty());
    if let Some(parent) = &cgroup_parent {
        super::cgroups::check_parent(parent).map_err(SpecError::BadCgroupParent)?;
    }
    Ok(ContainerSpec {
        cgroup_parent,
        args,
        env,
        workdir,
        workdir_given,
        user,
        hostname,
        tty: options.tty,
        stdin: options.interactive,
        limits,
        volumes,
        read_only: options.read_only,
        network: options.network,
        auto_remove: options.auto_remove,
        seccomp: if options.privileged {
            // As Docker's: a privileged container has no seccomp filter.
            Seccomp::Unconfined
        } else {
            seccomp
        },
        labels: labels(config.labels().clone().unwrap_or_default(), &options.labels)?,
        privileges: Privileges {
            cap_add: capability_names("--cap-add", &options.cap_add)?,
            cap_drop: capability_names("--cap-drop", &options.cap_drop)?,
            no_new_privileges,
            privileged: options.privileged,
        },
        init: options.init,
    })
}

/// The image's labels with `--label KEY=VALUE` over them (`--label KEY`
/// alone is an empty value, as Docker has it).
fn labels(
    image: std::collections::HashMap<String, String>,
    given: &[String],
) -> Result<std::collections::BTreeMap<String, String>, SpecError> {
    let mut labels: std::collections::BTreeMap<String, String> = image.into_iter().collect();
    for label in given {
        let (key, value) = label.split_once('=').unwrap_or((label, ""));
        if key.is_empty() {
            return Err(SpecError::BadLabel(label.clone()));
        }
        labels.insert(key.to_string(), value.to_string());
    }
    Ok(labels)
}

/// Capability names as Docker takes them (`net_admin`, `NET_ADMIN` or
/// `CAP_NET_ADMIN`, and `ALL`), in the kernel's spelling (`CAP_NET_ADMIN`).
pub fn capability_names(flag: &'static str, given: &[String]) -> Result<Vec<String>, SpecError> {
    given
        .iter()
        .map(|name| {
            let upper = name.to_ascii_uppercase();
            if upper == "ALL" {
                return Ok(upper);
            }
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            full.parse::<caps::Capability>()
                .map(|c| c.to_string())
                .map_err(|_| SpecError::BadCapability {
                    flag,
                    given: name.clone(),
                })
        })
        .collect()
}

/// `--memory`, `--cpus` and `--pids-limit` as limits, for `create` and
/// `update` alike; a limit not given stays unset.
pub fn parse_limits(
    memory: Option<&str>,
    cpus: Option<&str>,
    pids_limit: Option<&str>,
) -> Result<Limits, SpecError> {
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Limits {
        memory_bytes: memory.map(parse_memory).transpose()?,
        cpu_quota_us: cpus.map(|c| parse_cpus(c, host_cpus)).transpose()?,
        pids: pids_limit.map(parse_pids_limit).transpose()?.flatten(),
    })
}

/// Parses Docker's memory sizes: a number with an optional unit (b, k, m, g),
/// binary multiples.
pub fn parse_memory(text: &str) -> Result<u64, SpecError> {
    let bad = || SpecError::BadMemory(text.to_string());
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix('b')
        .filter(|s| !s.is_empty() && !s.ends_with('b'))
        .unwrap_or(&lower);
    let (digits, multiplier) = match lower.chars().last().ok_or_else(bad)? {
        'k' => (&lower[..lower.len() - 1], 1u64 << 10),
        'm' => (&lower[..lower.len() - 1], 1 << 20),
        'g' => (&lower[..lower.len() - 1], 1 << 30),
        't' => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    let number: f64 = digits.parse().map_err(|_| bad())?;
    if !number.is_finite() {
        return Err(bad());
    }
    if number <= 0.0 {
        return Err(SpecError::NotPositive {
            flag: "--memory",
            given: text.to_string(),
        });
    }
    // A float cast saturates: without this check, 1e30 would quietly become
    // u64::MAX, which the kernel reads as no limit at all.
    let bytes = number * multiplier as f64;
    if bytes >= i64::MAX as f64 {
        return Err(SpecError::MemoryTooLarge(text.to_string()));
    }
    let bytes = bytes as u64;
    if bytes < 6 << 20 {
        return Err(SpecError::MemoryTooSmall(text.to_string()));
    }
    Ok(bytes)
}

/// Reads a `user` that older records wrote as `""` for "not set".
fn not_set_if_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let user: Option<String> = Deserialize::deserialize(deserializer)?;
    Ok(user.filter(|u| !u.is_empty()))
}

/// Checks `--hostname` before anything is made: the kernel takes at most 64
/// bytes (HOST_NAME_MAX), and RFC 1123 names are labels of letters, digits and
/// hyphens joined by dots.
pub fn check_hostname(name: &str) -> Result<(), SpecError> {
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() <= 64 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(SpecError::BadHostname(name.to_string()))
    }
}

/// Parses `--cpus`, a fraction of CPUs, into a CFS quota per [`CPU_PERIOD_US`].
pub fn parse_cpus(text: &str, host_cpus: usize) -> Result<u64, SpecError> {
    let bad = || SpecError::BadCpus {
        given: text.to_string(),
        max: host_cpus,
    };
    let cpus: f64 = text.trim().parse().map_err(|_| bad())?;
    if cpus <= 0.0 {
        return Err(SpecError::NotPositive {
            flag: "--cpus",
            given: text.to_string(),
        });
    }
    if !(0.01..=host_cpus as f64).contains(&cpus) {
        return Err(bad());
    }
    Ok((cpus * CPU_PERIOD_US as f64).round() as u64)
}

/// Parses `--pids-limit`: a positive number, or 0 / -1 for "no limit", as Docker.
pub fn parse_pids_limit(text: &str) -> Result<Option<u64>, SpecError> {
    match text.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(Some(n as u64)),
        Ok(0 | -1) => Ok(None),
        _ => Err(SpecError::BadPidsLimit(text.to_string())),
    }
}

/// Checks `-w` before anything is created: the container has no working
/// directory to resolve a relative one from.
pub fn check_workdir(workdir: &str) -> Result<(), SpecError> {
    if workdir.starts_with('/') {
        Ok(())
    } else {
        Err(SpecError::RelativeWorkdir(workdir.to_string()))
    }
}

/// Checks `-u` before anything is created: UID, UID:GID, NAME, NAME:GROUP.
pub fn check_user(text: &str) -> Result<(), SpecError> {
    let ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    };
    match text.split_once(':') {
        None if ok(text) => Ok(()),
        Some((u, g)) if ok(u) && ok(g) => Ok(()),
        _ => Err(SpecError::BadUser(text.to_string())),
    }
}

/// Merges `-e` into the image's environment. `-e KEY` copies KEY from `lookup`
/// (this shell's environment), and is dropped if unset, as Docker does.
pub fn merge_env(
    image_env: &[String],
    flags: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SpecError> {
    let mut env: Vec<String> = image_env.to_vec();
    for flag in flags {
        let entry = match flag.split_once('=') {
            Some(("", _)) => return Err(SpecError::BadEnv(flag.clone())),
            Some(_) => flag.clone(),
            None if flag.is_empty() => return Err(SpecError::BadEnv(flag.clone())),
            None => match lookup(flag) {
                Some(value) => format!("{flag}={value}"),
                None => continue,
            },
        };
        let key = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    Ok(env)
}

/// Docker's rule for the command: Entrypoint + (CMD from the command line, or the
/// image's Cmd when none is given).
pub fn command_line(
    entrypoint: &[String],
    image_cmd: &[String],
    given: &[String],
) -> Result<Vec<String>, SpecError> {
    let tail = if given.is_empty() { image_cmd } else { given };
    let args: Vec<String> = entrypoint.iter().chain(tail).cloned().collect();
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(user: Option<&str>, options: &Options) -> ContainerSpec {
        let mut config = crate::image::import_config().unwrap();
        let mut inner = config.config().clone().unwrap_or_default();
        inner.set_user(user.map(str::to_string));
        config.set_config(Some(inner));
        from_image(&config, options, &["true".into()], "0123456789ab", |_| None).unwrap()
    }

    #[test]
    fn nothing_set_is_none_or_the_short_id_not_an_empty_string() {
        let spec = spec_of(None, &Options::default());
        assert_eq!(spec.hostname, "0123456789ab");
        assert_eq!(spec.user, None);
        // An image whose User is "" has no user either.
        assert_eq!(spec_of(Some(""), &Options::default()).user, None);
        let mut options = Options {
            hostname: Some("box".into()),
            ..Options::default()
        };
        options.process.user = Some("1000:1000".into());
        let spec = spec_of(Some("nobody"), &options);
        assert_eq!(
            (spec.hostname.as_str(), spec.user.as_deref()),
            ("box", Some("1000:1000"))
        );
        assert_eq!(
            spec_of(Some("nobody"), &Options::default()).user.as_deref(),
            Some("nobody")
        );
    }

    #[test]
    fn a_record_that_wrote_an_empty_user_reads_as_not_set() {
        let mut record = serde_json::to_value(spec_of(None, &Options::default())).unwrap();
        record["user"] = serde_json::json!("");
        let read: ContainerSpec = serde_json::from_value(record.clone()).unwrap();
        assert_eq!(read.user, None);
        record["user"] = serde_json::json!("daemon");
        let read: ContainerSpec = serde_json::from_value(record).unwrap();
        assert_eq!(read.user.as_deref(), Some("daemon"));
    }

    #[test]
    fn entrypoint_replaces_the_images_and_drops_its_cmd() {
        let mut config = crate::image::import_config().unwrap();
        let mut inner = config.config().clone().unwrap_or_default();
        inner.set_entrypoint(Some(vec!["/bin/app".into()]));
        inner.set_cmd(Some(vec!["--serve".into()]));
        config.set_config(Some(inner));
        let spec = |entrypoint: Option<&str>, command: &[&str]| {
            let options = Options {
                entrypoint: entrypoint.map(str::to_string),
                ..Options::default()
            };
            let command: Vec<String> = command.iter().map(|c| c.to_string()).collect();
            from_image(&config, &options, &command, "0123456789ab", |_| None).map(|s| s.args)
        };
        assert_eq!(spec(None, &[]).unwrap(), ["/bin/app", "--serve"]);
        assert_eq!(spec(Some("/bin/sh"), &[]).unwrap(), ["/bin/sh"]);
        assert_eq!(
            spec(Some("/bin/sh"), &["-c", "x"]).unwrap(),
            ["/bin/sh", "-c", "x"]
        );
        assert_eq!(spec(Some(""), &["ls"]).unwrap(), ["ls"]);
        assert!(matches!(spec(Some(""), &[]), Err(SpecError::NoCommand)));
    }

    #[test]
    fn init_is_kept_in_the_record_and_false_in_records_from_before_it() {
        let options = Options {
            init: true,
            ..Options::default()
        };
        let record = serde_json::to_value(spec_of(None, &options)).unwrap();
        assert_eq!(record["init"], true);
        let read: ContainerSpec = serde_json::from_value(record.clone()).unwrap();
        assert!(read.init);
        let mut older = record;
        older.as_object_mut().unwrap().remove("init");
        let read: ContainerSpec = serde_json::from_value(older).unwrap();
        assert!(!read.init);
    }

    #[test]
    fn hostnames_are_checked_as_linux_and_rfc_1123_want() {
        let longest = format!("{}.{}", "x".repeat(31), "y".repeat(32));
        for good in ["box", "web-1", "a.b.c", &"x".repeat(63), &longest] {
            check_hostname(good).unwrap();
        }
        for bad in [
            "",
            "a..b",
            "under_score",
            "sp ace",
            &"x".repeat(65),
            "-.",
            "a.",
        ] {
            assert!(check_hostname(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn memory_sizes_follow_docker() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("10485760").unwrap(), 10 << 20);
        assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_memory("1t").unwrap(), 1 << 40);
        for bad in ["", "m", "64x", "abc", "nanm"] {
            assert!(
                matches!(parse_memory(bad), Err(SpecError::BadMemory(_))),
                "{bad}"
            );
        }
        for negative in ["-5m", "0", "-0.5g"] {
            assert!(
                matches!(
                    parse_memory(negative),
                    Err(SpecError::NotPositive {
                        flag: "--memory",
                        ..
                    })
                ),
                "{negative}"
            );
        }
        assert!(matches!(
            parse_memory("4m"),
            Err(SpecError::MemoryTooSmall(_))
        ));
        for huge in ["99999999999999999999g", "8388608t", "1e30"] {
            assert!(
                matches!(parse_memory(huge), Err(SpecError::MemoryTooLarge(_))),
                "{huge}"
            );
        }
        assert_eq!(parse_memory("8388607t").unwrap(), 8388607 << 40);
    }

    #[test]
    fn cpus_become_a_quota() {
        assert_eq!(parse_cpus("0.5", 2).unwrap(), 50_000);
        assert_eq!(parse_cpus("2", 2).unwrap(), 200_000);
        for bad in ["0", "3", "-1", "x", "0.001"] {
            assert!(parse_cpus(bad, 2).is_err(), "{bad}");
        }
        for negative in ["0", "-1", "-0.5"] {
            assert!(
                matches!(
                    parse_cpus(negative, 2),
                    Err(SpecError::NotPositive { flag: "--cpus", .. })
                ),
                "{negative}"
            );
        }
    }

    #[test]
    fn env_flags_override_and_copy() {
        let image = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let flags = vec!["A=2".to_string(), "HOME".to_string(), "GONE".to_string()];
        let env = merge_env(&image, &flags, |k| (k == "HOME").then(|| "/root".into())).unwrap();
        assert_eq!(env, ["PATH=/bin", "A=2", "HOME=/root"]);
        assert!(merge_env(&image, &["=x".into()], |_| None).is_err());
    }

    #[test]
    fn volumes_and_users_are_checked() {
        let v = Volume::parse("/srv/data:/data:ro").unwrap();
        assert!(v.read_only);
        for bad in ["a/b:/data", "x:/data", "a", "/a:b", "/a:/b:rx", "data:rel"] {
            assert!(Volume::parse(bad).is_err(), "{bad}");
        }
        // Docker's other two forms: a named volume, and an anonymous one.
        let named = Volume::parse("data:/data").unwrap();
        assert_eq!(named.volume.as_deref(), Some("data"));
        assert!(!named.anonymous);
        let anonymous = Volume::parse("/cache").unwrap();
        assert_eq!(
            (anonymous.volume.as_deref(), anonymous.anonymous),
            (Some(""), true)
        );
        assert_eq!(anonymous.container, Path::new("/cache"));
        let cwd = std::env::current_dir().unwrap();
        let relative = Volume::parse("./site:/site:ro").unwrap();
        assert_eq!(relative.host, cwd.join("site"));
        assert_eq!(relative.volume, None);
        for reserved in [
            "/tmp:/",
            "/tmp:/proc",
            "/tmp:/proc/sys",
            "/tmp:/x/../proc",
            "/tmp:/proc/./",
            "/tmp:/../..",
        ] {
            assert!(
                matches!(
                    Volume::parse(reserved),
                    Err(SpecError::ReservedVolumeTarget { .. })
                ),
                "{reserved}"
            );
        }
        let lxcfs = Volume::parse("/var/lib/lxcfs/proc/meminfo:/proc/meminfo:ro").unwrap();
        assert_eq!(lxcfs.container, Path::new("/proc/meminfo"));
        assert_eq!(
            Volume::parse("/tmp:/data/./x/../y").unwrap().container,
            Path::new("/data/y")
        );
        for good in ["0", "1000:1000", "nobody", "www-data:www-data"] {
            check_user(good).unwrap();
        }
        for bad in ["", ":", "1000:", "a b"] {
            assert!(check_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_follows_entrypoint_and_cmd() {
        let ep = vec!["/hello".to_string()];
        let cmd = vec!["x".to_string()];
        assert_eq!(command_line(&ep, &cmd, &[]).unwrap(), ["/hello", "x"]);
        assert_eq!(
            command_line(&ep, &cmd, &["y".into()]).unwrap(),
            ["/hello", "y"]
        );
        assert!(command_line(&[], &[], &[]).is_err());
    }
}
