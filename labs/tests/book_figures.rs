//! Every number the book quotes from a results file comes from that file when
//! the book is built (`labs book` writes `generated/figures/`, and the page
//! includes the figure), so no sentence can drift from its own results.
//!
//! The check: each number with a unit in a page's prose (code blocks, inline
//! code and includes aside) must be listed in [`TYPED`], with where it comes
//! from, if not from a results file: a parameter of a command, a constant of
//! the machine, a figure from literature, a one-off measurement described in
//! place. A number that a lab measured cannot be listed there honestly; it is
//! included instead. And each included figure must exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src")
}

/// Why a number is typed, not included.
const P: &str = "a parameter: the size or time the command or lab is given";
const C: &str = "a constant: of the hardware, the kernel, a file format or microvm's layout";
const H: &str =
    "one measurement by hand, described where it is quoted; no lab's results file holds it";
const B: &str = "printed by the runnable block before it, which the book's tests run";
const L: &str = "from the literature, cited in place";
const F: &str = "the size of an installed file on the build machine";

/// The numbers pages type themselves: (page, the number as written, why it is
/// not a results file's, and what exactly it is, where that helps).
const TYPED: &[(&str, &str, &str, &str)] = &[
    ("booting-linux.md", "1 MiB", C, ""),
    (
        "commands.md",
        "0.1 s",
        P,
        "peti stats' CPU sample (CPU_SAMPLE in show.rs)",
    ),
    (
        "commands.md",
        "1 s",
        P,
        "Docker's stats sample, a constant of its daemon",
    ),
    (
        "booting-linux.md",
        "1 to 2 ms",
        "the test guests' --timeline output in runs for this chapter; one measurement by hand",
        "",
    ),
    ("booting-linux.md", "128 MiB", P, "microvm's default --mem"),
    ("booting-linux.md", "175 to 240 ms", H, ""),
    ("booting-linux.md", "2 MiB", C, ""),
    (
        "booting-linux.md",
        "3000 bytes",
        "an example input, longer than the kernel's limit",
        "",
    ),
    (
        "booting-linux.md",
        "33,746 bytes",
        B,
        "0x83d2 in its output",
    ),
    ("booting-linux.md", "4 GiB", C, ""),
    ("booting-linux.md", "4 KiB", C, ""),
    (
        "booting-linux.md",
        "51 MiB",
        "the cloud kernel's own init_size field, read from its header; a property of the file",
        "",
    ),
    (
        "booting-linux.md",
        "53,968,896 bytes",
        "the cloud kernel's own init_size field, read from its header; a property of the file",
        "",
    ),
    (
        "booting-linux.md",
        "639 KiB",
        C,
        "0x9fc00, the end of low memory in the E820 map",
    ),
    ("by-hand.md", "20 MiB", P, ""),
    ("by-hand.md", "64 MiB", P, ""),
    ("cgroups.md", "100 ms", C, "Docker's and peti's CFS period"),
    ("cgroups.md", "256 MiB", P, ""),
    ("cgroups.md", "32 MiB", P, ""),
    ("cgroups.md", "33,554,432 bytes", P, "32 MiB in bytes"),
    ("cgroups.md", "50 ms", P, "half of the 100 ms period"),
    ("containers-and-vms.md", "64 MiB", P, ""),
    ("direct-vm.md", "1 MiB", C, ""),
    ("direct-vm.md", "128 MiB", P, "the default --mem"),
    ("direct-vm.md", "144 to 192 ns", H, ""),
    ("direct-vm.md", "2 MiB", C, ""),
    ("direct-vm.md", "64 MiB", P, ""),
    (
        "direct-vm.md",
        "75.8 ms",
        H,
        "one run of compute 64 on the host",
    ),
    (
        "direct-vm.md",
        "76.7 ms",
        H,
        "one run of compute 64 in the VM",
    ),
    ("how-we-measure.md", "0.2 to 0.3 ms", H, ""),
    ("how-we-measure.md", "0.3 ms", H, ""),
    ("how-we-measure.md", "0.48 ms", H, "perf sched over 30 runs"),
    (
        "how-we-measure.md",
        "1.1 ms",
        H,
        "a run of peti's start benchmark, cargo bench",
    ),
    ("how-we-measure.md", "11 µs", H, ""),
    (
        "how-we-measure.md",
        "24 GiB",
        C,
        "the build machine's memory",
    ),
    (
        "how-we-measure.md",
        "4.00 ms",
        H,
        "a run of peti's start benchmark, cargo bench",
    ),
    (
        "how-we-measure.md",
        "4.9 to 6.4 ms",
        H,
        "runs of peti's start benchmark, cargo bench",
    ),
    (
        "how-we-measure.md",
        "5 ms",
        "an illustration of the spread; the labs' figures are the medians",
        "",
    ),
    ("how-we-measure.md", "5.5 µs", H, ""),
    (
        "how-we-measure.md",
        "6.7 and 8.4 times",
        H,
        "a run of peti's start benchmark against runc",
    ),
    ("how-we-measure.md", "66 µs", H, "median of 100 rmdirs"),
    (
        "how-we-measure.md",
        "7.0 to 11.5 ms",
        H,
        "runs of peti's start benchmark, cargo bench",
    ),
    (
        "how-we-measure.md",
        "9 ms",
        "an illustration of the spread; the labs' figures are the medians",
        "",
    ),
    (
        "hypervisors-and-kvm.md",
        "0.1 ms",
        H,
        "a script of raw ioctls",
    ),
    ("hypervisors-and-kvm.md", "128 MiB", P, "the default --mem"),
    (
        "hypervisors-and-kvm.md",
        "134217728 bytes",
        P,
        "128 MiB in bytes",
    ),
    ("hypervisors-and-kvm.md", "144 to 192 ns", H, ""),
    (
        "hypervisors-and-kvm.md",
        "195 bytes",
        "the length of the test guest's message, a property of the guest",
        "",
    ),
    ("hypervisors-and-kvm.md", "3 GiB", C, ""),
    ("hypervisors-and-kvm.md", "4 GiB", C, ""),
    (
        "hypervisors-and-kvm.md",
        "44 KiB",
        H,
        "one run's --timeline --json report",
    ),
    ("hypervisors-and-kvm.md", "7 ms", H, ""),
    (
        "hypervisors-and-kvm.md",
        "7.1 ms",
        H,
        "a script of raw ioctls",
    ),
    ("introduction.md", "100 to 150 ms", L, ""),
    (
        "labs/boot-time-solution.md",
        "0.5 to 1.5 ms",
        H,
        "peti run --trace, whose network-namespace step the lab's phases do not split out",
    ),
    ("labs/boot-time-solution.md", "100 to 150 ms", L, ""),
    ("labs/boot-time.md", "0.14 ms", H, "one strace -f -ttt run"),
    ("labs/boot-time.md", "0.3 ms", H, "one strace -f -ttt run"),
    ("labs/boot-time.md", "0.9 ms", H, "one strace -f -ttt run"),
    ("labs/boot-time.md", "1 ms", H, "one strace -f -ttt run"),
    ("labs/boot-time.md", "128 MiB", P, "the default --mem"),
    ("labs/boot-time.md", "30 times", P, "N, the lab's --runs"),
    (
        "labs/boot-time.md",
        "32 bytes",
        H,
        "one strace -f -ttt run: the size of microvm's first read",
    ),
    (
        "labs/compare-solution.md",
        "128 MiB",
        P,
        "the default --mem",
    ),
    ("labs/compare-solution.md", "17 KiB", F, "peti-dmz"),
    ("labs/compare-solution.md", "18 MB", F, "qemu-system-x86_64"),
    (
        "labs/compare-solution.md",
        "256 KiB",
        C,
        "the memory cgroup's charge batch: 64 pages",
    ),
    ("labs/compare-solution.md", "8.8 MB", F, "runc"),
    (
        "labs/compare.md",
        "1.5 ms",
        H,
        "two runs of this lab, before and after its two passes",
    ),
    ("labs/compare.md", "128 MiB", P, "the default --mem"),
    (
        "labs/compare.md",
        "256 KiB",
        C,
        "the memory cgroup's charge batch: 64 pages",
    ),
    ("labs/memory-solution.md", "128 MiB", P, "the default --mem"),
    ("labs/memory-solution.md", "18 MB", F, "qemu-system-x86_64"),
    ("labs/memory.md", "128 MiB", P, "the default --mem"),
    ("labs/memory.md", "64 MiB", P, ""),
    ("labs/resources-solution.md", "100 MiB", P, ""),
    ("labs/resources-solution.md", "32 MiB", P, ""),
    ("labs/resources-solution.md", "64 MiB", P, ""),
    ("labs/resources.md", "100 MiB", P, ""),
    ("labs/resources.md", "32 MiB", P, ""),
    ("labs/resources.md", "64 MiB", P, ""),
    (
        "labs/simulate-solution.md",
        "125 ms",
        L,
        "the Firecracker paper, NSDI 2020",
    ),
    (
        "labs/simulate-solution.md",
        "150 ms",
        P,
        "the question's assumed Linux boot",
    ),
    (
        "labs/simulate-solution.md",
        "4.8 s",
        "arithmetic on the question's assumed 150 ms boot, shown in place",
        "",
    ),
    ("labs/simulate.md", "128 MiB", P, "the default --mem"),
    (
        "labs/simulate.md",
        "150 ms",
        P,
        "the question's assumed Linux boot",
    ),
    ("labs/simulate.md", "64 GiB", P, "the simulated host"),
    ("labs/simulate.md", "65,536 MiB", P, "the simulated host"),
    ("namespaces.md", "0.1 ms", H, ""),
    ("namespaces.md", "17 KiB", F, "peti-dmz"),
    ("pid-1.md", "20 KiB", F, "peti-init"),
];

/// Units after which a number is a quantity worth a source.
const UNITS: &[&str] = &[
    "ms", "µs", "us", "ns", "s", "MiB", "KiB", "GiB", "KB", "MB", "GB", "kB", "times", "%", "bytes",
];

/// The page's prose: fenced code blocks, inline code, HTML comments and
/// `{{...}}` directives replaced by spaces.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if fenced {
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for (open, close) in [("{{", "}}"), ("<!--", "-->"), ("`", "`"), ("](", ")")] {
        out = blank_between(&out, open, close);
    }
    out
}

fn blank_between(text: &str, open: &str, close: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let Some(len) = rest[start + open.len()..].find(close) else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push(' ');
        rest = &rest[start + open.len() + len + close.len()..];
    }
    out.push_str(rest);
    out
}

/// A number: digits, with `,` thousands and a `.` fraction.
fn number_at(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut end = at;
    while end < bytes.len()
        && (bytes[end].is_ascii_digit()
            || ((bytes[end] == b',' || bytes[end] == b'.')
                && end + 1 < bytes.len()
                && bytes[end + 1].is_ascii_digit()
                && end > at))
    {
        end += 1;
    }
    (end > at).then_some(end)
}

/// Every "N unit" and "N to M unit" in `text`.
fn quantities(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric() || b".-_,".contains(&bytes[i - 1])));
        let Some(mut end) = starts.then(|| number_at(text, i)).flatten() else {
            i += 1;
            continue;
        };
        // "175 to 240 ms", "0.5 and 1.5 ms": one quantity.
        for joint in [" to ", " and ", " or ", "-", "–"] {
            if text[end..].starts_with(joint)
                && let Some(second) = number_at(text, end + joint.len())
            {
                end = second;
                break;
            }
        }
        let after = &text[end..];
        let spaced = after.strip_prefix(' ').unwrap_or(after);
        let unit = UNITS.iter().find(|u| {
            spaced.starts_with(**u)
                && !spaced[u.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric())
        });
        if let Some(unit) = unit {
            let gap = after.len() - spaced.len();
            found.push(text[i..end + gap + unit.len()].to_string());
        }
        i = end;
    }
    found
}

fn pages() -> Vec<PathBuf> {
    labs::figures::markdown_under(&src())
}

fn page_name(path: &Path) -> String {
    path.strip_prefix(src())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_measured_number_a_page_quotes_comes_from_its_results_file() {
    let mut typed: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (page, number, why, _what) in TYPED {
        assert!(!why.is_empty(), "{page}: {number} needs a reason");
        typed.insert((page, number), why);
    }
    let mut unsourced = Vec::new();
    let mut used = BTreeSet::new();
    for path in pages() {
        let page = page_name(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        for quantity in quantities(&prose(&text)) {
            let listed = typed
                .keys()
                .find(|(p, n)| *p == page && *n == quantity)
                .copied();
            match listed {
                Some(key) => {
                    used.insert(key);
                }
                None => unsourced.push(format!("{page}: {quantity:?}")),
            }
        }
    }
    assert!(
        unsourced.is_empty(),
        "numbers with no source: include each from generated/figures/ (see \
         labs/src/figures.rs), or list it in TYPED with why it is not a results \
         file's:\n  {}",
        unsourced.join("\n  ")
    );
    let stale: Vec<_> = typed.keys().filter(|k| !used.contains(*k)).collect();
    assert!(
        stale.is_empty(),
        "TYPED lists numbers no page has: {stale:?}"
    );
}

#[test]
fn every_included_figure_exists_in_the_reference_results() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bench-results")
        .join(labs::figures::REFERENCE);
    let figures = labs::figures::of_folder(&results).unwrap();
    let included = pages()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .filter(|text| text.contains("generated/figures/"))
        .count();
    assert!(included > 0, "no page includes a figure");
    let missing = labs::figures::missing_in_pages(&src(), &figures);
    assert!(missing.is_empty(), "figures that do not exist: {missing:?}");
}

#[test]
fn the_scanner_finds_quantities_and_ranges_and_skips_code() {
    let text = "peti took 6.5 ms, runc 40 to 45 ms (6.6 times); `sleep 5 s` is \
                code, x86_64 is not a number, {{#include a/b}} neither, and 1,344 KiB is.";
    assert_eq!(
        quantities(&prose(text)),
        ["6.5 ms", "40 to 45 ms", "6.6 times", "1,344 KiB"]
    );
}
