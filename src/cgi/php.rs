//! PHP through `php-cgi`: [`PhpCgi`] runs the `*.php` script a path names,
//! under a document root, with the variables PHP needs (`SCRIPT_FILENAME`,
//! `REDIRECT_STATUS`) — and only ever a `.php` file under that root.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::CgiProgram;
use crate::dir::{Dir, LazyDir};
use crate::gateway::php_path::{find_php_script, names_index_directory};
use crate::gateway::{App, AppError, AppIter, Environ, StartResponse};

/// A directory of PHP scripts as a gateway app, each run by `php-cgi`.
///
/// The path is split after its first segment ending in `.php`, as nginx's
/// `fastcgi_split_path_info ^(.+?\.php)(/.*)$` does: `/x.php/extra` runs
/// `x.php` with `PATH_INFO=/extra`. The script must be a file under the
/// root: `/evil.txt/x.php` never runs `evil.txt` (the `cgi.fix_pathinfo`
/// hole), and `..`, encoded or not, is refused. Anything else is `404`.
///
/// ```no_run
/// use squall::cgi::PhpCgi;
/// use squall::gateway::{Executor, GatewayContainer};
/// use squall::Router;
///
/// let php = GatewayContainer::builder(PhpCgi::new("/srv/www").index("index.php"))
///     .executor(Executor::thread_pool(16))
///     .build();
/// let app = Router::new().mount("/", php);
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct PhpCgi {
    root: Arc<LazyDir>,
    php_cgi: PathBuf,
    index: Option<String>,
    timeout: Option<Duration>,
    env: Vec<(String, String)>,
}

impl PhpCgi {
    /// Scripts under `root`, run by `php-cgi` from the `PATH`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PhpCgi {
            root: Arc::new(LazyDir::new(root.into())),
            php_cgi: "php-cgi".into(),
            index: None,
            timeout: None,
            env: Vec::new(),
        }
    }

    /// The `php-cgi` binary to run.
    pub fn php_cgi(mut self, path: impl Into<PathBuf>) -> Self {
        self.php_cgi = path.into();
        self
    }

    /// The script for a path ending in `/` (say `index.php`).
    pub fn index(mut self, name: &str) -> Self {
        self.index = Some(name.to_owned());
        self
    }

    /// Kills a script still running after `timeout` (`504`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// An extra variable for every script.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

impl App for PhpCgi {
    fn call(&self, environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
        let path = environ.get_bytes("PATH_INFO").unwrap_or(b"/").to_vec();
        let root = self.root.get("squall::cgi");
        let is_file = |root: &Dir, relative: &str| root.has_file(std::path::Path::new(relative));
        let index = self.index.as_deref();
        let script = root.as_deref().and_then(|root| find_php_script(root, &path, index, is_file));
        let (Some(root), Some(script)) = (root.as_deref().map(Dir::path), script) else {
            if root.as_deref().is_some_and(|root| names_index_directory(root, &path, index, is_file)) {
                // A directory without its slash: to it, query kept, as nginx answers.
                let target = environ.get("REQUEST_URI").unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let location = if query.is_empty() { format!("{path}/") } else { format!("{path}/?{query}") };
                start.start("301 Moved Permanently", [("Location", location)])?;
                return Ok(AppIter::empty());
            }
            start.start("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])?;
            return Ok(AppIter::once("no such script\n"));
        };
        let prefix = environ.get("SCRIPT_NAME").unwrap_or("").trim_end_matches('/').to_owned();
        environ.set("SCRIPT_NAME", format!("{prefix}{}", script.url));
        environ.set("PATH_INFO", script.path_info);
        let mut program = CgiProgram::new(&self.php_cgi)
            .pass_env("PATH")
            .document_root(root)
            .current_dir(script.file.parent().unwrap_or(root))
            // php-cgi refuses to run without it (cgi.force_redirect).
            .env("REDIRECT_STATUS", "200")
            .env("SCRIPT_FILENAME", script.file.to_string_lossy());
        if let Some(timeout) = self.timeout {
            program = program.timeout(timeout);
        }
        for (key, value) in &self.env {
            program = program.env(key.as_str(), value.as_str());
        }
        program.call(environ, start)
    }
}
