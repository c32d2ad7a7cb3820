//! Templates (cargo feature `templates`): Jinja-style templates from a
//! directory, by minijinja, HTML-escaped by default, with the app's helpers
//! in every template.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::value::{Rest, Value};
use minijinja::{Environment, context};

use super::middleware::Chain;
use crate::error::HttpError;
use crate::web::app_context::{AppContext, escape_html, static_url};
use crate::web::xsrf::XsrfState;
use crate::web::{Request, Response};

/// A directory of templates. Files ending in `.html`, `.htm` or `.xml`
/// are escaped for HTML: `{{ name }}` writes `&lt;b&gt;` for `<b>`; mark
/// trusted markup with `|safe`.
///
/// Every template can use:
///
/// | name | what |
/// |---|---|
/// | `current_user` | the [current user](crate::Request::current_user), or none |
/// | `xsrf_form_html()` | the hidden `_xsrf` field for a form |
/// | `xsrf_token()` | the token alone (for a header set by a script) |
/// | `static_url(path)` | [`Request::static_url`](crate::Request::static_url) |
/// | `reverse_url(name, args…)` | the URL of a [named route](crate::Router::named_route) |
/// | `request` | `method`, `path`, `query` of the request |
/// | `_(message)`, `_(message, plural, count)` | the message in the [request's locale](crate::Request::locale) (feature `locale`); keyword arguments fill `%(name)s`, and `%(count)d` is the count |
/// | `locale` | the request's locale code, `fr_FR` (feature `locale`) |
///
/// # Examples
///
/// ```no_run
/// use squall::app::{App, Templates, render};
/// use squall::{Request, Router, get};
///
/// async fn home(req: Request) -> Result<squall::Response, squall::HttpError> {
///     render(&req, "home.html", squall::app::context! { notes => ["a", "b"] })
/// }
///
/// let app = App::new(Router::new().route("/", get(home))).templates(Templates::new("templates"));
/// # let _ = app;
/// ```
pub struct Templates {
    env: Environment<'static>,
    dir: PathBuf,
}

impl Templates {
    /// The templates in `dir` (read when first used).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let mut env = Environment::new();
        env.set_loader(minijinja::path_loader(dir.clone()));
        env.set_auto_reload(false);
        Templates { env, dir }
    }

    /// Reload templates whose file changed (what [`App::debug`](super::App::debug) turns on).
    pub(super) fn reload_on_change(&mut self, on: bool) {
        self.env.set_auto_reload(on);
    }

    /// The engine itself, to add filters, functions or globals of your own.
    pub fn environment_mut(&mut self) -> &mut Environment<'static> {
        &mut self.env
    }
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// What a request carries for [`render`]: the app's templates and its routes.
#[derive(Clone)]
pub(super) struct Rendering {
    pub(super) templates: Arc<Templates>,
    pub(super) chain: Arc<Chain>,
}

/// Renders template `name` with `ctx` and the helpers, as an HTML response.
///
/// # Errors
///
/// `500` (with the template error in the log, and on the error page in
/// debug) when the template is missing or fails; the same when the request
/// did not come through an [`App`](super::App) with templates.
pub fn render(req: &Request, name: &str, ctx: Value) -> Result<Response, HttpError> {
    let rendering = req
        .extensions()
        .get::<Rendering>()
        .ok_or_else(|| HttpError::internal("render needs App::templates, and the request to pass through that App"))?;
    let template = rendering.templates.env.get_template(name).map_err(|e| template_error(name, &e))?;
    let helpers = helpers(req, &rendering.chain);
    let html = template.render(context! { ..helpers, ..ctx }).map_err(|e| template_error(name, &e))?;
    Ok(Response::html(html))
}

fn template_error(name: &str, e: &minijinja::Error) -> HttpError {
    let mut detail = format!("template {name}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    HttpError::internal(detail)
}

fn helpers(req: &Request, chain: &Arc<Chain>) -> Value {
    let xsrf = req.extensions().get::<Arc<XsrfState>>().cloned();
    let for_token = xsrf.clone();
    let xsrf_token = Value::from_function(move || -> Result<String, minijinja::Error> {
        for_token.as_ref().map(|s| s.masked()).ok_or_else(no_xsrf)
    });
    let xsrf_form_html = Value::from_function(move || -> Result<Value, minijinja::Error> {
        let token = xsrf.as_ref().map(|s| s.masked()).ok_or_else(no_xsrf)?;
        Ok(Value::from_safe_string(format!(r#"<input type="hidden" name="_xsrf" value="{}">"#, escape_html(&token))))
    });
    let app = req.extensions().get::<Arc<AppContext>>().cloned();
    let static_url = Value::from_function(move |path: String| static_url(app.as_deref(), &path));
    let routes = chain.clone();
    let reverse_url =
        Value::from_function(move |name: String, args: Rest<String>| -> Result<String, minijinja::Error> {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            routes.target.reverse_url(&name, &args).ok_or_else(|| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("no route named {name:?} takes these arguments"),
                )
            })
        });
    #[cfg(feature = "locale")]
    let translation = translation_helpers(req);
    #[cfg(not(feature = "locale"))]
    let translation = Value::from(());
    context! {
        current_user => req.current_user(),
        xsrf_token,
        xsrf_form_html,
        static_url,
        reverse_url,
        request => context! { method => req.method().as_str(), path => req.path(), query => req.query() },
        ..translation
    }
}

/// `locale` (the request's locale code) and `_`: `_("Hello")`, `_("%(count)d
/// note", "%(count)d notes", count)` with the plural form for `count`, and
/// `%(name)s` filled from keyword arguments: `_("Hello, %(name)s", name=user)`.
#[cfg(feature = "locale")]
fn translation_helpers(req: &Request) -> Value {
    let locale = req.locale();
    let code = Value::from(locale.code());
    let translate = Value::from_function(
        move |message: String,
              plural: Option<String>,
              count: Option<u64>,
              kwargs: minijinja::value::Kwargs|
              -> Result<String, minijinja::Error> {
            let text = match (&plural, count) {
                (Some(plural), Some(count)) => locale.translate_plural(&message, plural, count),
                (None, None) => locale.translate(&message),
                _ => {
                    return Err(minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        "_() takes a message, or a message, its plural and a count",
                    ));
                }
            };
            let mut values: Vec<(String, String)> = Vec::new();
            for name in kwargs.args() {
                let value: Value = kwargs.get(name)?;
                values.push((name.to_owned(), value.to_string()));
            }
            if let Some(count) = count
                && !values.iter().any(|(name, _)| name == "count")
            {
                values.push(("count".to_owned(), count.to_string()));
            }
            let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            Ok(crate::locale::interpolate(text, &values))
        },
    );
    let helpers: std::collections::BTreeMap<&str, Value> = [("locale", code), ("_", translate)].into();
    Value::from(helpers)
}

fn no_xsrf() -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "xsrf_form_html needs App::xsrf_cookies")
}
