//! What an [`App`](crate::App) tells its requests — the cookie secret, the
//! login URL, the current user, where static files live — and the
//! [`Request`] methods that use it. The XSRF token is [`xsrf`](super::xsrf)'s.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cookie::Cookie;

use super::Request;
use super::signing::{CookieSecret, hex};
use crate::error::HttpError;

/// The application's settings, as each of its requests carries them.
#[derive(Debug, Default, Clone)]
pub(crate) struct AppContext {
    pub(crate) cookie_secret: Option<CookieSecret>,
    pub(crate) login_url: Option<String>,
    pub(crate) debug: bool,
    pub(crate) xsrf: Option<XsrfCookie>,
    pub(crate) statics: Option<Arc<StaticFiles>>,
    #[cfg(feature = "locale")]
    pub(crate) locale: Option<Arc<LocaleSettings>>,
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
        if let Some((time, len, hash)) = crate::rt::lock(&self.hashes).get(&file)
            && (*time, *len) == stamp
        {
            return Some(hash.clone());
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

/// Signed cookies, the current user and static URLs: these need the
/// request to pass through an [`App`](crate::App) that has the settings.
impl Request {
    pub(crate) fn app_context(&self) -> Option<&AppContext> {
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

    /// The locale of this request: the user's setting
    /// ([`App::user_locale`](crate::App::user_locale)) when supported, then
    /// the best the `Accept-Language` header asks for, then the default of
    /// the app's [translations](crate::App::translations) (`en_US`, with no
    /// translations, for a request that did not come through such an app).
    #[cfg(feature = "locale")]
    pub fn locale(&self) -> crate::locale::Locale {
        match self.app_context().and_then(|c| c.locale.as_deref()) {
            Some(settings) => settings.for_request(self),
            None => crate::locale::english().clone(),
        }
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

    /// The URL of static file `path` with a version from its content
    /// (`/static/app.css?v=…`), so that it can be cached for a long time and
    /// still change when the file does. Without
    /// [`App::static_path`](crate::App::static_path), or for a file that
    /// cannot be read, the URL has no version.
    pub fn static_url(&self, path: &str) -> String {
        static_url(self.app_context(), path)
    }
}

#[cfg(feature = "locale")]
/// The hook that finds a user's own locale setting.
pub(crate) type UserLocale = dyn Fn(&Request) -> Option<String> + Send + Sync;

#[cfg(feature = "locale")]
/// What an app knows to choose each request's locale.
#[derive(Clone)]
pub(crate) struct LocaleSettings {
    pub(crate) translations: crate::locale::Translations,
    pub(crate) user: Option<Arc<UserLocale>>,
}

#[cfg(feature = "locale")]
impl LocaleSettings {
    /// The user's setting when supported, then `Accept-Language`, then the
    /// default (Tornado's `get_user_locale`, then `get_browser_locale`).
    pub(crate) fn for_request(&self, req: &Request) -> crate::locale::Locale {
        let user = self.user.as_ref().and_then(|hook| hook(req));
        let from_user = user.as_deref().and_then(|code| self.translations.matching([code]));
        let accept = || {
            let header = req.headers().get(http::header::ACCEPT_LANGUAGE)?.to_str().ok()?;
            self.translations.accepted(header)
        };
        from_user.or_else(accept).unwrap_or_else(|| self.translations.default()).clone()
    }
}

#[cfg(feature = "locale")]
impl std::fmt::Debug for LocaleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocaleSettings")
            .field("translations", &self.translations)
            .field("user", &self.user.is_some())
            .finish()
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
    fn html_is_escaped() {
        assert_eq!(escape_html(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
