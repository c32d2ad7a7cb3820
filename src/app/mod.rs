//! [`App`]: what turns a router into a web application — Tornado's
//! `Application` settings. A cookie secret for signed cookies, XSRF
//! protection, a `current_user` hook and a login URL, error pages, and
//! [`Middleware`] layers around every request.
//!
//! # Order
//!
//! For each request an app:
//!
//! 1. gives it the app's settings, reads its XSRF token from the `_xsrf`
//!    cookie (or makes one), and runs the `current_user` hook;
//! 2. renders error pages for whatever comes back from what follows (an
//!    [`HttpError`], a panic, no route): the layers see the
//!    plain error, the client the page;
//! 3. runs the layers, in the order they were added (the first added sees
//!    the request first and the response last);
//! 4. routes to the target. Native handlers check the XSRF token of unsafe
//!    requests before they run; gateway apps and routes wrapped in
//!    [`xsrf_exempt`] are not checked;
//!
//! and on the way out sets the `_xsrf` cookie if a page used a token the
//! client had no cookie for. Without an `App`, none of this runs and costs
//! nothing.

mod compress;
mod errors;
mod login;
mod middleware;
#[cfg(feature = "templates")]
mod templates;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use cookie::{Cookie, SameSite};
use futures_lite::FutureExt;
use http::StatusCode;

pub use compress::Compression;
pub use errors::ErrorPage;
pub use login::{Authenticated, RequireLogin, authenticated, local_path};
pub use middleware::{FnMiddleware, Middleware, Next, middleware_fn};
#[cfg(feature = "templates")]
pub use minijinja::context;
#[cfg(feature = "templates")]
pub use templates::{Templates, render};

use crate::error::HttpError;
use crate::web::app_context::{AppContext, CurrentUser, XsrfCookie};
use crate::web::xsrf::{XsrfExempt, XsrfState};
use crate::web::{BoxFuture, CookieSecret, Dispatch, IntoResponse, Request, Response, Target};
use middleware::Chain;

/// The hook that finds a request's user.
type UserHook = dyn for<'a> Fn(&'a Request) -> BoxFuture<'a, Option<String>> + Send + Sync;
/// A replacement error page.
type ErrorRenderer = dyn Fn(&ErrorPage) -> Response + Send + Sync;

/// A web application: a target (usually a [`Router`](crate::Router)) with
/// settings and layers; see the [module](self) for the order things run in.
///
/// # Examples
///
/// ```
/// use squall::app::{App, authenticated};
/// use squall::web::CookieSecret;
/// use squall::{Request, Router, get};
///
/// let router = Router::new().route("/", authenticated(get(|req: Request| async move {
///     format!("Hello, {}", req.current_user().unwrap_or_default())
/// })));
/// let app = App::new(router)
///     .cookie_secret(CookieSecret::new("change me: 32 random bytes"))
///     .xsrf_cookies(true)
///     .login_url("/login")
///     .current_user(|req| Box::pin(async move { req.signed_cookie("user").ok().flatten() }));
/// # let _ = app;
/// ```
pub struct App {
    chain: Arc<Chain>,
    /// One copy of the settings, shared by every request.
    context: Arc<AppContext>,
    current_user: Option<Box<UserHook>>,
    error_page: Option<Box<ErrorRenderer>>,
    #[cfg(feature = "templates")]
    templates: Option<Arc<Templates>>,
    #[cfg(feature = "templates")]
    rendering: std::sync::OnceLock<templates::Rendering>,
}

impl App {
    /// An app serving `target`, with no settings and no layers.
    pub fn new(target: impl Target) -> Self {
        App {
            chain: Arc::new(Chain { layers: Vec::new(), target: Box::new(target) }),
            context: Arc::new(AppContext::default()),
            current_user: None,
            error_page: None,
            #[cfg(feature = "templates")]
            templates: None,
            #[cfg(feature = "templates")]
            rendering: std::sync::OnceLock::new(),
        }
    }

    /// The secret for [signed cookies](crate::Request::signed_cookie)
    /// (Tornado's `cookie_secret`, or its dict with `key_version` through
    /// [`CookieSecret::rotating`]).
    pub fn cookie_secret(mut self, secret: CookieSecret) -> Self {
        Arc::make_mut(&mut self.context).cookie_secret = Some(secret);
        self
    }

    /// XSRF protection (Tornado's `xsrf_cookies`): every `POST`, `PUT`,
    /// `PATCH` and `DELETE` to a native handler must carry the `_xsrf` form
    /// field or an `X-Xsrftoken` / `X-Csrftoken` header matching the `_xsrf`
    /// cookie, else `403`. The cookie is `Path=/; SameSite=Lax` unless
    /// [`xsrf_cookie`](Self::xsrf_cookie) says otherwise.
    pub fn xsrf_cookies(mut self, on: bool) -> Self {
        let context = Arc::make_mut(&mut self.context);
        context.xsrf = on.then(|| context.xsrf.take().unwrap_or_else(default_xsrf_cookie));
        self
    }

    /// XSRF protection with the `_xsrf` cookie shaped like `template`: its
    /// name and attributes (`Secure`, `Domain`, `SameSite`, …) are used,
    /// its value replaced by the token.
    pub fn xsrf_cookie(mut self, template: Cookie<'static>) -> Self {
        Arc::make_mut(&mut self.context).xsrf = Some(XsrfCookie { name: template.name().to_owned(), template });
        self
    }

    /// Where [`authenticated`] sends a visitor without a user (default `/login`).
    pub fn login_url(mut self, url: &str) -> Self {
        Arc::make_mut(&mut self.context).login_url = Some(url.to_owned());
        self
    }

    /// The hook that finds the user of each request (Tornado's
    /// `get_current_user`), usually from a signed cookie; it runs once per
    /// request, before the layers, and its answer is
    /// [`Request::current_user`].
    pub fn current_user<F>(mut self, hook: F) -> Self
    where
        F: for<'a> Fn(&'a Request) -> BoxFuture<'a, Option<String>> + Send + Sync + 'static,
    {
        self.current_user = Some(Box::new(hook));
        self
    }

    /// The app's translations (Tornado's `load_translations` or
    /// `load_gettext_translations`): [`Request::locale`] chooses among them.
    #[cfg(feature = "locale")]
    pub fn translations(mut self, translations: crate::locale::Translations) -> Self {
        let user = self.locale_settings().user;
        Arc::make_mut(&mut self.context).locale =
            Some(Arc::new(crate::web::app_context::LocaleSettings { translations, user }));
        self
    }

    /// The hook that finds the locale a user chose (Tornado's
    /// `get_user_locale`), from a cookie or the user's record; when it
    /// gives none, or one not supported, [`Request::locale`] goes by
    /// `Accept-Language`.
    #[cfg(feature = "locale")]
    pub fn user_locale<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Request) -> Option<String> + Send + Sync + 'static,
    {
        let translations = self.locale_settings().translations;
        Arc::make_mut(&mut self.context).locale =
            Some(Arc::new(crate::web::app_context::LocaleSettings { translations, user: Some(Arc::new(hook)) }));
        self
    }

    #[cfg(feature = "locale")]
    fn locale_settings(&self) -> crate::web::app_context::LocaleSettings {
        let none = || crate::web::app_context::LocaleSettings {
            translations: crate::locale::Translations::none(),
            user: None,
        };
        self.context.locale.as_deref().map_or_else(none, Clone::clone)
    }

    /// Where static files live, for [`Request::static_url`] (and the
    /// templates' `static_url`): URLs under `/static/`.
    pub fn static_path(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        let statics = crate::web::app_context::StaticFiles::new(dir.into(), "static");
        Arc::make_mut(&mut self.context).statics = Some(Arc::new(statics));
        self
    }

    /// Debug mode: error pages show the error's log message or the panic's,
    /// and templates reload when they change. Never in production.
    pub fn debug(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.context).debug = on;
        #[cfg(feature = "templates")]
        if let Some(templates) = self.templates.as_mut().and_then(Arc::get_mut) {
            templates.reload_on_change(on);
        }
        self
    }

    /// Replaces the error page (Tornado's `write_error`); the default is
    /// [`ErrorPage::render_default`]. Headers the error set (`Allow`,
    /// `Retry-After`, …) are kept.
    pub fn error_page<F>(mut self, render: F) -> Self
    where
        F: Fn(&ErrorPage) -> Response + Send + Sync + 'static,
    {
        self.error_page = Some(Box::new(render));
        self
    }

    /// The app's templates, for [`render`] (cargo feature `templates`). In
    /// [debug](Self::debug), a template is reloaded when its file changes.
    #[cfg(feature = "templates")]
    pub fn templates(mut self, mut templates: Templates) -> Self {
        templates.reload_on_change(self.context.debug);
        self.templates = Some(Arc::new(templates));
        self
    }

    /// Adds a layer around every request; see the [module](self) for the order.
    ///
    /// # Panics
    ///
    /// If the app is already serving (layers are added while building it).
    pub fn layer(mut self, layer: impl Middleware) -> Self {
        let chain = Arc::get_mut(&mut self.chain).expect("layers are added before the app serves");
        chain.layers.push(Box::new(layer));
        self
    }

    async fn serve(&self, mut req: Request) -> Response {
        let context = &self.context;
        let xsrf = context.xsrf.as_ref().map(|x| Arc::new(XsrfState::for_request(&req, &x.name)));
        if let Some(state) = &xsrf {
            req.extensions_mut().insert(state.clone());
        }
        req.extensions_mut().insert(context.clone());
        #[cfg(feature = "templates")]
        if let Some(rendering) = self.rendering() {
            req.extensions_mut().insert(rendering.clone());
        }
        if let Some(hook) = &self.current_user {
            let user = hook(&req).await;
            req.extensions_mut().insert(CurrentUser(user));
        }
        // Kept for an error page; ranked only if one is needed.
        let accept = req.headers().get(http::header::ACCEPT).cloned();
        let run = AssertUnwindSafe(Next::start(self.chain.clone()).run(req)).catch_unwind().await;
        let mut response = run.unwrap_or_else(|panic| {
            let what = crate::error::panic_message(&*panic);
            HttpError::new(StatusCode::INTERNAL_SERVER_ERROR)
                .with_log(format!("handler panicked: {what}"))
                .into_response()
        });
        if let Some(note) = response.take_error_note() {
            let page = ErrorPage {
                status: response.status(),
                message: note.message,
                detail: if context.debug { note.detail } else { None },
                wants_json: errors::prefers_json(accept.as_ref()),
            };
            let rendered = match &self.error_page {
                Some(render) => render(&page),
                None => page.render_default(),
            };
            response = errors::apply(response, rendered);
        }
        if let (Some(state), Some(settings)) = (xsrf, &context.xsrf)
            && let Some(cookie) = state.cookie_to_set(settings)
        {
            response.set_cookie(cookie);
        }
        response
    }
}

#[cfg(feature = "templates")]
impl App {
    /// The templates as requests carry them, made on first use (when the
    /// app's settings are final).
    fn rendering(&self) -> Option<&templates::Rendering> {
        let templates = self.templates.as_ref()?;
        Some(
            self.rendering
                .get_or_init(|| templates::Rendering { templates: templates.clone(), chain: self.chain.clone() }),
        )
    }
}

fn default_xsrf_cookie() -> XsrfCookie {
    let template = Cookie::build(("_xsrf", "")).path("/").same_site(SameSite::Lax).build();
    XsrfCookie { name: "_xsrf".to_owned(), template }
}

impl Target for App {
    fn call(&self, req: Request) -> Dispatch<'_> {
        Dispatch::answer(self.serve(req))
    }

    fn reverse_url(&self, name: &str, args: &[&str]) -> Option<String> {
        self.chain.target.reverse_url(name, args)
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("layers", &self.chain.layers.len())
            .field("context", &self.context)
            .field("current_user", &self.current_user.is_some())
            .field("error_page", &self.error_page.is_some())
            .finish()
    }
}

/// Exempts `target` from the XSRF check: an API called by other servers
/// with their own authentication, a webhook.
pub fn xsrf_exempt<T: Target>(target: T) -> XsrfExempted<T> {
    XsrfExempted(target)
}

/// The target [`xsrf_exempt`] makes.
#[derive(Debug)]
pub struct XsrfExempted<T>(T);

impl<T: Target> Target for XsrfExempted<T> {
    fn call(&self, mut req: Request) -> Dispatch<'_> {
        req.extensions_mut().insert(XsrfExempt);
        self.0.call(req)
    }

    fn reverse_url(&self, name: &str, args: &[&str]) -> Option<String> {
        self.0.reverse_url(name, args)
    }
}
