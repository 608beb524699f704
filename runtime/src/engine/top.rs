//! `peti top`: the processes a container runs, as the host sees them.
//!
//! Docker's daemon runs the host's `ps -ef` and keeps the lines of the
//! container's processes; peti reads the same facts from /proc for the
//! processes in the container's cgroup. The numbers are the host's (PIDs,
//! users): `top` is a view from outside, where `peti exec C ps` is one from
//! inside.

use std::fs;
use std::time::{Duration, SystemTime};

use super::{Engine, EngineError};
use crate::container::lifecycle::LifecycleError;
use crate::container::state::Status;

/// One line of `ps -ef`: UID PID PPID C STIME TTY TIME CMD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    pub uid: String,
    pub pid: i32,
    pub ppid: i32,
    /// CPU use over its life, in percent, as ps's C column.
    pub cpu: u64,
    pub stime: String,
    pub tty: String,
    pub time: String,
    pub cmd: String,
}

impl Engine {
    /// `peti top CONTAINER`: its processes, by PID.
    pub fn top(&self, name: &str) -> Result<Vec<TopRow>, EngineError> {
        let container = self.container(name)?;
        let cgroup = match (&container.cgroup, container.state.status) {
            (Some(cgroup), Status::Running) => cgroup,
            _ => return Err(LifecycleError::NotRunning(container.name).into()),
        };
        let mut pids = cgroup.processes()?;
        pids.sort();
        let host = Host::read();
        Ok(pids.into_iter().filter_map(|pid| host.row(pid)).collect())
    }
}

/// What every row needs from the host: its users, clock and boot time.
struct Host {
    passwd: String,
    ticks_per_second: u64,
    uptime: Duration,
    boot: SystemTime,
}

impl Host {
    fn read() -> Host {
        let uptime = fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(Duration::ZERO, Duration::from_secs_f64);
        // SAFETY: sysconf only reads a constant of the system.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Host {
            passwd: fs::read_to_string("/etc/passwd").unwrap_or_default(),
            ticks_per_second: u64::try_from(ticks).unwrap_or(100).max(1),
            uptime,
            boot: SystemTime::now() - uptime,
        }
    }

    /// The row of one process; none if it ended meanwhile.
    fn row(&self, pid: i32) -> Option<TopRow> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command's parentheses: state, ppid, ... (man 5 proc).
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let (ppid, tty_nr) = (number(1)?, number(4)?);
        let cpu_ticks = number(11)? + number(12)?;
        let started_ticks = number(19)?;
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("0");
        let started = Duration::from_millis(started_ticks * 1000 / self.ticks_per_second);
        let alive = self.uptime.saturating_sub(started).as_secs().max(1);
        let cpu_seconds = cpu_ticks / self.ticks_per_second;
        Some(TopRow {
            uid: self.user_name(uid),
            pid,
            ppid: ppid as i32,
            cpu: cpu_ticks * 100 / self.ticks_per_second / alive,
            stime: clock_time(self.boot + started),
            tty: tty_name(tty_nr),
            time: format!(
                "{:02}:{:02}:{:02}",
                cpu_seconds / 3600,
                cpu_seconds / 60 % 60,
                cpu_seconds % 60
            ),
            cmd: command(pid, &stat),
        })
    }

    /// The host's name for a UID, as ps prints it (the number if none).
    fn user_name(&self, uid: &str) -> String {
        self.passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == uid)
            .map_or(uid.to_string(), |f| f[0].to_string())
    }
}

/// The start time as ps shows one from today: HH:MM, in UTC here.
fn clock_time(at: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(at).to_string();
    text.get(11..16).unwrap_or("?").to_string()
}

/// The terminal from stat's tty_nr: `?` for none, `pts/N` for a
/// pseudo-terminal (major 136 and up).
fn tty_name(tty_nr: u64) -> String {
    if tty_nr == 0 {
        return "?".to_string();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 => format!("tty{minor}"),
        _ => "?".to_string(),
    }
}

/// The command line, or `[name]` (from stat) when it has none.
fn command(pid: i32, stat: &str) -> String {
    let line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = line
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.is_empty() {
        let name = stat
            .find('(')
            .zip(stat.rfind(')'))
            .map_or("?", |(a, b)| &stat[a + 1..b]);
        return format!("[{name}]");
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminals_are_named_as_ps_names_them() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
    }

    #[test]
    fn this_process_has_a_row() {
        let row = Host::read().row(std::process::id() as i32).unwrap();
        assert_eq!(row.pid, std::process::id() as i32);
        assert!(!row.cmd.is_empty());
        assert_eq!(row.time.len(), 8);
    }
}
