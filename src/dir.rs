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
    #[cfg(target_os = "linux")]
    fd: rustix::fd::OwnedFd,
}

/// A directory named now and opened on first use (when a server's setup
/// may still be creating it); a failure is logged once.
#[derive(Debug)]
pub(crate) struct LazyDir {
    path: PathBuf,
    dir: std::sync::OnceLock<Option<Dir>>,
}

impl LazyDir {
    pub(crate) fn new(path: PathBuf) -> Self {
        LazyDir { path, dir: std::sync::OnceLock::new() }
    }

    /// The path as given.
    pub(crate) fn given(&self) -> &Path {
        &self.path
    }

    /// The directory; `None` (logged under `target` the first time) when it cannot be opened.
    pub(crate) fn get(&self, target: &str) -> Option<&Dir> {
        let dir = self.dir.get_or_init(|| match Dir::open(&self.path) {
            Ok(dir) => Some(dir),
            Err(e) => {
                log::error!(target: target, "directory {}: {e}", self.path.display());
                None
            }
        });
        dir.as_ref()
    }
}

/// Files found beneath a directory lately, trusted for a second (nginx's
/// `open_file_cache_valid`), so a busy script is not looked up per request.
/// Only files that exist are remembered: a client asking for made-up names
/// cannot grow it past what the directory holds.
#[cfg(feature = "fastcgi")]
#[derive(Debug, Default)]
pub(crate) struct RecentFiles {
    seen: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

#[cfg(feature = "fastcgi")]
impl RecentFiles {
    const VALID: std::time::Duration = std::time::Duration::from_secs(1);
    const MAX: usize = 1024;

    /// [`Dir::has_file`], from memory when answered within the last second.
    pub(crate) fn has_file(&self, dir: &Dir, relative: &str) -> bool {
        let now = std::time::Instant::now();
        if crate::rt::lock(&self.seen).get(relative).is_some_and(|at| now.duration_since(*at) < Self::VALID) {
            return true;
        }
        let found = dir.has_file(Path::new(relative));
        let mut seen = crate::rt::lock(&self.seen);
        if !found {
            seen.remove(relative);
        } else {
            if seen.len() >= Self::MAX {
                seen.retain(|_, at| now.duration_since(*at) < Self::VALID);
            }
            if seen.len() < Self::MAX {
                seen.insert(relative.to_owned(), now);
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
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{Mode, OFlags};
            let fd = rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
            Ok(Dir { path, fd })
        }
        #[cfg(not(target_os = "linux"))]
        Ok(Dir { path })
    }

    /// The directory's real path.
    #[cfg(any(all(unix, feature = "cgi"), feature = "fastcgi"))]
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
