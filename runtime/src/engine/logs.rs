//! What a container printed: the monitor's log, one JSON object per line, in
//! the format of Docker's json-file driver.

use std::io::{BufRead, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;

use super::{Engine, EngineError};
use crate::container::state::Status;

/// One line the container printed, and on which stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogLine {
    /// The text, with its newline.
    pub log: String,
    /// "stdout" or "stderr".
    pub stream: String,
    /// When the monitor read it, RFC 3339 in UTC with nanoseconds.
    #[serde(default)]
    pub time: String,
}

impl LogLine {
    pub fn is_stderr(&self) -> bool {
        self.stream == "stderr"
    }
}

/// Where a reader of a log is: the container, its log file, and how far it has read.
pub struct LogCursor {
    id: String,
    path: std::path::PathBuf,
    offset: u64,
}

impl Engine {
    /// A cursor at the start of a container's log.
    pub fn logs(&self, name: &str) -> Result<LogCursor, EngineError> {
        let container = self.containers.find(name)?;
        Ok(LogCursor {
            path: self.containers.log_file(&container.id),
            id: container.id,
            offset: 0,
        })
    }

    /// Whether the container is still running, so that more may come (`-f`);
    /// false once it is gone.
    pub fn still_running(&self, cursor: &LogCursor) -> Result<bool, EngineError> {
        match self.containers.find(&cursor.id) {
            Ok(c) => match self.containers.refresh(c) {
                Ok(c) => Ok(c.state.status == Status::Running),
                Err(crate::container::state::StateError::NoSuchContainer(_)) => Ok(false),
                Err(e) => Err(e.into()),
            },
            Err(_) => Ok(false),
        }
    }
}

impl LogCursor {
    /// The complete lines written since the last call (a line the monitor is
    /// still writing waits for the next one).
    pub fn next_lines(&mut self) -> Result<Vec<LogLine>, EngineError> {
        let (lines, offset) = read_from(&self.path, self.offset)?;
        self.offset = offset;
        Ok(lines)
    }
}

/// The complete log lines after `offset`, and the offset after them.
fn read_from(path: &Path, offset: u64) -> Result<(Vec<LogLine>, u64), EngineError> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok((Vec::new(), offset));
    };
    let io = EngineError::io(format!("{}", path.display()));
    if let Err(e) = file.seek(SeekFrom::Start(offset)) {
        return Err(io(e));
    }
    let mut reader = std::io::BufReader::new(file);
    let (mut lines, mut offset) = (Vec::new(), offset);
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(EngineError::io(format!("{}", path.display()))(e)),
        }
        if !line.ends_with('\n') {
            break; // the monitor is still writing it
        }
        offset += line.len() as u64;
        if let Ok(entry) = serde_json::from_str::<LogLine>(&line) {
            lines.push(entry);
        }
        line.clear();
    }
    Ok((lines, offset))
}

/// A time as `docker logs --since` takes it: RFC 3339 (or a date alone, or
/// without a zone, taken as UTC), a Unix time in seconds (`1764658800.5`), or
/// a duration before `now` (`10m`, `1h30m`, `90s`).
pub fn parse_time(text: &str, now: std::time::SystemTime) -> Option<std::time::SystemTime> {
    use std::time::{Duration, UNIX_EPOCH};
    if let Ok(ago) = humantime::parse_duration(text) {
        return now.checked_sub(ago);
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds >= 0.0).then(|| UNIX_EPOCH + Duration::from_secs_f64(seconds));
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    humantime::parse_rfc3339_weak(&full).ok()
}

impl LogLine {
    /// When it was logged; none if the record has no time it can read.
    pub fn logged_at(&self) -> Option<std::time::SystemTime> {
        humantime::parse_rfc3339_weak(&self.time).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_read_as_dockers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_764_658_800);
        assert_eq!(parse_time("10m", now), Some(now - Duration::from_secs(600)));
        assert_eq!(
            parse_time("1h30m", now),
            Some(now - Duration::from_secs(5400))
        );
        assert_eq!(
            parse_time("1764658800.5", now),
            Some(UNIX_EPOCH + Duration::from_millis(1_764_658_800_500))
        );
        assert_eq!(
            parse_time("2025-12-02T07:00:00Z", now),
            Some(UNIX_EPOCH + Duration::from_secs(1_764_658_800))
        );
        assert_eq!(
            parse_time("2025-12-02", now),
            Some(UNIX_EPOCH + Duration::from_secs(1_764_633_600))
        );
        assert_eq!(parse_time("yesterday-ish", now), None);
    }
}
