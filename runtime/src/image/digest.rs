//! Content addresses: the `sha256:<hex>` names of OCI blobs.

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};

/// The OCI digest (`sha256:<64 hex digits>`) of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    let hex = hex::encode(Sha256::digest(bytes));
    // A lowercase 64-digit hex string is always a valid sha256 digest.
    Digest::try_from(format!("sha256:{hex}")).expect("sha256 hex is a valid OCI digest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_one() {
        assert_eq!(
            sha256_digest(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
