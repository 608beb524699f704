//! Content addresses: the `sha256:<hex>` names of OCI blobs.
//!
//! A digest read from an image (an index, a manifest, a config's diff_ids, a name
//! in an archive) is attacker-controlled text, and the store turns digests into
//! paths: `blobs/sha256/<hex>`, `layers/<hex>`. So no digest becomes a path before
//! it is parsed into a [`Sha256Digest`], which holds exactly 64 lowercase hex
//! digits: `sha256:../../tmp/x` is refused here, not trusted there.

use oci_spec::image::{Descriptor, Digest, DigestAlgorithm, Sha256Digest};
use sha2::{Digest as _, Sha256};

/// A digest that cannot name a blob of this store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("{0:?} is not a valid digest: a digest is sha256: and 64 lowercase hex digits")]
    Malformed(String),
    #[error("digest {0:?} uses {1}: peti verifies and stores sha256 content only")]
    Unsupported(String, String),
}

/// The OCI digest (`sha256:<64 hex digits>`) of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    from_hasher(Sha256::new_with_prefix(bytes)).into()
}

/// The digest a finished hasher gives, as a checked sha256 digest.
pub fn from_hasher(hasher: Sha256) -> Sha256Digest {
    let hex = hex::encode(hasher.finalize());
    hex.parse().expect("sha256 hex is 64 lowercase hex digits")
}

/// A checked digest as OCI writes it, `sha256:<hex>` (oci-spec's `Display` of
/// a `Sha256Digest` gives the hex digits alone).
pub fn text(digest: &Sha256Digest) -> String {
    format!("sha256:{}", digest.digest())
}

/// Parses `sha256:<hex>`, refusing anything else.
pub fn parse_sha256(text: &str) -> Result<Sha256Digest, DigestError> {
    let digest = Digest::try_from(text).map_err(|_| DigestError::Malformed(text.to_string()))?;
    checked(&digest)
}

/// The digest a descriptor names, if it is a sha256 one.
pub fn of_descriptor(descriptor: &Descriptor) -> Result<Sha256Digest, DigestError> {
    checked(descriptor.digest())
}

/// oci-spec has already checked the form of a digest of a known algorithm: 64
/// lowercase hex digits for sha256. Other algorithms, known or not, are refused.
fn checked(digest: &Digest) -> Result<Sha256Digest, DigestError> {
    match digest.algorithm() {
        DigestAlgorithm::Sha256 => digest
            .digest()
            .parse()
            .map_err(|_| DigestError::Malformed(digest.to_string())),
        other => Err(DigestError::Unsupported(
            digest.to_string(),
            other.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input_is_the_well_known_one() {
        assert_eq!(sha256_digest(b"").to_string(), EMPTY);
    }

    #[test]
    fn only_a_sha256_of_64_lowercase_hex_digits_is_a_digest() {
        assert_eq!(parse_sha256(EMPTY).unwrap().digest(), &EMPTY[7..]);
        for bad in [
            "sha256:../../../../tmp/somewhere",
            "sha256:",
            "sha256",
            "",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/..",
            "../sha256:e3b0",
        ] {
            assert!(
                matches!(parse_sha256(bad), Err(DigestError::Malformed(_))),
                "{bad:?}"
            );
        }
        let other = format!("sha512:{}", "a".repeat(128));
        assert!(matches!(
            parse_sha256(&other),
            Err(DigestError::Unsupported(..))
        ));
        assert!(matches!(
            parse_sha256("md5:abc"),
            Err(DigestError::Unsupported(..))
        ));
    }
}
