//! Each lab workload runs on the host, and its output is checked against values
//! computed here, independently, in Rust.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::{field, prepared, stdout};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    for b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

fn run(name: &str, args: &[&str]) -> std::process::Output {
    Command::new(prepared().join("bin").join(name))
        .args(args)
        .output()
        .expect("workload starts")
}

/// Checks the output contract: READY first, RESULT last, exit 0.
fn check_contract(name: &str, output: &std::process::Output) -> String {
    let text = stdout(output);
    assert!(
        output.status.success(),
        "{name} failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .first()
            .unwrap()
            .starts_with(&format!("READY workload={name}")),
        "{text}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("RESULT workload={name}")),
        "{text}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("READY")).count(), 1);
    assert_eq!(lines.iter().filter(|l| l.starts_with("RESULT")).count(), 1);
    text
}

#[test]
fn hello_reports_the_host_kernel_and_its_own_pid() {
    needs_prepare!("hello_reports_the_host_kernel_and_its_own_pid");
    let output = run("hello", &[]);
    let text = check_contract("hello", &output);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(field(&text, "INFO", "release"), release.trim());
    assert_eq!(field(&text, "INFO", "kernel"), "Linux");
    assert!(field(&text, "INFO", "pid").parse::<u32>().unwrap() > 1);
    assert_eq!(field(&text, "RESULT", "status"), "ok");
}

#[test]
fn compute_checksum_matches_an_independent_computation() {
    needs_prepare!("compute_checksum_matches_an_independent_computation");
    let text = check_contract("compute", &run("compute", &["3"]));
    let block: Vec<u8> = (0..64 * 1024usize).map(|j| (j * 31 + 7) as u8).collect();
    let mut expected = FNV_OFFSET;
    for _ in 0..3 * 16 {
        expected = fnv1a(expected, block.iter().copied());
    }
    assert_eq!(
        field(&text, "RESULT", "checksum"),
        format!("{expected:016x}")
    );
    assert_eq!(field(&text, "RESULT", "mib"), "3");
}

#[test]
fn memtouch_touches_every_page() {
    needs_prepare!("memtouch_touches_every_page");
    let text = check_contract("memtouch", &run("memtouch", &["4"]));
    let pages = 4 * 256u64;
    let expected = fnv1a(FNV_OFFSET, (0..pages).map(|p| (p * 13 + 1) as u8));
    assert_eq!(field(&text, "RESULT", "pages"), pages.to_string());
    assert_eq!(
        field(&text, "RESULT", "checksum"),
        format!("{expected:016x}")
    );
}

#[test]
fn fileio_writes_reads_back_and_removes_its_file() {
    needs_prepare!("fileio_writes_reads_back_and_removes_its_file");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let text = check_contract("fileio", &run("fileio", &["2", path.to_str().unwrap()]));
    let chunk = 64 * 1024u64;
    let mut expected = FNV_OFFSET;
    for c in 0..2 * 16u64 {
        expected = fnv1a(expected, (0..chunk).map(|j| (c * 131 + j * 7) as u8));
    }
    assert_eq!(
        field(&text, "RESULT", "bytes"),
        (2 * 1024 * 1024).to_string()
    );
    assert_eq!(
        field(&text, "RESULT", "checksum"),
        format!("{expected:016x}")
    );
    assert!(!path.exists(), "fileio left its file behind");
}

#[test]
fn serve_answers_http_requests_then_exits() {
    needs_prepare!("serve_answers_http_requests_then_exits");
    let mut child = Command::new(prepared().join("bin/serve"))
        .args(["0", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    let port: u16 = field(&ready, "READY", "port").parse().unwrap();
    for _ in 0..2 {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.0 200 OK\r\n"), "{reply}");
        assert!(
            reply.ends_with("hello from the lab serve workload\n"),
            "{reply}"
        );
    }
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(field(&rest, "RESULT", "requests"), "2");
}

#[test]
fn bad_arguments_are_usage_errors_that_name_the_argument() {
    needs_prepare!("bad_arguments_are_usage_errors_that_name_the_argument");
    for (name, args, needle) in [
        ("compute", &["lots"][..], "MIB must be a whole number"),
        ("compute", &[][..], "usage: compute"),
        ("memtouch", &["-1"][..], "MIB must be a whole number"),
        (
            "serve",
            &["70000"][..],
            "PORT must be a whole number from 0 to 65535",
        ),
    ] {
        let output = run(name, args);
        assert_eq!(output.status.code(), Some(2), "{name} {args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(needle),
            "{name} {args:?}"
        );
        assert!(
            output.stdout.is_empty(),
            "{name} {args:?} printed to stdout"
        );
    }
}
