//! [`Router`] and [`Rule`]: the ordered rule list.

use http::StatusCode;

use super::{AnyMatches, Dispatch, HostMatches, Matcher, PathMatches, PathPrefix, Target};
use crate::error::{Error, HttpError};
use std::sync::Arc;

use crate::web::{AppState, IntoResponse, Request, Response};

/// One routing rule: a matcher, a target, and an optional name for
/// [`Router::reverse_url`].
///
/// # Examples
///
/// ```
/// use squall::{HostMatches, Router, Rule};
///
/// let api = Router::new().route("/status", |_req| async { "ok" });
/// let app = Router::new().rule(Rule::new(HostMatches::new(r"api\..*").unwrap(), api));
/// # let _ = app;
/// ```
pub struct Rule {
    matcher: Box<dyn Matcher>,
    target: Box<dyn Target>,
    name: Option<String>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("mount_prefix", &self.matcher.mount_prefix())
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// A rule sending requests `matcher` accepts to `target`.
    pub fn new(matcher: impl Matcher, target: impl Target) -> Self {
        Rule { matcher: Box::new(matcher), target: Box::new(target), name: None }
    }

    /// Names the rule, for [`Router::reverse_url`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// An ordered list of [`Rule`]s: the first rule whose matcher accepts the
/// request and whose target does not decline it answers (Tornado's
/// `RuleRouter` and `Application`).
///
/// A router is itself a [`Target`], so routers nest. A router that matches
/// nothing declines the request; at the top level the server then answers
/// `404`, or the router's [`default_handler`](Router::default_handler) does.
///
/// # Examples
///
/// ```
/// use squall::{get, Request, Router};
///
/// async fn user(req: Request) -> String {
///     format!("user {}", req.path_arg(0).unwrap_or_default())
/// }
///
/// let app = Router::new()
///     .route("/", get(|_req| async { "home" }))
///     .named_route("user", r"/users/(\d+)", get(user));
/// assert_eq!(app.reverse_url("user", &["42"]).unwrap(), "/users/42");
///
/// # squall::block_on(async {
/// let resp = squall::testing::call(&app, Request::get("/users/42")).await;
/// assert_eq!(resp.status(), 200);
/// assert_eq!(squall::testing::call(&app, Request::get("/nope")).await.status(), 404);
/// # });
/// ```
#[derive(Default)]
pub struct Router {
    rules: Vec<Rule>,
    default: Option<Box<dyn Target>>,
    state: Option<AppState>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("rules", &self.rules)
            .field("default_handler", &self.default.is_some())
            .field("state", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router with no rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// A router with no rules whose requests carry `state`: handlers reach
    /// it with [`Request::state`](crate::Request::state), without a clone per
    /// route. Nested routers see it too, unless they have state of their own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use squall::{get, HttpError, Request, Router};
    ///
    /// struct Config {
    ///     greeting: String,
    ///     visits: Mutex<u64>,
    /// }
    ///
    /// async fn hello(req: Request) -> Result<String, HttpError> {
    ///     let config = req.state::<Config>()?;
    ///     *config.visits.lock().unwrap() += 1;
    ///     Ok(config.greeting.clone())
    /// }
    ///
    /// let app = Router::with_state(Config { greeting: "hi".into(), visits: Mutex::new(0) })
    ///     .route("/", get(hello));
    /// # let _ = app;
    /// ```
    pub fn with_state<S: Send + Sync + 'static>(state: S) -> Self {
        Router { state: Some(Arc::new(state)), ..Self::default() }
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Adds a rule matching the path against `pattern` (see [`PathMatches`]).
    ///
    /// # Panics
    ///
    /// If `pattern` is not a valid regular expression; build the rule with
    /// [`PathMatches::new`] to handle that as an error instead.
    pub fn route(self, pattern: &str, target: impl Target) -> Self {
        self.rule(Rule::new(path_matcher(pattern), target))
    }

    /// Adds a named path rule, for [`Router::reverse_url`].
    ///
    /// # Panics
    ///
    /// As [`Router::route`].
    pub fn named_route(self, name: &str, pattern: &str, target: impl Target) -> Self {
        self.rule(Rule::new(path_matcher(pattern), target).name(name))
    }

    /// Adds a rule matching the host name against `pattern` (see [`HostMatches`]).
    ///
    /// # Panics
    ///
    /// If `pattern` is not a valid regular expression.
    pub fn host(self, pattern: &str, target: impl Target) -> Self {
        let matcher = HostMatches::new(pattern).unwrap_or_else(|e| panic!("{e}"));
        self.rule(Rule::new(matcher, target))
    }

    /// Mounts `target` under a path prefix (see [`PathPrefix`]): requests for
    /// `prefix` and below go to it, which sees the prefix as
    /// [`Request::script_name`](crate::Request::script_name). This is how a
    /// gateway container or a sub-application is mounted.
    pub fn mount(self, prefix: &str, target: impl Target) -> Self {
        self.rule(Rule::new(PathPrefix::new(prefix), target))
    }

    /// Adds a rule that matches everything (Tornado's `FallbackHandler`
    /// pattern): requests no earlier rule took go to `target`.
    pub fn fallback(self, target: impl Target) -> Self {
        self.rule(Rule::new(AnyMatches, target))
    }

    /// Replaces the answer for requests no rule takes (by default the server's
    /// `404 Not Found`). Unlike [`fallback`](Router::fallback), a router with a
    /// default handler never declines, even when nested.
    pub fn default_handler(mut self, target: impl Target) -> Self {
        self.default = Some(Box::new(target));
        self
    }

    /// The URL of the rule named `name`, with `args` (percent-encoded) in place
    /// of the pattern's groups; nested routers are searched too.
    ///
    /// # Errors
    ///
    /// A routing error when no rule has that name, or its pattern cannot be
    /// reversed with these arguments (a pattern with quantifiers outside
    /// groups, nested groups, or a different number of groups).
    pub fn reverse_url(&self, name: &str, args: &[&str]) -> Result<String, Error> {
        self.find_reverse(name, args)
            .ok_or_else(|| Error::route(format!("cannot reverse {name:?} with {} argument(s)", args.len())))
    }

    fn find_reverse(&self, name: &str, args: &[&str]) -> Option<String> {
        self.rules.iter().find_map(|rule| match &rule.name {
            Some(n) if n == name => rule.matcher.reverse(args),
            _ => rule.target.reverse_url(name, args),
        })
    }
}

fn path_matcher(pattern: &str) -> PathMatches {
    PathMatches::new(pattern).unwrap_or_else(|e| panic!("{e}"))
}

impl Target for Router {
    fn call(&self, mut req: Request) -> Dispatch<'_> {
        let outer = self.state.as_ref().map(|state| req.swap_state(Some(state.clone())));
        for rule in &self.rules {
            let Some(args) = rule.matcher.matches(&req) else { continue };
            let prefix = rule.matcher.mount_prefix().map_or(0, str::len);
            let before = req.enter_rule(args, prefix);
            match rule.target.call(req) {
                Dispatch::Answer(answer) => return Dispatch::Answer(answer),
                Dispatch::Decline(declined) => req = declined,
            }
            req.leave_rule(before);
        }
        if let Some(default) = &self.default {
            match default.call(req) {
                Dispatch::Answer(answer) => return Dispatch::Answer(answer),
                Dispatch::Decline(declined) => req = declined,
            }
        }
        if let Some(outer) = outer {
            req.swap_state(outer);
        }
        Dispatch::Decline(req)
    }

    fn reverse_url(&self, name: &str, args: &[&str]) -> Option<String> {
        self.find_reverse(name, args)
    }
}

/// `target`'s answer to `req`, or the server's `404` when it declines.
pub(crate) async fn answer<T: Target + ?Sized>(target: &T, req: Request) -> Response {
    match target.call(req) {
        Dispatch::Answer(answer) => answer.await,
        Dispatch::Decline(_) => HttpError::new(StatusCode::NOT_FOUND).into_response(),
    }
}
