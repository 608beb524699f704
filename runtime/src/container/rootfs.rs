//! The container's root file system, built inside its new mount namespace.
//!
//! In order, much as runc does it:
//! 1. every mount becomes a slave of the host's, so nothing we mount or unmount
//!    here propagates back to the host;
//! 2. a small private tmpfs, seen only in this namespace, receives the generated
//!    /etc/hostname, /etc/hosts and /etc/resolv.conf and the overlay's mount point:
//!    nothing is written to the host's disk for them, and nothing has to be
//!    cleaned up, because the tmpfs vanishes with the namespace;
//! 3. an overlay joins the image's layers (read-only, lower) with the container's
//!    own directory (writable, upper);
//! 4. /proc, /sys (read-only), /dev (a tmpfs with a few device nodes), /dev/pts,
//!    /dev/shm, /dev/mqueue, the generated /etc files and the volumes are mounted
//!    on it;
//! 5. runc's masked paths (kernel details a container should not read) and
//!    read-only paths are covered, each as soon as its /proc or /sys is there;
//! 6. `pivot_root` makes the overlay `/`, and the old root is detached: unlike
//!    `chroot`, no path leads back to the host's files.
//!
//! Every mount point inside the image is resolved with `openat2(RESOLVE_IN_ROOT)`,
//! so a hostile image whose `/proc` or `/data` is a symlink to `../../etc` cannot
//! make peti mount over a host directory.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{chdir, pivot_root};

use super::spec::Volume;
use super::trace::Tracer;

/// A system call that failed while building the root file system.
#[derive(Debug, thiserror::Error)]
#[error("{step} {path}: {source}")]
pub struct RootfsError {
    pub step: &'static str,
    pub path: PathBuf,
    pub source: Errno,
}

fn fail<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> RootfsError + 'a {
    move |source| RootfsError {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// What the root file system is made of.
pub struct RootfsPlan<'a> {
    /// An empty host directory where the private tmpfs is mounted (in this mount
    /// namespace only); the overlay is mounted at `rootfs` inside it.
    pub scratch: &'a Path,
    /// The image's layer directories, topmost first, as overlayfs wants them.
    pub lower: &'a [PathBuf],
    pub upper: &'a Path,
    pub work: &'a Path,
    /// Mount the overlay `volatile`: no syncs of the upper file system, for a
    /// container whose upper directory is thrown away at exit (`--rm`).
    pub volatile: bool,
    /// The contents of /etc/hostname, /etc/hosts and /etc/resolv.conf, by path.
    pub etc_files: &'a [(&'static str, String)],
    pub volumes: &'a [Volume],
    /// `--privileged`: no masked or read-only kernel paths, and /sys
    /// writable, as Docker's.
    pub privileged: bool,
}

/// Kernel files a container must not read: runc's default masked paths. Each is
/// covered by /dev/null (a file) or an empty read-only tmpfs (a directory).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Kernel files a container may read but not change: runc's default read-only
/// paths. /proc/sys would otherwise let root in a container tune the host kernel.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device nodes of a container's /dev: (name, major, minor).
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The name of the init layer's directory under the store's `layers/`. The dot
/// keeps image garbage collection away from it.
pub const INIT_LAYER: &str = ".init";

/// Makes sure the init layer exists and returns its path.
///
/// Like Docker's `-init` layer, it holds the empty mount points every container
/// needs: /proc, /sys, /dev and the three generated /etc files. It sits on top of
/// the image's layers, so a scratch image without these directories still has
/// them, and mounting over them never writes into the container's own writable
/// layer (an empty upper directory is what makes removal quick). It is the same
/// for every container, so it is made once, in a staging directory renamed into
/// place, and shared.
pub fn ensure_init_layer(layers: &Path) -> std::io::Result<PathBuf> {
    let path = layers.join(INIT_LAYER);
    if path.is_dir() {
        return Ok(path);
    }
    let staging = tempfile::Builder::new()
        .prefix(".init-staging-")
        .tempdir_in(layers)?;
    for dir in ["dev", "proc", "sys", "etc"] {
        std::fs::create_dir(staging.path().join(dir))?;
    }
    for file in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        std::fs::write(staging.path().join(file), "")?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))?;
    match std::fs::rename(staging.path(), &path) {
        // Another peti made it first: theirs is as good as ours.
        Err(_) if path.is_dir() => Ok(path),
        other => other.map(|()| path),
    }
}

impl RootfsPlan<'_> {
    /// Where the overlay is mounted, and what `pivot` makes `/`.
    pub fn merged(&self) -> PathBuf {
        self.scratch.join("rootfs")
    }

    /// The new root, opened for `resolve_in_root` and its kin.
    fn open_merged(&self) -> Result<OwnedFd, RootfsError> {
        let merged = self.merged();
        open(
            &merged,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail("open", &merged))
    }
}

/// Steps 1 to 4: everything mounted at `plan.merged()`, still seen from the host root.
pub fn build(plan: &RootfsPlan, tracer: &mut Tracer) -> Result<(), RootfsError> {
    let none: Option<&str> = None;
    tracer.step("mount", "/ rslave (stop propagation to the host)", || {
        mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_SLAVE, none)
            .map_err(fail("make rslave", Path::new("/")))
    })?;
    tracer.step(
        "mount",
        "private tmpfs for /etc files and the mount point",
        || write_scratch(plan),
    )?;
    mount_overlay(plan, tracer)?;
    let root = plan.open_merged()?;
    let root = root.as_fd();
    let nosuid_noexec_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    let kernel_mounts: [(&str, &str, MsFlags, Option<&str>); 5] = [
        ("/proc", "proc", nosuid_noexec_nodev, None),
        (
            "/dev",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        ),
        (
            "/dev/pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ),
        (
            "/dev/shm",
            "tmpfs",
            nosuid_noexec_nodev,
            Some("mode=1777,size=65536k"),
        ),
        ("/dev/mqueue", "mqueue", nosuid_noexec_nodev, None),
    ];
    for (target, fstype, flags, data) in kernel_mounts {
        tracer.step("mount", &format!("{fstype} on {target}"), || {
            let at = resolve_in_root(root, Path::new(target), Kind::Dir)?;
            mount(Some(fstype), &fd_path(&at), Some(fstype), flags, data)
                .map_err(fail("mount", Path::new(target)))
        })?;
        if target == "/dev" {
            tracer.step("mknod", "null zero full random urandom tty", || {
                populate_dev(root)
            })?;
        }
    }
    for (target, _) in plan.etc_files {
        let host = plan.scratch.join(file_name(target));
        tracer.step("mount", &format!("bind {target}"), || {
            bind(root, &host, Path::new(target), Kind::File, false)
        })?;
    }
    for volume in plan.volumes {
        if volume.volume.is_some() && crate::fsutil::is_empty_dir(&volume.host) {
            tracer.step(
                "copy",
                &format!(
                    "the image's {} into its empty volume",
                    volume.container.display()
                ),
                || copy_up(root, volume),
            )?;
        }
        let kind = if volume.host.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        tracer.step(
            "mount",
            &format!("bind volume {}", volume.container.display()),
            || {
                bind(
                    root,
                    &volume.host,
                    &volume.container,
                    kind,
                    volume.read_only,
                )
            },
        )?;
    }
    Ok(())
}

/// Fills an empty volume with what the image has at the volume's path, as
/// Docker does when a volume is first mounted (so `-v data:/etc/nginx`
/// starts with the image's configuration). Nothing there, or not a
/// directory: nothing to copy. The image's tree is walked without following
/// its links, through a descriptor opened in the root, so no link in it can
/// lead the copy out of the image.
fn copy_up(root: BorrowedFd, volume: &Volume) -> Result<(), RootfsError> {
    let relative: PathBuf = volume
        .container
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let Ok(at) = openat2_in_root(root, &relative) else {
        return Ok(());
    };
    let from = fd_path(&at);
    if !from.is_dir() {
        return Ok(());
    }
    crate::fsutil::copy_tree(&from, &volume.host).map_err(|e| RootfsError {
        step: "copy the image's files into the volume",
        path: volume.container.clone(),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Mounts the private tmpfs on the scratch directory and fills it.
fn write_scratch(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        plan.scratch,
        Some("tmpfs"),
        flags,
        Some("mode=755,size=1m"),
    )
    .map_err(fail("mount tmpfs", plan.scratch))?;
    for (target, contents) in plan.etc_files {
        let path = plan.scratch.join(file_name(target));
        // 0644 and root's, as Docker's: whatever the umask, no user of the
        // container may rewrite its hosts or name servers. (A plain write
        // would give 0666 less the umask, and this process's umask is 0.)
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&path, contents)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)))
            .map_err(|e| fail("write", &path)(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    }
    let merged = plan.merged();
    nix::unistd::mkdir(&merged, Mode::from_bits_truncate(0o755)).map_err(fail("mkdir", &merged))
}

fn mount_overlay(plan: &RootfsPlan, tracer: &mut Tracer) -> Result<(), RootfsError> {
    let lower: Vec<String> = plan.lower.iter().map(|p| p.display().to_string()).collect();
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        plan.upper.display(),
        plan.work.display()
    );
    // Unmounting an overlay syncs the whole file system under its upper
    // directory (here, the host's root), which is most of what a short `--rm`
    // container waits for at exit. `volatile` (Linux 5.10) skips every sync;
    // the price is that after a host crash the upper directory cannot be mounted
    // again, which does not matter for one that is deleted at exit. podman mounts
    // `--rm` containers the same way.
    if plan.volatile {
        data.push_str(",volatile");
    }
    let merged = plan.merged();
    tracer.step(
        "mount",
        &format!("overlay of {} layer(s)", lower.len()),
        || {
            mount(
                Some("overlay"),
                &merged,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(fail("mount overlay", &merged))
        },
    )
}

/// /dev's device nodes and the usual symlinks. Created here rather than bound from
/// the host: the tmpfs was mounted a moment ago, so nothing in it can be a symlink.
fn populate_dev(root: BorrowedFd) -> Result<(), RootfsError> {
    let dev = resolve_in_root(root, Path::new("/dev"), Kind::Dir)?;
    for (name, major, minor) in DEVICES {
        mknodat(
            dev.as_fd(),
            *name,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        )
        .map_err(fail("mknod", &Path::new("/dev").join(name)))?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        nix::unistd::symlinkat(target, dev.as_fd(), link)
            .map_err(fail("symlink", &Path::new("/dev").join(link)))?;
    }
    Ok(())
}

/// Binds a host path onto a path inside the root, read-only if asked.
fn bind(
    root: BorrowedFd,
    host: &Path,
    target: &Path,
    kind: Kind,
    read_only: bool,
) -> Result<(), RootfsError> {
    // Name the mount point as the user wrote it: a failure deep in its path (a
    // dangling symlink on the way, say) means nothing without it.
    let at = resolve_in_root(root, target, kind).map_err(|e| RootfsError {
        step: "make the mount point",
        path: target.to_path_buf(),
        source: e.source,
    })?;
    let at = fd_path(&at);
    let none: Option<&str> = None;
    mount(
        Some(host),
        &at,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )
    .map_err(fail("bind mount", host))?;
    if read_only {
        // `at` names the directory under the new mount, not the mount: a path
        // through /proc/self/fd leads to the object the descriptor was opened on.
        // Resolve again to reach the bind mount itself, then remount that.
        let mounted = resolve_in_root(root, target, kind)?;
        remount_read_only(&fd_path(&mounted))?;
    }
    Ok(())
}

/// sysfs, read-only, once the process is in the container's network namespace:
/// /sys/class/net lists the devices of the namespace sysfs was mounted from, so
/// mounted earlier it would show the host's.
pub fn mount_sysfs(plan: &RootfsPlan, tracer: &mut Tracer) -> Result<(), RootfsError> {
    tracer.step("mount", "sysfs on /sys", || {
        let root = plan.open_merged()?;
        let at = resolve_in_root(root.as_fd(), Path::new("/sys"), Kind::Dir)?;
        let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
        if !plan.privileged {
            flags |= MsFlags::MS_RDONLY;
        }
        let none: Option<&str> = None;
        mount(Some("sysfs"), &fd_path(&at), Some("sysfs"), flags, none)
            .map_err(fail("mount", Path::new("/sys")))
    })
}

/// The container's own cgroup at /sys/fs/cgroup, read-only unless
/// privileged, as Docker mounts it: a program reads its limits there
/// (`memory.max` on v2, `memory/memory.limit_in_bytes` on v1), which is how
/// a JVM or Go's runtime sizes itself to the container. `views` are the
/// directories and their names ([`super::cgroups::Cgroup::views`]). On v2 the
/// container's directory is bound onto /sys/fs/cgroup; on v1 a tmpfs there
/// holds one bind per hierarchy, and a link for each controller of a
/// co-mounted one (`cpu` -> `cpu,cpuacct`), as on the host.
pub fn mount_cgroup(
    plan: &RootfsPlan,
    views: &[(String, PathBuf)],
    tracer: &mut Tracer,
) -> Result<(), RootfsError> {
    let read_only = !plan.privileged;
    let at = Path::new("/sys/fs/cgroup");
    tracer.step("mount", "the container's cgroup on /sys/fs/cgroup", || {
        let root = plan.open_merged()?;
        let root = root.as_fd();
        if let [(name, dir)] = views
            && name.is_empty()
        {
            return bind(root, dir, at, Kind::Dir, read_only);
        }
        let point = resolve_in_root(root, at, Kind::Dir)?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
        mount(
            Some("tmpfs"),
            &fd_path(&point),
            Some("tmpfs"),
            flags,
            Some("mode=755,size=64k"),
        )
        .map_err(fail("mount tmpfs", at))?;
        for (name, dir) in views {
            bind(root, dir, &at.join(name), Kind::Dir, read_only)?;
        }
        let tmpfs = resolve_in_root(root, at, Kind::Dir)?;
        for (name, _) in views.iter().filter(|(n, _)| n.contains(',')) {
            for part in name.split(',') {
                if !views.iter().any(|(n, _)| n == part) {
                    nix::unistd::symlinkat(name.as_str(), tmpfs.as_fd(), part)
                        .map_err(fail("symlink", &at.join(part)))?;
                }
            }
        }
        if read_only {
            remount_read_only(&fd_path(&tmpfs))?;
        }
        Ok(())
    })
}

/// Step 4: `/` becomes the overlay. The `pivot_root(".", ".")` form (runc's) stacks
/// the old root under the new one; unmounting "." with MNT_DETACH then drops it.
pub fn pivot(merged: &Path, tracer: &mut Tracer) -> Result<(), RootfsError> {
    tracer.step(
        "pivot_root",
        "the overlay becomes /, the old root is detached",
        || {
            chdir(merged).map_err(fail("chdir", merged))?;
            pivot_root(".", ".").map_err(fail("pivot_root", merged))?;
            umount2(".", MntFlags::MNT_DETACH).map_err(fail("detach old root", Path::new("/")))?;
            chdir("/").map_err(fail("chdir", Path::new("/")))
        },
    )
}

/// runc's masked and read-only paths under one kernel file system (`prefix` is
/// "/proc/" or "/sys/"), before `pivot`, through the descriptor of the new root.
/// Each file system's paths are done as soon as it is mounted: /proc's while
/// peti still makes the network namespace, /sys's once sysfs can be mounted.
/// Paths are resolved in the root as openat2 sees it, so an image whose /proc
/// is a symlink cannot point these mounts outside the container.
pub fn protect_kernel_paths(
    plan: &RootfsPlan,
    prefix: &str,
    tracer: &mut Tracer,
) -> Result<(), RootfsError> {
    if plan.privileged {
        return Ok(());
    }
    let root = plan.open_merged()?;
    let root = root.as_fd();
    let under = |paths: &'static [&'static str]| {
        paths
            .iter()
            .map(Path::new)
            .filter(move |p| p.starts_with(prefix))
    };
    tracer.step(
        "mount",
        &format!("mask runc's masked paths in {prefix}"),
        || under(MASKED_PATHS).try_for_each(|p| mask(root, p)),
    )?;
    tracer.step(
        "mount",
        &format!("bind runc's read-only paths in {prefix} read-only"),
        || under(READONLY_PATHS).try_for_each(|p| bind_read_only_in_place(root, p)),
    )
}

/// After `pivot`: `--read-only` makes the root itself read-only.
pub fn protect_root(read_only_root: bool, tracer: &mut Tracer) -> Result<(), RootfsError> {
    if read_only_root {
        tracer.step("mount", "/ read-only (--read-only)", || {
            remount_read_only(Path::new("/"))
        })?;
    }
    Ok(())
}

/// Opens a kernel path in the new root; `None` if this kernel does not have it.
fn open_kernel_path(root: BorrowedFd, path: &Path) -> Result<Option<OwnedFd>, RootfsError> {
    let relative = path.strip_prefix("/").unwrap_or(path);
    match openat2_in_root(root, relative) {
        Err(Errno::ENOENT) => Ok(None),
        other => other.map(Some).map_err(fail("open", path)),
    }
}

/// Hides a directory under an empty read-only tmpfs, a file under /dev/null.
/// Runs after /dev is populated.
fn mask(root: BorrowedFd, path: &Path) -> Result<(), RootfsError> {
    let Some(at) = open_kernel_path(root, path)? else {
        return Ok(());
    };
    let is_dir = nix::sys::stat::fstat(at.as_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .map_err(fail("stat", path))?;
    let none: Option<&str> = None;
    let target = fd_path(&at);
    if is_dir {
        mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            none,
        )
    } else {
        // The container's own /dev/null, as runc binds it after pivot_root.
        let null = open_kernel_path(root, Path::new("/dev/null"))?
            .ok_or_else(|| fail("open", Path::new("/dev/null"))(Errno::ENOENT))?;
        mount(Some(&fd_path(&null)), &target, none, MsFlags::MS_BIND, none)
    }
    .map_err(fail("mask", path))
}

/// Binds a path onto itself and makes that bind read-only.
fn bind_read_only_in_place(root: BorrowedFd, path: &Path) -> Result<(), RootfsError> {
    let Some(at) = open_kernel_path(root, path)? else {
        return Ok(());
    };
    let none: Option<&str> = None;
    let target = fd_path(&at);
    mount(
        Some(&target),
        &target,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )
    .map_err(fail("bind", path))?;
    // The descriptor still names the path under the new mount: open it again to
    // reach the bind mount itself, then remount that.
    let Some(mounted) = open_kernel_path(root, path)? else {
        return Ok(());
    };
    remount_read_only(&fd_path(&mounted))
}

/// Remounts a bind mount read-only, keeping its other flags: a remount sets all of
/// a mount's flags at once, so dropping nosuid by accident would be easy.
fn remount_read_only(path: &Path) -> Result<(), RootfsError> {
    let current = statvfs(path).map_err(fail("statvfs", path))?.flags();
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (st, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if current.contains(st) {
            flags |= ms;
        }
    }
    let none: Option<&str> = None;
    mount(none, path, none, flags, none).map_err(fail("remount read-only", path))
}

/// What to create when a mount point is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Opens `path` as if `root` were `/`: `..` and absolute symlinks stop at `root`
/// (openat2's RESOLVE_IN_ROOT, the kernel's answer to symlink escapes). Missing
/// components are created, as directories except a final `File`.
pub fn resolve_in_root(root: BorrowedFd, path: &Path, kind: Kind) -> Result<OwnedFd, RootfsError> {
    let relative: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if relative.as_os_str().is_empty() {
        return openat2_in_root(root, Path::new(".")).map_err(fail("open", path));
    }
    match openat2_in_root(root, &relative) {
        Err(Errno::ENOENT) => {}
        other => return other.map_err(fail("open", path)),
    }
    let parent = resolve_in_root(root, relative.parent().unwrap_or(Path::new("")), Kind::Dir)?;
    let name = relative.file_name().expect("a normal last component");
    let created = match kind {
        Kind::Dir => nix::sys::stat::mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755)),
        Kind::File => nix::fcntl::openat(
            parent.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop),
    };
    match created {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(fail("create mount point", path)(e)),
    }
    openat2_in_root(root, &relative).map_err(fail("open", path))
}

fn openat2_in_root(root: BorrowedFd, relative: &Path) -> Result<OwnedFd, Errno> {
    crate::fsutil::open_beneath(
        root,
        relative,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// The path that names an open descriptor, for system calls that take paths.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
