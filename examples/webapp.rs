//! A logged-in notes app: signed cookies, XSRF, login, templates, a layer.
//!
//! `cargo run --example webapp --features templates -- [ADDR] --cookie-secret SECRET [--static-dir DIR]`
//! (ADDR defaults to `127.0.0.1:8888`); built with `--features templates,auth`,
//! `--oidc-issuer URL --oidc-client-id ID --oidc-client-secret SECRET` adds
//! "log in with your identity provider" through any OpenID Connect provider,
//! whose client must allow the callback `http://ADDR/auth/oidc/callback`.
//!
//! - `GET /` — logged in: your notes, greeting you by name; else `302` to `/login?next=%2F`
//! - `GET /login` — the login form, with its `_xsrf` field and cookie
//! - `POST /login` (`username`, `_xsrf`, optional `next`) — sets the signed
//!   cookie `user` and redirects to `next` (a local path) or `/`; `403`
//!   without a valid XSRF token
//! - `POST /notes` (`text`) — adds a note; `POST /logout` — forgets the user
//! - `GET /upload` — an upload form; `POST /upload` (logged in, with the XSRF
//!   token, a multipart field `file`) — `200 application/json`
//!   `{"name": …, "size": …, "sha256": …}`, hashed as it streams in
//! - `/static/…` — the files of `--static-dir DIR`, with versioned URLs,
//!   conditional requests and ranges
//!
//! Responses are gzipped for clients that accept it. Templates are in
//! `examples/webapp/templates/`; `examples/webapp/static/` is a static
//! directory to try.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use squall::app::{App, Compression, Next, authenticated, context, local_path, middleware_fn, render};
use squall::static_files::StaticFiles;
use squall::web::CookieSecret;
use squall::{HttpError, Request, Response, Router, get, post};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

/// Each user's notes, in memory; and whether an identity provider is
/// offered on the login page.
#[derive(Default)]
struct Notes {
    by_user: Mutex<HashMap<String, Vec<String>>>,
    openid: bool,
}

impl Notes {
    fn of(&self, user: &str) -> Vec<String> {
        self.by_user.lock().unwrap_or_else(|e| e.into_inner()).get(user).cloned().unwrap_or_default()
    }

    fn add(&self, user: &str, text: String) {
        self.by_user.lock().unwrap_or_else(|e| e.into_inner()).entry(user.to_owned()).or_default().push(text);
    }
}

/// An OpenID Connect provider to log in through: its issuer URL and this
/// app's registration there.
#[cfg_attr(not(feature = "auth"), allow(dead_code))]
struct OpenId {
    issuer: String,
    client_id: String,
    client_secret: String,
}

/// `/auth/oidc/login` and `/auth/oidc/callback`: the provider's login
/// ends with the same signed `user` cookie the form sets.
#[cfg(feature = "auth")]
fn mount_openid(router: Router, settings: &OpenId) -> squall::Result<Router> {
    use squall::auth::{Client, LoginWith, Provider};
    // A path: completed from each request's host, so any ADDR works.
    let client = Client::new(&settings.client_id, &settings.client_secret, "/auth/oidc/callback");
    let provider = Provider::discover("oidc", &settings.issuer, client)?;
    Ok(router.mount("/auth/oidc", LoginWith::new(provider)))
}

fn user(req: &Request) -> Result<String, HttpError> {
    // Routes wrapped in `authenticated` only run with a user.
    req.current_user().map(str::to_owned).ok_or_else(|| HttpError::new(http::StatusCode::FORBIDDEN))
}

// ANCHOR: handlers
async fn home(req: Request) -> Result<Response, HttpError> {
    let notes = req.state::<Arc<Notes>>()?.of(&user(&req)?);
    render(&req, "home.html", context! { notes })
}

async fn login_form(req: Request) -> Result<Response, HttpError> {
    let next = req.query_arguments().get("next").and_then(local_path).unwrap_or("/").to_owned();
    let openid = req.state::<Arc<Notes>>()?.openid;
    render(&req, "login.html", context! { next, openid })
}

async fn login(mut req: Request) -> Result<Response, HttpError> {
    // The XSRF token was checked before this runs: a forged form never gets here.
    let form = req.form().await?;
    let name = form.require("username")?.trim().to_owned();
    if name.is_empty() || name.len() > 64 {
        return Err(HttpError::bad_request("a name of 1 to 64 characters, please"));
    }
    let next = form.get("next").and_then(local_path).unwrap_or("/").to_owned();
    let cookie = req.signed_cookie_for("user", &name)?;
    Ok(Response::redirect(&next).with_cookie(cookie))
}

async fn add_note(mut req: Request) -> Result<Response, HttpError> {
    let user = user(&req)?;
    let text = req.form().await?.require("text")?.to_owned();
    req.state::<Arc<Notes>>()?.add(&user, text);
    Ok(Response::redirect("/"))
}

async fn upload_form(req: Request) -> Result<Response, HttpError> {
    render(&req, "upload.html", context! {})
}

// ANCHOR: upload
/// Hashes the file part as it arrives: a 100 MB upload never sits in memory.
async fn upload(mut req: Request) -> Result<Response, HttpError> {
    let mut parts = req.multipart()?;
    while let Some(mut part) = parts.next_part().await? {
        if part.name() != Some("file") {
            continue;
        }
        let name = part.file_name().unwrap_or_default().to_owned();
        let (mut hasher, mut size) = (Sha256::new(), 0u64);
        while let Some(chunk) = part.chunk().await? {
            hasher.update(&chunk);
            size += chunk.len() as u64;
        }
        let sha256: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        return Ok(Response::json(&serde_json::json!({ "name": name, "size": size, "sha256": sha256 })));
    }
    Err(HttpError::bad_request("no file field in the form"))
}
// ANCHOR_END: upload

async fn logout(_req: Request) -> Response {
    let mut resp = Response::redirect("/login");
    resp.clear_cookie("user", "/");
    resp
}
// ANCHOR_END: handlers

// ANCHOR: app
fn app(secret: &str, static_dir: Option<&str>, openid: Option<&OpenId>) -> squall::Result<App> {
    let notes = Notes { openid: openid.is_some(), ..Notes::default() };
    let router = Router::with_state(Arc::new(notes))
        .named_route("home", "/", authenticated(get(home)))
        .named_route("login", "/login", get(login_form).post(login))
        .named_route("notes", "/notes", authenticated(post(add_note)))
        .named_route("logout", "/logout", post(logout))
        .named_route("upload", "/upload", authenticated(get(upload_form).post(upload)));
    let router = match static_dir {
        Some(dir) => router.mount("/static", StaticFiles::new(dir).precompressed(true)),
        None => router,
    };
    #[cfg(feature = "auth")]
    let router = match openid {
        Some(settings) => mount_openid(router, settings)?,
        None => router,
    };
    let security_headers = middleware_fn(|req: Request, next: Next| async move {
        let mut resp = next.run(req).await;
        let headers = resp.headers_mut();
        headers.insert("x-content-type-options", http::HeaderValue::from_static("nosniff"));
        headers.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
        headers.insert("referrer-policy", http::HeaderValue::from_static("same-origin"));
        resp
    });
    let templates = squall::app::Templates::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webapp/templates"));
    let mut app = App::new(router)
        .cookie_secret(CookieSecret::new(secret))
        .xsrf_cookies(true)
        .login_url("/login")
        .current_user(|req| Box::pin(async move { req.signed_cookie("user").ok().flatten() }))
        .templates(templates)
        .layer(Compression::default())
        .layer(security_headers);
    if let Some(dir) = static_dir {
        app = app.static_path(dir);
    }
    Ok(app)
}
// ANCHOR_END: app

const USAGE: &str = "\
usage: webapp [ADDR] --cookie-secret SECRET [--static-dir DIR]
              [--oidc-issuer URL --oidc-client-id ID --oidc-client-secret SECRET] [server options]
(ADDR defaults to 127.0.0.1:8888; SECRET is a long random string; the --oidc
flags add login through an OpenID Connect provider, with the feature auth)
";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let mut cli = Cli::new("webapp", USAGE);
    let (mut secret, mut static_dir) = (None, None);
    let (mut issuer, mut client_id, mut client_secret) = (None, String::new(), String::new());
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--cookie-secret" => secret = Some(cli.value(&flag)).filter(|s| !s.is_empty()),
            "--static-dir" => static_dir = Some(cli.value(&flag)),
            "--oidc-issuer" => issuer = Some(cli.value(&flag)),
            "--oidc-client-id" => client_id = cli.value(&flag),
            "--oidc-client-secret" => client_secret = cli.value(&flag),
            _ => cli.unknown(&flag),
        }
    }
    let Some(secret) = secret else { cli.fail("--cookie-secret SECRET is required (a long random string)") };
    let openid = issuer.map(|issuer| OpenId { issuer, client_id, client_secret });
    if openid.is_some() && !cfg!(feature = "auth") {
        cli.fail("--oidc-issuer needs the example built with --features templates,auth");
    }
    // `/` redirects to the login page until one logs in.
    cli.serve(
        |_worker| app(&secret, static_dir.as_deref(), openid.as_ref()),
        |scheme, addr| format!("webapp on {scheme}://{addr}/login"),
    )
}
