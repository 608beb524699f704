//! The rows of `ps` and `stats` as Docker's formatter offers them to a
//! template: every field a string, named as Docker names it (`{{.Names}}`,
//! `{{.RunningFor}}`, `{{.MemUsage}}`), with Docker's default table and the
//! heading of each field.

use serde::Serialize;

use runtime::container::state::Container;
use runtime::engine::view::{
    ContainerSize, StatsRow, command_text, go_quote, human_duration, since, status_text,
};

use crate::cli::format::Columns;
use crate::cli::format::units;

/// `docker ps`'s columns (`-s` adds SIZE).
pub const PS: Columns = Columns {
    default: "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
    headings: &[
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Labels", "LABELS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Mounts", "MOUNTS"),
        ("Names", "NAMES"),
        ("Networks", "NETWORKS"),
        ("Ports", "PORTS"),
        ("RunningFor", "CREATED"),
        ("Size", "SIZE"),
        ("State", "STATE"),
        ("Status", "STATUS"),
    ],
};

/// [`PS`] with `-s`'s column.
pub const PS_WITH_SIZE: Columns = Columns {
    default: "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}",
    headings: PS.headings,
};

/// One container, as `docker ps` gives it to a template.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PsRow {
    pub command: String,
    pub created_at: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub image: String,
    pub labels: String,
    pub local_volumes: String,
    pub mounts: String,
    pub names: String,
    pub networks: String,
    pub ports: String,
    pub running_for: String,
    pub size: String,
    pub state: String,
    pub status: String,
}

impl PsRow {
    /// The row of `c`; `trunc` unless `--no-trunc`; `size` when asked for.
    pub fn of(c: &Container, trunc: bool, size: Option<ContainerSize>) -> PsRow {
        let command = command_text(&c.spec.args);
        let mounts: Vec<String> = c
            .spec
            .volumes
            .iter()
            .map(|v| v.source_name())
            .map(|m| if trunc { ellipsis(&m, 15) } else { m })
            .collect();
        PsRow {
            command: go_quote(&if trunc {
                ellipsis(&command, 20)
            } else {
                command
            }),
            created_at: units::go_time(&c.created),
            id: if trunc {
                c.id[..12].to_string()
            } else {
                c.id.clone()
            },
            image: c.image.clone(),
            // Docker's order is its map's, which Go leaves random; sorted here.
            labels: c
                .spec
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            local_volumes: c
                .spec
                .volumes
                .iter()
                .filter(|v| v.volume.is_some())
                .count()
                .to_string(),
            mounts: mounts.join(","),
            names: c.name.clone(),
            networks: c.spec.network.as_str().to_string(),
            ports: String::new(),
            running_for: format!("{} ago", human_duration(since(&c.created))),
            size: size_text(size.unwrap_or_default()),
            state: runtime::engine::view::state_word(c).to_string(),
            status: status_text(c),
        }
    }
}

/// Docker's `2B (virtual 1.24MB)`.
fn size_text(size: ContainerSize) -> String {
    let writable = units::decimal(size.writable, 3);
    if size.virtual_bytes == 0 {
        return writable;
    }
    format!(
        "{writable} (virtual {})",
        units::decimal(size.virtual_bytes, 3)
    )
}

/// Docker's Ellipsis: at most `width` characters, the last one `…` when cut.
pub fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let cut: String = text.chars().take(width - 1).collect();
    format!("{cut}…")
}

/// `docker stats`'s columns, and peti's peak of memory after them.
pub const STATS: Columns = Columns {
    default: "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}\t{{.MemPeak}}",
    headings: &[
        ("BlockIO", "BLOCK I/O"),
        ("CPUPerc", "CPU %"),
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("MemPeak", "MEM PEAK"),
        ("MemPerc", "MEM %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("Name", "NAME"),
        ("NetIO", "NET I/O"),
        ("PIDs", "PIDS"),
        // peti's numbers, for scripts (and the labs) to read exactly.
        ("CpuNanos", "CPU NS"),
        ("MemoryBytes", "MEMORY BYTES"),
        ("MemoryLimitBytes", "LIMIT BYTES"),
        ("MemoryPeakBytes", "PEAK BYTES"),
        ("OomKills", "OOM KILLS"),
        ("PidsCurrent", "PIDS NOW"),
        ("MemoryCacheBytes", "CACHE BYTES"),
    ],
};

/// One container's counters as `docker stats` gives them to a template,
/// with peti's own numbers beside them (Docker has no peak).
#[derive(Debug, Serialize)]
pub struct StatsContext {
    #[serde(rename = "BlockIO")]
    pub block_io: String,
    #[serde(rename = "CPUPerc")]
    pub cpu_perc: String,
    #[serde(rename = "Container")]
    pub container: String,
    #[serde(rename = "MemPeak")]
    pub mem_peak: String,
    #[serde(rename = "MemPerc")]
    pub mem_perc: String,
    #[serde(rename = "MemUsage")]
    pub mem_usage: String,
    #[serde(rename = "NetIO")]
    pub net_io: String,
    #[serde(rename = "PIDs")]
    pub pids: String,
    #[serde(flatten)]
    pub raw: StatsRow,
}

impl StatsContext {
    /// `row` as Docker words it; `container` is the name or ID the user
    /// gave (Docker's CONTAINER column); `host_memory` is the limit of one
    /// with none of its own, as Docker shows it.
    pub fn of(row: StatsRow, container: String, host_memory: u64) -> StatsContext {
        let limit = row.memory_limit_bytes.unwrap_or(host_memory).max(1);
        // Docker's usage leaves out the page cache the kernel would drop first.
        let used = row.memory_bytes.saturating_sub(row.memory_cache_bytes);
        let pair =
            |(a, b): (u64, u64)| format!("{} / {}", units::decimal(a, 3), units::decimal(b, 3));
        StatsContext {
            block_io: pair((row.block_read_bytes, row.block_write_bytes)),
            cpu_perc: format!("{:.2}%", row.cpu_percent),
            container,
            mem_peak: row
                .memory_peak_bytes
                .map_or("--".to_string(), units::binary),
            mem_perc: format!("{:.2}%", used as f64 * 100.0 / limit as f64),
            mem_usage: format!("{} / {}", units::binary(used), units::binary(limit)),
            net_io: pair((row.net_rx_bytes, row.net_tx_bytes)),
            pids: row.pids_current.to_string(),
            raw: row,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(ellipsis("sleep 10", 20), "sleep 10");
        assert_eq!(
            ellipsis("sh -c 'trap \"exit 0\" TERM'", 20),
            "sh -c 'trap \"exit 0…"
        );
    }

    #[test]
    fn sizes_read_as_dockers() {
        assert_eq!(size_text(ContainerSize::default()), "0B");
        let size = ContainerSize {
            writable: 2,
            virtual_bytes: 1_240_002,
        };
        assert_eq!(size_text(size), "2B (virtual 1.24MB)");
    }
}
