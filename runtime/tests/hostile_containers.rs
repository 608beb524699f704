//! Containers run by an attacker: what the caller's process holds, the peti
//! binary, and the errors of a refused start must not reach them, or be lost.
//!
//! Every test needs root (namespaces, mounts, cgroups) and skips with the reason
//! without it.

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use common::{Sandbox, code, stderr, stdout};

/// `peti ARGS` started with two more descriptors than its standard streams, as
/// `exec 9</host/dir 8>>/host/file; peti ...` would start it.
fn with_inherited_fds(
    sandbox: &Sandbox,
    args: &[&str],
    dir: &fs::File,
    file: &fs::File,
) -> std::process::Output {
    let (dir, file) = (dir.as_raw_fd(), file.as_raw_fd());
    let mut command = sandbox.command(args);
    // SAFETY: dup2 is async-signal-safe; it makes copies at 9 and 8 without
    // close-on-exec, exactly what a shell's redirection does.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(dir, 9) < 0 || libc::dup2(file, 8) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().unwrap()
}

#[test]
fn the_callers_file_descriptors_do_not_reach_the_container() {
    needs_containers!("the_callers_file_descriptors_do_not_reach_the_container");
    let sandbox = Sandbox::new();
    let host = sandbox.path().join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("secret"), b"the host's").unwrap();
    let log = host.join("log");
    fs::write(&log, b"").unwrap();
    let dir = fs::File::open(&host).unwrap();
    let appending = fs::OpenOptions::new().append(true).open(&log).unwrap();
    // Through fd 9 the host's folder (and, with ../.., the host's /); through
    // fd 8 a host file open for writing.
    let probe = "cat /proc/self/fd/9/secret; echo pwned >&8; ls /proc/self/fd | tr '\\n' ' '";
    let id = sandbox.ok(&["run", "-d", "bb", "sleep", "60"]);
    for args in [
        vec!["run", "--rm", "bb", "sh", "-c", probe],
        vec!["exec", id.trim(), "sh", "-c", probe],
    ] {
        let out = with_inherited_fds(&sandbox, &args, &dir, &appending);
        assert!(
            !stdout(&out).contains("the host's"),
            "{args:?} read a host file: {}",
            stdout(&out)
        );
        // ls lists its own descriptor for /proc/self/fd too: 0 1 2 3.
        assert_eq!(stdout(&out).trim(), "0 1 2 3", "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        fs::read(&log).unwrap(),
        b"",
        "the container wrote a host file"
    );
}

#[test]
fn a_refused_start_always_says_why() {
    needs_containers!("a_refused_start_always_says_why");
    let sandbox = Sandbox::new();
    // A link that climbs out of the root file system, and a volume under it: the
    // mount is refused inside the container, after peti has begun its own part.
    let tar = sandbox.path().join("linked.tar");
    fs::write(
        &tar,
        common::busybox_rootfs_tar_with_links(&[], &[("lnk", "../../../../tmp/missing")]),
    )
    .unwrap();
    sandbox.ok(&["import", tar.to_str().unwrap(), "linked"]);
    let volume = sandbox.path().join("volume");
    fs::create_dir(&volume).unwrap();
    let spec = format!("{}:/lnk/x", volume.display());
    let mut reasons = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let out = sandbox.peti(&["run", "--rm", "-v", &spec, "linked", "true"]);
        assert_eq!(code(&out), 125, "{}", stderr(&out));
        reasons.insert(stderr(&out));
    }
    assert_eq!(
        reasons.len(),
        1,
        "the reason changed from run to run: {reasons:?}"
    );
    let reason = reasons.into_iter().next().unwrap();
    assert!(!reason.contains("start-up channel"), "{reason}");
    assert!(
        reason.contains("make the mount point /lnk/x: ENOENT"),
        "{reason}"
    );
    assert!(!std::path::Path::new("/tmp/missing").exists());
}

/// Compiles one of tests/programs/*.c, static, with musl-gcc.
fn compile(name: &str, out: &std::path::Path) -> Result<(), String> {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(format!("{name}.c"));
    let built = std::process::Command::new("musl-gcc")
        .args(["-static", "-O2", "-o"])
        .arg(out)
        .arg(&source)
        .output()
        .map_err(|e| format!("musl-gcc: {e} (run .ci/setup)"))?;
    if built.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&built.stderr).into_owned())
    }
}

fn sha256_of(path: &std::path::Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

#[test]
fn a_container_cannot_overwrite_the_peti_binary() {
    let test = "a_container_cannot_overwrite_the_peti_binary";
    needs_containers!("a_container_cannot_overwrite_the_peti_binary");
    let sandbox = Sandbox::new();
    let thief = sandbox.path().join("exe_thief");
    if let Err(e) = compile("exe_thief", &thief) {
        return common::skip(test, &e);
    }
    // The attack runs against a copy of peti, which is what it may destroy.
    let copy = sandbox.path().join("peti-copy");
    fs::copy(env!("CARGO_BIN_EXE_peti"), &copy).unwrap();
    let before = sha256_of(&copy);
    let peti = |args: &[&str]| sandbox.command_of(&copy, args).output().unwrap();
    let tar = sandbox.path().join("thief.tar");
    let thief_bytes = fs::read(&thief).unwrap();
    fs::write(
        &tar,
        common::busybox_rootfs_tar(&[
            ("thief", &thief_bytes),
            // Run by peti exec, this would run peti's own binary again, inside.
            ("e", b"#!/proc/self/exe\n"),
        ]),
    )
    .unwrap();
    assert!(
        peti(&["import", tar.to_str().unwrap(), "thief"])
            .status
            .success()
    );
    // The container's first process watches for 3 s for any process whose
    // executable is the copy, and then tries to write through what it caught.
    let started = peti(&[
        "run",
        "-d",
        "--name",
        "victim",
        "thief",
        "/thief",
        "peti-copy",
        "3",
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    std::thread::sleep(std::time::Duration::from_millis(300));
    for _ in 0..5 {
        // Entering: peti is in the container's PID namespace until its exec.
        assert!(peti(&["exec", "victim", "true"]).status.success());
        // A `#!/proc/self/exe` program: what it re-runs must not be peti.
        let shebang = peti(&["exec", "victim", "/e"]);
        assert_eq!(code(&shebang), 126, "{}", stderr(&shebang));
        assert!(stderr(&shebang).contains("peti-dmz: not started by peti"));
    }
    // No peti may run while the thief writes, or the kernel would refuse it
    // anyway (ETXTBSY), hiding the hole: wait without peti.
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let report = stdout(&peti(&["logs", "victim"]));
    assert_eq!(
        sha256_of(&copy),
        before,
        "the container changed the peti binary:\n{report}"
    );
    assert!(report.contains("caught 0 wrote 0"), "{report}");
}

/// What seccomp_probe prints: one "NAME RESULT" line per request.
fn probe_results(out: &std::process::Output) -> std::collections::BTreeMap<String, String> {
    stdout(out)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn dockers_default_seccomp_profile_shuts_what_a_container_has_no_use_for() {
    let test = "dockers_default_seccomp_profile_shuts_what_a_container_has_no_use_for";
    needs_containers!("dockers_default_seccomp_profile_shuts_what_a_container_has_no_use_for");
    let sandbox = Sandbox::new();
    let probe = sandbox.path().join("seccomp_probe");
    if let Err(e) = compile("seccomp_probe", &probe) {
        return common::skip(test, &e);
    }
    let volume = format!("{}:/probe:ro", probe.display());
    let status = sandbox.ok(&[
        "run",
        "--rm",
        "bb",
        "grep",
        "^Seccomp:",
        "/proc/self/status",
    ]);
    assert_eq!(
        status.split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2"],
        "mode 2 is a filter"
    );

    let confined = probe_results(&sandbox.peti(&["run", "--rm", "-v", &volume, "bb", "/probe"]));
    for (request, expected) in [
        ("unshare-user", "EPERM"),
        ("add_key", "EPERM"),
        ("keyctl", "EPERM"),
        ("clone-newns", "EPERM"),
        // ENOSYS, not EPERM: libc then falls back to clone, which can be checked.
        ("clone3", "ENOSYS"),
        ("socket-vsock", "EPERM"),
        ("socket-inet", "ok"),
        ("personality-linux", "ok"),
        ("personality-bsd", "EPERM"),
        ("reboot", "EPERM"),
        ("getpid", "ok"),
    ] {
        assert_eq!(
            confined.get(request).map(String::as_str),
            Some(expected),
            "{request}: {confined:?}"
        );
    }
    // The same filter holds for a process that peti exec starts.
    let id = sandbox.ok(&["run", "-d", "-v", &volume, "bb", "sleep", "60"]);
    let exec = probe_results(&sandbox.peti(&["exec", id.trim(), "/probe"]));
    assert_eq!(exec, confined);

    // unconfined: no filter. The user namespace, the keyring and the rest open.
    let unconfined = probe_results(&sandbox.peti(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "-v",
        &volume,
        "bb",
        "/probe",
    ]));
    assert_eq!(unconfined["unshare-user"], "ok", "{unconfined:?}");
    assert_eq!(unconfined["add_key"], "ok", "{unconfined:?}");
    assert_eq!(unconfined["socket-vsock"], "ok", "{unconfined:?}");
}

#[test]
fn a_seccomp_profile_in_dockers_format_is_applied_and_a_bad_one_refused() {
    needs_containers!("a_seccomp_profile_in_dockers_format_is_applied_and_a_bad_one_refused");
    let sandbox = Sandbox::new();
    let profile = sandbox.path().join("no-mkdir.json");
    fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let option = format!("seccomp={}", profile.display());
    let out = sandbox.peti(&[
        "run",
        "--rm",
        "--security-opt",
        &option,
        "bb",
        "mkdir",
        "/x",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    // The profile is kept in the record: a restart does not need the file.
    let id = sandbox.ok(&["create", "--security-opt", &option, "bb", "mkdir", "/y"]);
    fs::remove_file(&profile).unwrap();
    let started = sandbox.peti(&["start", "-a", id.trim()]);
    assert_eq!(code(&started), 1, "{}", stderr(&started));

    let bad = sandbox.path().join("bad.json");
    fs::write(&bad, r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#).unwrap();
    for (option, said) in [
        (
            format!("seccomp={}", bad.display()),
            "unknown action \"SCMP_ACT_MAYBE\"",
        ),
        (
            "seccomp=/no/such/profile.json".into(),
            "/no/such/profile.json",
        ),
        ("apparmor=unconfined".into(), "invalid --security-opt"),
    ] {
        let out = sandbox.peti(&["run", "--rm", "--security-opt", &option, "bb", "true"]);
        assert_eq!(code(&out), 125, "{option}");
        assert!(stderr(&out).contains(said), "{option}: {}", stderr(&out));
    }
    assert_eq!(
        sandbox.ok(&["ps", "-aq"]).lines().count(),
        1,
        "only the created one"
    );
}
