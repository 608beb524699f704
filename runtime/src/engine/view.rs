//! What `ps`, `inspect` and `stats` report: the containers a query finds,
//! inspect's serde types with Docker's field names, and the few words Docker
//! uses for states and durations. (The command line shapes ps and stats rows
//! as Docker's formatter does.)
//!
//! (The fields are declared in alphabetical order: that is the order peti has
//! always printed them in, and a script may depend on it.)

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::container::state::{Container, Status};

/// `peti inspect`: one container's record, as Docker arranges it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspect {
    pub args: Vec<String>,
    pub config: InspectConfig,
    pub created: String,
    pub graph_driver: GraphDriver,
    pub host_config: HostConfig,
    pub id: String,
    pub image: String,
    pub log_path: PathBuf,
    pub mounts: Vec<InspectMount>,
    pub name: String,
    pub path: Option<String>,
    pub peti: PetiState,
    pub state: InspectState,
}

/// One of inspect's `Mounts`: a bind of a host path, or a volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectMount {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source: PathBuf,
    pub destination: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(rename = "RW")]
    pub rw: bool,
}

impl InspectMount {
    fn of(v: &crate::container::spec::Volume) -> InspectMount {
        InspectMount {
            kind: if v.volume.is_some() { "volume" } else { "bind" }.to_string(),
            name: v.volume.clone(),
            source: v.host.clone(),
            destination: v.container.clone(),
            driver: v.volume.as_ref().map(|_| "local".to_string()),
            rw: !v.read_only,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub hostname: String,
    pub image: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub open_stdin: bool,
    pub tty: bool,
    pub user: String,
    pub working_dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    pub data: GraphDriverData,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriverData {
    pub lower_dir: String,
    pub upper_dir: PathBuf,
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub auto_remove: bool,
    pub binds: Vec<String>,
    /// `--cap-add` and `--cap-drop`, as the kernel names them; null when
    /// not given, as Docker shows them.
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    /// `--cgroup-parent`, or "" as Docker shows the default.
    pub cgroup_parent: String,
    /// `--init`: true, or absent, as Docker shows it (its field is a pointer,
    /// left out when the flag was not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    pub memory: u64,
    pub nano_cpus: u64,
    pub network_mode: String,
    pub pids_limit: Option<u64>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    /// `--security-opt` as Docker keeps it: null when none was given.
    pub security_opt: Option<Vec<String>>,
}

/// What only peti has: the cgroup, the monitor, the run-time directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PetiState {
    /// As a JSON value, whose keys serde_json sorts, as everything here is.
    pub cgroup: Option<serde_json::Value>,
    pub monitor_pid: Option<i32>,
    pub run_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectState {
    pub dead: bool,
    pub error: String,
    pub exit_code: i32,
    pub finished_at: Option<String>,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub paused: bool,
    pub pid: i32,
    pub restarting: bool,
    pub running: bool,
    pub started_at: Option<String>,
    pub status: String,
}

/// One row of `peti stats`: what the container's cgroup and network
/// namespace have counted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatsRow {
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub cpu_nanos: u64,
    /// CPU time over wall-clock time while `stats` watched, in percent of
    /// one CPU.
    pub cpu_percent: f64,
    #[serde(rename = "ID")]
    pub id: String,
    pub memory_bytes: u64,
    /// Of those, inactive page cache (what Docker subtracts for MEM USAGE).
    pub memory_cache_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
    pub memory_peak_bytes: Option<u64>,
    pub name: String,
    /// Bytes received and sent on the container's interfaces but loopback.
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub oom_kills: u64,
    /// Processes and threads.
    pub pids_current: u64,
}

/// `--security-opt` as Docker records it: what was asked, in its words.
fn security_opts(spec: &crate::container::spec::ContainerSpec) -> Option<Vec<String>> {
    use crate::container::seccomp::Seccomp;
    let mut opts = Vec::new();
    if spec.seccomp == Seccomp::Unconfined && !spec.privileges.privileged {
        opts.push("seccomp=unconfined".to_string());
    }
    if spec.privileges.no_new_privileges {
        opts.push("no-new-privileges".to_string());
    }
    Some(opts).filter(|o| !o.is_empty())
}

/// One reading of a container's cgroup, and when it was taken.
fn sample(
    c: &Container,
) -> Result<(crate::container::cgroups::Usage, std::time::Instant), EngineError> {
    let cgroup = c
        .cgroup
        .as_ref()
        .ok_or_else(|| EngineError::NeverRan(c.name.clone()))?;
    Ok((cgroup.usage()?, std::time::Instant::now()))
}

/// What the container's network interfaces have carried, loopback left out
/// as Docker leaves it out: `/proc/PID/net/dev` shows the namespace of PID,
/// so the host reads the container's counters through its first process.
/// A stopped container, or one on the host's network, counts 0.
fn net_bytes(c: &Container) -> (u64, u64) {
    use crate::container::spec::NetworkMode;
    let Some(process) = c
        .state
        .process
        .filter(|_| c.spec.network != NetworkMode::Host)
    else {
        return (0, 0);
    };
    let text =
        std::fs::read_to_string(format!("/proc/{}/net/dev", process.pid)).unwrap_or_default();
    net_dev_bytes(&text)
}

/// Sums the receive and transmit bytes of `/proc/net/dev`'s lines
/// (`  eth0: RX_BYTES packets ... TX_BYTES ...`), loopback left out.
fn net_dev_bytes(text: &str) -> (u64, u64) {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .filter_map(|(_, counters)| {
            let fields: Vec<u64> = counters
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            Some((*fields.first()?, *fields.get(8)?))
        })
        .fold((0, 0), |(rx, tx), (r, t)| {
            (rx.saturating_add(r), tx.saturating_add(t))
        })
}

impl Engine {
    /// `peti ps [-a]`: running containers (or all), newest first, as Docker
    /// lists them.
    pub fn list(&self, all: bool) -> Result<Vec<Container>, EngineError> {
        self.query(&PsQuery {
            all,
            ..PsQuery::default()
        })
    }

    /// `peti ps` with Docker's choices: newest first; running ones only,
    /// unless `all`, a `status` filter, or `last` (which counts every state,
    /// as Docker's `-n` and `-l` do); then only those every filter matches.
    pub fn query(&self, query: &PsQuery) -> Result<Vec<Container>, EngineError> {
        let every_state =
            query.all || query.last.is_some() || query.filters.iter().any(|f| f.key == "status");
        let mut rows: Vec<Container> = self
            .all_containers()?
            .into_iter()
            .filter(|c| every_state || c.state.status == Status::Running)
            .filter(|c| query.filters.iter().all(|f| f.matches(c)))
            .collect();
        rows.reverse();
        if let Some(n) = query.last {
            rows.truncate(n);
        }
        Ok(rows)
    }

    /// `peti inspect`: one container, as it is now.
    pub fn inspect(&self, name: &str) -> Result<Inspect, EngineError> {
        let c = self.container(name)?;
        let dir = self.containers.dir(&c.id);
        let running = c.state.status == Status::Running;
        let spec = &c.spec;
        Ok(Inspect {
            args: spec.args.get(1..).unwrap_or_default().to_vec(),
            config: InspectConfig {
                cmd: spec.args.clone(),
                env: spec.env.clone(),
                hostname: spec.hostname.clone(),
                image: c.image.clone(),
                labels: spec.labels.clone(),
                open_stdin: spec.stdin,
                tty: spec.tty,
                // Docker says "" for the default user.
                user: spec.user.clone().unwrap_or_default(),
                working_dir: if spec.workdir_given {
                    spec.workdir.clone()
                } else {
                    String::new()
                },
            },
            created: c.created.clone(),
            graph_driver: GraphDriver {
                data: GraphDriverData {
                    lower_dir: c
                        .lower_dirs
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(":"),
                    upper_dir: dir.join("upper"),
                    work_dir: dir.join("work"),
                },
                name: "overlay".into(),
            },
            host_config: HostConfig {
                auto_remove: spec.auto_remove,
                // Docker lists named volumes here too, by name; anonymous
                // ones are only in Mounts.
                binds: spec
                    .volumes
                    .iter()
                    .filter(|v| !v.anonymous)
                    .map(|v| {
                        let mode = if v.read_only { ":ro" } else { "" };
                        format!("{}:{}{mode}", v.source_name(), v.container.display())
                    })
                    .collect(),
                cap_add: Some(spec.privileges.cap_add.clone()).filter(|c| !c.is_empty()),
                cap_drop: Some(spec.privileges.cap_drop.clone()).filter(|c| !c.is_empty()),
                cgroup_parent: spec.cgroup_parent.clone().unwrap_or_default(),
                init: spec.init.then_some(true),
                memory: spec.limits.memory_bytes.unwrap_or(0),
                nano_cpus: spec.limits.cpu_quota_us.map_or(0, |q| q * 10_000),
                network_mode: spec.network.as_str().into(),
                pids_limit: spec.limits.pids,
                privileged: spec.privileges.privileged,
                readonly_rootfs: spec.read_only,
                security_opt: security_opts(spec),
            },
            id: c.id.clone(),
            image: c.image_id.clone(),
            log_path: self.containers.log_file(&c.id),
            mounts: spec.volumes.iter().map(InspectMount::of).collect(),
            name: format!("/{}", c.name),
            path: spec.args.first().cloned(),
            peti: PetiState {
                cgroup: c
                    .cgroup
                    .as_ref()
                    .map(|g| serde_json::to_value(g).expect("a cgroup serialises")),
                monitor_pid: c.state.monitor.filter(|_| running).map(|p| p.pid),
                run_dir: self.containers.run_dir(&c.id),
            },
            state: InspectState {
                dead: false,
                error: c.state.error.clone().unwrap_or_default(),
                exit_code: c.state.exit_code.unwrap_or(0),
                finished_at: c.state.finished_at.clone(),
                oom_killed: c.state.oom_killed,
                paused: c.state.paused && running,
                pid: c.state.process.filter(|_| running).map_or(0, |p| p.pid),
                restarting: false,
                running,
                started_at: c.state.started_at.clone(),
                status: state_word(&c).into(),
            },
        })
    }

    /// `peti stats --no-stream`: the named containers, or every running one.
    ///
    /// Every counter is read at once, then the CPU time again after
    /// `interval`: Docker's CPU % is the CPU time used over a stretch of
    /// wall-clock time (100% is one CPU kept busy), so one reading cannot
    /// give it. Memory and the rest are the first reading's.
    pub fn stats(
        &self,
        names: &[String],
        interval: Duration,
    ) -> Result<Vec<StatsRow>, EngineError> {
        let containers = if names.is_empty() {
            self.list(false)?.into_iter().rev().collect()
        } else {
            names
                .iter()
                .map(|n| self.containers.find(n))
                .collect::<Result<Vec<_>, _>>()?
        };
        let first = containers
            .iter()
            .map(|c| Ok((c, sample(c)?)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        std::thread::sleep(interval);
        first
            .into_iter()
            .map(|(c, (usage, at))| {
                // A container that ended meanwhile used no more CPU.
                let (later, until) = sample(c).unwrap_or((usage, at));
                let wall = until.duration_since(at).as_nanos().max(1) as f64;
                let used = later.cpu_nanos.saturating_sub(usage.cpu_nanos) as f64;
                let (net_rx_bytes, net_tx_bytes) = net_bytes(c);
                Ok(StatsRow {
                    block_read_bytes: usage.block_read_bytes,
                    block_write_bytes: usage.block_write_bytes,
                    cpu_nanos: usage.cpu_nanos,
                    cpu_percent: used * 100.0 / wall,
                    id: c.id[..12].to_string(),
                    memory_bytes: usage.memory_bytes,
                    memory_limit_bytes: c.spec.limits.memory_bytes,
                    memory_peak_bytes: usage.memory_peak_bytes,
                    name: c.name.clone(),
                    net_rx_bytes,
                    net_tx_bytes,
                    oom_kills: usage.oom_kills,
                    pids_current: usage.pids,
                    memory_cache_bytes: usage.inactive_file_bytes,
                })
            })
            .collect()
    }
}

/// What `ps -s` shows of a container: the bytes of its writable layer, and
/// those with its image's added (Docker's "virtual" size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerSize {
    pub writable: u64,
    pub virtual_bytes: u64,
}

impl Engine {
    /// `peti ps -s`: each container's sizes. The image's part is what the
    /// store holds for it, as `peti images` counts it (read once for all).
    pub fn sizes_of(&self, containers: &[Container]) -> Result<Vec<ContainerSize>, EngineError> {
        let images = self.images.list()?;
        Ok(containers
            .iter()
            .map(|c| {
                let writable = self.writable_bytes(c);
                let image = images
                    .iter()
                    .find(|i| i.id == c.image_id)
                    .map_or(0, |i| i.size);
                ContainerSize {
                    writable,
                    virtual_bytes: writable + image,
                }
            })
            .collect())
    }

    /// The bytes of what a container wrote: its writable layer's files.
    pub fn writable_bytes(&self, c: &Container) -> u64 {
        let upper = self.containers.dir(&c.id).join("upper");
        crate::fsutil::file_bytes_under(&upper).unwrap_or(0)
    }
}

/// The command, quoted as Docker's ps shows it.
pub fn quoted_command(args: &[String]) -> String {
    go_quote(&command_text(args))
}

/// The command as Docker's daemon spells it for `ps`: the words joined by
/// spaces, a word that holds a space in single quotes (`sh -c 'exit 3'`).
pub fn command_text(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A string in double quotes, its `"` and `\` escaped, as Go's
/// strconv.Quote writes it (how Docker's `ps` prints COMMAND).
pub fn go_quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => quoted.push_str(&format!("\\x{:02x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// How long ago an RFC 3339 time was.
pub fn since(rfc3339: &str) -> Duration {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Docker's word for a container's state: `created`, `running`, `paused`
/// or `exited` (ps's STATE, inspect's State.Status, `ps -f status=`).
pub fn state_word(c: &Container) -> &'static str {
    if c.state.paused && c.state.status == Status::Running {
        return "paused";
    }
    c.state.status.as_str()
}

/// Docker's Status column.
pub fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Created => "Created".to_string(),
        Status::Running => format!(
            "Up {}{}",
            human_duration(since(c.state.started_at.as_deref().unwrap_or(""))),
            if c.state.paused { " (Paused)" } else { "" }
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(since(c.state.finished_at.as_deref().unwrap_or("")))
        ),
    }
}

/// Docker's HumanDuration (go-units): "Less than a second", "5 seconds",
/// "About a minute", "3 hours", ...
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, s / 3600);
    match s {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        2..=59 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".to_string(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".to_string(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 3 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

/// `peti image inspect IMAGE`: Docker's fields for an image, from its OCI
/// config and the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub architecture: String,
    pub author: String,
    pub comment: String,
    pub config: ImageInspectConfig,
    pub created: Option<String>,
    /// The config's digest, Docker's image ID.
    pub id: String,
    pub os: String,
    pub parent: String,
    /// `name@sha256:...` of the manifest, for each name of the image.
    pub repo_digests: Vec<String>,
    pub repo_tags: Vec<String>,
    #[serde(rename = "RootFS")]
    pub root_fs: ImageRootFs,
    /// Bytes of the unpacked layers' files, as Docker's Size counts them.
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspectConfig {
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub labels: Option<std::collections::HashMap<String, String>>,
    pub user: String,
    pub working_dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRootFs {
    /// The diff_ids of the layers, bottom first.
    pub layers: Vec<String>,
    #[serde(rename = "Type")]
    pub kind: String,
}

impl Engine {
    /// `peti image inspect NAME`.
    pub fn inspect_image(&self, name: &str) -> Result<ImageInspect, EngineError> {
        let image = self.images.image(name)?;
        let names = self.images.references_to(&image.manifest_digest)?;
        let config = &image.config;
        let inner = config.config().clone().unwrap_or_default();
        let mut size = 0;
        for dir in self.images.layer_dirs(&image) {
            size += crate::fsutil::file_bytes_under(&dir)
                .map_err(EngineError::io(dir.display().to_string()))?;
        }
        let repo_digests = names
            .iter()
            .filter_map(|n| crate::image::reference::Reference::parse(n).ok())
            .map(|r| format!("{}@{}", r.name, image.manifest_digest))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(ImageInspect {
            architecture: config.architecture().to_string(),
            author: config.author().clone().unwrap_or_default(),
            comment: String::new(),
            config: ImageInspectConfig {
                cmd: inner.cmd().clone(),
                entrypoint: inner.entrypoint().clone(),
                env: inner.env().clone(),
                labels: inner.labels().clone(),
                user: inner.user().clone().unwrap_or_default(),
                working_dir: inner.working_dir().clone().unwrap_or_default(),
            },
            created: config.created().clone(),
            id: image.manifest.config().digest().to_string(),
            os: config.os().to_string(),
            parent: String::new(),
            repo_digests,
            repo_tags: names,
            root_fs: ImageRootFs {
                layers: image
                    .diff_ids
                    .iter()
                    .map(crate::image::digest::text)
                    .collect(),
                kind: "layers".into(),
            },
            size,
        })
    }
}

/// What `peti ps` lists: `-a`, `-n N` / `-l`, and `-f KEY=VALUE` filters.
#[derive(Debug, Clone, Default)]
pub struct PsQuery {
    pub all: bool,
    pub last: Option<usize>,
    pub filters: Vec<PsFilter>,
}

/// One `ps -f KEY=VALUE`, of the keys Docker has that peti's records know:
/// `status`, `name` (a part of the name), `id` (a prefix) and `ancestor`
/// (the image, as given to run, or its ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsFilter {
    pub key: String,
    pub value: String,
}

impl PsFilter {
    /// Parses `KEY=VALUE`, refusing a key Docker would refuse and the ones
    /// peti does not have yet.
    pub fn parse(text: &str) -> Result<PsFilter, EngineError> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| EngineError::BadFilter(text.to_string()))?;
        if !["status", "name", "id", "ancestor", "label"].contains(&key) {
            return Err(EngineError::BadFilter(text.to_string()));
        }
        if key == "status"
            && ![
                "created",
                "restarting",
                "running",
                "removing",
                "paused",
                "exited",
                "dead",
            ]
            .contains(&value)
        {
            return Err(EngineError::BadFilter(text.to_string()));
        }
        Ok(PsFilter {
            key: key.to_string(),
            value: value.to_string(),
        })
    }

    fn matches(&self, c: &Container) -> bool {
        match self.key.as_str() {
            "status" => state_word(c) == self.value,
            // label=KEY has the key; label=KEY=VALUE has it with that value.
            "label" => match self.value.split_once('=') {
                Some((k, v)) => c.spec.labels.get(k).is_some_and(|have| have == v),
                None => c.spec.labels.contains_key(&self.value),
            },
            "name" => c.name.contains(&self.value),
            "id" => c.id.starts_with(&self.value),
            "ancestor" => {
                c.image == self.value
                    || c.image.split(':').next() == Some(&self.value)
                    || c.image_id
                        .trim_start_matches("sha256:")
                        .starts_with(self.value.trim_start_matches("sha256:"))
            }
            _ => false,
        }
    }
}

/// `peti info`: what Docker's `info` says of its server, for a runtime with
/// no server: the stores' counts and where they are, and the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    pub containers: usize,
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub images: usize,
    pub server_version: String,
    pub driver: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    pub mem_total: u64,
    pub docker_root_dir: PathBuf,
}

impl Engine {
    /// `peti info`.
    pub fn info(&self) -> Result<Info, EngineError> {
        let containers = self.all_containers()?;
        let count = |word: &str| containers.iter().filter(|c| state_word(c) == word).count();
        let (running, paused) = (count("running"), count("paused"));
        let images = self.images.list()?.len();
        let uname = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uname
                .as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let cgroup_version = match crate::container::cgroups::detect_mode(std::path::Path::new(
            crate::container::cgroups::CGROUP_ROOT,
        )) {
            Ok(crate::container::cgroups::CgroupMode::Unified) => "2",
            Ok(_) => "1",
            Err(_) => "",
        };
        Ok(Info {
            containers: containers.len(),
            containers_running: running,
            containers_paused: paused,
            containers_stopped: containers.len() - running - paused,
            images,
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            driver: "overlay".into(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version.into(),
            kernel_version: field(|u| u.release()),
            operating_system: os_release_name(),
            os_type: "linux".into(),
            architecture: field(|u| u.machine()),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total: meminfo_total_bytes(),
            docker_root_dir: self.root.clone(),
        })
    }
}

/// PRETTY_NAME from /etc/os-release, as Docker's "Operating System".
fn os_release_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn meminfo_total_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_bytes_leave_loopback_out() {
        let dev = "Inter-|   Receive                            |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
 lo:  900 9 0 0 0 0 0 0  900 9 0 0 0 0 0 0\n  \
 eth0: 1500 12 0 0 0 0 0 0  320 4 0 0 0 0 0 0\n";
        assert_eq!(net_dev_bytes(dev), (1500, 320));
        assert_eq!(net_dev_bytes(""), (0, 0));
    }

    #[test]
    fn a_command_is_shown_as_dockers_ps_shows_it() {
        let args: Vec<String> = ["sh", "-c", "exit 3"].map(String::from).into();
        assert_eq!(quoted_command(&args), r#""sh -c 'exit 3'""#);
        let trap: Vec<String> = ["sh", "-c", r#"trap "exit 0" TERM"#]
            .map(String::from)
            .into();
        assert_eq!(quoted_command(&trap), r#""sh -c 'trap \"exit 0\" TERM'""#);
        assert_eq!(quoted_command(&["true".to_string()]), r#""true""#);
    }
}
