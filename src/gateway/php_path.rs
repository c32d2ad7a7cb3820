//! Which PHP script a path names (nginx's `fastcgi_split_path_info
//! ^(.+?\.php)(/.*)$` with `try_files $fastcgi_script_name =404`): shared
//! by `php-cgi` under CGI and the FastCGI target.

use std::path::{Path, PathBuf};

use crate::dir::Dir;

/// The script a path names: its file, its URL path, and the rest as `PATH_INFO`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PhpScript {
    pub(crate) file: PathBuf,
    pub(crate) url: String,
    pub(crate) path_info: String,
}

/// Splits `path` (decoded) after its first `.php` segment and finds that
/// script beneath `root` (a symlink is followed only while it stays there);
/// `None` when there is no such script. `is_file` answers for a path
/// relative to the root (a caller may remember recent answers).
pub(crate) fn find_php_script(
    root: &Dir,
    path: &[u8],
    index: Option<&str>,
    is_file: impl FnOnce(&Dir, &str) -> bool,
) -> Option<PhpScript> {
    let path = std::str::from_utf8(path).ok()?;
    let mut script = Vec::new();
    let mut rest = String::new();
    let mut segments = path.split('/').skip_while(|s| s.is_empty()).peekable();
    let mut found = false;
    while let Some(segment) = segments.next() {
        if segment == ".." || segment == "." || segment.contains(['\\', '\0']) {
            return None;
        }
        if found {
            rest.push('/');
            rest.push_str(segment);
            continue;
        }
        if segment.is_empty() && segments.peek().is_none() {
            break; // a trailing slash
        }
        script.push(segment);
        found = segment.ends_with(".php") && segment.len() > 4;
    }
    if !found {
        let index = index?;
        if !path.ends_with('/') && !path.is_empty() {
            return None;
        }
        script.retain(|s| !s.is_empty());
        script.push(index);
    }
    let relative = script.join("/");
    let is_php = Path::new(&relative).extension().is_some_and(|e| e == "php");
    if !is_php || !is_file(root, &relative) {
        return None;
    }
    Some(PhpScript { file: root.path().join(&relative), url: format!("/{relative}"), path_info: rest })
}

/// Whether `path` (decoded) names a directory beneath `root` holding the
/// `index` script but lacks its trailing slash: it is then redirected to
/// `path/`, as nginx and static files answer a directory. (A FastCGI target
/// declines such a path instead, and the static files after it redirect.)
#[cfg_attr(not(all(unix, feature = "cgi")), allow(dead_code))]
pub(crate) fn names_index_directory(
    root: &Dir,
    path: &[u8],
    index: Option<&str>,
    is_file: impl FnOnce(&Dir, &str) -> bool,
) -> bool {
    match path.last() {
        None | Some(b'/') => false,
        // `/x.php` + `/` names x.php with a `PATH_INFO` of `/`: a script, no directory.
        Some(_) => find_php_script(root, &[path, b"/"].concat(), index, is_file)
            .is_some_and(|script| script.path_info.is_empty() && index.is_some_and(|i| script.url.ends_with(i))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Dir {
        Dir::open(&make_root()).unwrap()
    }

    fn find_php_script(root: &Dir, path: &[u8], index: Option<&str>) -> Option<PhpScript> {
        super::find_php_script(root, path, index, |root, relative| root.has_file(Path::new(relative)))
    }

    fn make_root() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("squall-php-split-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("app")).unwrap();
        std::fs::write(dir.join("x.php"), "<?php").unwrap();
        std::fs::write(dir.join("app").join("index.php"), "<?php").unwrap();
        std::fs::write(dir.join("evil.txt"), "<?php system('id');").unwrap();
        std::fs::create_dir_all(dir.join("app.php")).unwrap();
        #[cfg(unix)]
        {
            let outside = std::env::temp_dir().join(format!("squall-php-outside-{}.php", std::process::id()));
            std::fs::write(&outside, "<?php").unwrap();
            let _ = std::os::unix::fs::symlink(&outside, dir.join("out.php"));
            let _ = std::os::unix::fs::symlink("x.php", dir.join("alias.php"));
        }
        dir
    }

    #[test]
    fn the_path_splits_after_the_first_php_segment_and_only_php_files_run() {
        let root = root();
        let found = find_php_script(&root, b"/x.php/evil.txt", None).unwrap();
        assert_eq!((found.url.as_str(), found.path_info.as_str()), ("/x.php", "/evil.txt"));
        assert!(found.file.ends_with("x.php"));
        assert_eq!(find_php_script(&root, b"/evil.txt/x.php", None), None, "the cgi.fix_pathinfo hole");
        assert_eq!(find_php_script(&root, b"/evil.txt", None), None);
        assert_eq!(find_php_script(&root, b"/../etc/x.php", None), None);
        assert_eq!(find_php_script(&root, b"/app/../x.php", None), None);
        assert_eq!(find_php_script(&root, b"/missing.php", None), None);
        assert_eq!(find_php_script(&root, b"/.php", None), None);
        #[cfg(unix)]
        {
            assert_eq!(find_php_script(&root, b"/out.php", None), None, "a symlink out of the root");
            assert!(find_php_script(&root, b"/alias.php", None).is_some(), "a symlink within the root");
        }
        let index = find_php_script(&root, b"/app/", Some("index.php")).unwrap();
        assert_eq!(index.url, "/app/index.php");
        assert_eq!(find_php_script(&root, b"/app/", None), None, "no index without one set");
        assert_eq!(find_php_script(&root, b"/app/", Some("index.html")), None, "only a .php index runs");
        assert_eq!(find_php_script(&root, b"/app.php", None), None, "a directory is no script");
    }

    #[test]
    fn a_directory_with_its_index_is_known_without_its_slash() {
        let root = root();
        let names = |path: &[u8], index| {
            names_index_directory(&root, path, index, |root, relative| root.has_file(Path::new(relative)))
        };
        assert!(names(b"/app", Some("index.php")));
        assert!(!names(b"/app/", Some("index.php")), "it has its slash");
        assert!(!names(b"/app", None), "no index set");
        assert!(!names(b"/app", Some("other.php")), "no such index in it");
        assert!(!names(b"/x.php", Some("index.php")), "a script, not a directory");
        assert!(!names(b"/missing", Some("index.php")));
        assert!(!names(b"", Some("index.php")));
        assert!(!names(b"/../app", Some("index.php")));
    }
}
