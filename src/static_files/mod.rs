//! [`StaticFiles`]: a directory served under a prefix, per RFC 9110 — types
//! from the extension, validators, conditional requests, byte ranges,
//! precompressed siblings — and never a byte from outside the directory.
//!
//! ```no_run
//! use squall::static_files::StaticFiles;
//! use squall::Router;
//!
//! let app = Router::new().mount("/static", StaticFiles::new("static"));
//! # let _ = app;
//! ```

mod conditional;

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::dir::{Dir, LazyDir, Opened};
use crate::error::HttpError;
use crate::web::body::read_exact_at;
use crate::web::{Body, Dispatch, IntoResponse, Request, Response, Target, percent_decode};
use conditional::{Conditions, Precondition, RangeAnswer, Validators};

/// Files up to this size are read whole, in place, and sent with one write.
const SMALL: u64 = 64 * 1024;

/// A directory of files as a route target; mount it at a prefix.
///
/// - `Content-Type` from the extension, `Last-Modified`, a strong `ETag` per
///   representation, `Accept-Ranges: bytes`;
/// - `If-Match`, `If-Unmodified-Since` (`412`), `If-None-Match` (weak
///   comparison, lists, `*`) before `If-Modified-Since` (`304`), `If-Range`;
/// - one byte range (`bytes=a-b`, `a-`, `-n`) → `206`; unsatisfiable → `416`
///   with `Content-Range: bytes */len`; several ranges → the whole file;
///   ranges only for `GET`;
/// - `HEAD` has `GET`'s headers; other methods `405`;
/// - with [`precompressed`](Self::precompressed), `app.css.br` or
///   `app.css.gz` beside `app.css` is sent (with its own `ETag` and
///   `Vary: Accept-Encoding`) to a client that accepts it;
/// - `?v=` in the URL (what [`Request::static_url`](crate::Request::static_url) adds) →
///   `Cache-Control: public, max-age=31536000, immutable`; else `no-cache`
///   (revalidate with the validators);
/// - `..`, `%2e%2e`, encoded slashes and backslashes, NUL, and symlinks that
///   lead outside the directory are refused (`404`, with a log line). On
///   Linux the kernel enforces it (`openat2` with `RESOLVE_BENEATH`), which
///   also refuses absolute symlinks: link inside the directory with
///   relative ones, or allow [`follow_symlinks`](Self::follow_symlinks).
pub struct StaticFiles {
    root: LazyDir,
    index: Option<String>,
    follow_symlinks: bool,
    precompressed: bool,
}

impl StaticFiles {
    /// Serves the files under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StaticFiles { root: LazyDir::new(dir.into()), index: None, follow_symlinks: false, precompressed: false }
    }

    /// Serves `name` (say `index.html`) for a directory; off by default, when
    /// a directory is `404`. Either way a directory asked for without its
    /// trailing slash is redirected to it (`301`, as nginx does), so that
    /// relative links inside work and a route for `…/` (a PHP index, say)
    /// sees it.
    pub fn index_file(mut self, name: &str) -> Self {
        self.index = Some(name.to_owned());
        self
    }

    /// Follows symlinks that lead outside the directory (off by default).
    pub fn follow_symlinks(mut self, on: bool) -> Self {
        self.follow_symlinks = on;
        self
    }

    /// Looks for `.br` and `.gz` siblings of each file and sends one to a
    /// client that accepts it (off by default, like nginx's `gzip_static`:
    /// it costs two lookups per request).
    pub fn precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        self
    }

    async fn serve(&self, req: Request) -> Response {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            let mut resp = HttpError::new(StatusCode::METHOD_NOT_ALLOWED).into_response();
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let Some(relative) = safe_relative(req.path_info()) else {
            log::warn!(target: "squall::static", "{}: refused path {:?}", req.path(), req.path_info());
            return HttpError::not_found().into_response();
        };
        let Some(dir) = self.root.get("squall::static") else {
            return HttpError::not_found().into_response();
        };
        let plan = Plan {
            dir: &dir,
            relative,
            trailing_slash: req.path().ends_with('/'),
            index: self.index.clone(),
            follow_symlinks: self.follow_symlinks,
            precompressed: self.precompressed,
            accepted: accepted_encodings(&req),
        };
        // Looking a file up (and reading a small one) is done in place: from
        // the page cache it takes microseconds, where a hand-off to a
        // blocking thread and back costs more than the work. nginx does the
        // same. Large files go out with sendfile(2), or stream from
        // blocking threads where the connection cannot (TLS).
        match plan.find() {
            Found::File(file) => respond(&req, file).await,
            Found::Directory => crate::web::slash_redirect(req.path(), req.query()),
            Found::Outside => {
                log::warn!(target: "squall::static", "{}: leads outside the static directory", req.path());
                HttpError::not_found().into_response()
            }
            Found::Nothing => HttpError::not_found().into_response(),
        }
    }
}

impl fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticFiles")
            .field("root", &self.root.given())
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Target for StaticFiles {
    fn call(&self, req: Request) -> Dispatch<'_> {
        Dispatch::answer(self.serve(req))
    }
}

/// The path below the mount as safe relative segments, or `None`: every
/// segment percent-decoded, and none of them `..`, `.`, or holding a
/// backslash or NUL (a decoded `%2F` makes an extra segment, checked too).
fn safe_relative(path_info: &str) -> Option<PathBuf> {
    let decoded = percent_decode(path_info.as_bytes(), false);
    let mut relative = PathBuf::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" => continue,
            b"." | b".." => return None,
            s if s.contains(&b'\\') || s.contains(&0) => return None,
            s => relative.push(OsStr::from_bytes(s)),
        }
    }
    Some(relative)
}

/// The codings of [`SIBLINGS`] the client accepts.
fn accepted_encodings(req: &Request) -> Vec<&'static str> {
    let Some(accept) = req.header("accept-encoding") else {
        return Vec::new();
    };
    SIBLINGS.iter().map(|(coding, _)| *coding).filter(|coding| crate::web::coding_accepted(accept, coding)).collect()
}

/// Finding the file, on a blocking thread.
struct Plan<'a> {
    dir: &'a Dir,
    relative: PathBuf,
    trailing_slash: bool,
    index: Option<String>,
    follow_symlinks: bool,
    precompressed: bool,
    /// The codings the client accepts.
    accepted: Vec<&'static str>,
}

/// Precompressed siblings, in order of preference: coding and file suffix.
const SIBLINGS: [(&str, &str); 2] = [("br", "br"), ("gzip", "gz")];

enum Found {
    File(FileToSend),
    /// A directory asked for without its trailing slash.
    Directory,
    Outside,
    Nothing,
}

/// The file chosen (perhaps a precompressed sibling), open.
struct FileToSend {
    file: std::fs::File,
    len: u64,
    validators: Validators,
    /// The original's path, for its media type.
    path: PathBuf,
    encoding: Option<&'static str>,
    /// Some sibling exists: the response depends on Accept-Encoding.
    varies: bool,
}

impl Plan<'_> {
    fn find(self) -> Found {
        // No path below the mount names the directory itself.
        let mut relative = match self.relative.as_os_str().is_empty() {
            true => PathBuf::from("."),
            false => self.relative.clone(),
        };
        let (mut file, mut meta) = match self.open(&relative) {
            Opened::File(file, meta) => (file, meta),
            Opened::Missing => return Found::Nothing,
            Opened::Outside => return Found::Outside,
        };
        if !meta.is_dir() && self.trailing_slash {
            return Found::Nothing; // `file.txt/` names no directory (ENOTDIR, as nginx answers)
        }
        if meta.is_dir() {
            if !self.trailing_slash {
                return Found::Directory;
            }
            let Some(index) = &self.index else {
                return Found::Nothing;
            };
            relative.push(index);
            (file, meta) = match self.open(&relative) {
                Opened::File(file, meta) if meta.is_file() => (file, meta),
                Opened::Outside => return Found::Outside,
                _ => return Found::Nothing,
            };
        }
        if !meta.is_file() {
            return Found::Nothing;
        }
        let mut varies = false;
        for (coding, suffix) in SIBLINGS {
            if !self.precompressed {
                break;
            }
            let mut sibling = relative.clone().into_os_string();
            sibling.push(format!(".{suffix}"));
            let Opened::File(sibling_file, sibling_meta) = self.open(Path::new(&sibling)) else {
                continue;
            };
            if !sibling_meta.is_file() {
                continue;
            }
            // Whether or not this client takes it, a cache must know the
            // response depends on Accept-Encoding.
            varies = true;
            if self.accepted.contains(&coding) {
                let sent = to_send(sibling_file, &sibling_meta, relative, Some(coding), varies);
                return Found::File(sent);
            }
        }
        Found::File(to_send(file, &meta, relative, None, varies))
    }

    fn open(&self, relative: &Path) -> Opened {
        self.dir.open_file(relative, self.follow_symlinks)
    }
}

fn to_send(
    file: std::fs::File,
    meta: &std::fs::Metadata,
    path: PathBuf,
    encoding: Option<&'static str>,
    varies: bool,
) -> FileToSend {
    let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
    FileToSend { file, len: meta.len(), validators: Validators::of(modified, meta.len()), path, encoding, varies }
}

async fn respond(req: &Request, mut found: FileToSend) -> Response {
    let v = found.validators.clone();
    let conditions = Conditions {
        if_match: req.header("if-match"),
        if_unmodified_since: req.header("if-unmodified-since"),
        if_none_match: req.header("if-none-match"),
        if_modified_since: req.header("if-modified-since"),
    };
    let mut headers = http::HeaderMap::new();
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set(header::ETAG, &v.etag);
    set(header::LAST_MODIFIED, &v.last_modified());
    let versioned = req.query_arguments().get("v").is_some();
    set(header::CACHE_CONTROL, if versioned { "public, max-age=31536000, immutable" } else { "no-cache" });
    if found.varies {
        set(header::VARY, "Accept-Encoding");
    }
    // Only GET and HEAD get here: other methods were refused earlier.
    match conditional::evaluate(conditions, &v, true) {
        Precondition::NotModified => return with_headers(Response::new(StatusCode::NOT_MODIFIED), headers),
        Precondition::Failed => {
            return with_headers(HttpError::new(StatusCode::PRECONDITION_FAILED).into_response(), headers);
        }
        Precondition::Proceed => {}
    }
    let mime = mime_guess::from_path(&found.path).first_or_octet_stream();
    let content_type = match mime.type_() {
        mime_guess::mime::TEXT => format!("{mime}; charset=utf-8"),
        _ if mime == mime_guess::mime::APPLICATION_JAVASCRIPT => format!("{mime}; charset=utf-8"),
        _ => mime.to_string(),
    };
    set(header::CONTENT_TYPE, &content_type);
    set(header::ACCEPT_RANGES, "bytes");
    if let Some(coding) = found.encoding {
        set(header::CONTENT_ENCODING, coding);
    }
    let len = found.len;
    let ranged = *req.method() == Method::GET && conditional::if_range_holds(req.header("if-range"), &v);
    let (status, start, count) =
        match if ranged { conditional::range(req.header("range"), len) } else { RangeAnswer::Whole } {
            RangeAnswer::Whole => (StatusCode::OK, 0, len),
            RangeAnswer::Part(first, last) => {
                set(header::CONTENT_RANGE, &format!("bytes {first}-{last}/{len}"));
                (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
            }
            RangeAnswer::Unsatisfiable => {
                set(header::CONTENT_RANGE, &format!("bytes */{len}"));
                let refusal = HttpError::new(StatusCode::RANGE_NOT_SATISFIABLE).into_response();
                let mut refusal = with_headers(refusal, headers);
                // The body says what went wrong: it has the error's type, not the file's.
                let plain = HeaderValue::from_static("text/plain; charset=utf-8");
                refusal.headers_mut().insert(header::CONTENT_TYPE, plain);
                refusal.headers_mut().remove(header::CONTENT_ENCODING);
                return refusal;
            }
        };
    set(header::CONTENT_LENGTH, &count.to_string());
    let body = if *req.method() == Method::HEAD {
        Body::empty()
    } else if count <= SMALL {
        match read_exact_at(&mut found.file, start, count) {
            Ok(bytes) => Body::from(bytes),
            Err(e) => return HttpError::internal(format!("reading {}: {e}", found.path.display())).into_response(),
        }
    } else {
        // Sent with sendfile(2) over plain TCP, else read on blocking
        // threads a chunk at a time: a slow client holds back the reading,
        // never the memory.
        Body::file_part(found.file, start, count)
    };
    let mut resp = Response::new(status);
    *resp.headers_mut() = headers;
    *resp.body_mut() = body;
    resp
}

fn with_headers(mut resp: Response, headers: http::HeaderMap) -> Response {
    for (name, value) in &headers {
        resp.headers_mut().insert(name, value.clone());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn traversal_in_every_spelling_is_refused() {
        for bad in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/x",
            "/%2E%2E%2Fx",
            "/a%2f..%2fb/../..",
            "/a\\..\\b",
            "/%5c..%5cx",
            "/a%00b",
            "/./a",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
        assert_eq!(safe_relative("/css//app.css").unwrap(), std::path::Path::new("css/app.css"));
        assert_eq!(safe_relative("//etc/passwd").unwrap(), std::path::Path::new("etc/passwd"), "never absolute");
        assert_eq!(safe_relative("/caf%C3%A9.txt").unwrap(), std::path::Path::new("café.txt"));
    }
}
