//! A foreground container's output, relayed: what it writes to its stdout and
//! stderr goes to this terminal at once, and into its log, one JSON object per
//! line, as the monitor (`monitor/peti-monitor.c`) logs a detached one's.
//! Docker logs every container, attached or not: `docker run --name f busybox
//! echo hi; docker logs f` prints `hi`.
//!
//! The bytes are read once and written twice. Linux has a call that copies a
//! pipe's contents into another pipe without reading them, `tee(2)`, and
//! `splice(2)` to move them on: the relay could pass the output to the
//! terminal without copying it through this process. It would save nothing
//! here: the log wraps each line in JSON, so its bytes must be read anyway,
//! and `tee` needs a pipe at both ends, which a terminal is not.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// The longest line logged as one record; a longer one is split, as the
/// monitor splits it.
const MAX_LINE: usize = 4096;

/// Appends a container's output to its log, a record per line, in Docker's
/// json-file format: `{"log":"hi\n","stream":"stdout","time":"..."}`.
pub struct LogWriter {
    file: File,
    pending: [Vec<u8>; 2],
}

/// Which stream a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl LogWriter {
    /// Opens (or creates, 0640, as the monitor does) the log at `path`.
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)?;
        Ok(LogWriter {
            file,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Logs every complete line of `bytes` (with what came before them), and
    /// keeps the rest for later.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let mut pending = std::mem::take(&mut self.pending[stream as usize]);
        pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(at) = pending[start..].iter().position(|b| *b == b'\n') {
            self.record(stream, &pending[start..start + at + 1])?;
            start += at + 1;
        }
        while pending.len() - start >= MAX_LINE {
            self.record(stream, &pending[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        pending.drain(..start);
        self.pending[stream as usize] = pending;
        Ok(())
    }

    /// Logs what is left of both streams: the output ended without a newline.
    pub fn finish(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            if !rest.is_empty() {
                self.record(stream, &rest)?;
            }
        }
        Ok(())
    }

    fn record(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now());
        let record = serde_json::json!({
            // Docker too replaces bytes that are not UTF-8.
            "log": String::from_utf8_lossy(line),
            "stream": stream.name(),
            "time": time.to_string(),
        });
        let mut text = record.to_string();
        text.push('\n');
        // One write per record: O_APPEND keeps it whole next to a reader.
        self.file.write_all(text.as_bytes())
    }
}

/// Copies the container's stdout and stderr pipes to this process's own, and
/// into `log`, until both are closed (the container and everything it started
/// have ended). Output to the terminal that cannot be written (its reader
/// went) is dropped; the log still gets it.
pub fn relay(stdout: OwnedFd, stderr: OwnedFd, mut log: LogWriter) -> io::Result<()> {
    let mut open = [Some(File::from(stdout)), Some(File::from(stderr))];
    let mut buffer = vec![0u8; 64 * 1024];
    while open.iter().any(Option::is_some) {
        let ready = wait_readable(&open)?;
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if !ready[i] {
                continue;
            }
            let Some(pipe) = open[i].as_mut() else {
                continue;
            };
            match pipe.read(&mut buffer) {
                Ok(0) => open[i] = None,
                Ok(n) => {
                    let _ = match stream {
                        Stream::Stdout => to_terminal(io::stdout().lock(), &buffer[..n]),
                        Stream::Stderr => to_terminal(io::stderr().lock(), &buffer[..n]),
                    };
                    log.write(stream, &buffer[..n])?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    log.finish()
}

fn to_terminal(mut out: impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Which of the open pipes have something to read (or are closed).
fn wait_readable(open: &[Option<File>; 2]) -> io::Result<[bool; 2]> {
    let which: Vec<usize> = (0..2).filter(|i| open[*i].is_some()).collect();
    loop {
        let mut fds: Vec<PollFd> = open
            .iter()
            .flatten()
            .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            // A signal passed on to the container interrupts the wait.
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let mut ready = [false; 2];
        for (i, fd) in which.iter().zip(&fds) {
            ready[*i] = fd.revents().is_some_and(|r| !r.is_empty());
        }
        return Ok(ready);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_are_logged_whole_as_the_monitor_logs_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut log = LogWriter::open(&path).unwrap();
        log.write(Stream::Stdout, b"he").unwrap();
        log.write(Stream::Stderr, b"oops\n").unwrap();
        log.write(Stream::Stdout, b"llo\nwor").unwrap();
        log.write(Stream::Stdout, b"ld\xff").unwrap();
        log.finish().unwrap();
        let logged = records(&path);
        let texts: Vec<(&str, &str)> = logged
            .iter()
            .map(|r| (r["stream"].as_str().unwrap(), r["log"].as_str().unwrap()))
            .collect();
        assert_eq!(
            texts,
            [
                ("stderr", "oops\n"),
                ("stdout", "hello\n"),
                ("stdout", "world\u{fffd}")
            ]
        );
        assert!(humantime::parse_rfc3339(logged[0]["time"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn a_long_line_is_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut log = LogWriter::open(&path).unwrap();
        log.write(Stream::Stdout, &vec![b'x'; MAX_LINE + 10])
            .unwrap();
        log.finish().unwrap();
        let lengths: Vec<usize> = records(&path)
            .iter()
            .map(|r| r["log"].as_str().unwrap().len())
            .collect();
        assert_eq!(lengths, [MAX_LINE, 10]);
    }

    #[test]
    fn the_relay_ends_when_both_pipes_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        let (err_r, err_w) = nix::unistd::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            File::from(out_w).write_all(b"one\ntwo\n").unwrap();
            File::from(err_w).write_all(b"three\n").unwrap();
        });
        relay(out_r, err_r, LogWriter::open(&path).unwrap()).unwrap();
        writer.join().unwrap();
        assert_eq!(records(&path).len(), 3);
    }
}
