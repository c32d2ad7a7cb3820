//! Matchers: decide whether a rule applies, and capture path arguments.

use regex::Regex;

use crate::error::Error;
use crate::web::{PathArgs, Request, decode_path_arg, encode_path_arg};

/// Decides whether a rule applies to a request.
///
/// Returns the path arguments it captured (empty when it captures none).
pub trait Matcher: Send + Sync + 'static {
    /// `Some(args)` when the rule applies.
    fn matches(&self, req: &Request) -> Option<PathArgs>;

    /// The path this matcher would match for `args`, for `reverse_url`.
    fn reverse(&self, args: &[&str]) -> Option<String> {
        let _ = args;
        None
    }

    /// The path prefix a matched request is mounted under (its `SCRIPT_NAME`),
    /// for matchers that mount a target rather than match a whole path.
    fn mount_prefix(&self) -> Option<&str> {
        None
    }
}

/// Matches a path equal to a prefix or continuing it with `/`, and mounts the
/// target there: the target sees the prefix as [`Request::script_name`] and
/// the rest as [`Request::path_info`].
///
/// # Examples
///
/// ```
/// use squall::{Matcher, PathPrefix, Request};
///
/// let m = PathPrefix::new("/legacy");
/// assert!(m.matches(&Request::get("/legacy")).is_some());
/// assert!(m.matches(&Request::get("/legacy/a/b")).is_some());
/// assert!(m.matches(&Request::get("/legacyx")).is_none());
/// ```
#[derive(Debug, Clone)]
pub struct PathPrefix {
    prefix: String,
}

impl PathPrefix {
    /// A matcher for `prefix` (a trailing `/` is ignored; `/` alone mounts at the root).
    pub fn new(prefix: &str) -> Self {
        PathPrefix { prefix: prefix.trim_end_matches('/').to_owned() }
    }
}

impl Matcher for PathPrefix {
    fn matches(&self, req: &Request) -> Option<PathArgs> {
        let rest = req.path_info().strip_prefix(self.prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then(PathArgs::default)
    }

    fn reverse(&self, args: &[&str]) -> Option<String> {
        args.is_empty().then(|| if self.prefix.is_empty() { "/".to_owned() } else { self.prefix.clone() })
    }

    fn mount_prefix(&self) -> Option<&str> {
        Some(&self.prefix)
    }
}

/// Matches every request (Tornado's `AnyMatches`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyMatches;

impl Matcher for AnyMatches {
    fn matches(&self, _req: &Request) -> Option<PathArgs> {
        Some(PathArgs::default())
    }
}

/// Matches the request path against a regular expression anchored at both
/// ends (Tornado's `PathMatches`); inside a [`PathPrefix`] mount, the path
/// below the mount point. Unnamed groups become positional path
/// arguments, named groups named ones; both are percent-decoded.
///
/// # Examples
///
/// ```
/// use squall::{Matcher, PathMatches, Request};
///
/// let m = PathMatches::new(r"/users/(?P<id>\d+)/posts/(?P<slug>[^/]+)").unwrap();
/// let args = m.matches(&Request::get("/users/7/posts/caf%C3%A9")).unwrap();
/// assert_eq!(args.named("id"), Some("7"));
/// assert_eq!(args.named("slug"), Some("café"));
/// assert!(m.matches(&Request::get("/users/7/posts/x/extra")).is_none());
/// assert_eq!(m.reverse(&["7", "a b"]).unwrap(), "/users/7/posts/a%20b");
/// ```
#[derive(Debug, Clone)]
pub struct PathMatches {
    regex: Regex,
    /// The whole pattern when it holds no regex syntax: compared as a string.
    literal: Option<String>,
    named: bool,
    /// Literal pieces around the groups, when the pattern is simple enough to reverse.
    template: Option<Vec<Piece>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group,
}

impl PathMatches {
    /// Compiles `pattern`.
    ///
    /// # Errors
    ///
    /// A routing error when the pattern is not a valid regular expression.
    pub fn new(pattern: &str) -> Result<Self, Error> {
        let body = pattern.strip_prefix('^').unwrap_or(pattern);
        let body = body.strip_suffix('$').unwrap_or(body);
        let regex = Regex::new(&format!("^(?:{body})$"))
            .map_err(|e| Error::route(format!("invalid path pattern {pattern:?}: {e}")))?;
        let named = regex.capture_names().flatten().next().is_some();
        let literal = body.chars().all(|c| !is_meta(c)).then(|| body.to_owned());
        Ok(PathMatches { regex, literal, named, template: template(body) })
    }
}

impl Matcher for PathMatches {
    fn matches(&self, req: &Request) -> Option<PathArgs> {
        // Below a mount, rules match the rest of the path.
        let path = req.path_info();
        if let Some(literal) = &self.literal {
            return (path == literal).then(PathArgs::default);
        }
        if self.regex.captures_len() == 1 {
            return self.regex.is_match(path).then(PathArgs::default);
        }
        let caps = self.regex.captures(path)?;
        let mut args = PathArgs::default();
        if self.named {
            for name in self.regex.capture_names().flatten() {
                if let Some(m) = caps.name(name) {
                    args.named.push((name.to_owned(), decode_path_arg(m.as_str())));
                }
            }
        } else {
            args.positional =
                caps.iter().skip(1).map(|m| m.map_or_else(String::new, |m| decode_path_arg(m.as_str()))).collect();
        }
        Some(args)
    }

    fn reverse(&self, args: &[&str]) -> Option<String> {
        let template = self.template.as_ref()?;
        if template.iter().filter(|p| **p == Piece::Group).count() != args.len() {
            return None;
        }
        let mut args = args.iter();
        let mut url = String::new();
        for piece in template {
            match piece {
                Piece::Text(t) => url.push_str(t),
                Piece::Group => url.push_str(&encode_path_arg(args.next()?)),
            }
        }
        Some(url)
    }
}

fn is_meta(c: char) -> bool {
    matches!(c, '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' | '#')
}

/// Splits a pattern into literal text and top-level capture groups, as
/// Tornado's reverse does; `None` when something outside a group is not
/// literal (a class, a quantifier, an alternation) or groups nest.
fn template(pattern: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                e if e.is_ascii_alphanumeric() => return None,
                e => text.push(e),
            },
            '(' => {
                if chars.as_str().starts_with("?:") {
                    return None;
                }
                let mut depth = 1;
                while depth > 0 {
                    match chars.next()? {
                        '\\' => {
                            chars.next()?;
                        }
                        '(' => return None,
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Group);
            }
            '.' => text.push('.'),
            c if is_meta(c) => return None,
            c => text.push(c),
        }
    }
    pieces.push(Piece::Text(text));
    Some(pieces)
}

/// Matches the host name (lowercase, without port) against a regular
/// expression anchored at both ends (Tornado's `HostMatches`).
///
/// # Examples
///
/// ```
/// use squall::{HostMatches, Matcher, Request};
///
/// let m = HostMatches::new(r"(www\.)?example\.com").unwrap();
/// assert!(m.matches(&Request::get("/").with_header("host", "WWW.example.com:8080")).is_some());
/// assert!(m.matches(&Request::get("/").with_header("host", "example.com.evil")).is_none());
/// ```
#[derive(Debug, Clone)]
pub struct HostMatches {
    regex: Regex,
}

impl HostMatches {
    /// Compiles `pattern`.
    ///
    /// # Errors
    ///
    /// A routing error when the pattern is not a valid regular expression.
    pub fn new(pattern: &str) -> Result<Self, Error> {
        let body = pattern.strip_prefix('^').unwrap_or(pattern);
        let body = body.strip_suffix('$').unwrap_or(body);
        let regex = Regex::new(&format!("^(?:{body})$"))
            .map_err(|e| Error::route(format!("invalid host pattern {pattern:?}: {e}")))?;
        Ok(HostMatches { regex })
    }
}

impl Matcher for HostMatches {
    fn matches(&self, req: &Request) -> Option<PathArgs> {
        self.regex.is_match(&req.host_name()).then(PathArgs::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pattern: &str, path: &str) -> Option<PathArgs> {
        PathMatches::new(pattern).unwrap().matches(&Request::get(path))
    }

    #[test]
    fn anchored_at_both_ends() {
        assert!(args("/a", "/a").is_some());
        assert!(args("/a", "/ab").is_none());
        assert!(args("/a", "/x/a").is_none());
        assert!(args("/a.*", "/abc").is_some());
        assert!(args("^/a$", "/a").is_some());
        assert!(args("/a|/b", "/b").is_some(), "alternation is grouped before anchoring");
        assert!(args("/a|/b", "/bx").is_none());
    }

    #[test]
    fn positional_groups_are_decoded() {
        let a = args(r"/f/(.*)/(\d+)?", "/f/a%2Fb/").unwrap();
        assert_eq!(a.positional(), ["a/b", ""]);
    }

    #[test]
    fn reverse_needs_a_simple_pattern_and_the_right_count() {
        let m = PathMatches::new(r"/static/style\.css/(\w+)").unwrap();
        assert_eq!(m.reverse(&["x"]).unwrap(), "/static/style.css/x");
        assert!(m.reverse(&[]).is_none());
        assert!(PathMatches::new(r"/a+/(\d+)").unwrap().reverse(&["1"]).is_none());
        assert!(PathMatches::new(r"/a/((\d)+)").unwrap().reverse(&["1"]).is_none());
        assert!(PathMatches::new(r"/a/(?:x)").unwrap().reverse(&[]).is_none());
    }

    #[test]
    fn invalid_pattern_is_a_route_error() {
        assert!(PathMatches::new("/(").unwrap_err().is_route());
        assert!(HostMatches::new("[").unwrap_err().is_route());
    }
}
