//! A directory whose files are looked up strictly beneath it: static files
//! and PHP scripts both resolve a client's path here.
//!
//! On Linux the directory is held open and each lookup is one `openat2`
//! with `RESOLVE_BENEATH`: the kernel refuses any resolution that leaves the
//! directory, symlinks included, with no race between a check and the open,
//! and walks the path once. Elsewhere (or on kernels before 5.6) the real
//! path is computed and checked, then opened.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

/// A directory, resolved and (on Linux) opened once.
#[derive(Debug)]
pub(crate) struct Dir {
    /// The directory's real path.
    path: PathBuf,
    /// What it was when opened: the same path naming another directory
    /// later (a symlink switched, a directory replaced) is another `Dir`.
    identity: Identity,
    #[cfg(target_os = "linux")]
    fd: rustix::fd::OwnedFd,
}

/// A directory's device and inode (Unix), or its real path (elsewhere).
#[derive(Debug, PartialEq, Eq)]
struct Identity(#[cfg(unix)] (u64, u64), #[cfg(not(unix))] PathBuf);

impl Identity {
    fn of(path: &Path) -> io::Result<Identity> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(path)?;
            Ok(Identity((meta.dev(), meta.ino())))
        }
        #[cfg(not(unix))]
        path.canonicalize().map(Identity)
    }
}

/// A directory named now, opened on first use (a server's setup may still
/// be creating it) and looked at again once a second: when the name is a
/// symlink switched to a new release (`current -> releases/42`, an atomic
/// deploy) or a directory replaced by another, requests follow within that
/// second, as nginx's `$realpath_root` does. A failure is logged when it
/// starts, not per request.
#[derive(Debug)]
pub(crate) struct LazyDir {
    path: PathBuf,
    recheck: std::time::Duration,
    state: std::sync::Mutex<Resolved>,
}

#[derive(Debug, Default)]
struct Resolved {
    dir: Option<std::sync::Arc<Dir>>,
    checked: Option<std::time::Instant>,
    failing: bool,
}

impl LazyDir {
    pub(crate) fn new(path: PathBuf) -> Self {
        LazyDir { path, recheck: std::time::Duration::from_secs(1), state: Default::default() }
    }

    /// The path as given.
    pub(crate) fn given(&self) -> &Path {
        &self.path
    }

    /// The directory; `None` when it cannot be opened (logged under `target`).
    pub(crate) fn get(&self, target: &str) -> Option<std::sync::Arc<Dir>> {
        let now = std::time::Instant::now();
        let mut state = crate::rt::lock(&self.state);
        if state.checked.is_some_and(|at| now.duration_since(at) < self.recheck) {
            return state.dir.clone();
        }
        state.checked = Some(now);
        let same = |now: Identity| state.dir.as_ref().is_some_and(|dir| dir.is(&now));
        if Identity::of(&self.path).is_ok_and(same) {
            return state.dir.clone();
        }
        match Dir::open(&self.path) {
            Ok(dir) => {
                if state.dir.is_some() {
                    log::info!(target: target, "directory {} now resolves to {}", self.path.display(), dir.path().display());
                }
                state.dir = Some(std::sync::Arc::new(dir));
                state.failing = false;
            }
            Err(e) => {
                if !state.failing {
                    log::error!(target: target, "directory {}: {e}", self.path.display());
                }
                state.dir = None;
                state.failing = true;
            }
        }
        state.dir.clone()
    }
}

/// Files found beneath a directory lately, trusted for a second (nginx's
/// `open_file_cache_valid`), so a busy script is not looked up per request.
/// Only files that exist are remembered: a client asking for made-up names
/// cannot grow it past what the directory holds.
#[cfg(feature = "fastcgi")]
#[derive(Debug, Default)]
pub(crate) struct RecentFiles {
    seen: std::sync::Mutex<Seen>,
}

/// The files remembered, and the directory they are remembered beneath: a
/// directory resolved anew (a deploy switched it) forgets them.
#[cfg(feature = "fastcgi")]
#[derive(Debug, Default)]
struct Seen {
    root: PathBuf,
    files: std::collections::HashMap<String, std::time::Instant>,
}

#[cfg(feature = "fastcgi")]
impl RecentFiles {
    const VALID: std::time::Duration = std::time::Duration::from_secs(1);
    const MAX: usize = 1024;

    /// [`Dir::has_file`], from memory when answered within the last second.
    pub(crate) fn has_file(&self, dir: &Dir, relative: &str) -> bool {
        let now = std::time::Instant::now();
        {
            let mut seen = crate::rt::lock(&self.seen);
            if seen.root != dir.path() {
                seen.root = dir.path().to_owned();
                seen.files.clear();
            }
            if seen.files.get(relative).is_some_and(|at| now.duration_since(*at) < Self::VALID) {
                return true;
            }
        }
        let found = dir.has_file(Path::new(relative));
        let mut seen = crate::rt::lock(&self.seen);
        if !found {
            seen.files.remove(relative);
        } else {
            if seen.files.len() >= Self::MAX {
                seen.files.retain(|_, at| now.duration_since(*at) < Self::VALID);
            }
            if seen.files.len() < Self::MAX {
                seen.files.insert(relative.to_owned(), now);
            }
        }
        found
    }
}

/// A file looked up beneath a [`Dir`], or why not.
pub(crate) enum Opened {
    File(File, Metadata),
    Missing,
    /// The path leads outside the directory (through a symlink).
    Outside,
}

impl Dir {
    pub(crate) fn open(path: &Path) -> io::Result<Dir> {
        let path = path.canonicalize()?;
        let identity = Identity::of(&path)?;
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{Mode, OFlags};
            let fd = rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
            Ok(Dir { path, identity, fd })
        }
        #[cfg(not(target_os = "linux"))]
        Ok(Dir { path, identity })
    }

    /// Whether this is still the directory `now` identifies: the same
    /// device and inode, and (on Linux) not removed — a new directory may
    /// reuse a removed one's inode number.
    fn is(&self, now: &Identity) -> bool {
        #[cfg(target_os = "linux")]
        if rustix::fs::fstat(&self.fd).map_or(true, |st| st.st_nlink == 0) {
            return false;
        }
        self.identity == *now
    }

    /// The directory's real path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `relative` for reading. With `follow_symlinks`, symlinks may
    /// lead anywhere; without, only to somewhere beneath the directory.
    pub(crate) fn open_file(&self, relative: &Path, follow_symlinks: bool) -> Opened {
        if !follow_symlinks {
            #[cfg(target_os = "linux")]
            {
                use rustix::fs::OFlags;
                if let Some(found) = self.open_beneath(relative, OFlags::RDONLY | OFlags::NOCTTY) {
                    return match found {
                        Ok(fd) => {
                            let file = File::from(fd);
                            match file.metadata() {
                                Ok(meta) => Opened::File(file, meta),
                                Err(_) => Opened::Missing,
                            }
                        }
                        Err(opened) => opened,
                    };
                }
            }
            if let Some(refused) = self.check_real_path(relative) {
                return refused;
            }
        }
        match File::open(self.path.join(relative)).and_then(|f| f.metadata().map(|m| (f, m))) {
            Ok((file, meta)) => Opened::File(file, meta),
            Err(_) => Opened::Missing,
        }
    }

    /// Whether `relative` is a regular file beneath the directory (symlinks
    /// may not lead outside); the file is not opened for reading.
    #[cfg(any(all(unix, feature = "cgi"), feature = "fastcgi"))]
    pub(crate) fn has_file(&self, relative: &Path) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(found) = self.open_beneath(relative, rustix::fs::OFlags::PATH) {
            return found.is_ok_and(|fd| rustix::fs::fstat(&fd).is_ok_and(|st| is_regular(st.st_mode)));
        }
        self.check_real_path(relative).is_none() && self.path.join(relative).is_file()
    }

    /// One `openat2` beneath the directory; `None` when the kernel has none.
    #[cfg(target_os = "linux")]
    fn open_beneath(&self, relative: &Path, flags: rustix::fs::OFlags) -> Option<Result<rustix::fd::OwnedFd, Opened>> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&self.fd, relative, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Ok(fd) => Some(Ok(fd)),
            Err(rustix::io::Errno::XDEV) => Some(Err(Opened::Outside)),
            Err(rustix::io::Errno::NOSYS) => None,
            Err(_) => Some(Err(Opened::Missing)),
        }
    }

    /// Where the real path of `relative` is not beneath the directory, why.
    fn check_real_path(&self, relative: &Path) -> Option<Opened> {
        let path = self.path.join(relative);
        match path.canonicalize() {
            Ok(real) if real.starts_with(&self.path) => None,
            Ok(_) => Some(Opened::Outside),
            Err(_) => Some(Opened::Missing),
        }
    }
}

#[cfg(all(target_os = "linux", any(all(unix, feature = "cgi"), feature = "fastcgi")))]
fn is_regular(mode: u32) -> bool {
    rustix::fs::FileType::from_raw_mode(mode) == rustix::fs::FileType::RegularFile
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory `root` with `sub/a.txt`, beside `secret.txt`; on Unix,
    /// `in.txt` links to `sub/a.txt` and `out.txt` to `../secret.txt`.
    fn tree(name: &str) -> (PathBuf, Dir) {
        let base = std::env::temp_dir().join(format!("squall-dir-{name}-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub").join("a.txt"), "a").unwrap();
        std::fs::write(base.join("secret.txt"), "s").unwrap();
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink("../secret.txt", root.join("out.txt"));
            let _ = std::os::unix::fs::symlink("sub/a.txt", root.join("in.txt"));
        }
        let dir = Dir::open(&root).unwrap();
        (base, dir)
    }

    #[test]
    #[cfg(unix)]
    fn a_switched_symlink_is_followed_and_a_vanished_directory_is_none() {
        let base = std::env::temp_dir().join(format!("squall-dir-switch-{}", std::process::id()));
        for release in ["one", "two"] {
            std::fs::create_dir_all(base.join(release)).unwrap();
        }
        std::os::unix::fs::symlink("one", base.join("current")).unwrap();
        let mut lazy = LazyDir::new(base.join("current"));
        lazy.recheck = std::time::Duration::ZERO;
        assert!(lazy.get("test").unwrap().path().ends_with("one"));
        // Switched as deploys do: a new link renamed over the old one.
        std::os::unix::fs::symlink("two", base.join("next")).unwrap();
        std::fs::rename(base.join("next"), base.join("current")).unwrap();
        assert!(lazy.get("test").unwrap().path().ends_with("two"), "the new release");
        std::fs::remove_file(base.join("current")).unwrap();
        assert!(lazy.get("test").is_none(), "gone");
        // A directory removed and made again under the same name.
        std::fs::create_dir(base.join("current")).unwrap();
        std::fs::write(base.join("current").join("a.txt"), "a").unwrap();
        let first = lazy.get("test").unwrap();
        std::fs::remove_dir_all(base.join("current")).unwrap();
        #[cfg(target_os = "linux")]
        assert!(!first.is(&first.identity), "a removed directory is not current, whatever its inode number");
        std::fs::create_dir(base.join("current")).unwrap();
        std::fs::write(base.join("current").join("b.txt"), "b").unwrap();
        let second = lazy.get("test").unwrap();
        assert!(matches!(second.open_file(Path::new("b.txt"), false), Opened::File(..)), "the new directory's files");
        assert!(!std::sync::Arc::ptr_eq(&first, &second));
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn files_open_only_beneath_the_directory() {
        let (base, dir) = tree("open");
        assert!(matches!(dir.open_file(Path::new("sub/a.txt"), false), Opened::File(..)));
        assert!(matches!(dir.open_file(Path::new("missing.txt"), false), Opened::Missing));
        assert!(!matches!(dir.open_file(Path::new("../secret.txt"), false), Opened::File(..)));
        #[cfg(unix)]
        {
            assert!(matches!(dir.open_file(Path::new("in.txt"), false), Opened::File(..)));
            assert!(matches!(dir.open_file(Path::new("out.txt"), false), Opened::Outside));
            assert!(matches!(dir.open_file(Path::new("out.txt"), true), Opened::File(..)));
        }
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    #[cfg(any(all(unix, feature = "cgi"), feature = "fastcgi"))]
    fn only_regular_files_beneath_the_directory_count() {
        let (base, dir) = tree("has");
        assert!(dir.has_file(Path::new("sub/a.txt")));
        assert!(!dir.has_file(Path::new("sub")), "a directory is not a file");
        assert!(!dir.has_file(Path::new("missing.txt")));
        assert!(!dir.has_file(Path::new("../secret.txt")));
        #[cfg(unix)]
        {
            assert!(dir.has_file(Path::new("in.txt")), "a symlink inside is followed");
            assert!(!dir.has_file(Path::new("out.txt")), "a symlink outside is refused");
        }
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    #[cfg(feature = "fastcgi")]
    fn files_found_are_remembered_for_a_second() {
        let (base, dir) = tree("recent");
        let recent = RecentFiles::default();
        assert!(recent.has_file(&dir, "sub/a.txt"));
        std::fs::remove_file(base.join("root/sub/a.txt")).unwrap();
        assert!(recent.has_file(&dir, "sub/a.txt"), "remembered for a second");
        assert!(!RecentFiles::default().has_file(&dir, "sub/a.txt"), "and looked up afresh elsewhere");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
