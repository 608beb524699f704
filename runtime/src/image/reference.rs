//! Image references, as Docker reads them: `[REGISTRY/]PATH[:TAG][@DIGEST]`.
//!
//! - The registry is the first component if it looks like a host: it has a `.`
//!   or a `:port`, or is `localhost`. Otherwise the image is on Docker Hub,
//!   `docker.io`, where a one-component name lives under `library/`.
//! - The tag is `latest` when neither a tag nor a digest is given.
//! - A digest pins the exact manifest: `busybox@sha256:...`.
//!
//! A reference has two spellings. The familiar one (`busybox:latest`,
//! `127.0.0.1:5000/lab:1`) is what Docker prints and what peti keys its store
//! by; the normalised one (`docker.io/library/busybox:latest`) is what a
//! registry is asked for. Parsing takes either and keeps the familiar name.

use oci_spec::image::Sha256Digest;

use super::digest;

/// Docker Hub, the registry of names with no host.
pub const DOCKER_HUB: &str = "docker.io";

/// A text that is no image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid reference format {0:?}: use NAME[:TAG] with lowercase letters, digits and . _ - /"
)]
pub struct ReferenceError(pub String);

/// An image reference, with `latest` filled in when neither tag nor digest was
/// given (Docker's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The familiar name: `busybox`, `team/app`, `127.0.0.1:5000/lab`.
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<Sha256Digest>,
}

impl Reference {
    /// Parses `NAME[:TAG][@DIGEST]`, familiar or normalised.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let bad = || ReferenceError(text.to_string());
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => (rest, Some(digest::parse_sha256(d).map_err(|_| bad())?)),
            None => (text, None),
        };
        // A ':' after the last '/' separates the tag; one before it is a port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if tag.is_some_and(|t| !tag_is_valid(t)) || !name_is_valid(name) {
            return Err(bad());
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            name: familiar(name),
            tag,
            digest,
        })
    }

    /// The tag, `latest` for a reference by digest alone.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The registry that holds it: its host, or Docker Hub.
    pub fn registry(&self) -> &str {
        match self.name.split_once('/') {
            Some((host, _)) if looks_like_host(host) => host,
            _ => DOCKER_HUB,
        }
    }

    /// Its repository's path on that registry: `library/busybox` on Docker Hub.
    pub fn repository(&self) -> String {
        match self.name.split_once('/') {
            Some((host, path)) if looks_like_host(host) => path.to_string(),
            Some(_) => self.name.clone(),
            None => format!("library/{}", self.name),
        }
    }

    /// The normalised spelling: `docker.io/library/busybox:latest`.
    pub fn normalized(&self) -> String {
        let mut text = format!("{}/{}", self.registry(), self.repository());
        if let Some(tag) = &self.tag {
            text = format!("{text}:{tag}");
        }
        if let Some(digest) = &self.digest {
            text = format!("{text}@{}", digest::text(digest));
        }
        text
    }
}

/// The familiar spelling, as the parser keeps it.
impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{}", digest::text(digest))?;
        }
        Ok(())
    }
}

/// Docker Hub's long spellings dropped: `docker.io/library/busybox` and
/// `index.docker.io/library/busybox` are `busybox`; `docker.io/team/app` is
/// `team/app`.
fn familiar(name: &str) -> String {
    let hub_path = ["docker.io/", "index.docker.io/"]
        .iter()
        .find_map(|hub| name.strip_prefix(hub));
    match hub_path {
        Some(path) => match path.strip_prefix("library/") {
            Some(one) if !one.contains('/') => one.to_string(),
            _ => path.to_string(),
        },
        None => name.to_string(),
    }
}

fn looks_like_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// At most 128 characters of letters, digits, `_`, `.` and `-`, not starting
/// with `.` or `-`.
fn tag_is_valid(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Docker's grammar for a repository name: an optional registry host, then
/// path components of lowercase letters and digits, joined inside a component
/// by `.`, `_`, `__` or dashes. `a:b` is no name: the text before the tag's `:`
/// holds a second `:` with no registry port behind it.
fn name_is_valid(name: &str) -> bool {
    let path = match name.split_once('/') {
        Some((host, path)) if looks_like_host(host) && host_is_valid(host) => path,
        _ => name,
    };
    path.split('/').all(path_component_is_valid)
}

/// `host` or `host:port`, the host made of letters, digits, dashes and dots.
fn host_is_valid(host: &str) -> bool {
    let (host, port) = match host.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// `[a-z0-9]+` runs joined by one `.`, one or two `_`, or any number of `-`.
fn path_component_is_valid(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let separator_ok = |s: &str| s == "." || s == "_" || s == "__" || s.chars().all(|c| c == '-');
    component.starts_with(alnum)
        && component.ends_with(alnum)
        && component
            .split(alnum)
            .filter(|s| !s.is_empty())
            .all(separator_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn references_follow_dockers_rules() {
        assert_eq!(Reference::parse("lab").unwrap().to_string(), "lab:latest");
        assert_eq!(Reference::parse("lab:v1").unwrap().to_string(), "lab:v1");
        assert_eq!(
            Reference::parse("127.0.0.1:5000/lab").unwrap().to_string(),
            "127.0.0.1:5000/lab:latest"
        );
        assert_eq!(
            Reference::parse("127.0.0.1:5000/lab:2")
                .unwrap()
                .tag
                .as_deref(),
            Some("2")
        );
        for good in [
            "localhost/lab",
            "localhost:5000/a/b:c",
            "registry.example.com/team/lab-app:1.0",
            "a__b",
            "a---b",
            "my_app.v2",
        ] {
            assert!(Reference::parse(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "Lab",
            "lab:",
            "lab:bad tag",
            "a b",
            "a:b:c",
            "a:b/c",
            "/lab",
            "lab/",
            "a//b",
            "-lab",
            "lab-",
            "a___b",
            "a..b",
            "lab:.v1",
            "host:/lab",
            "Host.example/Lab",
            "lab@sha256:abc",
            "lab@",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn docker_hub_names_are_normalised_and_shown_familiar() {
        for (given, familiar, normalized) in [
            (
                "busybox",
                "busybox:latest",
                "docker.io/library/busybox:latest",
            ),
            (
                "docker.io/library/busybox",
                "busybox:latest",
                "docker.io/library/busybox:latest",
            ),
            (
                "index.docker.io/library/busybox:1",
                "busybox:1",
                "docker.io/library/busybox:1",
            ),
            ("team/app:2", "team/app:2", "docker.io/team/app:2"),
            (
                "docker.io/team/app",
                "team/app:latest",
                "docker.io/team/app:latest",
            ),
            (
                "localhost:5000/lab:1",
                "localhost:5000/lab:1",
                "localhost:5000/lab:1",
            ),
            (
                "127.0.0.1:5000/a/b",
                "127.0.0.1:5000/a/b:latest",
                "127.0.0.1:5000/a/b:latest",
            ),
        ] {
            let r = Reference::parse(given).unwrap();
            assert_eq!(
                (r.to_string(), r.normalized()),
                (familiar.into(), normalized.into()),
                "{given}"
            );
        }
        let hub = Reference::parse("busybox").unwrap();
        assert_eq!(
            (hub.registry(), hub.repository()),
            ("docker.io", "library/busybox".into())
        );
        let local = Reference::parse("localhost:5000/team/lab").unwrap();
        assert_eq!(
            (local.registry(), local.repository()),
            ("localhost:5000", "team/lab".into())
        );
    }

    #[test]
    fn a_digest_pins_a_manifest_with_or_without_a_tag() {
        let pinned = Reference::parse(&format!("busybox@{DIGEST}")).unwrap();
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.to_string(), format!("busybox@{DIGEST}"));
        assert_eq!(
            pinned.normalized(),
            format!("docker.io/library/busybox@{DIGEST}")
        );
        let both = Reference::parse(&format!("localhost:5000/lab:1@{DIGEST}")).unwrap();
        assert_eq!(both.tag.as_deref(), Some("1"));
        assert!(both.digest.is_some());
    }
}
