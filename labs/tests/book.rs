//! The book builds, its code blocks pass `mdbook test`, every link inside it
//! leads somewhere (each relative link to a file that was built, each `#anchor`
//! to an element with that id in its page), and a real browser shows its pages
//! with every image loaded.
//!
//! The book is built the way `labs book` builds it (charts drawn from
//! bench-results/ into the source first), from a copy in a temp folder, so the
//! test writes nothing into the repository.
//!
//! With `BOOK_BUILT=DIR`, the tests check the book already built in DIR instead
//! (`.ci/run` points it at `book/book/`, which the README's lab command has just
//! built), and also that each lab page shows this machine's own fresh run.
//!
//! Needs mdbook (`.ci/setup` installs the pinned version); skips without it. The
//! browser check needs Debian's `chromium`; it skips without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn book() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../book")
}
fn mdbook_unavailable() -> Option<&'static str> {
    let found = Command::new("mdbook")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (!found).then_some("mdbook is not installed (run .ci/setup)")
}

/// Every value of `attribute` in an HTML page: `href` for links, `src` for
/// images and scripts.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    html.split(&format!("{attribute}=\""))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|l| l.replace("&amp;", "&"))
        .collect()
}

/// Every `href="..."` in an HTML page.
fn links(html: &str) -> Vec<String> {
    attribute_values(html, "href")
}

fn has_id(html: &str, id: &str) -> bool {
    html.contains(&format!("id=\"{id}\""))
}

/// The files below `dir` whose extension is one of `extensions`, leaving out
/// build output (`target/`).
fn files_below(dir: &Path, extensions: &[&str], found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            files_below(&path, extensions, found);
        } else if path
            .extension()
            .is_some_and(|e| extensions.iter().any(|x| e == *x))
        {
            found.push(path);
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        // The built book and the drawn charts are outputs, not sources.
        if name == "book" && from == book()
            || name == "generated"
            || name.to_string_lossy().starts_with(".generated-")
        {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// A built book: its source folder and its HTML folder.
struct Built {
    source: PathBuf,
    html: PathBuf,
    /// Whether it is the book `BOOK_BUILT` names, which `labs book` built in place.
    in_place: bool,
    _scratch: Option<tempfile::TempDir>,
}

/// The book to check, once per test binary: the one `BOOK_BUILT` names, or
/// else a copy, charted by `labs book --no-build` and built by mdbook.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        if let Some(html) = std::env::var_os("BOOK_BUILT") {
            let html = PathBuf::from(html);
            assert!(
                html.join("index.html").is_file(),
                "BOOK_BUILT={}: no built book there",
                html.display()
            );
            return Built {
                source: book(),
                html,
                in_place: true,
                _scratch: None,
            };
        }
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("book");
        copy_tree(&book(), &copy);
        let results = book().join("../bench-results");
        common::succeeded(
            common::labs()
                .args(["book", "--no-build", "--results"])
                .arg(&results)
                .arg("--book")
                .arg(&copy),
        );
        let html = dir.path().join("html");
        common::succeeded(
            Command::new("mdbook")
                .arg("build")
                .arg(&copy)
                .arg("--dest-dir")
                .arg(&html),
        );
        Built {
            source: copy,
            html,
            in_place: false,
            _scratch: Some(dir),
        }
    })
}

/// What is wrong with one link of `page`: a missing file or a missing anchor.
fn broken_link(out: &Path, page: &Path, link: &str) -> Option<String> {
    let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
    let mut target = if file.is_empty() {
        page.to_path_buf()
    } else if let Some(from_root) = file.strip_prefix('/') {
        // The 404 page links from the site's root.
        out.join(from_root)
    } else {
        page.parent().unwrap().join(file)
    };
    if target.is_dir() {
        target = target.join("index.html");
    }
    if !target.is_file() {
        return Some(format!("{}: {link}: no such file", page.display()));
    }
    if !anchor.is_empty() && target.extension().is_some_and(|e| e == "html") {
        let text = std::fs::read_to_string(&target).unwrap();
        if !has_id(&text, anchor) {
            return Some(format!("{}: {link}: no id {anchor:?}", page.display()));
        }
    }
    None
}

fn is_external(link: &str) -> bool {
    ["http://", "https://", "mailto:", "javascript:", "data:"]
        .iter()
        .any(|p| link.starts_with(p))
}

#[test]
fn the_book_builds_and_every_internal_link_and_anchor_resolves() {
    let test = "the_book_builds_and_every_internal_link_and_anchor_resolves";
    if let Some(reason) = mdbook_unavailable() {
        return common::skip(test, reason);
    }
    let built = built();
    let out = &built.html;
    let mut pages = Vec::new();
    files_below(out, &["html"], &mut pages);
    assert!(
        pages.iter().any(|p| p.ends_with("what-docker-is.html")),
        "a chapter is missing from {pages:?}"
    );
    let mut broken = Vec::new();
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        // Images too: a chart the page names must have been drawn.
        for link in links(&html)
            .into_iter()
            .chain(attribute_values(&html, "src"))
        {
            if is_external(&link) || link.is_empty() {
                continue;
            }
            broken.extend(broken_link(out, page, &link));
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    if built.in_place {
        assert_each_lab_page_shows_this_machines_run(out);
    }
    let tested = Command::new("mdbook")
        .arg("test")
        .arg(&built.source)
        .output()
        .unwrap();
    assert!(
        tested.status.success(),
        "mdbook test failed:\n{}",
        String::from_utf8_lossy(&tested.stderr)
    );
}

/// After the lab command: each page of a lab that the command runs has this
/// machine's charts, not the note that says how to get them.
fn assert_each_lab_page_shows_this_machines_run(out: &Path) {
    let id = common::succeeded(common::labs().arg("machine-id"));
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let yours = format!("<strong>Your machine</strong> (<code>{id}</code>), measured");
    // `labs run all`, then the two with commands of their own.
    let labs = labs::experiments::LABS.iter().map(|l| l.name);
    for lab in labs.chain(["compare", "simulate"]) {
        let page = out.join(format!("labs/{lab}.html"));
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(
            html.contains(&yours),
            "{}: no charts of this machine's run ({yours:?})",
            page.display()
        );
    }
}

#[test]
fn the_link_check_finds_a_broken_link_and_a_missing_anchor() {
    // The checker's own parts, on pages made here: a checker that cannot fail
    // would prove nothing about the book.
    let html = r#"<a href="a.html#here">x</a> <a href="https://example.org">y</a>
                  <h2 id="here">Here</h2> <a href="b.html">z</a>"#;
    assert_eq!(
        links(html),
        ["a.html#here", "https://example.org", "b.html"]
    );
    assert!(has_id(html, "here"));
    assert!(!has_id(html, "there"));
}

/// What a page reported from inside the browser, once everything had loaded.
#[derive(Debug, Default)]
struct BrowserReport {
    /// (src, loaded, natural width) of every image.
    images: Vec<(String, bool, u32)>,
    /// Every link's resolved URL.
    links: Vec<String>,
}

/// The script put at the end of a copy of the page: on `load` (after every image
/// has loaded or failed) it writes what it found into a `<pre>` that
/// `--dump-dom` prints.
const REPORTER: &str = r#"<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var out = [];
    document.querySelectorAll('img').forEach(function (img) {
      var ok = img.complete && img.naturalWidth > 0;
      out.push('IMG ' + (ok ? 'ok' : 'broken') + ' ' + img.naturalWidth + ' ' + img.getAttribute('src'));
    });
    document.querySelectorAll('a[href]').forEach(function (a) { out.push('A ' + a.href); });
    var pre = document.createElement('pre');
    pre.id = 'browser-check';
    pre.textContent = out.join('\n') + '\nDONE';
    document.body.appendChild(pre);
  }, 300);
});
</script>"#;

fn chromium(args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new("timeout")
        .arg("120")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox", // we are root; Chromium's sandbox refuses to run as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .unwrap()
}

fn open_in_browser(page: &Path, screenshot: &Path) -> BrowserReport {
    let html = std::fs::read_to_string(page).unwrap();
    // Beside the page, so that its relative links and images resolve the same.
    let probe = page.with_file_name(format!(
        ".browser-check-{}",
        page.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &probe,
        html.replace("</body>", &format!("{REPORTER}</body>")),
    )
    .unwrap();
    let url = format!("file://{}", probe.display());
    let dumped = chromium(&["--virtual-time-budget=10000", "--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dumped.stdout);
    let report = dom
        .split("<pre id=\"browser-check\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!(
                "{}: the page's report did not come back; chromium said:\n{}",
                page.display(),
                String::from_utf8_lossy(&dumped.stderr)
            )
        });
    assert!(report.ends_with("DONE"), "a cut report: {report}");
    let mut found = BrowserReport::default();
    for line in report.lines() {
        let line = line.replace("&amp;", "&");
        if let Some(image) = line.strip_prefix("IMG ") {
            let mut parts = image.splitn(3, ' ');
            let (state, width, src) = (parts.next(), parts.next(), parts.next());
            found.images.push((
                src.unwrap_or("").to_string(),
                state == Some("ok"),
                width.and_then(|w| w.parse().ok()).unwrap_or(0),
            ));
        } else if let Some(link) = line.strip_prefix("A ") {
            // The page's own anchors resolve against the probe's name: give
            // them back the page's.
            found.links.push(link.replace(
                &*probe.file_name().unwrap().to_string_lossy(),
                &page.file_name().unwrap().to_string_lossy(),
            ));
        }
    }
    std::fs::remove_file(&probe).unwrap();
    // A picture of the page as a reader sees it, to look at by hand.
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let shot = chromium(&[
        "--window-size=1280,2600",
        "--virtual-time-budget=5000",
        &format!("--screenshot={}", screenshot.display()),
        &format!("file://{}", page.display()),
    ]);
    assert!(
        screenshot.is_file(),
        "no screenshot of {}: {}",
        page.display(),
        String::from_utf8_lossy(&shot.stderr)
    );
    found
}

#[test]
fn a_browser_shows_a_lab_page_and_the_commands_page_with_every_image_and_link() {
    let test = "a_browser_shows_a_lab_page_and_the_commands_page_with_every_image_and_link";
    if let Some(reason) = mdbook_unavailable() {
        return common::skip(test, reason);
    }
    if !common::have("chromium") {
        return common::skip(
            test,
            "chromium is not installed (Debian's `chromium`; .ci/setup installs it where it can)",
        );
    }
    let out = &built().html;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/book-screenshots");
    for (page, min_images) in [("labs/boot-time.html", 2), ("commands.html", 0)] {
        let path = out.join(page);
        let report = open_in_browser(&path, &shots.join(page.replace('/', "-") + ".png"));
        let broken: Vec<_> = report.images.iter().filter(|(_, ok, _)| !ok).collect();
        assert!(
            broken.is_empty(),
            "{page}: images that did not load: {broken:?}"
        );
        assert!(
            report.images.len() >= min_images,
            "{page}: {} images, expected at least {min_images} charts",
            report.images.len()
        );
        assert!(!report.links.is_empty(), "{page}: no links at all");
        let dead: Vec<String> = report
            .links
            .iter()
            .filter_map(|link| link.strip_prefix("file://"))
            .filter_map(|file| {
                broken_link(
                    out,
                    &path,
                    &format!(
                        "/{}",
                        file.trim_start_matches(&*out.to_string_lossy())
                            .trim_start_matches('/')
                    ),
                )
            })
            .collect();
        assert!(dead.is_empty(), "{page}: dead links:\n{}", dead.join("\n"));
        eprintln!(
            "{page}: {} images loaded, {} links, screenshot in {}",
            report.images.len(),
            report.links.len(),
            shots.display()
        );
    }
}

/// Every file of ours a page names (`microvm/src/vm.rs`, `runtime/src/...`)
/// exists, and every code excerpt it quotes (a `rust,ignore` block) is still in
/// the source: each line of the excerpt, spaces aside, in order, in one file.
/// Excerpts may join short lines and end a line with `...`; what they quote must
/// not have moved or changed, or the page teaches code that is not there.
#[test]
fn the_books_files_and_code_excerpts_are_in_the_source() {
    let root = book().join("..").canonicalize().unwrap();
    let mut sources = Vec::new();
    for crate_dir in ["runtime", "microvm", "labs", "testkit"] {
        files_below(&root.join(crate_dir), &["rs", "c"], &mut sources);
    }
    let squeezed: Vec<(PathBuf, String)> = sources
        .iter()
        .map(|p| (p.clone(), squeeze(&std::fs::read_to_string(p).unwrap())))
        .collect();
    let mut wrong = Vec::new();
    let mut excerpts = 0;
    let mut pages = vec![root.join("README.md")];
    files_below(&root.join("book/src"), &["md"], &mut pages);
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let name = page
            .strip_prefix(&root)
            .unwrap_or(page)
            .display()
            .to_string();
        for path in named_paths(&text) {
            if !root.join(&path).exists() {
                wrong.push(format!("{name}: names {path}, which does not exist"));
            }
        }
        for (line, excerpt) in rust_excerpts(&text) {
            excerpts += 1;
            if !squeezed.iter().any(|(_, s)| quotes(s, &excerpt)) {
                wrong.push(format!(
                    "{name}:{line}: this excerpt is in no source file:\n{}",
                    excerpt.join("\n")
                ));
            }
        }
    }
    assert!(
        excerpts >= 5,
        "found only {excerpts} excerpts: is the parser right?"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Text with every space, tab and newline taken out.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The paths of our own source a page names, as `crate/src/...` in backticks.
fn named_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            ["runtime/", "microvm/", "labs/", "testkit/", "fuzz/"]
                .iter()
                .any(|c| s.starts_with(c))
                && (s.ends_with(".rs") || s.ends_with(".c") || s.ends_with('/'))
                && !s.contains(' ')
        })
        .map(str::to_string)
        .collect()
}

/// Each `rust,ignore` block: its first line's number and its lines, squeezed,
/// without a trailing `...` and without the lines that are only `...`.
fn rust_excerpts(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut excerpts = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match current.take() {
            None if fence && line.contains("rust,ignore") => current = Some((i + 1, Vec::new())),
            None => {}
            Some(done) if fence => excerpts.push(done),
            Some((at, mut lines)) => {
                let squeezed = squeeze(line);
                let squeezed = squeezed.trim_end_matches("...");
                if !squeezed.is_empty() {
                    lines.push(squeezed.to_string());
                }
                current = Some((at, lines));
            }
        }
    }
    excerpts
}

/// Whether `source` (squeezed) holds each line of `excerpt`, in order.
fn quotes(source: &str, excerpt: &[String]) -> bool {
    let mut from = 0;
    for line in excerpt {
        match source[from..].find(line.as_str()) {
            Some(at) => from += at + line.len(),
            None => return false,
        }
    }
    true
}

/// Sentences the book once said, which a reader who knows the field showed to
/// be wrong (issue 20), each with what is true. A page (or the README, or a
/// message of microvm's) that says one again fails here. Compared without
/// spaces or case, so that reflowing a paragraph does not hide one.
const REFUTED: &[(&str, &str)] = &[
    (
        "A Linux guest needs **hardware virtualisation**",
        "a stock kernel needs it; a PVM-built kernel or an emulator runs Linux without",
    ),
    (
        "A Linux guest needs VT-x or AMD-V",
        "a stock kernel needs it; a PVM-built kernel or an emulator runs Linux without",
    ),
    (
        "multi-threaded process cannot `unshare` a mount namespace",
        "it can; it cannot setns into one, or make or join a user namespace",
    ),
    (
        "its network library makes the namespace, and runc's process joins it",
        "runc makes it and libnetwork adopts it (SetKey); made-first is podman's and CNI's way",
    ),
    (
        "in which each directory has every controller enabled for it",
        "a v2 directory has what its parent's cgroup.subtree_control enables",
    ),
    (
        "does both and charts the memory over time",
        "the resources lab takes five snapshots, on one cgroup version",
    ),
    (
        "because a tar file cannot be relied on to carry device nodes",
        "whiteout files come from AUFS and portability (a device node needs CAP_MKNOD)",
    ),
    (
        "a handful of processes (its kernel threads",
        "a Linux guest starts dozens of kernel threads",
    ),
    (
        "Every claim in these pages is checked by a lab",
        "no Linux VM was measured here: those claims rest on literature",
    ),
    (
        "can tell whether a file was edited by hand",
        "labs check finds files that contradict themselves, not careful edits",
    ),
    (
        "once an irqchip exists, every",
        "KVM waits for SRCU at every slot change; the irqchip's part is unproven",
    ),
    (
        "`--network none` (the default)",
        "none is peti's default; Docker's is bridge",
    ),
    (
        "boot the same guest, which does the same work",
        "QEMU runs qboot and a PVH option ROM in the guest first",
    ),
    (
        "to start a VM per function in about the time a container takes",
        "Firecracker was built for isolation and density, with boots of about 125 ms",
    ),
    (
        "(out of about 40 that root normally has), `no_new_privs`",
        "Docker does not set no_new_privs by default",
    ),
    (
        "the median run of each way, split into phases",
        "the phases chart stacks each phase's median; the median run is the box plot",
    ),
    (
        "QEMU's is about 30 times bigger",
        "that divided the compare lab's ru_maxrss, which carries the lab itself, by a PSS figure",
    ),
    (
        "peak memory 1,796 KiB and 39,392 KiB",
        "those were ru_maxrss readings that carry the forked lab's own high-water mark",
    ),
    (
        "and the peak resident memory of the process tree",
        "ru_maxrss is of one process, carries the pre-exec lab, and leaves daemons out",
    ),
];

#[test]
fn the_book_does_not_repeat_a_claim_that_was_shown_wrong() {
    let root = book().join("..").canonicalize().unwrap();
    let mut texts = vec![root.join("README.md")];
    files_below(&root.join("book/src"), &["md"], &mut texts);
    files_below(&root.join("microvm/src"), &["rs"], &mut texts);
    let plain = |text: &str| squeeze(text).to_lowercase();
    let mut found = Vec::new();
    for path in &texts {
        let text = plain(&std::fs::read_to_string(path).unwrap());
        for (claim, truth) in REFUTED {
            if text.contains(&plain(claim)) {
                found.push(format!("{}: says {claim:?}; but {truth}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
