//! A file tree held in memory, written out as a reproducible tar archive.
//!
//! A tar file records more than the files: modification times, owner ids, user and
//! group names, and the order entries were added. Building the same tree on two
//! machines gives different bytes, and so different digests, unless every one of
//! those is fixed. Here they are: entries are sorted by path, every time is
//! [`EPOCH`], every owner is 0:0 with no names. That makes image digests depend on
//! the content alone.

use std::collections::BTreeMap;

/// The modification time of every entry: 1970-01-01T00:00:00Z.
pub const EPOCH: u64 = 0;

/// What a path in the tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub mode: u32,
    pub node: Node,
}

/// A file tree. Paths are relative, without a leading `/`.
///
/// A `BTreeMap` keeps entries sorted, and sorting puts every directory before what it
/// holds (`bin` < `bin/sh`), which is the order tar readers need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rootfs {
    entries: BTreeMap<String, Entry>,
}

impl Rootfs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory, and its parents.
    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.insert(path, mode, Node::Dir)
    }

    /// Adds a regular file, and its parent directories.
    pub fn file(&mut self, path: &str, mode: u32, bytes: Vec<u8>) -> &mut Self {
        self.insert(path, mode, Node::File(bytes))
    }

    /// Adds a symbolic link to `target`, and its parent directories.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.insert(path, 0o777, Node::Symlink(target.to_string()))
    }

    /// Lays `upper` over this tree, as a later image layer is laid over an earlier one.
    pub fn overlay(&mut self, upper: &Rootfs) -> &mut Self {
        for (path, entry) in &upper.entries {
            self.entries.insert(path.clone(), entry.clone());
        }
        self
    }

    /// The entries, sorted by path.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(p, e)| (p.as_str(), e))
    }

    /// The tree as an uncompressed tar archive.
    pub fn to_tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, entry) in &self.entries {
            let mut header = tar::Header::new_ustar();
            header.set_mode(entry.mode);
            header.set_mtime(EPOCH);
            header.set_uid(0);
            header.set_gid(0);
            let (kind, data, name): (tar::EntryType, &[u8], String) = match &entry.node {
                Node::Dir => (tar::EntryType::Directory, &[], format!("{path}/")),
                Node::File(bytes) => (tar::EntryType::Regular, bytes, path.clone()),
                Node::Symlink(target) => {
                    header
                        .set_link_name(target)
                        .expect("link targets here are short and relative-safe");
                    (tar::EntryType::Symlink, &[], path.clone())
                }
            };
            header.set_entry_type(kind);
            header.set_size(data.len() as u64);
            // Writing into a Vec cannot fail; a path too long for ustar is a bug in
            // the image definitions, which all use short paths.
            builder
                .append_data(&mut header, &name, data)
                .expect("tar entry into memory");
        }
        builder.into_inner().expect("tar archive into memory")
    }

    fn insert(&mut self, path: &str, mode: u32, node: Node) -> &mut Self {
        let path = path.trim_matches('/');
        let mut parent = String::new();
        for component in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, p)| p)
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(component);
            self.entries.entry(parent.clone()).or_insert(Entry {
                mode: 0o755,
                node: Node::Dir,
            });
        }
        self.entries.insert(path.to_string(), Entry { mode, node });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<(String, u64, u64)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mtime().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn parents_come_first_and_metadata_is_fixed() {
        let mut tree = Rootfs::new();
        tree.file("usr/local/bin/hello", 0o755, b"x".to_vec());
        tree.symlink("bin/sh", "/bin/busybox");
        let listed = names(&tree.to_tar());
        let paths: Vec<_> = listed.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "bin/",
                "bin/sh",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/hello"
            ]
        );
        assert!(
            listed
                .iter()
                .all(|(_, mtime, uid)| *mtime == EPOCH && *uid == 0)
        );
    }

    #[test]
    fn insertion_order_does_not_change_the_bytes() {
        let mut a = Rootfs::new();
        a.file("b", 0o644, b"2".to_vec())
            .file("a", 0o644, b"1".to_vec());
        let mut b = Rootfs::new();
        b.file("a", 0o644, b"1".to_vec())
            .file("b", 0o644, b"2".to_vec());
        assert_eq!(a.to_tar(), b.to_tar());
    }

    #[test]
    fn overlay_replaces_and_adds() {
        let mut lower = Rootfs::new();
        lower.file("etc/motd", 0o644, b"old".to_vec());
        let mut upper = Rootfs::new();
        upper
            .file("etc/motd", 0o644, b"new".to_vec())
            .dir("tmp", 0o1777);
        lower.overlay(&upper);
        let motd = lower.entries().find(|(p, _)| *p == "etc/motd").unwrap().1;
        assert_eq!(motd.node, Node::File(b"new".to_vec()));
        assert!(lower.entries().any(|(p, e)| p == "tmp" && e.mode == 0o1777));
    }
}
