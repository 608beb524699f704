//! Containers, run for real through the `peti` binary: exit codes, isolation,
//! limits, the detached lifecycle, exec, bad input, and cleanup.
//!
//! Every test needs root (namespaces, mounts, cgroups) and skips with the reason
//! where it is missing. Each works in a sandbox of its own (see `common`), so
//! the tests run in parallel without seeing each other's containers.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Sandbox, code, stderr, stdout};

/// Polls `check` every 20 ms for up to `limit`; for state that settles
/// asynchronously (a killed process being reaped), never for performance.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// The namespaces of a process, as `readlink /proc/PID/ns/*` shows them.
fn namespaces_of(pid: &str) -> BTreeMap<String, String> {
    ["pid", "mnt", "uts", "ipc", "net", "cgroup"]
        .iter()
        .map(|ns| {
            let link = fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
            (ns.to_string(), link.to_string_lossy().into_owned())
        })
        .collect()
}

#[test]
fn exit_codes_follow_docker() {
    needs_containers!("exit_codes_follow_docker");
    let sandbox = Sandbox::new();
    let own = sandbox.peti(&["run", "--rm", "bb", "sh", "-c", "exit 7"]);
    assert_eq!(code(&own), 7);

    let missing = sandbox.peti(&["run", "--rm", "bb", "no-such-command"]);
    assert_eq!(code(&missing), 127, "{}", stderr(&missing));
    assert!(stderr(&missing).contains("executable file not found"));

    let not_executable = sandbox.peti(&["run", "--rm", "bb", "/etc/passwd"]);
    assert_eq!(code(&not_executable), 126, "{}", stderr(&not_executable));
    assert!(stderr(&not_executable).contains("permission denied"));

    let unknown_image = sandbox.peti(&["run", "--rm", "no-such-image", "true"]);
    assert_eq!(code(&unknown_image), 125);
    assert!(stderr(&unknown_image).contains("no such image: no-such-image"));

    let bad_memory = sandbox.peti(&["run", "--rm", "-m", "12q", "bb", "true"]);
    assert_eq!(code(&bad_memory), 125);
    assert!(stderr(&bad_memory).contains("invalid --memory \"12q\""));
    // Too large to be a limit: refused, not quietly run with no limit.
    let huge_memory = sandbox.peti(&["run", "--rm", "-m", "99999999999999999999g", "bb", "true"]);
    assert_eq!(code(&huge_memory), 125);
    assert!(stderr(&huge_memory).contains("is too large"));

    // A negative value is a value, not a flag, and is refused as one.
    for (flag, value) in [("-m", "-5m"), ("--memory", "0"), ("--cpus", "-1")] {
        let negative = sandbox.peti(&["run", "--rm", flag, value, "bb", "true"]);
        assert_eq!(code(&negative), 125);
        assert!(
            stderr(&negative).contains(&format!("{value:?}: the value must be positive")),
            "{}",
            stderr(&negative)
        );
    }

    let wrong_flag = sandbox.peti(&["run", "--no-such-flag", "bb", "true"]);
    assert_eq!(code(&wrong_flag), 125, "{}", stderr(&wrong_flag));

    // Nothing was left behind by any of them: --rm removed what ran, and the
    // bad input was refused before anything was made.
    assert_eq!(sandbox.ok(&["ps", "-aq"]), "");
}

/// Docker's rule for every other command (docs.docker.com, "docker run":
/// exit status): 125 belongs to `run` and `create` failing in the runtime,
/// 126 and 127 to a command that cannot start; any other command that fails
/// exits 1, and one given several names still does the ones it can.
#[test]
fn other_commands_fail_with_1_as_dockers_do() {
    needs_containers!("other_commands_fail_with_1_as_dockers_do");
    let sandbox = Sandbox::new();
    for args in [
        &["stop", "nosuch"][..],
        &["kill", "nosuch"],
        &["rm", "nosuch"],
        &["start", "nosuch"],
        &["logs", "nosuch"],
        &["wait", "nosuch"],
        &["exec", "nosuch", "true"],
        &["rmi", "nosuch"],
        &["tag", "nosuch", "other"],
    ] {
        let out = sandbox.peti(args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
    }
    // A usage error is still 125, for every command.
    let usage = sandbox.peti(&["ps", "--no-such-flag"]);
    assert_eq!(code(&usage), 125);

    sandbox.ok(&["run", "-d", "--name", "up", "bb", "sleep", "60"]);
    let running = sandbox.peti(&["rm", "up"]);
    assert_eq!(code(&running), 1, "{}", stderr(&running));
    // A name clash in run is the runtime's refusal: 125.
    let clash = sandbox.peti(&["run", "--name", "up", "bb", "true"]);
    assert_eq!(code(&clash), 125);
    // exec's command that cannot start: 126, missing or not executable.
    for command in ["no-such-command", "/etc/passwd"] {
        let out = sandbox.peti(&["exec", "up", command]);
        assert_eq!(code(&out), 126, "{command}: {}", stderr(&out));
    }

    // Several names: each is tried, the missing one reported, exit 1.
    sandbox.ok(&["create", "--name", "idle", "bb", "true"]);
    let some = sandbox.peti(&["rm", "nosuch", "idle"]);
    assert_eq!(code(&some), 1);
    assert_eq!(stdout(&some).trim(), "idle", "the one found was removed");
    assert!(stderr(&some).contains("No such container: nosuch"));

    // inspect prints what it found as one array, [] for nothing, and exits 1
    // if a name was missing.
    let nothing = sandbox.peti(&["inspect", "nosuch"]);
    assert_eq!((code(&nothing), stdout(&nothing).trim()), (1, "[]"));
    assert!(stderr(&nothing).contains("No such object: nosuch"));
    let partly = sandbox.peti(&["inspect", "up", "nosuch"]);
    assert_eq!(code(&partly), 1);
    let found: serde_json::Value = serde_json::from_str(&stdout(&partly)).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    sandbox.ok(&["rm", "-f", "up"]);
}

/// The environment and /etc files as Docker makes them: PATH first, then
/// HOSTNAME (the container's host name, in run and exec), each replaced in
/// place by `-e`; HOME last; no TERM without `-t`. /etc/hosts, /etc/hostname
/// and /etc/resolv.conf are root's and 0644, so another user cannot rewrite
/// them.
#[test]
fn the_environment_and_etc_files_are_dockers() {
    needs_containers!("the_environment_and_etc_files_are_dockers");
    let sandbox = Sandbox::new();
    let env = sandbox.ok(&["run", "--rm", "--hostname", "box", "bb", "env"]);
    let env: Vec<&str> = env.lines().collect();
    assert_eq!(
        env,
        [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME=box",
            "HOME=/root"
        ]
    );
    let replaced = sandbox.ok(&[
        "run",
        "--rm",
        "-e",
        "PATH=/bin:/usr/bin",
        "-e",
        "A=1",
        "bb",
        "env",
    ]);
    let replaced: Vec<&str> = replaced.lines().collect();
    assert_eq!(replaced[0], "PATH=/bin:/usr/bin", "{replaced:?}");
    assert!(replaced[1].starts_with("HOSTNAME="), "{replaced:?}");
    assert_eq!(replaced[2], "A=1", "{replaced:?}");

    let id = sandbox.ok(&["run", "-d", "bb", "sleep", "60"]);
    let id = id.trim();
    let in_exec = sandbox.ok(&["exec", id, "env"]);
    assert!(
        in_exec
            .lines()
            .any(|l| l == format!("HOSTNAME={}", &id[..12])),
        "{in_exec}"
    );
    let modes = sandbox.ok(&[
        "exec",
        id,
        "stat",
        "-c",
        "%a %U %n",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
    ]);
    for line in modes.lines() {
        assert!(line.starts_with("644 root "), "{line}");
    }
    let other_user = sandbox.peti(&["exec", "-u", "1000", id, "sh", "-c", "echo x >> /etc/hosts"]);
    assert_ne!(code(&other_user), 0, "a user rewrote /etc/hosts");
    sandbox.ok(&["rm", "-f", id]);
}

/// `docker rename` and `docker restart`: a running container keeps running
/// under its new name, and its old name is free; the new name must be free
/// and new; restart stops and starts again, the log going on.
#[test]
fn rename_and_restart_are_dockers() {
    needs_containers!("rename_and_restart_are_dockers");
    let sandbox = Sandbox::new();
    let script = "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done";
    let id = sandbox.ok(&["run", "-d", "--name", "first", "bb", "sh", "-c", script]);
    let id = id.trim();
    sandbox.ok(&["rename", "first", "second"]);
    assert_eq!(sandbox.inspect("second")["Name"], "/second");
    assert_eq!(sandbox.inspect("second")["State"]["Running"], true);
    let gone = sandbox.peti(&["inspect", "first"]);
    assert_eq!(code(&gone), 1);
    for (new, said) in [
        ("second", "same name"),
        ("bad name", "invalid container name"),
    ] {
        let refused = sandbox.peti(&["rename", "second", new]);
        assert_eq!(code(&refused), 1, "{new}");
        assert!(stderr(&refused).contains(said), "{}", stderr(&refused));
    }
    sandbox.ok(&["create", "--name", "other", "bb", "true"]);
    let taken = sandbox.peti(&["rename", "second", "other"]);
    assert_eq!(code(&taken), 1);
    assert!(stderr(&taken).contains("already in use"));
    // The old name is free again.
    sandbox.ok(&["create", "--name", "first", "bb", "true"]);

    let pid_before = sandbox.inspect("second")["State"]["Pid"].clone();
    assert_eq!(
        sandbox.ok(&["restart", "-t", "5", "second"]).trim(),
        "second"
    );
    let after = sandbox.inspect("second");
    assert_eq!(after["State"]["Running"], true);
    assert_ne!(after["State"]["Pid"], pid_before, "a new process");
    assert!(eventually(Duration::from_secs(5), || {
        sandbox.ok(&["logs", "second"]) == "started\nstarted\n"
    }));
    sandbox.ok(&["rm", "-f", id, "other", "first"]);
}

/// `docker ps -n/-l/-f`: the last N created in every state; filters by
/// status (which, like -n, looks past the running ones), name, id and
/// ancestor; an unknown filter refused with 1.
#[test]
fn ps_last_and_filters_are_dockers() {
    needs_containers!("ps_last_and_filters_are_dockers");
    let sandbox = Sandbox::new();
    let _ = sandbox.peti(&["run", "--name", "ended", "bb", "sh", "-c", "exit 2"]);
    let up = sandbox.ok(&["run", "-d", "--name", "up", "bb", "sleep", "60"]);
    let made = sandbox.ok(&["create", "--name", "made", "bb", "true"]);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut line = vec!["ps", "-q"];
        line.extend(args);
        sandbox.ok(&line).lines().map(str::to_string).collect()
    };
    let short = |id: &str| id.trim()[..12].to_string();
    assert_eq!(ids(&[]), [short(&up)], "running only by default");
    assert_eq!(ids(&["-l"]), [short(&made)], "the latest, created or not");
    assert_eq!(ids(&["-n", "2"]), [short(&made), short(&up)]);
    assert_eq!(ids(&["-f", "status=exited"]).len(), 1);
    assert_eq!(ids(&["-f", "status=created"]), [short(&made)]);
    assert_eq!(ids(&["-a", "-f", "name=mad"]), [short(&made)]);
    assert_eq!(
        ids(&["-a", "-f", &format!("id={}", &up[..6])]),
        [short(&up)]
    );
    assert_eq!(ids(&["-a", "-f", "ancestor=bb"]).len(), 3);
    assert_eq!(
        ids(&["-a", "-f", "ancestor=bb", "-f", "status=running"]),
        [short(&up)]
    );
    let bad = sandbox.peti(&["ps", "-f", "colour=red"]);
    assert_eq!(code(&bad), 1);
    sandbox.ok(&["rm", "-f", "ended", "up", "made"]);
}

/// A table's headings: its first line, cut where three spaces or more
/// stand between the columns.
fn headings(table: &str) -> Vec<String> {
    let first = table.lines().next().unwrap_or_default();
    first
        .split("   ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

/// Docker's `--format`, from its documentation ("Format command and log
/// output"): a Go template a line per row, `table` with headings and
/// tabwriter columns, `json` a whole row; `inspect -f` on the container's
/// record, with 64 for a template that does not parse; and Docker's keys in
/// ps, images and stats.
#[test]
fn formats_are_dockers_go_templates() {
    needs_containers!("formats_are_dockers_go_templates");
    let sandbox = Sandbox::new();
    let _ = sandbox.peti(&["run", "--name", "ended", "bb", "sh", "-c", "exit 3"]);
    sandbox.ok(&["run", "-d", "--name", "up", "bb", "sleep", "60"]);
    assert_eq!(sandbox.ok(&["ps", "--format", "{{.Names}}"]), "up\n");
    assert_eq!(
        sandbox.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]),
        "up running\nended exited\n"
    );
    let table = sandbox.ok(&["ps", "-a", "--format", r"table {{.Names}}\t{{.Command}}"]);
    assert_eq!(
        table,
        "NAMES     COMMAND\nup        \"sleep 60\"\nended     \"sh -c 'exit 3'\"\n"
    );
    assert_eq!(
        headings(&sandbox.ok(&["ps"])),
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    let row: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["ps", "--format", "{{json .}}"])).unwrap();
    for key in [
        "Command",
        "CreatedAt",
        "ID",
        "Image",
        "Labels",
        "LocalVolumes",
        "Mounts",
        "Names",
        "Networks",
        "Ports",
        "RunningFor",
        "Size",
        "State",
        "Status",
    ] {
        assert!(row[key].is_string(), "ps JSON lacks {key}: {row}");
    }
    assert!(row["RunningFor"].as_str().unwrap().ends_with(" ago"));
    assert!(row["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"));
    let sized = sandbox.ok(&["ps", "-s", "--format", "{{.Size}}"]);
    assert!(sized.starts_with("0B (virtual "), "{sized}");

    assert_eq!(
        sandbox.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "ended",
            "up"
        ]),
        "exited 3\nrunning 0\n"
    );
    assert_eq!(
        sandbox.ok(&["inspect", "--format", "{{json .Config.Cmd}}", "up"]),
        "[\"sleep\",\"60\"]\n"
    );
    assert_eq!(
        sandbox.ok(&["inspect", "-f", "{{.Config.WorkingDir}}|", "up"]),
        "|\n"
    );
    let bad = sandbox.peti(&["inspect", "-f", "{{.State.Status", "up"]);
    assert_eq!(code(&bad), 64, "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("template parsing error"));
    let missing = sandbox.peti(&["ps", "--format", "{{.Colour}}"]);
    assert_eq!(code(&missing), 1);

    let images = sandbox.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.lines().any(|l| l == "bb:latest"), "{images}");
    let image: serde_json::Value = serde_json::from_str(
        sandbox
            .ok(&["images", "--format", "json"])
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    for key in [
        "Containers",
        "CreatedAt",
        "CreatedSince",
        "Digest",
        "ID",
        "Repository",
        "SharedSize",
        "Size",
        "Tag",
        "UniqueSize",
        "VirtualSize",
    ] {
        assert!(image[key].is_string(), "images JSON lacks {key}: {image}");
    }

    assert_eq!(
        headings(&sandbox.ok(&["stats", "--no-stream", "up"])),
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS",
            "MEM PEAK"
        ]
    );
    let stat: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["stats", "--no-stream", "--format", "json", "up"]))
            .unwrap();
    for key in [
        "BlockIO",
        "CPUPerc",
        "Container",
        "ID",
        "MemPerc",
        "MemUsage",
        "Name",
        "NetIO",
        "PIDs",
    ] {
        assert!(stat[key].is_string(), "stats JSON lacks {key}: {stat}");
    }
    assert_eq!(stat["PIDs"], "1");
    assert_eq!(stat["NetIO"], "0B / 0B");
    assert!(stat["CPUPerc"].as_str().unwrap().ends_with('%'));
    sandbox.ok(&["rm", "-f", "ended", "up"]);
}

/// Docker's volumes, from `docker volume` and `docker run -v`'s reference: a
/// named volume is made on first use, filled with the image's files at its
/// path when empty, and outlives its containers; `volume rm` refuses one in
/// use; an anonymous volume goes with `rm -v` and `--rm` (detached too);
/// `volume prune` takes anonymous ones, `-a` named ones too; a relative
/// host path is taken from the current directory.
#[test]
fn volumes_are_dockers() {
    needs_containers!("volumes_are_dockers");
    let sandbox = Sandbox::new();
    assert_eq!(sandbox.ok(&["volume", "create", "data"]), "data\n");
    assert_eq!(
        sandbox.ok(&["volume", "create", "data"]),
        "data\n",
        "a second create is fine"
    );
    assert_eq!(
        sandbox.ok(&["volume", "ls"]),
        "DRIVER    VOLUME NAME\nlocal     data\n"
    );
    // Empty, it gets the image's files at its path; then it keeps its own.
    let seen = sandbox.ok(&["run", "--rm", "-v", "data:/etc", "bb", "cat", "/etc/passwd"]);
    assert!(seen.starts_with("root:x:0:0"), "{seen}");
    sandbox.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/etc",
        "bb",
        "sh",
        "-c",
        "echo kept > /etc/note",
    ]);
    assert_eq!(
        sandbox.ok(&["run", "--rm", "-v", "data:/x:ro", "bb", "cat", "/x/note"]),
        "kept\n"
    );
    let ro = sandbox.peti(&["run", "--rm", "-v", "data:/x:ro", "bb", "touch", "/x/no"]);
    assert_ne!(code(&ro), 0, "a :ro volume is read-only");
    // A new named volume is made by run itself.
    sandbox.ok(&["run", "--rm", "-v", "fresh:/data", "bb", "true"]);
    let inspected: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["volume", "inspect", "fresh"])).unwrap();
    assert_eq!(inspected[0]["Name"], "fresh");
    assert_eq!(inspected[0]["Driver"], "local");
    assert!(
        inspected[0]["Mountpoint"]
            .as_str()
            .unwrap()
            .ends_with("/volumes/fresh/_data")
    );

    let id = sandbox.ok(&[
        "run", "-d", "--name", "user", "-v", "data:/d", "-v", "/scratch", "bb", "sleep", "60",
    ]);
    let mounts = sandbox.inspect(id.trim())["Mounts"].clone();
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "data");
    let anonymous = mounts[1]["Name"].as_str().unwrap().to_string();
    assert_eq!(anonymous.len(), 64);
    let busy = sandbox.peti(&["volume", "rm", "data"]);
    assert_eq!(code(&busy), 1);
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("volume is in use"),
        "{busy:?}"
    );
    assert_eq!(sandbox.ok(&["ps", "--format", "{{.LocalVolumes}}"]), "2\n");
    sandbox.ok(&["rm", "-f", "-v", "user"]);
    let left = sandbox.ok(&["volume", "ls", "-q"]);
    assert!(
        !left.contains(&anonymous),
        "rm -v took the anonymous volume: {left}"
    );
    assert!(left.contains("data"), "and kept the named one: {left}");

    // --rm takes its anonymous volumes, in the foreground and detached.
    sandbox.ok(&["run", "--rm", "-v", "/tmpdata", "bb", "true"]);
    let detached = sandbox.ok(&["run", "-d", "--rm", "-v", "/tmpdata", "bb", "true"]);
    for _ in 0..100 {
        if code(&sandbox.peti(&["inspect", detached.trim()])) != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(sandbox.ok(&["volume", "ls", "-q"]), "data\nfresh\n");

    // Prune: anonymous only, then -a for named ones no container uses.
    sandbox.ok(&["create", "-v", "/kept", "--name", "holder", "bb", "true"]);
    sandbox.ok(&["volume", "create"]);
    let pruned = sandbox.ok(&["volume", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Volumes:\n"), "{pruned}");
    assert_eq!(
        sandbox.ok(&["volume", "ls", "-q"]).lines().count(),
        3,
        "data, fresh, holder's"
    );
    sandbox.ok(&["volume", "prune", "-a", "-f"]);
    assert_eq!(
        sandbox.ok(&["volume", "ls", "-q"]).lines().count(),
        1,
        "holder's is in use"
    );
    sandbox.ok(&["rm", "-v", "holder"]);
    assert_eq!(sandbox.ok(&["volume", "ls", "-q"]), "");

    // -v ./relative binds a folder of the current directory.
    let site = sandbox.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("index.html"), "hello\n").unwrap();
    let out = sandbox
        .command(&[
            "run",
            "--rm",
            "-v",
            "./site:/site:ro",
            "bb",
            "cat",
            "/site/index.html",
        ])
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "hello\n", "{out:?}");
    let bad = sandbox.peti(&["run", "--rm", "-v", "bad/name:/x", "bb", "true"]);
    assert_eq!(code(&bad), 125);
}

/// `docker diff` (A, C and D by path), `docker commit` (a new image of the
/// container's changes, deletions too, with its command) and `docker export`
/// (the whole file system as a tar; never to a terminal).
#[test]
fn diff_commit_and_export_are_dockers() {
    needs_containers!("diff_commit_and_export_are_dockers");
    let sandbox = Sandbox::new();
    let script = "echo hi > /etc/note; mkdir -p /data/sub; echo x > /data/sub/f; rm /bin/vi";
    sandbox.ok(&["run", "--name", "changed", "bb", "sh", "-c", script]);
    assert_eq!(
        sandbox.ok(&["diff", "changed"]),
        "C /bin\nD /bin/vi\nA /data\nA /data/sub\nA /data/sub/f\nC /etc\nA /etc/note\n"
    );
    let id = sandbox.ok(&["commit", "-m", "a note", "changed", "noted:v1"]);
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    let listed = sandbox.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(
        listed.contains(&format!("noted:v1 {}", &id[7..19])),
        "{listed}"
    );
    assert_eq!(
        sandbox.ok(&["run", "--rm", "noted:v1", "cat", "/etc/note"]),
        "hi\n"
    );
    let gone = sandbox.peti(&["run", "--rm", "noted:v1", "ls", "/bin/vi"]);
    assert_ne!(code(&gone), 0, "a deletion is committed as a whiteout");
    let image: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["image", "inspect", "noted:v1"])).unwrap();
    assert_eq!(image[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        image[0]["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", script])
    );
    // The base image's layer is shared, not copied: it was stored once.
    let layers = std::fs::read_dir(sandbox.store().join("layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 3, "busybox's, the commit's, and the init layer");

    let tar = sandbox.path().join("changed.tar");
    sandbox.ok(&["export", "-o", tar.to_str().unwrap(), "changed"]);
    let mut archive = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "etc/note"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(!names.iter().any(|n| n == "bin/vi"), "deleted: {names:?}");
    assert!(
        !names.iter().any(|n| n.contains(".wh.")),
        "no whiteouts: {names:?}"
    );
    let unnamed = sandbox.peti(&["commit", "changed"]);
    assert_eq!(code(&unnamed), 125, "peti needs a name for the image");
    sandbox.ok(&["rm", "changed"]);
}

/// `docker pause` freezes every process of a container (ps says `(Paused)`,
/// inspect `paused`, exec is refused), `unpause` lets them go on, and a
/// paused container can still be stopped.
#[test]
fn pause_and_unpause_are_dockers() {
    needs_containers!("pause_and_unpause_are_dockers");
    let sandbox = Sandbox::new();
    let counting = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done";
    sandbox.ok(&["run", "-d", "--name", "counter", "bb", "sh", "-c", counting]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(sandbox.ok(&["pause", "counter"]), "counter\n");
    let row = sandbox.ok(&["ps", "--format", "{{.State}}|{{.Status}}"]);
    assert!(
        row.starts_with("paused|Up ") && row.trim_end().ends_with("(Paused)"),
        "{row}"
    );
    assert_eq!(sandbox.inspect("counter")["State"]["Status"], "paused");
    assert_eq!(sandbox.inspect("counter")["State"]["Paused"], true);
    let exec = sandbox.peti(&["exec", "counter", "true"]);
    assert_eq!(code(&exec), 1);
    assert!(stderr(&exec).contains("is paused"), "{exec:?}");
    // Frozen: the count does not move. (Read from the host, through the
    // container's root, since exec is refused.)
    let pid = sandbox.inspect("counter")["State"]["Pid"].as_i64().unwrap();
    let count = || std::fs::read_to_string(format!("/proc/{pid}/root/tmp/count")).unwrap();
    let frozen_at = count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(count(), frozen_at);
    assert_eq!(
        code(&sandbox.peti(&["pause", "counter"])),
        1,
        "already paused"
    );
    assert_eq!(sandbox.ok(&["unpause", "counter"]), "counter\n");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_ne!(count(), frozen_at, "it goes on");
    assert_eq!(
        code(&sandbox.peti(&["unpause", "counter"])),
        1,
        "not paused"
    );
    sandbox.ok(&["pause", "counter"]);
    sandbox.ok(&["kill", "counter"]);
    sandbox.ok(&["wait", "counter"]);
    assert_eq!(sandbox.inspect("counter")["State"]["ExitCode"], 137);
    assert_eq!(sandbox.inspect("counter")["State"]["Paused"], false);
    sandbox.ok(&["rm", "counter"]);
}

/// `docker top`: the container's processes with `ps -ef`'s columns and the
/// host's PIDs; refused for a container that is not running.
#[test]
fn top_lists_the_processes_as_the_host_sees_them() {
    needs_containers!("top_lists_the_processes_as_the_host_sees_them");
    let sandbox = Sandbox::new();
    sandbox.ok(&[
        "run",
        "-d",
        "--name",
        "two",
        "bb",
        "sh",
        "-c",
        "sleep 100 & sleep 200",
    ]);
    // The shell forks one sleep and execs the other a moment after run -d.
    let settled = || {
        let top = sandbox.ok(&["top", "two"]);
        (top.lines().count() == 3 && top.contains("sleep 200")).then_some(top)
    };
    eventually(Duration::from_secs(5), || settled().is_some());
    let top = sandbox.ok(&["top", "two"]);
    let lines: Vec<&str> = top.lines().collect();
    assert_eq!(
        headings(lines[0]),
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    assert_eq!(lines.len(), 3, "{top}");
    let first = sandbox.inspect("two")["State"]["Pid"].as_i64().unwrap();
    assert!(
        lines[1].starts_with("root ") && lines[1].ends_with("sleep 200"),
        "{top}"
    );
    assert!(lines[1].contains(&format!(" {first} ")), "host PIDs: {top}");
    assert!(lines[2].ends_with("sleep 100"), "{top}");
    sandbox.ok(&["rm", "-f", "two"]);
    sandbox.ok(&["create", "--name", "idle", "bb", "true"]);
    assert_eq!(code(&sandbox.peti(&["top", "idle"])), 1);
}

/// Labels (`run -l`, `ps -f label=`, inspect's Config.Labels, ps's LABELS),
/// `images --filter dangling=` and `reference=`, and `logs --since` and
/// `--until`, as Docker's references describe them.
#[test]
fn labels_image_filters_and_log_times_are_dockers() {
    needs_containers!("labels_image_filters_and_log_times_are_dockers");
    let sandbox = Sandbox::new();
    sandbox.ok(&[
        "create", "--name", "front", "-l", "tier=web", "--label", "team", "bb", "true",
    ]);
    sandbox.ok(&["create", "--name", "back", "-l", "tier=db", "bb", "true"]);
    let names = |filter: &str| sandbox.ok(&["ps", "-a", "-f", filter, "--format", "{{.Names}}"]);
    assert_eq!(names("label=tier=web"), "front\n");
    assert_eq!(names("label=tier"), "back\nfront\n");
    assert_eq!(names("label=team"), "front\n");
    assert_eq!(names("label=nothing"), "");
    assert_eq!(
        sandbox.inspect("front")["Config"]["Labels"],
        serde_json::json!({"team": "", "tier": "web"})
    );
    assert_eq!(
        sandbox.ok(&["ps", "-a", "-f", "name=front", "--format", "{{.Labels}}"]),
        "team=,tier=web\n"
    );
    assert_eq!(
        code(&sandbox.peti(&["create", "-l", "=x", "bb", "true"])),
        125
    );

    sandbox.ok(&["tag", "bb", "me/app:v1"]);
    let images = |filter: &str| {
        sandbox.ok(&[
            "images",
            "-f",
            filter,
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
    };
    assert_eq!(images("reference=b*"), "bb:latest\n");
    assert_eq!(images("reference=me/*"), "me/app:v1\n");
    assert_eq!(images("reference=*"), "bb:latest\n", "* does not cross /");
    assert_eq!(
        images("dangling=true"),
        "",
        "peti keeps no image without a name"
    );
    assert_eq!(images("dangling=false").lines().count(), 2);
    assert_eq!(code(&sandbox.peti(&["images", "-f", "colour=red"])), 1);

    sandbox.ok(&[
        "run",
        "--name",
        "talker",
        "bb",
        "sh",
        "-c",
        "echo early; sleep 1.2; echo late",
    ]);
    let logged = sandbox.ok(&["logs", "-t", "talker"]);
    let late_at = logged
        .lines()
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        sandbox.ok(&["logs", "--since", &late_at, "talker"]),
        "late\n"
    );
    assert_eq!(
        sandbox.ok(&["logs", "--until", &late_at, "talker"]),
        "early\n"
    );
    assert_eq!(
        sandbox.ok(&["logs", "--since", "1h", "talker"]),
        "early\nlate\n"
    );
    assert_eq!(
        sandbox.ok(&["logs", "--since", "2000-01-01", "talker"]),
        "early\nlate\n"
    );
    let bad = sandbox.peti(&["logs", "--since", "soon", "talker"]);
    assert_eq!(code(&bad), 125);
    sandbox.ok(&["rm", "front", "back", "talker"]);
}

/// `docker system df` (what images, containers and volumes hold, and how
/// much of it nothing uses) and `docker system prune [-a] [--volumes]`.
#[test]
fn system_df_and_prune_are_dockers() {
    needs_containers!("system_df_and_prune_are_dockers");
    let sandbox = Sandbox::new();
    sandbox.ok(&["tag", "bb", "bb:two"]);
    sandbox.ok(&["run", "-d", "--name", "up", "bb", "sleep", "60"]);
    sandbox.ok(&[
        "run",
        "--name",
        "wrote",
        "bb",
        "sh",
        "-c",
        "printf 12345 > /five",
    ]);
    sandbox.ok(&["run", "--rm", "-v", "kept:/k", "bb", "true"]);
    let df = sandbox.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Reclaimable}}",
    ]);
    let lines: Vec<&str> = df.lines().collect();
    assert_eq!(
        lines[0], "Images|1|1|0B (0%)",
        "two names, one image, in use: {df}"
    );
    assert_eq!(lines[1], "Containers|2|1|5B (100%)", "{df}");
    assert_eq!(lines[2], "Local Volumes|1|0|0B", "{df}");
    assert_eq!(lines[3], "Build Cache|0|0|0B", "{df}");
    assert_eq!(
        headings(&sandbox.ok(&["system", "df"])),
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    );
    let pruned = sandbox.ok(&["system", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert!(pruned.ends_with("Total reclaimed space: 5B\n"), "{pruned}");
    assert_eq!(sandbox.ok(&["ps", "-a", "--format", "{{.Names}}"]), "up\n");
    sandbox.ok(&["rm", "-f", "up"]);
    let all = sandbox.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(all.contains("Deleted Images:\nUntagged: "), "{all}");
    assert_eq!(sandbox.ok(&["images", "-q"]), "");
    assert_eq!(
        sandbox.ok(&["volume", "ls", "-q"]),
        "kept\n",
        "named volumes stay"
    );
}

/// `docker cp`, both ways, running and stopped, with Docker's rules for
/// where a copy lands, `-` for a tar stream; and a link the container made
/// leads nowhere outside it.
#[test]
fn cp_is_dockers_and_stays_inside_the_container() {
    needs_containers!("cp_is_dockers_and_stays_inside_the_container");
    let sandbox = Sandbox::new();
    let setup = "mkdir -p /srv/site; echo page > /srv/site/index.html; ln -s / /srv/up; sleep 60";
    sandbox.ok(&["run", "-d", "--name", "web", "bb", "sh", "-c", setup]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let host = sandbox.path().join("host");
    std::fs::create_dir(&host).unwrap();
    let at = |p: &str| host.join(p).display().to_string();
    sandbox.ok(&["cp", "web:/srv/site/index.html", &at("")]);
    assert_eq!(
        std::fs::read_to_string(host.join("index.html")).unwrap(),
        "page\n"
    );
    sandbox.ok(&["cp", "web:/srv/site", &at("site-copy")]);
    assert!(
        host.join("site-copy/index.html").is_file(),
        "a new path gets the directory"
    );
    sandbox.ok(&["cp", "web:/srv/site", &at("site-copy")]);
    assert!(
        host.join("site-copy/site/index.html").is_file(),
        "an existing one gets it inside"
    );
    sandbox.ok(&["cp", "web:/srv/site/.", &at("contents")]);
    assert!(
        host.join("contents/index.html").is_file(),
        "DIR/. copies the contents"
    );
    let missing = sandbox.peti(&["cp", "web:/nope", &at("")]);
    assert_eq!(code(&missing), 1);
    assert!(stderr(&missing).contains("Could not find the file /nope in container web"));

    std::fs::write(host.join("note.txt"), "from the host\n").unwrap();
    sandbox.ok(&["cp", &at("note.txt"), "web:/tmp/"]);
    assert_eq!(
        sandbox.ok(&["exec", "web", "cat", "/tmp/note.txt"]),
        "from the host\n"
    );
    // Through the container's link to / the copy lands in the container's
    // root, never the host's.
    sandbox.ok(&["cp", &at("note.txt"), "web:/srv/up/tmp/through-link.txt"]);
    assert_eq!(
        sandbox.ok(&["exec", "web", "cat", "/tmp/through-link.txt"]),
        "from the host\n"
    );
    assert!(
        !Path::new("/tmp/through-link.txt").exists(),
        "nothing written on the host"
    );
    let tar = sandbox.peti(&["cp", "web:/srv/site", "-"]);
    let mut archive = tar::Archive::new(tar.stdout.as_slice());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&"site/index.html".to_string()), "{names:?}");

    // A stopped container: its overlay, mounted for the copy alone.
    sandbox.ok(&["stop", "-t", "0", "web"]);
    sandbox.ok(&["cp", &at("note.txt"), "web:/kept.txt"]);
    sandbox.ok(&["cp", "web:/kept.txt", &at("back.txt")]);
    assert_eq!(
        std::fs::read_to_string(host.join("back.txt")).unwrap(),
        "from the host\n"
    );
    let scratch: Vec<_> = std::fs::read_dir(sandbox.run_root().join(".scratch"))
        .unwrap()
        .collect();
    assert!(scratch.is_empty(), "no mount point left: {scratch:?}");
    let neither = sandbox.peti(&["cp", &at("note.txt"), &at("x")]);
    assert_eq!(code(&neither), 1);
    assert!(stderr(&neither).contains("must specify at least one container source"));
    sandbox.ok(&["rm", "web"]);
}

/// `docker port`: a container that publishes nothing lists nothing, and a
/// port asked for is "not published" (peti publishes none before networks).
#[test]
fn port_lists_what_is_published() {
    needs_containers!("port_lists_what_is_published");
    let sandbox = Sandbox::new();
    sandbox.ok(&["create", "--name", "quiet", "bb", "true"]);
    assert_eq!(sandbox.ok(&["port", "quiet"]), "");
    let asked = sandbox.peti(&["port", "quiet", "80"]);
    assert_eq!(code(&asked), 1);
    assert!(stderr(&asked).contains("No public port '80/tcp' published for quiet"));
    assert_eq!(code(&sandbox.peti(&["port", "nobody"])), 1);
}

/// Docker logs a container that ran in the foreground too: `docker run
/// --name fg busybox echo fg; docker logs fg` prints fg, on the stream it came
/// on; and `start -a` adds to the log.
#[test]
fn logs_have_what_a_foreground_container_printed() {
    needs_containers!("logs_have_what_a_foreground_container_printed");
    let sandbox = Sandbox::new();
    let ran = sandbox.peti(&[
        "run",
        "--name",
        "fg",
        "bb",
        "sh",
        "-c",
        "echo fg; echo oops >&2; exit 3",
    ]);
    assert_eq!(code(&ran), 3, "{ran:?}");
    assert_eq!(stdout(&ran), "fg\n", "still printed as it ran");
    assert_eq!(String::from_utf8_lossy(&ran.stderr), "oops\n");
    let logs = sandbox.peti(&["logs", "fg"]);
    assert_eq!(stdout(&logs), "fg\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "oops\n");
    let _ = sandbox.peti(&["start", "-a", "fg"]);
    assert_eq!(sandbox.ok(&["logs", "fg"]), "fg\nfg\n");
    sandbox.ok(&["rm", "fg"]);
}

/// `docker logs --tail N` and `-t`; `docker version` and `docker info` in
/// Docker's layout, counting what this store holds.
#[test]
fn logs_tail_timestamps_version_and_info_are_dockers() {
    needs_containers!("logs_tail_timestamps_version_and_info_are_dockers");
    let sandbox = Sandbox::new();
    sandbox.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo $i; done",
    ]);
    sandbox.ok(&["wait", "counter"]);
    assert_eq!(sandbox.ok(&["logs", "--tail", "2", "counter"]), "4\n5\n");
    assert_eq!(sandbox.ok(&["logs", "-n", "0", "counter"]), "");
    assert_eq!(
        sandbox
            .ok(&["logs", "--tail", "all", "counter"])
            .lines()
            .count(),
        5
    );
    let stamped = sandbox.ok(&["logs", "-t", "--tail", "1", "counter"]);
    let (time, text) = stamped.trim_end().split_once(' ').unwrap();
    assert!(time.ends_with('Z') && time.contains('T'), "{stamped}");
    assert_eq!(text, "5");
    assert_eq!(
        code(&sandbox.peti(&["logs", "--tail", "few", "counter"])),
        125
    );

    let version = sandbox.ok(&["version"]);
    assert!(version.starts_with("Client:\n Version:"), "{version}");
    assert!(version.contains("OS/Arch:           linux/"), "{version}");
    let info = sandbox.ok(&["info"]);
    for line in [
        " Containers: 1",
        "  Running: 0",
        "  Stopped: 1",
        " Images: 1",
        " Storage Driver: overlay",
    ] {
        assert!(info.lines().any(|l| l == line), "{line:?} in {info}");
    }
    sandbox.ok(&["rm", "counter"]);
}

/// `docker container prune`: asks first, and does nothing without a yes;
/// with `-f`, removes every container that is not running, lists their full
/// IDs and the space their writable layers held, and leaves a running one.
#[test]
fn container_prune_is_dockers() {
    needs_containers!("container_prune_is_dockers");
    let sandbox = Sandbox::new();
    let _ = sandbox.peti(&[
        "run",
        "--name",
        "ended",
        "bb",
        "sh",
        "-c",
        "echo hi > /file",
    ]);
    let made = sandbox.ok(&["create", "--name", "made", "bb", "true"]);
    sandbox.ok(&["run", "-d", "--name", "up", "bb", "sleep", "60"]);
    let asked = sandbox.peti(&["container", "prune"]);
    assert_eq!(code(&asked), 0);
    assert!(stdout(&asked).contains("Are you sure you want to continue? [y/N]"));
    assert_eq!(
        sandbox.ok(&["ps", "-aq"]).lines().count(),
        3,
        "no yes, nothing removed"
    );
    let pruned = sandbox.ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert!(pruned.contains(made.trim()), "{pruned}");
    // The ended container wrote 3 bytes ("hi\n") to its writable layer.
    assert!(pruned.ends_with("Total reclaimed space: 3B\n"), "{pruned}");
    assert_eq!(
        sandbox
            .ok(&["ps", "-a", "--format", "json"])
            .lines()
            .count(),
        1
    );
    assert!(sandbox.ok(&["ps"]).contains(" up"));
    sandbox.ok(&["rm", "-f", "up"]);
}

/// `docker run --entrypoint` replaces the image's entrypoint and drops its
/// command; `docker images -q` lists one ID per name.
#[test]
fn entrypoint_and_images_quiet_are_dockers() {
    needs_containers!("entrypoint_and_images_quiet_are_dockers");
    let sandbox = Sandbox::new();
    let said = sandbox.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/echo",
        "bb",
        "hi",
        "there",
    ]);
    assert_eq!(said, "hi there\n");
    let none = sandbox.ok(&["run", "--rm", "--entrypoint", "", "bb", "echo", "x"]);
    assert_eq!(none, "x\n");
    sandbox.ok(&["tag", "bb", "bb2"]);
    let ids = sandbox.ok(&["images", "-q"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], ids[1], "two names of one image: {ids:?}");
    assert_eq!(ids[0].len(), 12);
    assert!(ids[0].bytes().all(|b| b.is_ascii_hexdigit()));
    // Docker's columns; an imported root file system has no date: N/A.
    let table = sandbox.ok(&["images"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        "{table}"
    );
    assert!(table.lines().nth(1).unwrap().contains(" N/A "), "{table}");
    // And ps quotes a word with a space in it, as Docker's does.
    let _ = sandbox.peti(&["run", "--name", "quoted", "bb", "sh", "-c", "exit 3"]);
    let ps = sandbox.ok(&["ps", "-a"]);
    assert!(ps.contains(r#""sh -c 'exit 3'""#), "{ps}");
}

/// `docker inspect NAME` finds an image when no container has the name, and
/// `docker image inspect` shows Docker's image fields; `docker container
/// inspect` looks at containers only.
#[test]
fn inspect_shows_an_image_as_docker_does() {
    needs_containers!("inspect_shows_an_image_as_docker_does");
    let sandbox = Sandbox::new();
    for args in [&["inspect", "bb"][..], &["image", "inspect", "bb"]] {
        let out = sandbox.ok(args);
        let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
        let image = &shown[0];
        assert!(
            image["Id"].as_str().unwrap().starts_with("sha256:"),
            "{image}"
        );
        assert_eq!(image["RepoTags"], serde_json::json!(["bb:latest"]));
        assert_eq!(image["Os"], "linux");
        assert_eq!(image["RootFS"]["Type"], "layers");
        assert_eq!(image["RootFS"]["Layers"].as_array().unwrap().len(), 1);
        assert!(image["Size"].as_u64().unwrap() > 500_000, "busybox's files");
        // An imported root file system has no command of its own; peti's
        // import gives it no date either (Docker's stamps the time, which
        // would make the same tarball a new image ID at every import).
        assert!(image["Config"].is_object(), "{image}");
        assert!(image.get("Created").is_some(), "{image}");
    }
    let only_containers = sandbox.peti(&["container", "inspect", "bb"]);
    assert_eq!(code(&only_containers), 1);
    assert_eq!(stdout(&only_containers).trim(), "[]");
}

/// `docker rmi NAME` of an image that has another name only untags it, even
/// while a container uses the image; the last name is kept for the container
/// unless forced.
#[test]
fn rmi_untags_a_second_name_of_an_image_in_use() {
    needs_containers!("rmi_untags_a_second_name_of_an_image_in_use");
    let sandbox = Sandbox::new();
    sandbox.ok(&["tag", "bb", "bb2"]);
    sandbox.ok(&["run", "-d", "--name", "user", "bb", "sleep", "60"]);
    assert_eq!(sandbox.ok(&["rmi", "bb2"]).trim(), "Untagged: bb2:latest");
    let last = sandbox.peti(&["rmi", "bb"]);
    assert_eq!(code(&last), 1, "{}", stderr(&last));
    assert!(stderr(&last).contains("must force"), "{}", stderr(&last));
    sandbox.ok(&["rm", "-f", "user"]);
}

#[test]
fn a_container_has_namespaces_of_its_own() {
    needs_containers!("a_container_has_namespaces_of_its_own");
    let sandbox = Sandbox::new();
    let id = sandbox.ok(&["run", "-d", "bb", "sleep", "60"]);
    let id = id.trim();
    let pid = sandbox.inspect(id)["State"]["Pid"].to_string();
    let host = namespaces_of("self");
    let inside = namespaces_of(&pid);
    for (ns, link) in &inside {
        assert_ne!(
            link, &host[ns],
            "the container shares the host's {ns} namespace"
        );
    }
    let seen = sandbox.ok(&[
        "exec",
        id,
        "sh",
        "-c",
        "echo $$; hostname; ps -o pid | wc -l",
    ]);
    let lines: Vec<&str> = seen.lines().collect();
    assert_ne!(lines[0], "1", "exec is not the container's first process");
    assert_eq!(
        lines[1],
        &id[..12],
        "the hostname is the short ID, as Docker's"
    );
    // ps's header, sleep (pid 1), sh, ps and wc: nothing of the host's.
    assert!(lines[2].trim().parse::<u32>().unwrap() <= 5, "{seen}");

    let first = sandbox.ok(&["run", "--rm", "bb", "sh", "-c", "echo $$"]);
    assert_eq!(
        first.trim(),
        "1",
        "the command is pid 1 of its PID namespace"
    );

    let shared = sandbox.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "bb",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(
        shared.trim(),
        host["net"],
        "--network host shares the host's"
    );
    // --network none, Docker's way: a namespace of its own with only loopback,
    // and loopback up, so that 127.0.0.1 works. /sys shows that namespace too.
    let seen = sandbox.ok(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "ip -o link; ls /sys/class/net; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo ping-ok",
    ]);
    let lines: Vec<&str> = seen.lines().collect();
    assert!(lines[0].starts_with("1: lo: <LOOPBACK,UP"), "{seen}");
    assert_eq!(lines[1..], ["lo", "ping-ok"], "{seen}");
}

#[test]
fn the_root_file_system_is_an_overlay_with_runc_default_protections() {
    needs_containers!("the_root_file_system_is_an_overlay_with_runc_default_protections");
    let sandbox = Sandbox::new();
    let mounts = sandbox.ok(&["run", "--rm", "bb", "cat", "/proc/self/mounts"]);
    let mount_of = |target: &str| {
        mounts
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(target))
            .unwrap_or_else(|| panic!("no mount at {target}:\n{mounts}"))
            .to_string()
    };
    assert!(mount_of("/").starts_with("overlay / overlay "));
    assert!(mount_of("/sys").contains(" ro,"), "/sys is read-only");
    assert!(mount_of("/dev").contains(" tmpfs "));
    for target in ["/proc", "/dev/pts", "/dev/shm", "/dev/mqueue"] {
        mount_of(target);
    }
    assert!(
        mount_of("/proc/sys").contains(" ro,"),
        "runc's read-only paths"
    );
    assert!(
        !Path::new("/proc/acpi").exists() || mount_of("/proc/acpi").contains(" tmpfs "),
        "runc's masked directories are empty tmpfs"
    );

    let script = "ls /dev; wc -c </proc/timer_list; cat /etc/hostname /etc/resolv.conf; \
                  grep -c localhost /etc/hosts; touch /proc/sys/kernel/domainname 2>&1; exit 0";
    let seen = sandbox.ok(&["run", "--rm", "--hostname", "box", "bb", "sh", "-c", script]);
    for node in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue",
    ] {
        assert!(
            seen.lines().any(|l| l == node),
            "/dev/{node} is missing:\n{seen}"
        );
    }
    assert!(
        seen.contains("\n0\n"),
        "/proc/timer_list is masked:\n{seen}"
    );
    assert!(seen.contains("\nbox\n"), "/etc/hostname:\n{seen}");
    assert!(seen.contains("nameserver "), "/etc/resolv.conf:\n{seen}");
    assert!(seen.contains("Read-only file system"), "{seen}");
}

/// Docker's default capabilities, an empty inheritable set, and no
/// no_new_privs (Docker sets it only when asked).
#[test]
fn capabilities_are_docker_defaults() {
    needs_containers!("capabilities_are_docker_defaults");
    let sandbox = Sandbox::new();
    let id = sandbox.ok(&[
        "create",
        "bb",
        "grep",
        "-E",
        "^(CapInh|CapEff|CapBnd|NoNewPrivs)",
        "/proc/self/status",
    ]);
    let id = id.trim();
    let status = sandbox.ok(&["start", "-a", id]);
    // Docker's default set: chown, dac_override, fowner, fsetid, kill, setgid,
    // setuid, setpcap, net_bind_service, net_raw, sys_chroot, mknod,
    // audit_write, setfcap. Without a device cgroup (v2, where that needs eBPF)
    // peti drops mknod rather than let a container make device nodes unguarded.
    let cgroup = &sandbox.inspect(id)["Peti"]["Cgroup"];
    let guarded = cgroup["version"] == "v1" && cgroup["devices"].is_string();
    let expected = if guarded {
        "00000000a80425fb"
    } else {
        "00000000a00425fb"
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("CapEff"), expected);
    assert_eq!(field("CapBnd"), expected);
    // Empty, as Docker's since CVE-2022-24769.
    assert_eq!(field("CapInh"), "0000000000000000");
    assert_eq!(field("NoNewPrivs"), "0");

    let as_nobody = sandbox.ok(&[
        "run",
        "--rm",
        "-u",
        "65534",
        "bb",
        "sh",
        "-c",
        "id -u; grep CapEff /proc/self/status",
    ]);
    assert!(as_nobody.starts_with("65534\n"), "{as_nobody}");
    assert!(
        as_nobody.contains("0000000000000000"),
        "a non-root user has no effective capabilities: {as_nobody}"
    );
}

/// One line of /proc/self/status as a container's process sees it.
fn status_field(sandbox: &Sandbox, flags: &[&str], name: &str) -> String {
    let mut line = vec!["run", "--rm"];
    line.extend(flags);
    line.extend(["bb", "grep", "-E"]);
    let pattern = format!("^{name}:");
    line.push(&pattern);
    line.push("/proc/self/status");
    let out = sandbox.ok(&line);
    out.trim()
        .strip_prefix(&pattern[1..])
        .unwrap_or(&out)
        .trim()
        .to_string()
}

/// Docker's `--cap-add`, `--cap-drop` (an add wins over a drop; ALL),
/// `--security-opt no-new-privileges` and `--privileged`, from `docker run`'s
/// reference; and setuid bits kept from the image, as Docker keeps them.
#[test]
fn cap_add_cap_drop_privileged_and_no_new_privileges_are_dockers() {
    needs_containers!("cap_add_cap_drop_privileged_and_no_new_privileges_are_dockers");
    let sandbox = Sandbox::new();
    // A container keeps its cgroup's record from its start until rm.
    sandbox.ok(&["run", "--name", "probe", "bb", "true"]);
    let cgroup = &sandbox.inspect("probe")["Peti"]["Cgroup"];
    let mknod = if cgroup["version"] == "v1" && cgroup["devices"].is_string() {
        1u64 << 27
    } else {
        0
    };
    let default = 0xa00425fbu64 | mknod;
    let mask =
        |flags: &[&str]| u64::from_str_radix(&status_field(&sandbox, flags, "CapEff"), 16).unwrap();
    let (chown, kill, net_admin) = (1u64 << 0, 1u64 << 5, 1u64 << 12);
    assert_eq!(mask(&[]), default);
    assert_eq!(
        mask(&["--cap-add", "NET_ADMIN", "--cap-drop", "chown"]),
        (default | net_admin) & !chown
    );
    assert_eq!(
        mask(&["--cap-add", "CAP_KILL", "--cap-drop", "KILL"]),
        default,
        "an add wins"
    );
    assert_eq!(mask(&["--cap-drop", "ALL", "--cap-add", "kill"]), kill);
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let own_bounding = own
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(
        mask(&["--privileged"]),
        own_bounding,
        "every capability peti has"
    );
    assert_eq!(status_field(&sandbox, &["--privileged"], "Seccomp"), "0");
    let sys = sandbox.ok(&[
        "run",
        "--rm",
        "--privileged",
        "bb",
        "grep",
        " /sys ",
        "/proc/mounts",
    ]);
    assert!(sys.contains(" rw,"), "a privileged /sys is writable: {sys}");
    assert_eq!(status_field(&sandbox, &[], "NoNewPrivs"), "0");
    assert_eq!(
        status_field(
            &sandbox,
            &["--security-opt", "no-new-privileges"],
            "NoNewPrivs"
        ),
        "1"
    );
    assert_eq!(
        status_field(
            &sandbox,
            &["--security-opt", "no-new-privileges"],
            "Seccomp"
        ),
        "2",
        "the filter is on with the bit"
    );
    assert_eq!(
        status_field(&sandbox, &[], "Seccomp"),
        "2",
        "and without it"
    );

    let made = sandbox.ok(&[
        "create",
        "--cap-add",
        "net_admin",
        "--security-opt",
        "no-new-privileges",
        "bb",
        "true",
    ]);
    let host = &sandbox.inspect(made.trim())["HostConfig"];
    assert_eq!(host["CapAdd"], serde_json::json!(["CAP_NET_ADMIN"]));
    assert_eq!(host["CapDrop"], serde_json::Value::Null);
    assert_eq!(host["Privileged"], false);
    assert_eq!(
        host["SecurityOpt"],
        serde_json::json!(["no-new-privileges"])
    );
    let bad = sandbox.peti(&["run", "--rm", "--cap-add", "FLY", "bb", "true"]);
    assert_eq!(code(&bad), 125);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown capability"),
        "{bad:?}"
    );

    // The setuid bit survives the unpack, and the store's layers are root's alone.
    let tar = sandbox.path().join("suid.tar");
    let image =
        common::busybox_rootfs_tar_with(&[], &[], &[("bin/suid", 0o4755), ("bin/sgid", 0o2755)]);
    std::fs::write(&tar, image).unwrap();
    sandbox.ok(&["import", tar.to_str().unwrap(), "suid"]);
    let modes = sandbox.ok(&[
        "run",
        "--rm",
        "suid",
        "stat",
        "-c",
        "%a %U",
        "/bin/suid",
        "/bin/sgid",
    ]);
    assert_eq!(modes, "4755 root\n2755 root\n");
    use std::os::unix::fs::PermissionsExt;
    for dir in ["layers", "containers"] {
        let mode = std::fs::metadata(sandbox.store().join(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{dir}");
    }
}

/// Docker mounts the container's own cgroup at /sys/fs/cgroup, read-only,
/// so that a program can read its limits: memory.max on v2,
/// memory/memory.limit_in_bytes on v1.
#[test]
fn the_containers_cgroup_is_at_sys_fs_cgroup_read_only() {
    needs_containers!("the_containers_cgroup_is_at_sys_fs_cgroup_read_only");
    let sandbox = Sandbox::new();
    sandbox.ok(&["run", "--name", "probe", "bb", "true"]);
    let v2 = sandbox.inspect("probe")["Peti"]["Cgroup"]["version"] == "v2";
    let (file, written) = if v2 {
        ("/sys/fs/cgroup/memory.max", "33554432")
    } else {
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "33554432")
    };
    let script =
        format!("cat {file}; echo 1 > {file} || echo refused; cat /proc/self/cgroup | tail -1");
    let seen = sandbox.ok(&["run", "--rm", "-m", "32m", "bb", "sh", "-c", &script]);
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[0], written, "{seen}");
    assert_eq!(lines[1], "refused", "{seen}");
    // The cgroup namespace shows it as the root.
    assert!(lines[2].ends_with(":/"), "{seen}");
    if !v2 {
        let listed = sandbox.ok(&["run", "--rm", "bb", "ls", "/sys/fs/cgroup"]);
        assert!(listed.lines().any(|l| l == "memory"), "{listed}");
    }
    let privileged = sandbox.ok(&[
        "run",
        "--rm",
        "--privileged",
        "bb",
        "grep",
        "/sys/fs/cgroup",
        "/proc/mounts",
    ]);
    assert!(
        privileged.lines().all(|l| l.contains(" rw,")),
        "{privileged}"
    );
}

#[test]
fn limits_are_written_to_the_cgroup_and_enforced() {
    needs_containers!("limits_are_written_to_the_cgroup_and_enforced");
    let sandbox = Sandbox::new();
    let id = sandbox.ok(&[
        "run",
        "-d",
        "-m",
        "32m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "bb",
        "sleep",
        "60",
    ]);
    let id = id.trim();
    let cgroup = sandbox.inspect(id)["Peti"]["Cgroup"].clone();
    let read = |path: String| fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if cgroup["version"] == "v1" {
        let dir = |c: &str| cgroup[c].as_str().unwrap().to_string();
        assert_eq!(
            read(dir("memory") + "/memory.limit_in_bytes").trim(),
            "33554432"
        );
        assert_eq!(read(dir("cpu") + "/cpu.cfs_quota_us").trim(), "50000");
        assert_eq!(read(dir("cpu") + "/cpu.cfs_period_us").trim(), "100000");
        assert_eq!(read(dir("pids") + "/pids.max").trim(), "20");
        // Every device is denied but the few a container needs, as runc does.
        if cgroup["devices"].is_string() {
            let listed = read(dir("devices") + "/devices.list");
            let mut rules: Vec<&str> = listed.lines().collect();
            rules.sort_unstable();
            assert_eq!(
                rules,
                [
                    "b *:* m",
                    "c *:* m",
                    "c 136:* rwm",
                    "c 1:3 rwm",
                    "c 1:5 rwm",
                    "c 1:7 rwm",
                    "c 1:8 rwm",
                    "c 1:9 rwm",
                    "c 5:0 rwm",
                    "c 5:1 rwm",
                    "c 5:2 rwm",
                ]
            );
        }
    } else {
        let dir = cgroup["dir"].as_str().unwrap().to_string();
        assert_eq!(read(dir.clone() + "/memory.max").trim(), "33554432");
        assert_eq!(read(dir.clone() + "/cpu.max").trim(), "50000 100000");
        assert_eq!(read(dir + "/pids.max").trim(), "20");
    }
    let stats = sandbox.ok(&["stats", "--no-stream", "--format", "json", id]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["MemoryLimitBytes"], 33554432);
    assert!(stats["MemoryBytes"].as_u64().unwrap() > 0, "{stats}");

    // Three processes at most: the shell and two children; the rest cannot fork.
    let forks = sandbox.peti(&[
        "run",
        "--rm",
        "--pids-limit",
        "3",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do sleep 1 & done; wait",
    ]);
    assert!(stderr(&forks).contains("can't fork"), "{}", stderr(&forks));
}

/// `--cgroup-parent`, as Docker's: the container's cgroup goes under the
/// parent given (made if missing), so a tool can hold and account for a whole
/// tree of containers (the compare lab measures each run's memory this way).
/// rm removes the container's cgroup and leaves the parent, as Docker does.
#[test]
fn cgroup_parent_puts_the_container_cgroup_under_it() {
    needs_containers!("cgroup_parent_puts_the_container_cgroup_under_it");
    let sandbox = Sandbox::new();
    let parent = format!("peti-test-parent-{}", std::process::id());
    let id = sandbox.ok(&[
        "run",
        "-d",
        "--cgroup-parent",
        &format!("/{parent}/box"),
        "bb",
        "sleep",
        "60",
    ]);
    let id = id.trim();
    let inspected = sandbox.inspect(id);
    assert_eq!(
        inspected["HostConfig"]["CgroupParent"],
        format!("/{parent}/box")
    );
    let cgroup = &inspected["Peti"]["Cgroup"];
    let memory_dir = match cgroup["version"].as_str() {
        Some("v1") => cgroup["memory"].as_str().unwrap().to_string(),
        _ => cgroup["dir"].as_str().unwrap().to_string(),
    };
    assert!(
        memory_dir.ends_with(&format!("/{parent}/box/{id}")),
        "{memory_dir}"
    );
    // The container's process is charged to the parent: its usage counts in
    // the parent's, which is what a measuring tool reads.
    let procs = fs::read_to_string(format!("{memory_dir}/cgroup.procs")).unwrap();
    assert!(!procs.trim().is_empty(), "no process in {memory_dir}");
    let parent_dir = Path::new(&memory_dir).parent().unwrap().to_path_buf();
    let usage_file = if cgroup["version"] == "v1" {
        "memory.usage_in_bytes"
    } else {
        "memory.current"
    };
    let usage: u64 = fs::read_to_string(parent_dir.join(usage_file))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(usage > 0, "the parent holds no memory");
    sandbox.ok(&["rm", "-f", id]);
    assert!(!Path::new(&memory_dir).exists(), "rm left {memory_dir}");
    assert!(
        parent_dir.exists(),
        "rm removed the parent, which Docker keeps"
    );
    for hierarchy in ["memory", "cpu", "cpuacct", "pids", "devices", ""] {
        let top = Path::new("/sys/fs/cgroup").join(hierarchy).join(&parent);
        let _ = fs::remove_dir(top.join("box"));
        let _ = fs::remove_dir(top);
    }
    // A parent that climbs out of the hierarchy is refused before anything
    // is made.
    let climbing = sandbox.peti(&["run", "--rm", "--cgroup-parent", "../x", "bb", "true"]);
    assert_eq!(code(&climbing), 125);
    assert!(
        stderr(&climbing).contains("invalid --cgroup-parent \"../x\""),
        "{}",
        stderr(&climbing)
    );
    assert_eq!(sandbox.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn update_changes_limits_while_the_container_runs() {
    needs_containers!("update_changes_limits_while_the_container_runs");
    let sandbox = Sandbox::new();
    // dd holds a 24 MiB buffer it has written; sleep keeps the container up.
    let id = sandbox.ok(&[
        "run",
        "-d",
        "--name",
        "grow",
        "-m",
        "64m",
        "bb",
        "sh",
        "-c",
        "dd if=/dev/zero bs=24M count=1 | sleep 60",
    ]);
    let id = id.trim();
    let cgroup = sandbox.inspect(id)["Peti"]["Cgroup"].clone();
    let limit_file = match cgroup["version"].as_str() {
        Some("v1") => format!(
            "{}/memory.limit_in_bytes",
            cgroup["memory"].as_str().unwrap()
        ),
        _ => format!("{}/memory.max", cgroup["dir"].as_str().unwrap()),
    };
    let limit = || fs::read_to_string(&limit_file).unwrap().trim().to_string();
    assert_eq!(
        sandbox.ok(&["update", "--memory", "128m", "grow"]).trim(),
        "grow"
    );
    assert_eq!(limit(), "134217728");
    assert_eq!(sandbox.inspect("grow")["HostConfig"]["Memory"], 134217728);
    assert_eq!(sandbox.inspect("grow")["State"]["Running"], true);
    sandbox.ok(&["update", "-m", "48m", "grow"]);
    assert_eq!(limit(), "50331648");
    // Below what it uses: cgroup v1 refuses (EBUSY), v2 takes it and OOM-kills.
    // First, dd must hold its buffer: on a busy machine the update can come
    // before dd has even touched it, and then 8 MiB is not below its use.
    let usage_file = limit_file
        .replace("limit_in_bytes", "usage_in_bytes")
        .replace("memory.max", "memory.current");
    assert!(
        eventually(Duration::from_secs(20), || {
            fs::read_to_string(&usage_file)
                .ok()
                .and_then(|u| u.trim().parse::<u64>().ok())
                .is_some_and(|bytes| bytes >= 20 << 20)
        }),
        "dd never held its 24 MiB buffer"
    );
    let lowered = sandbox.peti(&["update", "--memory", "8m", "grow"]);
    if cgroup["version"] == "v1" {
        assert_eq!(code(&lowered), 1);
        assert!(
            stderr(&lowered).contains("uses more"),
            "{}",
            stderr(&lowered)
        );
        assert_eq!(limit(), "50331648", "a refused limit is not recorded");
        assert_eq!(sandbox.inspect("grow")["HostConfig"]["Memory"], 50331648);
    } else {
        assert_eq!(code(&lowered), 0, "{}", stderr(&lowered));
        assert!(eventually(Duration::from_secs(10), || {
            sandbox.inspect("grow")["State"]["OOMKilled"] == true
        }));
    }
    // Bad input names what was wrong.
    let none = sandbox.peti(&["update", "grow"]);
    assert_eq!(code(&none), 1);
    assert!(
        stderr(&none).contains("one or more flags"),
        "{}",
        stderr(&none)
    );
    let bad = sandbox.peti(&["update", "--memory", "lots", "grow"]);
    assert_eq!(code(&bad), 125);
    assert!(
        stderr(&bad).contains("invalid --memory"),
        "{}",
        stderr(&bad)
    );
    let missing = sandbox.peti(&["update", "--memory", "8m", "no-such-container"]);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("No such container"),
        "{}",
        stderr(&missing)
    );
    if cgroup["version"] == "v1" {
        // No cpu limit at start: no cgroup in the v1 cpu hierarchy to change.
        let cpus = sandbox.peti(&["update", "--cpus", "0.5", "grow"]);
        assert_eq!(code(&cpus), 1);
        assert!(stderr(&cpus).contains("--cpus"), "{}", stderr(&cpus));
    }
    sandbox.ok(&["rm", "-f", "grow"]);
}

#[test]
fn an_out_of_memory_kill_shows_in_inspect() {
    needs_containers!("an_out_of_memory_kill_shows_in_inspect");
    let sandbox = Sandbox::new();
    // dd reads 32 MiB of zeros into one buffer: every page of it is touched.
    let run = sandbox.peti(&[
        "run",
        "--name",
        "hog",
        "-m",
        "8m",
        "bb",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=32M",
        "count=1",
    ]);
    assert_eq!(code(&run), 137, "{}", stderr(&run));
    let state = &sandbox.inspect("hog")["State"];
    assert_eq!(state["OOMKilled"], true);
    assert_eq!(state["ExitCode"], 137);
    assert_eq!(state["Status"], "exited");
}

#[test]
fn a_detached_container_logs_stops_and_is_waited_for() {
    needs_containers!("a_detached_container_logs_stops_and_is_waited_for");
    let sandbox = Sandbox::new();
    let script =
        "echo out; echo err >&2; trap 'echo bye; exit 3' TERM; while :; do sleep 0.1; done";
    let id = sandbox.ok(&["run", "-d", "--name", "web", "bb", "sh", "-c", script]);
    assert_eq!(id.trim().len(), 64, "run -d prints the full ID");
    let ps = sandbox.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    assert!(ps.lines().nth(1).unwrap().contains("Up "), "{ps}");
    assert!(ps.lines().nth(1).unwrap().ends_with("web"), "{ps}");

    assert!(eventually(Duration::from_secs(5), || {
        let logs = sandbox.peti(&["logs", "web"]);
        stdout(&logs) == "out\n" && stderr(&logs) == "err\n"
    }));
    // The log file is Docker's json-file format, one object per line.
    let log_path = sandbox.inspect("web")["LogPath"]
        .as_str()
        .unwrap()
        .to_string();
    let records: Vec<serde_json::Value> = fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0]["log"], "out\n");
    assert_eq!(records[0]["stream"], "stdout");
    assert!(records[0]["time"].as_str().unwrap().ends_with('Z'));

    let refused = sandbox.peti(&["rm", "web"]);
    assert_eq!(code(&refused), 1);
    assert!(stderr(&refused).contains("stop the container before removing or force remove"));

    sandbox.ok(&["stop", "-t", "10", "web"]);
    assert_eq!(sandbox.ok(&["wait", "web"]).trim(), "3");
    assert_eq!(stdout(&sandbox.peti(&["logs", "web"])), "out\nbye\n");
    assert_eq!(
        sandbox.ok(&["ps", "-q"]),
        "",
        "ps without -a lists running ones"
    );
    assert!(sandbox.ok(&["ps", "-a"]).contains("Exited (3)"));

    // A stopped container starts again, as Docker's does.
    sandbox.ok(&["start", "web"]);
    sandbox.ok(&["kill", "web"]);
    assert_eq!(
        sandbox.ok(&["wait", "web"]).trim(),
        "137",
        "SIGKILL is 128 + 9"
    );
    sandbox.ok(&["rm", "web"]);
    assert!(!Path::new(&log_path).exists(), "rm removes the log");
}

#[test]
fn a_name_can_be_used_once() {
    needs_containers!("a_name_can_be_used_once");
    let sandbox = Sandbox::new();
    sandbox.ok(&["create", "--name", "twin", "bb", "true"]);
    let clash = sandbox.peti(&["create", "--name", "twin", "bb", "true"]);
    assert_eq!(code(&clash), 125);
    assert!(
        stderr(&clash).contains("name \"/twin\" is already in use"),
        "{}",
        stderr(&clash)
    );
    assert_eq!(sandbox.ok(&["ps", "-aq"]).lines().count(), 1);
}

#[test]
fn concurrent_commands_do_not_corrupt_state() {
    needs_containers!("concurrent_commands_do_not_corrupt_state");
    let sandbox = Sandbox::new();
    let outcomes: Vec<i32> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let sandbox = &sandbox;
                // Half race for one name; the other half take names of their own.
                let name = if i % 2 == 0 {
                    "same".to_string()
                } else {
                    format!("own{i}")
                };
                scope.spawn(move || code(&sandbox.peti(&["create", "--name", &name, "bb", "true"])))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let won_same = outcomes.iter().step_by(2).filter(|c| **c == 0).count();
    assert_eq!(
        won_same, 1,
        "exactly one create gets the contested name: {outcomes:?}"
    );
    assert!(outcomes.iter().skip(1).step_by(2).all(|c| *c == 0));
    let listed = sandbox.ok(&["ps", "-a", "--format", "json"]);
    assert_eq!(listed.lines().count(), 5);
    for line in listed.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every record is whole");
    }
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    needs_containers!("exec_joins_every_namespace_and_the_cgroup");
    let sandbox = Sandbox::new();
    let id = sandbox.ok(&["run", "-d", "-e", "FROM_RUN=1", "bb", "sleep", "60"]);
    let id = id.trim();
    let pid = sandbox.inspect(id)["State"]["Pid"].to_string();
    let expected = namespaces_of(&pid);
    let script = "for ns in pid mnt uts ipc net cgroup; do readlink /proc/self/ns/$ns; done; \
                  pwd; echo $FOO $FROM_RUN; cat /proc/self/cgroup";
    let seen = sandbox.ok(&[
        "exec", "-e", "FOO=bar", "-w", "/tmp", id, "sh", "-c", script,
    ]);
    let lines: Vec<&str> = seen.lines().collect();
    let joined: Vec<&String> = expected.values().collect();
    for (i, ns) in ["pid", "mnt", "uts", "ipc", "net", "cgroup"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            lines[i], expected[*ns],
            "exec is not in the container's {ns} namespace"
        );
    }
    assert_eq!(joined.len(), 6);
    assert_eq!(lines[6], "/tmp");
    assert_eq!(
        lines[7], "bar 1",
        "exec keeps the container's env and adds -e"
    );
    // In its cgroup namespace the container's own cgroup is "/": an exec that
    // had not joined the cgroup would see a path outside it ("/..").
    for line in &lines[8..] {
        assert!(
            line.ends_with(":/"),
            "exec is outside the container's cgroup: {line}"
        );
    }
    assert_eq!(code(&sandbox.peti(&["exec", id, "sh", "-c", "exit 4"])), 4);
    // Docker's exec exits 126 for any command that cannot start.
    assert_eq!(code(&sandbox.peti(&["exec", id, "no-such-command"])), 126);
    let relative = sandbox.peti(&["exec", "-w", "tmp", id, "true"]);
    assert_eq!(code(&relative), 126);
    assert!(stderr(&relative).contains("it needs to be an absolute path"));
    sandbox.ok(&["rm", "-f", id]);
    let stopped = sandbox.peti(&["exec", id, "true"]);
    assert_eq!(code(&stopped), 1, "exec into a removed container fails");
}

#[test]
fn volumes_and_read_only_roots() {
    needs_containers!("volumes_and_read_only_roots");
    let sandbox = Sandbox::new();
    let shared = sandbox.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::write(shared.join("in"), "from host\n").unwrap();
    let volume = format!("{}:/data", shared.display());
    let seen = sandbox.ok(&[
        "run",
        "--rm",
        "-v",
        &volume,
        "bb",
        "sh",
        "-c",
        "cat /data/in; echo back > /data/out",
    ]);
    assert_eq!(seen, "from host\n");

    // A file over one of /proc's, as LXCFS does for a container's own view of
    // its memory, is allowed; a directory over /proc itself is not (runc's rule).
    let meminfo = sandbox.path().join("meminfo");
    fs::write(&meminfo, "MemTotal: 1 kB\n").unwrap();
    let over_file = format!("{}:/proc/meminfo:ro", meminfo.display());
    let seen = sandbox.ok(&[
        "run",
        "--rm",
        "-v",
        &over_file,
        "bb",
        "head",
        "-1",
        "/proc/meminfo",
    ]);
    assert_eq!(seen, "MemTotal: 1 kB\n");
    let over_proc = format!("{}:/proc", shared.display());
    let refused = sandbox.peti(&["run", "--rm", "-v", &over_proc, "bb", "true"]);
    assert_eq!(code(&refused), 125);
    assert!(stderr(&refused).contains("/proc belongs to the kernel"));
    assert_eq!(fs::read_to_string(shared.join("out")).unwrap(), "back\n");

    let read_only = format!("{volume}:ro");
    let refused = sandbox.peti(&[
        "run",
        "--rm",
        "-v",
        &read_only,
        "bb",
        "sh",
        "-c",
        "cat /data/in; echo x > /data/x",
    ]);
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    assert_eq!(stdout(&refused), "from host\n");
    assert!(stderr(&refused).contains("Read-only file system"));
    assert!(!shared.join("x").exists());

    let root = sandbox.peti(&[
        "run",
        "--rm",
        "--read-only",
        "bb",
        "sh",
        "-c",
        "touch /dev/shm/ok && touch /x",
    ]);
    assert_eq!(code(&root), 1);
    assert!(
        stderr(&root).contains("touch: /x: Read-only file system"),
        "{}",
        stderr(&root)
    );
}

/// Where a container's cgroup directories would be, in either cgroup version.
fn cgroup_dirs_of(id: &str) -> Vec<std::path::PathBuf> {
    ["memory", "cpu", "cpuacct", "pids", "devices", ""]
        .iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join("peti").join(id))
        .collect()
}

#[test]
fn removal_leaves_no_mount_cgroup_or_state() {
    needs_containers!("removal_leaves_no_mount_cgroup_or_state");
    let sandbox = Sandbox::new();
    let sandbox_path = sandbox.path().to_string_lossy().into_owned();
    let mounts_of_sandbox = || {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&sandbox_path))
            .count()
    };
    let records = || {
        fs::read_dir(sandbox.store().join("containers"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect::<Vec<_>>()
    };
    let names = || {
        fs::read_dir(sandbox.store().join("containers/.names"))
            .unwrap()
            .count()
    };
    let trace = sandbox.path().join("trace.json");
    let trace_arg = trace.to_str().unwrap();
    // One that succeeds, one whose command is missing, one with a volume.
    for command in [
        &["true"][..],
        &["no-such-command"],
        &["-v", "/tmp:/host", "true"],
    ] {
        let mut args = vec!["run", "--rm", "--trace-json", trace_arg];
        if command[0] == "-v" {
            args.extend(&command[..2]);
            args.push("bb");
            args.extend(&command[2..]);
        } else {
            args.push("bb");
            args.extend(command);
        }
        let _ = sandbox.peti(&args);
    }
    let traced: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&trace).unwrap()).unwrap();
    let id = traced["container"].as_str().unwrap().to_string();
    assert_eq!(sandbox.ok(&["ps", "-aq"]), "", "--rm removed every record");
    assert_eq!(
        mounts_of_sandbox(),
        0,
        "no mount of the sandbox is left on the host"
    );
    assert_eq!(records(), Vec::<String>::new());
    assert_eq!(names(), 0, "no name is left reserved");
    assert!(!sandbox.run_root().join(&id).exists());
    for dir in cgroup_dirs_of(&id) {
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }

    // Without --rm a failed start keeps its record, as Docker's does (status
    // "created", exit code 127), but nothing else: no mount, no cgroup.
    let failed = sandbox.peti(&["run", "--name", "broken", "bb", "no-such-command"]);
    assert_eq!(code(&failed), 127);
    let record = sandbox.inspect("broken");
    assert_eq!(record["State"]["ExitCode"], 127);
    let id = record["Id"].as_str().unwrap().to_string();
    assert_eq!(mounts_of_sandbox(), 0);
    assert!(!cgroup_dirs_of(&id).iter().any(|d| d.exists()));
    sandbox.ok(&["rm", "broken"]);
    assert_eq!(records(), Vec::<String>::new());
    assert_eq!(names(), 0);

    // A detached one, removed with -f while it runs.
    let id = sandbox.ok(&["run", "-d", "bb", "sleep", "60"]);
    let id = id.trim();
    let monitor = sandbox.inspect(id)["Peti"]["MonitorPid"].to_string();
    sandbox.ok(&["rm", "-f", id]);
    assert!(
        !Path::new(&format!("/proc/{monitor}/cmdline")).exists() || {
            // The monitor may be a zombie for an instant, until its parent reaps it.
            fs::read_to_string(format!("/proc/{monitor}/stat")).map_or(true, |s| s.contains(") Z "))
        }
    );
    assert_eq!(records(), Vec::<String>::new());
    assert_eq!(mounts_of_sandbox(), 0);
}

#[test]
fn a_killed_monitor_shows_as_exited_and_a_monitor_is_small() {
    needs_containers!("a_killed_monitor_shows_as_exited_and_a_monitor_is_small");
    // (And a killed `--rm` container is removed: see the end.)
    let sandbox = Sandbox::new();
    let id = sandbox.ok(&["run", "-d", "bb", "sleep", "60"]);
    let id = id.trim();
    let monitor = sandbox.inspect(id)["Peti"]["MonitorPid"].as_i64().unwrap();
    // `run -d` returns once the container runs; the process that started it
    // becomes the monitor (by execve) an instant later. Until then it is peti.
    assert!(eventually(Duration::from_secs(10), || {
        fs::read_to_string(format!("/proc/{monitor}/comm"))
            .is_ok_and(|comm| comm.trim() == "peti-monitor")
    }));
    let status = fs::read_to_string(format!("/proc/{monitor}/status")).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    assert!(
        rss_kib < 1024,
        "the monitor's resident set is {rss_kib} KiB"
    );

    // SAFETY: kill(2) on a pid we just read; at worst it fails with ESRCH.
    unsafe { libc::kill(monitor as i32, libc::SIGKILL) };
    assert!(
        eventually(Duration::from_secs(10), || sandbox
            .ok(&["ps", "-a"])
            .contains("Exited (255)")),
        "{}",
        sandbox.ok(&["ps", "-a"])
    );
    let state = &sandbox.inspect(id)["State"];
    assert!(
        state["Error"]
            .as_str()
            .unwrap()
            .contains("monitor was killed")
    );

    // The same when peti itself dies during a foreground run: the container
    // dies with it (it asked for SIGKILL on its parent's death) and shows exited.
    let mut peti = sandbox
        .command(&["run", "--name", "fore", "bb", "sleep", "60"])
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        sandbox.ok(&["ps"]).contains("fore")
    }));
    peti.kill().unwrap();
    peti.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            let ps = sandbox.ok(&["ps", "-a"]);
            ps.lines()
                .any(|l| l.ends_with("fore") && l.contains("Exited (255)"))
        }),
        "{}",
        sandbox.ok(&["ps", "-a"])
    );

    // A `--rm` container whose peti is killed has nobody left to remove it:
    // the next command that looks removes it (record, name, cgroup, writable
    // layer), as Docker's daemon would.
    let mut peti = sandbox
        .command(&["run", "--rm", "--name", "gone", "bb", "sleep", "60"])
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        sandbox.ok(&["ps"]).contains("gone")
    }));
    let id = sandbox.inspect("gone")["Id"].as_str().unwrap().to_string();
    peti.kill().unwrap();
    peti.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !sandbox
            .ok(&["ps", "-a"])
            .contains("gone")),
        "{}",
        sandbox.ok(&["ps", "-a"])
    );
    assert!(!sandbox.store().join("containers").join(&id).exists());
    assert!(!sandbox.store().join("containers/.names/gone").exists());
    for dir in cgroup_dirs_of(&id) {
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }
    let inspect = sandbox.peti(&["container", "inspect", "gone"]);
    assert!(stderr(&inspect).contains("No such container: gone"));
}

#[test]
fn trace_names_every_step_of_a_start() {
    needs_containers!("trace_names_every_step_of_a_start");
    let sandbox = Sandbox::new();
    let json = sandbox.path().join("trace.json");
    let run = sandbox.peti(&[
        "run",
        "--rm",
        "--trace",
        "--trace-json",
        json.to_str().unwrap(),
        "bb",
        "true",
    ]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let trace: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    let steps: Vec<&str> = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    for step in [
        "create",
        "clone",
        "cgroup",
        "mount",
        "pivot_root",
        "capabilities",
        "exec",
    ] {
        assert!(steps.contains(&step), "no {step} step in {steps:?}");
        assert!(stderr(&run).contains(step), "--trace does not print {step}");
    }
    for event in trace["events"].as_array().unwrap() {
        assert!(event["duration_ns"].as_u64().is_some());
    }
}

#[test]
fn rmi_refuses_an_image_in_use_unless_forced() {
    needs_containers!("rmi_refuses_an_image_in_use_unless_forced");
    let sandbox = Sandbox::new();
    let id = sandbox.ok(&["run", "-d", "--name", "user", "bb", "sleep", "60"]);
    let refused = sandbox.peti(&["rmi", "bb"]);
    assert_eq!(code(&refused), 1);
    assert!(
        stderr(&refused).contains(&format!("container {} is using it", &id[..12])),
        "the error names the container: {}",
        stderr(&refused)
    );
    assert!(sandbox.ok(&["images"]).contains("bb "));
    sandbox.ok(&["rmi", "-f", "bb"]);
    assert!(!sandbox.ok(&["images"]).contains("bb "));
    // The running container keeps its layers, and still works.
    assert_eq!(sandbox.ok(&["exec", "user", "echo", "alive"]), "alive\n");
}

/// `peti ARGS` with a new pseudo-terminal of `rows` x `cols` as its
/// controlling terminal, as if typed in a terminal window.
struct Terminal {
    master: fs::File,
    child: std::process::Child,
}

impl Terminal {
    fn open(sandbox: &Sandbox, args: &[&str], rows: u16, cols: u16) -> Self {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).unwrap();
        let mut command = sandbox.command(args);
        let slave = pty.slave;
        command
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: setsid and ioctl are async-signal-safe; the child then execs.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        drop(slave);
        let master = fs::File::from(pty.master);
        // SAFETY: the fd is the open master; O_NONBLOCK only changes how reads wait.
        unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        Terminal { master, child }
    }

    fn type_in(&self, text: &[u8]) {
        use std::io::Write;
        (&self.master).write_all(text).unwrap();
    }

    /// Reads until `want` appears; returns everything read.
    fn read_until(&self, want: &str) -> String {
        use std::io::Read;
        let mut seen = String::new();
        let found = eventually(Duration::from_secs(10), || {
            let mut buf = [0u8; 4096];
            if let Ok(n) = (&self.master).read(&mut buf) {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            seen.contains(want)
        });
        assert!(found, "never saw {want:?} in {seen:?}");
        seen
    }
}

#[test]
fn an_interactive_tty_passes_size_and_ctrl_c() {
    needs_containers!("an_interactive_tty_passes_size_and_ctrl_c");
    let sandbox = Sandbox::new();
    let mut terminal = Terminal::open(&sandbox, &["run", "--rm", "-it", "bb", "sh"], 33, 111);
    terminal.type_in(b"stty size; echo term-$TERM; tty\n");
    let seen = terminal.read_until("/dev/pts/");
    assert!(
        seen.contains("33 111"),
        "the window size is passed through: {seen:?}"
    );
    // Docker's TERM for a container with a terminal.
    assert!(seen.contains("term-xterm"), "{seen:?}");
    terminal.type_in(b"sleep 30\n");
    std::thread::sleep(Duration::from_millis(300));
    // Ctrl-C goes through the terminal to the container's foreground process.
    terminal.type_in(b"\x03");
    terminal.type_in(b"echo status-$?\n");
    terminal.read_until("status-130");
    terminal.type_in(b"exit 5\n");
    assert_eq!(terminal.child.wait().unwrap().code(), Some(5));
}

#[test]
fn exec_it_gives_a_shell_with_its_own_terminal_in_a_running_container() {
    needs_containers!("exec_it_gives_a_shell_with_its_own_terminal_in_a_running_container");
    let sandbox = Sandbox::new();
    sandbox.ok(&["run", "-d", "--name", "box", "bb", "sleep", "60"]);
    let mut terminal = Terminal::open(&sandbox, &["exec", "-it", "box", "sh"], 21, 77);
    // The terminal echoes what is typed, so wait for what only output holds.
    terminal.type_in(b"stty size; tty; echo done-$((40 + 2))\n");
    let seen = terminal.read_until("done-42");
    assert!(seen.contains("21 77"), "{seen:?}");
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    terminal.type_in(b"exit 6\n");
    assert_eq!(terminal.child.wait().unwrap().code(), Some(6));
    assert!(
        sandbox.ok(&["ps"]).contains("Up "),
        "the container outlives the exec"
    );
}

#[test]
fn a_detached_terminal_is_logged_and_an_attached_one_needs_a_terminal() {
    needs_containers!("a_detached_terminal_is_logged_and_an_attached_one_needs_a_terminal");
    let sandbox = Sandbox::new();
    // -dt: the container's terminal output is logged (as stdout, as Docker does).
    sandbox.ok(&[
        "run",
        "-dt",
        "--name",
        "term",
        "bb",
        "sh",
        "-c",
        "tty; sleep 60",
    ]);
    assert!(eventually(Duration::from_secs(5), || {
        stdout(&sandbox.peti(&["logs", "term"])).starts_with("/dev/pts/")
    }));
    // -dit keeps an idle shell alive, waiting on its terminal.
    sandbox.ok(&["run", "-dit", "--name", "idle", "bb", "sh"]);
    assert_eq!(sandbox.ok(&["exec", "idle", "echo", "alive"]), "alive\n");
    // -it from something that is not a terminal: refused before anything is made.
    let refused = sandbox.peti(&["run", "--rm", "-it", "bb", "sh"]);
    assert_eq!(code(&refused), 125);
    assert!(stderr(&refused).contains("the input device is not a TTY"));
    assert_eq!(sandbox.ok(&["ps", "-aq"]).lines().count(), 2);
}

#[test]
fn logs_follow_until_exit_and_kill_sends_the_signal_asked_for() {
    needs_containers!("logs_follow_until_exit_and_kill_sends_the_signal_asked_for");
    let sandbox = Sandbox::new();
    // pid 1 ignores signals it has no handler for, so the script traps TERM.
    let script = "trap 'echo got TERM; exit 5' TERM; echo started; while :; do sleep 0.1; done";
    sandbox.ok(&["run", "-d", "--name", "trapper", "bb", "sh", "-c", script]);
    let follower = sandbox
        .command(&["logs", "-f", "trapper"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        stdout(&sandbox.peti(&["logs", "trapper"])).contains("started")
    }));
    sandbox.ok(&["kill", "-s", "TERM", "trapper"]);
    let followed = follower.wait_with_output().unwrap();
    assert!(followed.status.success());
    assert_eq!(
        stdout(&followed),
        "started\ngot TERM\n",
        "logs -f ends when the container does"
    );
    assert_eq!(sandbox.ok(&["wait", "trapper"]).trim(), "5");
    let refused = sandbox.peti(&["kill", "-s", "NOSUCHSIG", "trapper"]);
    assert_eq!(code(&refused), 1);
}

#[test]
fn containers_without_names_never_clash() {
    needs_containers!("containers_without_names_never_clash");
    let sandbox = Sandbox::new();
    // 40 generated names from 256 pairs: a clash is near certain, and must be
    // resolved by peti, not reported.
    for _ in 0..40 {
        sandbox.ok(&["create", "bb", "true"]);
    }
    let listed = sandbox.ok(&["ps", "-a", "--format", "json"]);
    let names: std::collections::BTreeSet<String> = listed
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["Names"].to_string())
        .collect();
    assert_eq!(names.len(), 40);
}

#[test]
fn dockers_management_commands_are_the_same_commands() {
    needs_containers!("dockers_management_commands_are_the_same_commands");
    let sandbox = Sandbox::new();
    assert_eq!(
        sandbox.ok(&["container", "run", "--rm", "bb", "echo", "hi"]),
        "hi\n"
    );
    let id = sandbox.ok(&["container", "create", "--name", "managed", "bb", "true"]);
    let id = &id.trim()[..12];
    for list in [
        &["ps", "-aq"][..],
        &["container", "ls", "-aq"],
        &["container", "list", "-aq"],
    ] {
        assert_eq!(sandbox.ok(list).trim(), id, "{list:?}");
    }
    assert!(
        sandbox
            .ok(&["container", "inspect", "managed"])
            .contains("\"Name\": \"/managed\"")
    );
    assert_eq!(sandbox.ok(&["container", "rm", "managed"]), "managed\n");
    sandbox.ok(&["image", "tag", "bb", "bb:two"]);
    assert!(sandbox.ok(&["image", "ls"]).contains("two"));
    assert_eq!(sandbox.ok(&["images"]), sandbox.ok(&["image", "list"]));
    assert_eq!(sandbox.ok(&["image", "rm", "bb:two"]), "Untagged: bb:two\n");
    let unknown = sandbox.peti(&["container", "frobnicate"]);
    assert_eq!(code(&unknown), 125, "{}", stderr(&unknown));
}

/// One process of a container, as `ps -o pid,ppid,stat,args` lists it.
#[derive(Debug)]
struct Process {
    ppid: u32,
    /// `S`, `R`, or `Z` for a zombie.
    stat: String,
    args: String,
}

impl Process {
    fn is_zombie(&self) -> bool {
        self.stat.starts_with('Z')
    }
}

/// The processes of a running container, by pid; `ps` itself left out.
fn processes_in(sandbox: &Sandbox, container: &str) -> BTreeMap<u32, Process> {
    let listed = sandbox.ok(&["exec", container, "ps", "-o", "pid,ppid,stat,args"]);
    listed
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let pid = fields.next()?.parse().ok()?;
            let ppid = fields.next()?.parse().ok()?;
            let stat = fields.next()?.to_string();
            let args = fields.collect::<Vec<_>>().join(" ");
            (!args.starts_with("ps ")).then_some((pid, Process { ppid, stat, args }))
        })
        .collect()
}

#[test]
fn with_init_pid_1_is_peti_init_and_the_command_its_child() {
    needs_containers!("with_init_pid_1_is_peti_init_and_the_command_its_child");
    let sandbox = Sandbox::new();
    let ps = sandbox.ok(&["run", "--rm", "--init", "bb", "ps", "-o", "pid,ppid,args"]);
    let rows: Vec<Vec<&str>> = ps
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["1", "0", "peti-init", "ps", "-o", "pid,ppid,args"],
            vec!["2", "1", "ps", "-o", "pid,ppid,args"],
        ],
        "{ps}"
    );
    // Without it, the command is PID 1 itself.
    let own = sandbox.ok(&["run", "--rm", "bb", "cat", "/proc/1/cmdline"]);
    assert_eq!(own, "cat\0/proc/1/cmdline\0");
    // The init is a sealed copy, not a file of the image or the host; and the
    // program (the shell: `; true` keeps it from becoming `ls`) gets only its
    // standard streams, as without --init.
    let seen = sandbox.ok(&[
        "run",
        "--rm",
        "--init",
        "bb",
        "sh",
        "-c",
        "readlink /proc/1/exe; ls /proc/$$/fd; true",
    ]);
    assert_eq!(seen, "/memfd:peti-init (deleted)\n0\n1\n2\n");

    // Exit codes pass through: the program's own, 128+N for signal N, and a
    // missing program is reported as without --init, before anything runs.
    let seven = sandbox.peti(&["run", "--rm", "--init", "bb", "sh", "-c", "exit 7"]);
    assert_eq!(code(&seven), 7, "{}", stderr(&seven));
    let killed = sandbox.peti(&["run", "--rm", "--init", "bb", "sh", "-c", "kill -USR1 $$"]);
    assert_eq!(code(&killed), 128 + 10, "{}", stderr(&killed));
    let missing = sandbox.peti(&["run", "--rm", "--init", "bb", "no-such-command"]);
    assert_eq!(code(&missing), 127, "{}", stderr(&missing));
    assert!(stderr(&missing).contains("executable file not found"));

    // The flag is part of the record: `start` of a created container keeps it,
    // and inspect shows it as Docker does (left out when not given).
    sandbox.ok(&[
        "create",
        "--init",
        "--name",
        "later",
        "bb",
        "cat",
        "/proc/1/cmdline",
    ]);
    assert_eq!(sandbox.inspect("later")["HostConfig"]["Init"], true);
    assert_eq!(
        sandbox.ok(&["start", "-a", "later"]),
        "peti-init\0cat\0/proc/1/cmdline\0"
    );
    sandbox.ok(&["create", "--name", "plain", "bb", "true"]);
    assert!(sandbox.inspect("plain")["HostConfig"].get("Init").is_none());
}

#[test]
fn sigterm_stops_a_pid_1_without_a_handler_only_under_an_init() {
    needs_containers!("sigterm_stops_a_pid_1_without_a_handler_only_under_an_init");
    let sandbox = Sandbox::new();
    // sleep installs no handler for TERM: as PID 1, the kernel drops it.
    sandbox.ok(&["run", "-d", "--name", "deaf", "bb", "sleep", "60"]);
    sandbox.ok(&["kill", "-s", "TERM", "deaf"]);
    // Time for a TERM that had been delivered to end it; it was not.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sandbox.inspect("deaf")["State"]["Running"], true);
    sandbox.ok(&["rm", "-f", "deaf"]);

    // Under peti-init, the same sleep gets the TERM and dies of it: 128 + 15,
    // where a KILL at the end of the grace period would have given 137.
    sandbox.ok(&[
        "run", "-d", "--init", "--name", "hears", "bb", "sleep", "60",
    ]);
    sandbox.ok(&["stop", "-t", "10", "hears"]);
    assert_eq!(sandbox.ok(&["wait", "hears"]).trim(), "143");
    assert_eq!(sandbox.inspect("hears")["State"]["ExitCode"], 143);
}

#[test]
fn peti_init_reaps_orphans_that_a_plain_pid_1_leaves_as_zombies() {
    needs_containers!("peti_init_reaps_orphans_that_a_plain_pid_1_leaves_as_zombies");
    let sandbox = Sandbox::new();
    // The inner shell leaves `sleep 0.1` behind, an orphan, which the kernel
    // gives to PID 1; then the outer shell becomes `sleep 60`, which never
    // waits for a child.
    let script = "sh -c 'sleep 0.1 &'; exec sleep 60";
    sandbox.ok(&["run", "-d", "--name", "plain", "bb", "sh", "-c", script]);
    sandbox.ok(&[
        "run", "-d", "--init", "--name", "reaped", "bb", "sh", "-c", script,
    ]);
    let zombies =
        |listed: &BTreeMap<u32, Process>| listed.values().filter(|p| p.is_zombie()).count();
    // Without an init, the orphan ends as a zombie of PID 1, and stays one.
    let mut plain = BTreeMap::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            plain = processes_in(&sandbox, "plain");
            zombies(&plain) == 1
        }),
        "{plain:?}"
    );
    let zombie = plain.values().find(|p| p.is_zombie());
    assert_eq!(zombie.map(|p| p.ppid), Some(1), "{plain:?}");
    // With peti-init, the orphan is reaped as it ends: once the outer shell is
    // `sleep 60` (the orphan exists by then) and the orphan is gone, no
    // zombie is left, only the init and its child.
    let mut reaped = BTreeMap::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            reaped = processes_in(&sandbox, "reaped");
            reaped.values().any(|p| p.args == "sleep 60")
                && !reaped.values().any(|p| p.args == "sleep 0.1")
        }),
        "{reaped:?}"
    );
    assert_eq!(zombies(&reaped), 0, "{reaped:?}");
    assert_eq!(reaped.len(), 2, "peti-init and sleep 60: {reaped:?}");
    assert_eq!(
        reaped[&2].ppid, 1,
        "sleep 60 is peti-init's child: {reaped:?}"
    );
}

#[test]
fn an_interactive_shell_under_init_gets_its_terminal_and_ctrl_c() {
    needs_containers!("an_interactive_shell_under_init_gets_its_terminal_and_ctrl_c");
    let sandbox = Sandbox::new();
    let mut terminal = Terminal::open(
        &sandbox,
        &["run", "--rm", "-it", "--init", "bb", "sh"],
        24,
        80,
    );
    // The shell is PID 2, and has the terminal: peti-init gave it to the
    // shell's process group (without that, an interactive shell stops itself
    // waiting for it), and the shell gives it to each command in turn.
    terminal.type_in(b"echo shell-pid-$$\n");
    terminal.read_until("shell-pid-2");
    terminal.type_in(b"sleep 30\n");
    std::thread::sleep(Duration::from_millis(300));
    terminal.type_in(b"\x03");
    terminal.type_in(b"echo status-$?\n");
    terminal.read_until("status-130");
    terminal.type_in(b"exit 5\n");
    assert_eq!(terminal.child.wait().unwrap().code(), Some(5));
}
