//! What an [`App`](crate::App) tells its requests: the cookie secret, the
//! login URL, the current user, and the request's XSRF token — and the
//! [`Request`] methods that use them. XSRF tokens are in Tornado's version 2
//! format, `2|<hex mask>|<hex masked token>|<timestamp>`: the 16-byte token
//! lives in the `_xsrf` cookie, and every page gets it under a fresh random
//! mask, so the token never repeats in a response body (BREACH).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cookie::Cookie;
use http::{Method, StatusCode};

use super::signing::{CookieSecret, constant_time_eq, hex, unix_now};
use super::{Body, Request};
use crate::error::HttpError;

/// The application's settings, as each of its requests carries them.
#[derive(Debug, Default, Clone)]
pub(crate) struct AppContext {
    pub(crate) cookie_secret: Option<CookieSecret>,
    pub(crate) login_url: Option<String>,
    pub(crate) debug: bool,
    pub(crate) xsrf: Option<XsrfCookie>,
    pub(crate) statics: Option<Arc<StaticFiles>>,
}

/// Where static files live, for [`Request::static_url`], with the content
/// hash of each file looked up (kept until the file's size or time changes).
#[derive(Debug)]
pub(crate) struct StaticFiles {
    pub(crate) dir: PathBuf,
    pub(crate) prefix: String,
    hashes: Mutex<HashMap<PathBuf, Versioned>>,
}

/// A file's modification time and size, and the version made from its content then.
type Versioned = (Option<SystemTime>, u64, String);

impl StaticFiles {
    pub(crate) fn new(dir: PathBuf, prefix: &str) -> Self {
        let prefix = format!("/{}/", prefix.trim_matches('/'));
        StaticFiles { dir, prefix: prefix.replace("//", "/"), hashes: Mutex::new(HashMap::new()) }
    }

    /// The first 16 hex digits of the file's SHA-256, or `None` when it
    /// cannot be read or lies outside the directory.
    fn version(&self, path: &str) -> Option<String> {
        use sha2::Digest;
        if path.split('/').any(|part| part == ".." || part.contains('\\')) {
            return None;
        }
        let file = self.dir.join(path.trim_start_matches('/'));
        let meta = std::fs::metadata(&file).ok()?;
        let stamp = (meta.modified().ok(), meta.len());
        if let Some((time, len, hash)) = crate::rt::lock(&self.hashes).get(&file) {
            if (*time, *len) == stamp {
                return Some(hash.clone());
            }
        }
        // Streamed through the hash: a large asset is never held whole.
        let mut reader = std::fs::File::open(&file).ok()?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        let hash = hex(&hasher.finalize()[..8]);
        crate::rt::lock(&self.hashes).insert(file, (stamp.0, stamp.1, hash.clone()));
        Some(hash)
    }
}

/// How the `_xsrf` cookie is set.
#[derive(Debug, Clone)]
pub(crate) struct XsrfCookie {
    pub(crate) name: String,
    pub(crate) template: Cookie<'static>,
}

/// The current user, as the app's hook found it.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser(pub(crate) Option<String>);

/// The request's XSRF token, and whether the response must set its cookie.
#[derive(Debug)]
pub(crate) struct XsrfState {
    token: [u8; 16],
    timestamp: u64,
    /// The client had no valid `_xsrf` cookie: a token made up for it.
    fresh: bool,
    /// Something asked for the token, so the client must get its cookie.
    used: AtomicBool,
}

/// Set on a request whose route opted out of the XSRF check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct XsrfExempt;

impl XsrfState {
    /// The token of `req`'s `_xsrf` cookie, or a new one.
    pub(crate) fn for_request(req: &Request, cookie: &str) -> Self {
        match req.cookie(cookie).as_deref().and_then(decode_token) {
            Some((token, timestamp)) => XsrfState { token, timestamp, fresh: false, used: AtomicBool::new(false) },
            None => XsrfState { token: random(), timestamp: unix_now(), fresh: true, used: AtomicBool::new(false) },
        }
    }

    /// The cookie to set with the response, if the client needs one.
    pub(crate) fn cookie_to_set(&self, settings: &XsrfCookie) -> Option<Cookie<'static>> {
        if !(self.fresh && self.used.load(Ordering::Relaxed)) {
            return None;
        }
        let mut cookie = settings.template.clone();
        cookie.set_name(settings.name.clone());
        cookie.set_value(encode_token(&self.token, self.timestamp));
        Some(cookie)
    }

    pub(crate) fn masked(&self) -> String {
        self.used.store(true, Ordering::Relaxed);
        encode_token(&self.token, self.timestamp)
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        // No entropy source at all: refuse rather than issue guessable tokens.
        panic!("the operating system's random source failed");
    }
    bytes
}

/// A version 2 token: the 16 bytes under a fresh 4-byte mask.
fn encode_token(token: &[u8; 16], timestamp: u64) -> String {
    let mask: [u8; 4] = random();
    let masked: Vec<u8> = token.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    format!("2|{}|{}|{timestamp}", hex(&mask), hex(&masked))
}

/// The token inside a version 2 value (cookie or form field), or inside a
/// version 1 value (the token in hex, as older Tornado wrote it).
pub(crate) fn decode_token(value: &str) -> Option<([u8; 16], u64)> {
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix("2|") {
        let mut parts = rest.split('|');
        let (mask, masked, timestamp) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let mask = unhex(mask)?;
        let masked = unhex(masked)?;
        if mask.len() != 4 || masked.len() != 16 {
            return None;
        }
        let mut token = [0u8; 16];
        for (i, b) in masked.iter().enumerate() {
            token[i] = b ^ mask[i % 4];
        }
        return Some((token, timestamp.parse().ok()?));
    }
    let token: [u8; 16] = unhex(value)?.try_into().ok()?;
    Some((token, unix_now()))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Whether a native handler must check `req` first: the app has XSRF
/// protection on. One lookup in an empty map when it does not.
pub(crate) fn xsrf_guarded(req: &Request) -> bool {
    req.extensions().get::<Arc<XsrfState>>().is_some()
}

/// Checks an unsafe request against its XSRF cookie, before a native
/// handler sees it: the `_xsrf` form field (of a urlencoded body, which is
/// read here and put back) or the `X-Xsrftoken` / `X-Csrftoken` header must
/// carry the cookie's token. A route wrapped in
/// [`xsrf_exempt`](crate::app::xsrf_exempt) is not checked.
pub(crate) async fn check_xsrf(mut req: Request) -> Result<Request, HttpError> {
    let Some(state) = req.extensions().get::<Arc<XsrfState>>().cloned() else {
        return Ok(req);
    };
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.extensions().get::<XsrfExempt>().is_some()
    {
        return Ok(req);
    }
    let header = ["x-xsrftoken", "x-csrftoken"].into_iter().find_map(|h| req.header(h).map(str::to_owned));
    // Like Tornado's `get_argument`, the query counts too: a plain HTML
    // upload form (multipart, whose body is not read here) puts it there.
    let query = || req.query_arguments().get("_xsrf").map(str::to_owned);
    let sent = match header.or_else(query) {
        Some(token) => Some(token),
        None if is_urlencoded(&req) => {
            let body = req.take_body().bytes().await?;
            let field = super::Arguments::parse(&String::from_utf8_lossy(&body)).get("_xsrf").map(str::to_owned);
            *req.body_mut() = Body::from(body);
            field
        }
        None => None,
    };
    let forbidden = |why: &str| HttpError::new(StatusCode::FORBIDDEN).with_message(why).with_log(why);
    let Some(sent) = sent else {
        return Err(forbidden("'_xsrf' argument missing from the request"));
    };
    let Some((token, _)) = decode_token(&sent) else {
        return Err(forbidden("'_xsrf' argument has an invalid format"));
    };
    if state.fresh || !constant_time_eq(&token, &state.token) {
        return Err(forbidden("XSRF cookie does not match the request's token"));
    }
    Ok(req)
}

fn is_urlencoded(req: &Request) -> bool {
    req.header("content-type").is_some_and(|t| {
        t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    })
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// See [`Request::static_url`].
pub(crate) fn static_url(context: Option<&AppContext>, path: &str) -> String {
    let Some(statics) = context.and_then(|c| c.statics.as_deref()) else {
        return format!("/static/{}", path.trim_start_matches('/'));
    };
    let url = format!("{}{}", statics.prefix, path.trim_start_matches('/'));
    match statics.version(path) {
        Some(version) => format!("{url}?v={version}"),
        None => url,
    }
}

/// Signed cookies, the current user and XSRF tokens: these need the
/// request to pass through an [`App`](crate::App) that has the settings.
impl Request {
    fn app_context(&self) -> Option<&AppContext> {
        self.extensions().get::<Arc<AppContext>>().map(Arc::as_ref)
    }

    fn cookie_secret(&self) -> Result<&CookieSecret, HttpError> {
        self.app_context().and_then(|c| c.cookie_secret.as_ref()).ok_or_else(|| {
            HttpError::internal("signed cookies need App::cookie_secret, and the request to pass through that App")
        })
    }

    /// The value of signed cookie `name` if its signature is good and it is
    /// at most 31 days old (Tornado's `get_signed_cookie`); `None` for a
    /// missing, tampered, expired or foreign cookie, or one that is not UTF-8.
    ///
    /// # Errors
    ///
    /// `500` (with a log line) when the app has no cookie secret.
    pub fn signed_cookie(&self, name: &str) -> Result<Option<String>, HttpError> {
        self.signed_cookie_within(name, 31.0)
    }

    /// [`signed_cookie`](Self::signed_cookie) with another age limit.
    ///
    /// # Errors
    ///
    /// As for [`signed_cookie`](Self::signed_cookie).
    pub fn signed_cookie_within(&self, name: &str, max_age_days: f64) -> Result<Option<String>, HttpError> {
        let secret = self.cookie_secret()?;
        let value = self.cookie(name).and_then(|signed| secret.verify(name, &signed, max_age_days));
        Ok(value.and_then(|v| String::from_utf8(v).ok()))
    }

    /// A cookie carrying `value` signed under `name`, for
    /// [`Response::set_cookie`](crate::Response::set_cookie): `Path=/`,
    /// expiring in 30 days (Tornado's `set_signed_cookie` defaults), and
    /// `HttpOnly`. Change any attribute on the returned cookie.
    ///
    /// # Errors
    ///
    /// `500` (with a log line) when the app has no cookie secret.
    pub fn signed_cookie_for(&self, name: &str, value: &str) -> Result<Cookie<'static>, HttpError> {
        let signed = self.cookie_secret()?.sign(name, value.as_bytes());
        let expires = cookie::time::OffsetDateTime::now_utc() + cookie::time::Duration::days(30);
        Ok(Cookie::build((name.to_owned(), signed)).path("/").expires(expires).http_only(true).build())
    }

    /// The user the app's [`current_user`](crate::App::current_user) hook
    /// found for this request, if any.
    pub fn current_user(&self) -> Option<&str> {
        self.extensions().get::<CurrentUser>().and_then(|u| u.0.as_deref())
    }

    /// The path of the app's login page ([`App::login_url`](crate::App::login_url)).
    pub fn login_url(&self) -> &str {
        self.app_context().and_then(|c| c.login_url.as_deref()).unwrap_or("/login")
    }

    /// Whether the app runs with [`App::debug`](crate::App::debug) on.
    pub fn debug(&self) -> bool {
        self.app_context().is_some_and(|c| c.debug)
    }

    /// The XSRF token for a form or an `X-Xsrftoken` header, freshly masked
    /// on every call. When the client has no `_xsrf` cookie yet, the
    /// response sets it.
    ///
    /// # Errors
    ///
    /// `500` (with a log line) when the app does not have XSRF protection on.
    pub fn xsrf_token(&self) -> Result<String, HttpError> {
        self.extensions().get::<Arc<XsrfState>>().map(|s| s.masked()).ok_or_else(|| {
            HttpError::internal("xsrf_token needs App::xsrf_cookies, and the request to pass through that App")
        })
    }

    /// The URL of static file `path` with a version from its content
    /// (`/static/app.css?v=…`), so that it can be cached for a long time and
    /// still change when the file does. Without
    /// [`App::static_path`](crate::App::static_path), or for a file that
    /// cannot be read, the URL has no version.
    pub fn static_url(&self, path: &str) -> String {
        static_url(self.app_context(), path)
    }

    /// `<input type="hidden" name="_xsrf" value="…">` for a form.
    ///
    /// # Errors
    ///
    /// As for [`xsrf_token`](Self::xsrf_token).
    pub fn xsrf_form_html(&self) -> Result<String, HttpError> {
        Ok(format!(r#"<input type="hidden" name="_xsrf" value="{}">"#, escape_html(&self.xsrf_token()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_version_is_the_start_of_the_files_sha256_and_follows_changes() {
        use sha2::Digest;
        let dir = std::env::temp_dir().join(format!("squall-static-version-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Larger than one read, so the hash is streamed over several.
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("app.js"), &content).unwrap();
        let files = StaticFiles::new(dir.clone(), "static");
        let expected = hex(&sha2::Sha256::digest(&content)[..8]);
        assert_eq!(files.version("app.js"), Some(expected));
        std::fs::write(dir.join("app.js"), b"changed").unwrap();
        assert_eq!(
            files.version("app.js"),
            Some(hex(&sha2::Sha256::digest(b"changed")[..8])),
            "a new size, a new version"
        );
        assert_eq!(files.version("../app.js"), None);
        assert_eq!(files.version("missing.js"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_round_trip_under_a_fresh_mask_each_time() {
        let token = [7u8; 16];
        let a = encode_token(&token, 1_700_000_000);
        let b = encode_token(&token, 1_700_000_000);
        assert_ne!(a, b, "a fresh mask per page");
        assert_eq!(decode_token(&a), Some((token, 1_700_000_000)));
        assert_eq!(decode_token(&b), Some((token, 1_700_000_000)));
        assert_eq!(a.split('|').count(), 4);
    }

    #[test]
    fn malformed_tokens_decode_to_nothing() {
        for bad in [
            "",
            "2|",
            "2|zz|00|1",
            "2|00000000|00|1",
            "2|0000|0000|1|x",
            "2|00000000|00000000000000000000000000000000|x",
        ] {
            assert_eq!(decode_token(bad), None, "{bad:?}");
        }
        let v1 = hex(&[9u8; 16]);
        assert_eq!(decode_token(&v1).map(|t| t.0), Some([9u8; 16]), "version 1: the token in hex");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
