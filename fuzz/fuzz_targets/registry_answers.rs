//! What a registry (or whoever answers in its place) sends `peti pull`: a
//! manifest or an index, of a media type it names, and the
//! `WWW-Authenticate` header and token of its login. Any bytes are refused
//! or read; a manifest that is read names only sha256 digests (they become
//! file names), and an index gives the digest of a manifest to fetch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runtime::image::platform::Platform;
use runtime::image::pull::{Document, read_document};
use runtime::image::reference::Reference;
use runtime::registry::{Fetched, auth};

const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    let fetched = Fetched {
        bytes: bytes.to_vec(),
        digest: "sha256:".to_string() + &"0".repeat(64),
        media_type: MEDIA_TYPES[usize::from(kind) % MEDIA_TYPES.len()].to_string(),
    };
    let reference = Reference::parse("127.0.0.1:5000/fuzz:1").unwrap();
    let platform = Platform::parse("linux/amd64").unwrap();
    match read_document(&reference, &fetched, &platform) {
        Ok(Document::Index(digest)) => assert!(is_sha256(&digest), "{digest}"),
        Ok(Document::Manifest(manifest)) => {
            for d in std::iter::once(manifest.config()).chain(manifest.layers()) {
                let digest = d.digest().to_string();
                assert!(is_sha256(&digest), "{digest}");
            }
        }
        Err(_) => {}
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(auth::Challenge::Bearer { realm, service, scope }) = auth::parse_challenge(text) {
            let scopes: Vec<String> = scope.into_iter().collect();
            let url = auth::token_url(&realm, service.as_deref(), &scopes);
            assert!(url.starts_with(&realm));
        }
    }
    if let Some(token) = auth::token_from(bytes) {
        assert!(token.bytes().all(|b| b.is_ascii_graphic()), "a token is one header value");
    }
});
