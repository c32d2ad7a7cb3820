//! Third-party login (cargo feature `auth`), Tornado's `tornado.auth`: "log
//! in with Google, GitHub, or the company's identity provider".
//!
//! A [`LoginWith`] target, mounted at a prefix, serves two paths:
//!
//! - `{prefix}/login?next=/notes` sends the browser to the provider, with
//!   the OAuth 2.0 authorization-code flow (RFC 6749), PKCE (RFC 7636,
//!   `S256`) and a `state` bound to this browser by a short-lived signed
//!   cookie;
//! - `{prefix}/callback` is where the provider sends it back: the state is
//!   checked (once: a replayed callback is refused), the code exchanged for
//!   tokens, the ID token verified (OpenID Connect Core 1.0, section
//!   3.1.3.7: signature by the provider's key, RS256 or ES256, issuer,
//!   audience, expiry with a minute of clock skew, nonce), and the app's
//!   signed user cookie set — the same cookie [`App::current_user`](crate::App::current_user)
//!   reads — before a redirect to `next` (a [local path](crate::app::local_path)
//!   only).
//!
//! Every failure a user can meet — the provider unreachable, consent
//! denied, an expired or replayed state, a token for another client, a
//! token that does not verify — gets its own page and a log line, and logs
//! nobody in.
//!
//! Providers: any OpenID Connect issuer by its URL ([`Provider::discover`]),
//! [`Provider::google`], and [`Provider::github`] (OAuth 2.0 and GitHub's
//! user API; GitHub is not an OpenID provider). The few HTTP calls a login
//! makes run on a blocking client (`ureq`) on the blocking thread pool;
//! signatures are verified by `ring`.
//!
//! ```no_run
//! use squall::auth::{Client, LoginWith, Provider};
//! use squall::web::CookieSecret;
//! use squall::{App, Router};
//!
//! # fn main() -> squall::Result<()> {
//! let client = Client::new("my-client-id", "my-secret", "https://notes.example/auth/google/callback");
//! let google = Provider::google(client)?;
//! let app = App::new(Router::new().mount("/auth/google", LoginWith::new(google)))
//!     .cookie_secret(CookieSecret::new("32 random bytes, kept secret"))
//!     .login_url("/auth/google/login")
//!     .current_user(|req| Box::pin(async move { req.signed_cookie("user").ok().flatten() }));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod client;
mod jose;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::SameSite;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::client::{CallError, ClientAuth};
use self::jose::{Jwk, Refused};
use crate::app::local_path;
use crate::error::{Error, HttpError, Result};
use crate::rt::lock;
use crate::web::signing::constant_time_eq;
use crate::web::{Dispatch, IntoResponse, Request, Response, Target};

/// The app's registration at a provider.
#[derive(Clone)]
pub struct Client {
    id: String,
    secret: String,
    redirect_uri: String,
}

impl Client {
    /// The client id and secret the provider issued, and the callback URL
    /// registered with it: `{prefix}/callback` where the [`LoginWith`] is
    /// mounted, as an absolute URL (`https://notes.example/auth/google/callback`),
    /// or as a path (`/auth/google/callback`) completed from each request's
    /// scheme and `Host` — the provider accepts only the URLs registered
    /// with it, so a forged `Host` leads nowhere.
    pub fn new(id: &str, secret: &str, redirect_uri: &str) -> Self {
        Client { id: id.to_owned(), secret: secret.to_owned(), redirect_uri: redirect_uri.to_owned() }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("id", &self.id).field("redirect_uri", &self.redirect_uri).finish_non_exhaustive()
    }
}

/// Where a provider's endpoints are: from its discovery document
/// ([`ProviderMetadata::discover`]), or written out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// The OpenID issuer, which ID tokens must name; `None` for a provider
    /// that speaks only OAuth 2.0.
    pub issuer: Option<String>,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged for tokens.
    pub token_endpoint: String,
    /// The provider's signing keys (a JWK Set).
    pub jwks_uri: Option<String>,
    /// Where the access token reads the user's claims (OpenID's userinfo,
    /// GitHub's user API).
    pub userinfo_endpoint: Option<String>,
    /// Whether the token endpoint takes the client's credentials as HTTP
    /// Basic (the default of RFC 6749) rather than in the form.
    pub client_secret_basic: bool,
}

impl ProviderMetadata {
    /// Reads `{issuer}/.well-known/openid-configuration` (OpenID Connect
    /// Discovery 1.0), which must name the same issuer.
    ///
    /// # Errors
    ///
    /// A configuration error when the document cannot be fetched, is not
    /// JSON, lacks an endpoint, or names another issuer.
    pub fn discover(issuer: &str) -> Result<Self> {
        let issuer = issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let document =
            client::get_json(&url, None).map_err(|e| Error::config(format!("OpenID discovery {url}: {e}")))?;
        let text = |name: &str| document.get(name).and_then(Value::as_str).map(str::to_owned);
        let required =
            |name: &str| text(name).ok_or_else(|| Error::config(format!("OpenID discovery {url}: no {name}")));
        let named = required("issuer")?;
        if named.trim_end_matches('/') != issuer {
            return Err(Error::config(format!("OpenID discovery {url}: names issuer {named:?}, not {issuer:?}")));
        }
        let methods = document.get("token_endpoint_auth_methods_supported").and_then(Value::as_array);
        // Absent, the specification's default is client_secret_basic.
        let basic = methods.is_none_or(|m| m.iter().any(|v| v == "client_secret_basic"));
        Ok(ProviderMetadata {
            issuer: Some(named),
            authorization_endpoint: required("authorization_endpoint")?,
            token_endpoint: required("token_endpoint")?,
            jwks_uri: Some(required("jwks_uri")?),
            userinfo_endpoint: text("userinfo_endpoint"),
            client_secret_basic: basic,
        })
    }
}

/// A provider, with this app's registration at it.
pub struct Provider {
    name: String,
    metadata: ProviderMetadata,
    client: Client,
    scopes: Vec<String>,
    keys: Mutex<Keys>,
}

/// The provider's signing keys, and when they were last fetched.
struct Keys {
    set: Arc<Vec<Jwk>>,
    fetched: Option<Instant>,
}

/// Keys are fetched again for an unknown key id (a rotation), at most this often.
const REFETCH_KEYS_AFTER: Duration = Duration::from_secs(10);

impl Provider {
    /// Any OpenID Connect provider, by its issuer URL: discovers its
    /// endpoints and fetches its keys now, so that a provider that cannot
    /// be used stops start-up rather than the first login.
    ///
    /// # Errors
    ///
    /// As [`ProviderMetadata::discover`]; or the key set cannot be fetched.
    pub fn discover(name: &str, issuer: &str, client: Client) -> Result<Self> {
        Self::openid_connect(name, ProviderMetadata::discover(issuer)?, client)
    }

    /// An OpenID Connect provider at endpoints given in full; fetches its
    /// keys now.
    ///
    /// # Errors
    ///
    /// A configuration error when the metadata has no issuer or key set
    /// URL, or the key set cannot be fetched.
    pub fn openid_connect(name: &str, metadata: ProviderMetadata, client: Client) -> Result<Self> {
        if metadata.issuer.is_none() {
            return Err(Error::config(format!("provider {name}: OpenID Connect needs an issuer")));
        }
        let jwks_uri =
            metadata.jwks_uri.clone().ok_or_else(|| Error::config(format!("provider {name}: no jwks_uri")))?;
        let set = fetch_keys(&jwks_uri).map_err(|e| Error::config(format!("provider {name}: keys {jwks_uri}: {e}")))?;
        let provider = Provider::new(name, metadata, client, &["openid", "email", "profile"]);
        *lock(&provider.keys) = Keys { set: Arc::new(set), fetched: Some(Instant::now()) };
        Ok(provider)
    }

    /// Google, an OpenID provider at `https://accounts.google.com`.
    ///
    /// # Errors
    ///
    /// As [`Provider::discover`].
    pub fn google(client: Client) -> Result<Self> {
        Self::discover("google", "https://accounts.google.com", client)
    }

    /// GitHub: OAuth 2.0 (no ID token) and its user API for who logged in.
    pub fn github(client: Client) -> Self {
        let metadata = ProviderMetadata {
            issuer: None,
            authorization_endpoint: "https://github.com/login/oauth/authorize".into(),
            token_endpoint: "https://github.com/login/oauth/access_token".into(),
            jwks_uri: None,
            userinfo_endpoint: Some("https://api.github.com/user".into()),
            client_secret_basic: false,
        };
        Provider::new("github", metadata, client, &["read:user", "user:email"])
    }

    /// A provider that speaks only OAuth 2.0, whose user API
    /// (`metadata.userinfo_endpoint`) answers who logged in, as GitHub's does.
    pub fn oauth2(name: &str, metadata: ProviderMetadata, client: Client) -> Self {
        Provider::new(name, ProviderMetadata { issuer: None, ..metadata }, client, &[])
    }

    fn new(name: &str, metadata: ProviderMetadata, client: Client, scopes: &[&str]) -> Self {
        Provider {
            name: name.to_owned(),
            metadata,
            client,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            keys: Mutex::new(Keys { set: Arc::new(Vec::new()), fetched: None }),
        }
    }

    /// The scopes asked for, replacing the defaults (`openid email profile`
    /// for OpenID Connect; `read:user user:email` for GitHub).
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Its name, as given (`google`, `github`): in cookie names and log lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its endpoints are.
    pub fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    fn is_openid(&self) -> bool {
        self.metadata.issuer.is_some()
    }

    /// The current keys; fetched again when `kid` is not among them (and
    /// they were not fetched in the last few seconds).
    fn keys_for(&self, kid: Option<&str>) -> std::result::Result<Arc<Vec<Jwk>>, CallError> {
        let (set, fetched) = {
            let keys = lock(&self.keys);
            (keys.set.clone(), keys.fetched)
        };
        let known = kid.is_none() || set.iter().any(|k| k.kid() == kid);
        let recent = fetched.is_some_and(|at| at.elapsed() < REFETCH_KEYS_AFTER);
        let Some(uri) = self.metadata.jwks_uri.as_deref().filter(|_| !known && !recent) else { return Ok(set) };
        let fresh = Arc::new(fetch_keys(uri)?);
        log::info!(target: "squall::auth", "{}: fetched the provider's keys again (key {kid:?} was unknown)", self.name);
        *lock(&self.keys) = Keys { set: fresh.clone(), fetched: Some(Instant::now()) };
        Ok(fresh)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("metadata", &self.metadata)
            .field("client", &self.client)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn fetch_keys(uri: &str) -> std::result::Result<Vec<Jwk>, CallError> {
    let set = client::get_json(uri, None)?;
    Ok(jose::parse_jwks(&set))
}

/// Who logged in, as the provider says.
#[derive(Debug, Clone)]
pub struct ProviderUser {
    /// The provider's name.
    pub provider: String,
    /// The provider's stable id for the user (`sub`; GitHub's numeric id):
    /// with the provider's name, the key to the app's own account.
    pub subject: String,
    /// The e-mail address, if shared.
    pub email: Option<String>,
    /// Whether the provider verified that address.
    pub email_verified: bool,
    /// The display name, if shared.
    pub name: Option<String>,
    /// A user name (`preferred_username`; GitHub's `login`).
    pub username: Option<String>,
    /// Every claim the provider gave (the ID token's, then userinfo's).
    pub claims: Value,
    /// The ID token as received, for an app that passes it on (to end the
    /// provider's session with `id_token_hint`, say).
    pub id_token: Option<String>,
}

impl ProviderUser {
    fn from_claims(provider: &str, claims: Value, id_token: Option<String>) -> Option<Self> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let subject = match claims.get("sub").or_else(|| claims.get("id")) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return None,
        };
        Some(ProviderUser {
            provider: provider.to_owned(),
            subject,
            email: text("email"),
            email_verified: claims.get("email_verified").and_then(Value::as_bool).unwrap_or(false),
            name: text("name"),
            username: text("preferred_username").or_else(|| text("login")),
            id_token,
            claims,
        })
    }
}

/// What the app's user cookie holds for a user who logged in.
pub type OnLogin = dyn Fn(&Request, &ProviderUser) -> std::result::Result<String, HttpError> + Send + Sync;

/// Login through a [`Provider`]: mount it at a prefix, and it serves
/// `{prefix}/login` and `{prefix}/callback` (see the [module](self)).
pub struct LoginWith {
    provider: Arc<Provider>,
    user_cookie: String,
    on_login: Box<OnLogin>,
    state_max_age: Duration,
    /// The cookie holding a login's state: `login_{provider name}`.
    state_cookie: String,
    /// States already used, until they would have expired.
    used: Mutex<HashMap<String, Instant>>,
}

/// States remembered as used, at most; past it, the oldest are forgotten
/// (their cookies expire anyway).
const MAX_USED_STATES: usize = 100_000;

impl LoginWith {
    /// Login through `provider`; the user cookie is `user`, holding the
    /// user's name at the provider (`preferred_username`, GitHub's login),
    /// else the e-mail address, else the provider's id for the user.
    pub fn new(provider: Provider) -> Self {
        let name: String =
            provider.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        LoginWith {
            state_cookie: format!("login_{name}"),
            provider: Arc::new(provider),
            user_cookie: "user".to_owned(),
            on_login: Box::new(|_req, user| {
                Ok(user.username.clone().or_else(|| user.email.clone()).unwrap_or_else(|| user.subject.clone()))
            }),
            state_max_age: Duration::from_secs(600),
            used: Mutex::new(HashMap::new()),
        }
    }

    /// The signed cookie set on login (default `user`): the one the app's
    /// `current_user` hook reads.
    pub fn user_cookie(mut self, name: &str) -> Self {
        name.clone_into(&mut self.user_cookie);
        self
    }

    /// What the user cookie holds for `user` — usually the app's own
    /// account for `(user.provider, user.subject)`, made on first login.
    /// An error refuses the login with that answer.
    pub fn on_login<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Request, &ProviderUser) -> std::result::Result<String, HttpError> + Send + Sync + 'static,
    {
        self.on_login = Box::new(hook);
        self
    }

    /// How long a login may take at the provider (default 10 minutes);
    /// a callback after that is refused as expired.
    pub fn state_max_age(mut self, max_age: Duration) -> Self {
        self.state_max_age = max_age;
        self
    }

    async fn serve(&self, req: Request) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = HttpError::new(StatusCode::METHOD_NOT_ALLOWED).into_response();
            response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let answer = match req.path_info() {
            "/login" => self.start(&req),
            "/callback" => self.finish(&req).await,
            _ => Err(HttpError::not_found()),
        };
        answer.unwrap_or_else(|error| {
            // Whatever went wrong, this login's state is spent.
            let mut response = error.into_response();
            response.clear_cookie(&self.state_cookie, cookie_path(&req));
            response
        })
    }

    /// Sends the browser to the provider.
    fn start(&self, req: &Request) -> std::result::Result<Response, HttpError> {
        let provider = &self.provider;
        let next = req.query_argument("next").ok().and_then(|n| local_path(&n).map(str::to_owned));
        let (state, nonce, verifier) = (random_token()?, random_token()?, random_token()?);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let redirect_uri = redirect_uri(&provider.client, req);
        let remembered =
            json!({"state": state, "nonce": nonce, "verifier": verifier, "next": next, "redirect_uri": redirect_uri});
        let mut cookie = req.signed_cookie_for(&self.state_cookie, &remembered.to_string())?;
        cookie.set_path(cookie_path(req).to_owned());
        cookie.set_max_age(cookie::time::Duration::seconds(self.state_max_age.as_secs() as i64));
        cookie.set_expires(None);
        // Sent on the provider's redirect back, a top-level GET.
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(req.protocol() == "https");
        let scope = provider.scopes.join(" ");
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", provider.client.id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", scope.as_str()),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if provider.is_openid() {
            params.push(("nonce", nonce.as_str()));
        }
        let mut response = Response::redirect(&client::with_query(&provider.metadata.authorization_endpoint, &params));
        response.set_cookie(cookie);
        Ok(response)
    }

    /// The provider's answer: checks, exchanges, verifies, logs the user in.
    async fn finish(&self, req: &Request) -> std::result::Result<Response, HttpError> {
        let name = self.provider.name.as_str();
        let param = |key: &str| req.query_argument(key).ok();
        if let Some(error) = param("error") {
            let description = param("error_description").unwrap_or_default();
            // Quoted: the browser brought these, and a line break in them
            // must not start a line of its own in the log.
            let log = format!("login with {name}: the provider answered {error:?}: {description:?}");
            return Err(if error == "access_denied" {
                HttpError::new(StatusCode::FORBIDDEN)
                    .with_message(format!("Sign-in with {name} was cancelled: nobody is logged in."))
                    .with_log(log)
            } else {
                HttpError::new(StatusCode::BAD_GATEWAY)
                    .with_message(format!("{name} could not sign you in ({error}). Please try again."))
                    .with_log(log)
            });
        }
        let remembered = self.remembered_state(req)?;
        let text = |key: &str| remembered.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let code = param("code").ok_or_else(|| stale(name, "the callback has no code"))?;
        let user = self.exchange(code, text("verifier"), text("nonce"), text("redirect_uri")).await?;
        let value = (self.on_login)(req, &user)?;
        log::info!(target: "squall::auth", "login with {name}: {} (subject {}) logged in", value, user.subject);
        let next = remembered.get("next").and_then(Value::as_str).and_then(local_path).unwrap_or("/");
        let mut response = Response::redirect(next);
        let mut cookie = req.signed_cookie_for(&self.user_cookie, &value)?;
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(req.protocol() == "https");
        response.set_cookie(cookie);
        response.clear_cookie(&self.state_cookie, cookie_path(req));
        Ok(response)
    }

    /// The state this browser was given, matched against the callback's
    /// and spent.
    fn remembered_state(&self, req: &Request) -> std::result::Result<Value, HttpError> {
        let name = self.provider.name.as_str();
        let max_age_days = self.state_max_age.as_secs_f64() / 86_400.0;
        let cookie = req.signed_cookie_within(&self.state_cookie, max_age_days)?.ok_or_else(|| {
            stale(name, "no login state in this browser: expired, already used, or the login began elsewhere")
        })?;
        let remembered: Value = serde_json::from_str(&cookie).map_err(|_| stale(name, "an unreadable login state"))?;
        let expected = remembered.get("state").and_then(Value::as_str).unwrap_or_default();
        let given = req.query_argument("state").unwrap_or_default();
        if expected.is_empty() || !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return Err(stale(name, "the callback's state is not this browser's (a forged or crossed callback)"));
        }
        let mut used = lock(&self.used);
        let now = Instant::now();
        used.retain(|_, until| *until > now);
        if used.len() >= MAX_USED_STATES {
            used.clear();
        }
        if used.insert(expected.to_owned(), now + self.state_max_age).is_some() {
            return Err(stale(name, "this state was used already (a replayed callback)"));
        }
        Ok(remembered)
    }

    /// The code for tokens, then the user: from the verified ID token, or
    /// the user API.
    async fn exchange(
        &self,
        code: String,
        verifier: String,
        nonce: String,
        redirect_uri: String,
    ) -> std::result::Result<ProviderUser, HttpError> {
        let provider = self.provider.clone();
        blocking::unblock(move || {
            let name = provider.name.as_str();
            let meta = &provider.metadata;
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ];
            let auth = if meta.client_secret_basic { ClientAuth::Basic } else { ClientAuth::Form };
            let credentials = (provider.client.id.as_str(), provider.client.secret.as_str());
            let tokens = client::post_form(&meta.token_endpoint, &form, credentials, auth)
                .map_err(|e| unreachable(name, "token endpoint", &e))?;
            if let Some(error) = tokens.get("error").and_then(Value::as_str) {
                return Err(refused_code(name, error));
            }
            let access = tokens.get("access_token").and_then(Value::as_str).unwrap_or_default();
            let mut claims = match (&meta.issuer, tokens.get("id_token").and_then(Value::as_str)) {
                (Some(issuer), Some(id_token)) => {
                    let keys = provider
                        .keys_for(jose::key_id(id_token).as_deref())
                        .map_err(|e| unreachable(name, "key set", &e))?;
                    let expected =
                        jose::Expected { issuer, client_id: &provider.client.id, nonce: &nonce, now: unix_now() };
                    jose::verify(id_token, &keys, &expected).map_err(|why| unverified(name, &why))?
                }
                (Some(_), None) => return Err(unverified(name, &Refused::Missing)),
                (None, _) => Value::Object(Default::default()),
            };
            if let Some(url) = meta.userinfo_endpoint.as_deref().filter(|_| claims.get("email").is_none()) {
                let info = client::get_json(url, Some(access)).map_err(|e| unreachable(name, "user API", &e))?;
                // OpenID Connect Core 1.0, section 5.3.2: the same user or none.
                if let (Some(sub), Some(other)) = (claims.get("sub"), info.get("sub"))
                    && sub != other
                {
                    return Err(unverified(name, &Refused::OtherSubject));
                }
                if let (Value::Object(into), Value::Object(from)) = (&mut claims, info) {
                    for (key, value) in from {
                        into.entry(key).or_insert(value);
                    }
                }
            }
            let id_token = tokens.get("id_token").and_then(Value::as_str).map(str::to_owned);
            ProviderUser::from_claims(name, claims, id_token).ok_or_else(|| {
                HttpError::new(StatusCode::BAD_GATEWAY)
                    .with_message(format!("{name} did not say who you are. Please try again."))
                    .with_log(format!("login with {name}: no subject in the provider's answer"))
            })
        })
        .await
    }
}

impl fmt::Debug for LoginWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginWith")
            .field("provider", &self.provider)
            .field("user_cookie", &self.user_cookie)
            .field("state_max_age", &self.state_max_age)
            .finish_non_exhaustive()
    }
}

impl Target for LoginWith {
    fn call(&self, req: Request) -> Dispatch<'_> {
        Dispatch::answer(self.serve(req))
    }
}

/// The callback URL for this request: the client's, completed from the
/// request's scheme and host when it is a path.
fn redirect_uri(client: &Client, req: &Request) -> String {
    if client.redirect_uri.starts_with('/') {
        format!("{}://{}{}", req.protocol(), req.host(), client.redirect_uri)
    } else {
        client.redirect_uri.clone()
    }
}

/// The login state cookie lives under the mount only.
fn cookie_path(req: &Request) -> &str {
    match req.script_name() {
        "" => "/",
        prefix => prefix,
    }
}

/// 32 random bytes, base64url: a state, a nonce, a PKCE verifier (43
/// characters, as RFC 7636, section 4.1 asks).
fn random_token() -> std::result::Result<String, HttpError> {
    let mut bytes = [0u8; 32];
    // Without randomness a state could be guessed: no login rather than a weak one.
    getrandom::fill(&mut bytes).map_err(|e| HttpError::internal(format!("no random bytes for a login state: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn stale(provider: &str, why: &str) -> HttpError {
    HttpError::new(StatusCode::BAD_REQUEST)
        .with_message(format!("This sign-in with {provider} has expired or was already used. Please sign in again."))
        .with_log(format!("login with {provider}: {why}"))
}

fn unreachable(provider: &str, what: &str, error: &CallError) -> HttpError {
    let public = match error {
        CallError::Unreachable(_) => format!("{provider} could not be reached. Please try again later."),
        _ => format!("{provider} did not accept the sign-in. Please try again."),
    };
    HttpError::new(StatusCode::BAD_GATEWAY)
        .with_message(public)
        .with_log(format!("login with {provider}: {what} {error}"))
}

fn refused_code(provider: &str, error: &str) -> HttpError {
    HttpError::new(StatusCode::BAD_GATEWAY)
        .with_message(format!("{provider} did not accept the sign-in. Please sign in again."))
        .with_log(format!("login with {provider}: the token endpoint answered {error}"))
}

fn unverified(provider: &str, why: &Refused) -> HttpError {
    HttpError::new(StatusCode::BAD_GATEWAY)
        .with_message(format!("{provider}'s answer could not be verified: nobody is logged in."))
        .with_log(format!("login with {provider}: ID token refused: {why}"))
}
