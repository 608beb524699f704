//! Choosing one image of several: an index (a "manifest list") holds one image
//! per platform, and a machine runs the one built for it.
//!
//! Each entry of an index may say its platform: an OS, a CPU architecture and,
//! for ARM, a variant. Entries whose platform is `unknown/unknown` are not
//! images at all but attestations (build provenance, SBOMs) that BuildKit puts
//! beside them: they are never chosen.

use oci_spec::image::{Arch, Descriptor, Os};

/// An OS, architecture and optional variant: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// A platform no entry of the index has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("{0:?} is not a platform: give OS/ARCH[/VARIANT], like linux/amd64")]
    Malformed(String),
    #[error("no image for {wanted} in the index; it has: {available}")]
    NotFound { wanted: String, available: String },
}

impl Platform {
    /// The platform peti runs on, and pulls for by default: linux/amd64.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// Parses `OS/ARCH[/VARIANT]`, as `--platform` takes it.
    pub fn parse(text: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric());
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(PlatformError::Malformed(text.to_string())),
        }
    }

    /// The platform an index entry says, if it says one.
    pub fn of(descriptor: &Descriptor) -> Option<Platform> {
        let p = descriptor.platform().as_ref()?;
        Some(Platform {
            os: os_name(p.os()),
            architecture: arch_name(p.architecture()),
            variant: p.variant().clone(),
        })
    }

    /// Whether an entry of this platform runs here: same OS and architecture,
    /// and the same variant if one was asked for.
    fn runs(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.variant == wanted.variant)
    }

    fn is_attestation(&self) -> bool {
        self.os == "unknown" || self.architecture == "unknown"
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn os_name(os: &Os) -> String {
    serde_json::to_value(os)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn arch_name(arch: &Arch) -> String {
    serde_json::to_value(arch)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The entry of `entries` for `wanted`. An entry that says no platform matches
/// any (an index of one image often says none); attestations never match.
pub fn select<'a>(
    entries: &'a [Descriptor],
    wanted: &Platform,
) -> Result<&'a Descriptor, PlatformError> {
    let found = entries.iter().find(|d| match Platform::of(d) {
        None => true,
        Some(p) => !p.is_attestation() && p.runs(wanted),
    });
    found.ok_or_else(|| PlatformError::NotFound {
        wanted: wanted.to_string(),
        available: {
            let names: Vec<String> = entries
                .iter()
                .filter_map(Platform::of)
                .filter(|p| !p.is_attestation())
                .map(|p| p.to_string())
                .collect();
            if names.is_empty() {
                "no platforms".into()
            } else {
                names.join(", ")
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        let json = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "a".repeat(64)),
            "size": 1,
            "platform": {"os": os, "architecture": arch, "variant": variant},
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_entry_for_the_platform_is_chosen_and_attestations_never() {
        let entries = [
            entry("unknown", "unknown", None),
            entry("linux", "arm64", Some("v8")),
            entry("linux", "amd64", None),
        ];
        let chosen = select(&entries, &Platform::host()).unwrap();
        assert_eq!(Platform::of(chosen).unwrap().to_string(), "linux/amd64");
        let arm = select(&entries, &Platform::parse("linux/arm64/v8").unwrap()).unwrap();
        assert_eq!(Platform::of(arm).unwrap().architecture, "arm64");
        let err = select(&entries, &Platform::parse("linux/riscv64").unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no image for linux/riscv64 in the index; it has: linux/arm64/v8, linux/amd64"
        );
        assert!(
            select(&entries[..1], &Platform::host()).is_err(),
            "an attestation only"
        );
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}
