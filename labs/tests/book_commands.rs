//! Every command the book tells the reader to run, run again, with its output
//! checked against the output the page shows, the way container.training tests
//! its slides.
//!
//! A page marks such a block with the info string `console,runnable`:
//!
//! ````text
//! ```console,runnable
//! $ peti run --rm hello
//! READY workload=hello
//! ...
//! ```
//! ````
//!
//! A line starting with `$ ` is a command, run by bash as a reader would type it
//! at the repository's root; the lines up to the next command are its output
//! (stdout and stderr together). The output shown is compared after masking what
//! differs from run to run:
//! - hex ids of 12 characters or more become `<ID>`, numbers with a decimal
//!   point `<N>`;
//! - a run of spaces counts as one, since a column of right-aligned numbers
//!   shifts when a number gains a digit;
//! - `[..]` in a shown line stands for any text within the line;
//! - a shown line `...` stands for any number of lines.
//!
//! More attributes after `runnable` say what a block needs: `kvm` (a usable
//! /dev/kvm), `nested-pvm` (a block showing what a nested-PVM host says),
//! `debian-kernel` (a block reading Debian's cloud kernel in /boot), `cgroup-v1`
//! or `cgroup-v2` (a block showing that mode's files). A block that cannot run
//! here is skipped with the reason.
//!
//! A page's commands share their shell variables, as if typed into one
//! terminal. The pages share nothing: each page runs in a scratch folder of its
//! own, with `target/lab` pointing at a fresh `labs prepare`, its own peti store,
//! and the workspace's binaries first on PATH. After the last block, every
//! container the page left is removed, and the test checks no mount is left.
//!
//! `BOOK_BLESS=1` writes what a command really printed into the page where it
//! differs: that is how a page's output comes from a real run. Shown output that
//! still matches (with its `[..]` and `...`) is kept. `BOOK_PAGE=state.md` runs
//! (or blesses) that one page.
//!
//! Why by hand and not trycmd, which tests Markdown console blocks: trycmd runs
//! each command without a shell (the pages use pipes, `;` and `$?`) and gives
//! every block a fresh sandbox, while a page's commands build on one another
//! (load an image, then run it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One `$ command` and the output the page shows for it.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    command: String,
    shown: Vec<String>,
    /// Where the output starts and ends in the page (line indexes), for blessing.
    output_lines: std::ops::Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    needs: Vec<String>,
    steps: Vec<Step>,
}

const FENCE: &str = "```console,runnable";

/// The runnable blocks of a page.
fn blocks(page: &str) -> Vec<Block> {
    let lines: Vec<&str> = page.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(attributes) = lines[i].trim_end().strip_prefix(FENCE) else {
            i += 1;
            continue;
        };
        let needs = attributes
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        let mut block = Block {
            line: i + 1,
            needs,
            steps: Vec::new(),
        };
        i += 1;
        while i < lines.len() && lines[i].trim_end() != "```" {
            if let Some(first) = lines[i].strip_prefix("$ ") {
                // A command continues on the next line after a trailing `\`.
                let mut command = first.to_string();
                while command.ends_with('\\') && i + 1 < lines.len() {
                    i += 1;
                    command.push('\n');
                    command.push_str(lines[i]);
                }
                block.steps.push(Step {
                    command,
                    shown: Vec::new(),
                    output_lines: i + 1..i + 1,
                });
            } else if let Some(step) = block.steps.last_mut() {
                step.shown.push(lines[i].to_string());
                step.output_lines.end = i + 1;
            }
            i += 1;
        }
        found.push(block);
        i += 1;
    }
    found
}

/// Masks what changes from run to run: long hex ids and decimal numbers.
fn mask(line: &str) -> String {
    let chars: Vec<char> = line.trim_end().chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let starts_word = i == 0 || !word_char(chars[i - 1]);
        if starts_word {
            let hex = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || ('a'..='f').contains(c))
                .count();
            let ends_word = chars.get(i + hex).is_none_or(|c| !word_char(*c));
            if hex >= 12 && ends_word {
                out.push_str("<ID>");
                i += hex;
                continue;
            }
        }
        if chars[i].is_ascii_digit() {
            let whole = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let point = i + whole;
            let fraction = chars.get(point + 1..).map_or(0, |rest| {
                rest.iter().take_while(|c| c.is_ascii_digit()).count()
            });
            if chars.get(point) == Some(&'.') && fraction > 0 {
                out.push_str("<N>");
                i = point + 1 + fraction;
                continue;
            }
            out.extend(&chars[i..point]);
            i = point;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Whether a real line matches a shown line, `[..]` standing for any text.
fn line_matches(real: &str, shown: &str) -> bool {
    let squeeze = |line: &str| {
        line.split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (real, shown) = (squeeze(&mask(real)), squeeze(&mask(shown)));
    let pieces: Vec<&str> = shown.split("[..]").collect();
    if pieces.len() == 1 {
        return real == shown;
    }
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !real.starts_with(first) || !real[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &real[first.len()..real.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// Whether real output matches the shown output, a `...` line standing for any
/// number of lines.
fn output_matches(real: &[&str], shown: &[String]) -> bool {
    match shown.split_first() {
        None => real.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=real.len()).any(|skip| output_matches(&real[skip..], rest))
        }
        Some((first, rest)) => real
            .split_first()
            .is_some_and(|(line, more)| line_matches(line, first) && output_matches(more, rest)),
    }
}

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src")
}

fn pages() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![book_src()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("generated") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") && is_chosen(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Whether `BOOK_PAGE` (a page's file name, for running or blessing one page
/// while writing it) chooses `page`; with no `BOOK_PAGE`, every page is chosen.
fn is_chosen(page: &Path) -> bool {
    std::env::var_os("BOOK_PAGE").is_none_or(|chosen| page.file_name() == Some(chosen.as_os_str()))
}

/// Why a block cannot run here, if it cannot, and whether set-up or the machine
/// is the cause.
fn unmet(needs: &[String]) -> Option<(common::Blame, String)> {
    use common::Blame::{Machine, Setup};
    for need in needs {
        match need.as_str() {
            "kvm" => {
                let usable = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/kvm")
                    .is_ok();
                if !usable {
                    return Some((Setup, "needs a usable /dev/kvm".into()));
                }
            }
            // A page that shows what this kind of host says (`microvm doctor`'s
            // verdict, a refused Linux kernel) cannot match a host with VT-x.
            "nested-pvm" => {
                if !Path::new("/sys/module/kvm_pvm").exists() {
                    return Some((
                        Machine,
                        "shows a nested-PVM host's output; this host is not one".into(),
                    ));
                }
            }
            "debian-kernel" => {
                if debian_cloud_kernel().is_none() {
                    return Some((
                        Setup,
                        "reads Debian's /boot/vmlinuz-*-cloud-amd64; this host has none".into(),
                    ));
                }
            }
            "cgroup-v1" | "cgroup-v2" => {
                let v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
                    .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
                let here = if v2 { "cgroup-v2" } else { "cgroup-v1" };
                if need != here {
                    return Some((
                        Machine,
                        format!("shows {need} paths; this machine has {here}"),
                    ));
                }
            }
            other => panic!("unknown need {other:?} (a typo in the page?)"),
        }
    }
    None
}

/// Debian's cloud kernel in /boot, if this host has one.
fn debian_cloud_kernel() -> Option<PathBuf> {
    std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-") && n.ends_with("-cloud-amd64"))
        })
}

/// What a page's commands share, as in one terminal: variables set by one
/// command are there for the next. Each command's shell reads what the previous
/// one exported, and `set -a` exports every variable the command sets.
const BEFORE: &str = "set -a; [ -f \"$BOOK_ENV\" ] && . \"$BOOK_ENV\"";
const AFTER: &str =
    "export -p | grep -vE '^declare -x (PWD|OLDPWD|SHLVL|_|BOOK_ENV)=' > \"$BOOK_ENV\"";

/// The scratch folder a page's commands run in.
struct Scratch {
    dir: tempfile::TempDir,
    path: String,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::os::unix::fs::symlink(common::prepared(), dir.path().join("target/lab")).unwrap();
        let binaries = Path::new(env!("CARGO_BIN_EXE_labs")).parent().unwrap();
        let path = format!(
            "{}:{}",
            binaries.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Scratch { dir, path }
    }

    fn run(&self, command: &str) -> String {
        let root = self.dir.path();
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("exec 2>&1\n{BEFORE}\n{command}\n{AFTER}"))
            .current_dir(root)
            .env("PATH", &self.path)
            .env("PETI_ROOT", root.join("peti-root"))
            .env("PETI_RUN", root.join("peti-run"))
            .env("BOOK_ENV", root.join(".book-env"))
            // `peti login` on a page keeps its login here, not in ~/.docker.
            .env("DOCKER_CONFIG", root.join(".docker"))
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Removes every container the page left, so its mounts and cgroups go.
    fn clean(&self) {
        self.run("peti ps -aq | xargs -r peti rm -f >/dev/null");
    }
}

/// Runs a page's blocks; returns the mismatches, and blesses the page if asked.
fn run_page(page: &Path, skipped: &mut Vec<(common::Blame, String)>) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let blocks = blocks(&text);
    if blocks.is_empty() {
        return Vec::new();
    }
    let name = page.strip_prefix(book_src()).unwrap().display().to_string();
    let scratch = Scratch::new();
    let bless = std::env::var_os("BOOK_BLESS").is_some();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut replacements = Vec::new();
    let mut mismatches = Vec::new();
    for block in &blocks {
        if let Some((blame, reason)) = unmet(&block.needs) {
            skipped.push((blame, format!("{name}:{}: {reason}", block.line)));
            continue;
        }
        for step in &block.steps {
            let real = scratch.run(&step.command);
            let real_lines: Vec<&str> = real.lines().collect();
            if output_matches(&real_lines, &step.shown) {
                continue;
            }
            mismatches.push(format!(
                "{name}:{}: `{}`\n--- the page shows:\n{}\n--- it printed:\n{}",
                block.line,
                step.command,
                step.shown.join("\n"),
                real.trim_end()
            ));
            replacements.push((
                step.output_lines.clone(),
                real_lines
                    .iter()
                    .map(|l| l.trim_end().to_string())
                    .collect::<Vec<_>>(),
            ));
        }
    }
    scratch.clean();
    if bless && !replacements.is_empty() {
        // From the bottom up, so earlier ranges stay where they were.
        for (range, new) in replacements.into_iter().rev() {
            lines.splice(range, new);
        }
        std::fs::write(page, lines.join("\n") + "\n").unwrap();
        eprintln!("blessed {name}");
        return Vec::new();
    }
    mismatches
}

#[test]
fn every_runnable_command_in_the_book_prints_what_its_page_shows() {
    let test = "every_runnable_command_in_the_book_prints_what_its_page_shows";
    if !common::is_root() {
        return common::skip(test, "the pages run containers: needs root");
    }
    needs_prepare!("every_runnable_command_in_the_book_prints_what_its_page_shows");
    let mounts_before = common::mount_points();
    let mut skipped = Vec::new();
    let mut mismatches = Vec::new();
    let mut ran = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        ran += blocks(&text).len();
        mismatches.extend(run_page(&page, &mut skipped));
    }
    for (blame, reason) in &skipped {
        common::skip_because(*blame, test, reason);
    }
    assert!(ran > 0, "no runnable blocks found: the marker is {FENCE:?}");
    assert!(
        mismatches.is_empty(),
        "{} command(s) printed something else than their page shows \
         (BOOK_BLESS=1 writes the real output into the page):\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
    assert_eq!(
        common::mount_points(),
        mounts_before,
        "the book's commands left mounts behind"
    );
}

#[test]
fn blocks_are_read_with_their_commands_outputs_and_needs() {
    let page = "text\n```console,runnable,kvm\n$ echo a \\\n  b\na b\n$ true\n```\n```sh\n$ not this\n```\n";
    let found = blocks(page);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].line, 2);
    assert_eq!(found[0].needs, ["kvm"]);
    assert_eq!(found[0].steps.len(), 2);
    assert_eq!(found[0].steps[0].command, "echo a \\\n  b");
    assert_eq!(found[0].steps[0].shown, ["a b"]);
    assert_eq!(found[0].steps[0].output_lines, 4..5);
    assert!(found[0].steps[1].shown.is_empty());
}

#[test]
fn masking_and_wildcards_match_what_varies_and_nothing_else() {
    assert_eq!(mask("id 29812b317758 took 1.420 ms"), "id <ID> took <N> ms");
    // Short hex, words with hex letters and whole numbers are kept.
    assert_eq!(mask("cafe 12 deadbeef"), "cafe 12 deadbeef");
    assert_eq!(mask("x=0.5s v1.2.3"), "x=<N>s v<N>.3");
    assert!(line_matches("exit 0 after 3.2 ms", "exit 0 after 1.0 ms"));
    assert!(!line_matches("exit 1 after 3.2 ms", "exit 0 after 1.0 ms"));
    assert!(line_matches("pid 4711 of 9", "pid [..] of 9"));
    assert!(!line_matches("pid 4711 of 8", "pid [..] of 9"));
    // A right-aligned column whose number gained a digit.
    assert!(line_matches("peti      11.56 ms", "peti       8.62 ms"));
    assert!(!line_matches("peti 11.56 s", "peti 8.62 ms"));
    let real = ["a", "b", "c", "d"];
    let shown = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(output_matches(&real, &shown(&["a", "...", "d"])));
    assert!(output_matches(&real, &shown(&["...", "c", "d"])));
    assert!(output_matches(&real, &shown(&["a", "b", "c", "d", "..."])));
    assert!(!output_matches(&real, &shown(&["a", "...", "c"])));
    assert!(!output_matches(&real, &shown(&["a", "b", "c"])));
}
