//! The book builds, its code blocks pass `mdbook test`, and every link inside it
//! leads somewhere: each relative link to a file that was built, and each
//! `#anchor` to an element with that id in its page.
//!
//! Needs mdbook (`.ci/setup` installs the pinned version); skips without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Every `href="..."` in an HTML page.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|l| l.replace("&amp;", "&"))
        .collect()
}

fn has_id(html: &str, id: &str) -> bool {
    html.contains(&format!("id=\"{id}\""))
}

fn html_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            html_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "html") {
            found.push(path);
        }
    }
}

#[test]
fn the_book_builds_and_every_internal_link_and_anchor_resolves() {
    let test = "the_book_builds_and_every_internal_link_and_anchor_resolves";
    if let Some(reason) = mdbook_unavailable() {
        return common::skip(test, reason);
    }
    let out = tempfile::tempdir().unwrap();
    let built = Command::new("mdbook")
        .arg("build")
        .arg(book())
        .arg("--dest-dir")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "mdbook build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let mut pages = Vec::new();
    html_files(out.path(), &mut pages);
    assert!(
        pages.iter().any(|p| p.ends_with("what-docker-is.html")),
        "a chapter is missing from {pages:?}"
    );
    let mut broken = Vec::new();
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        for link in links(&html) {
            let external = ["http://", "https://", "mailto:", "javascript:", "data:"]
                .iter()
                .any(|p| link.starts_with(p));
            // mdbook's theme links back to a page's own source for editing; a
            // book with no edit URL has none, and there is nothing else remote.
            if external || link.is_empty() {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let mut target = if file.is_empty() {
                page.clone()
            } else if let Some(from_root) = file.strip_prefix('/') {
                // The 404 page links from the site's root.
                out.path().join(from_root)
            } else {
                page.parent().unwrap().join(file)
            };
            if target.is_dir() {
                target = target.join("index.html");
            }
            if !target.is_file() {
                broken.push(format!("{}: {link}: no such file", page.display()));
                continue;
            }
            if !anchor.is_empty() && target.extension().is_some_and(|e| e == "html") {
                let text = std::fs::read_to_string(&target).unwrap();
                if !has_id(&text, anchor) {
                    broken.push(format!("{}: {link}: no id {anchor:?}", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    let tested = Command::new("mdbook")
        .arg("test")
        .arg(book())
        .output()
        .unwrap();
    assert!(
        tested.status.success(),
        "mdbook test failed:\n{}",
        String::from_utf8_lossy(&tested.stderr)
    );
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
