//! Query and form arguments (`application/x-www-form-urlencoded`), the
//! arguments a path pattern captured, and the percent-coding they share.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use super::Request;
use crate::error::HttpError;

/// Decoded `name=value` pairs from a query string or a urlencoded form body.
///
/// Like Tornado's argument helpers, a name may repeat: [`get`](Self::get)
/// returns the last value, [`get_all`](Self::get_all) every value.
///
/// # Examples
///
/// ```
/// use squall::Arguments;
///
/// let args = Arguments::parse("q=rust+web&page=2&tag=a&tag=b&caf%C3%A9=1");
/// assert_eq!(args.get("q"), Some("rust web"));
/// assert_eq!(args.get_all("tag").collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(args.get("café"), Some("1"));
/// assert_eq!(args.require("missing").unwrap_err().status(), 400);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arguments {
    pairs: Vec<(String, String)>,
}

impl Arguments {
    /// Parses `a=1&b=2`: `+` is a space, `%XX` a byte; invalid UTF-8 becomes U+FFFD.
    /// Arguments from decoded pairs (a multipart form's fields).
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Arguments { pairs }
    }

    /// Parses a query string or urlencoded form body.
    pub fn parse(input: &str) -> Self {
        let pairs = input
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_lossy(name, true), decode_lossy(value, true))
            })
            .collect();
        Arguments { pairs }
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value given for `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The last value for `name`, or a `400 Bad Request` naming the argument.
    ///
    /// # Errors
    ///
    /// `400` when the argument is absent.
    pub fn require(&self, name: &str) -> Result<&str, HttpError> {
        self.get(name).ok_or_else(|| HttpError::bad_request(format!("Missing argument {name}")))
    }

    /// All pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// True when there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The last value for `name`, parsed as a `T`.
    ///
    /// # Errors
    ///
    /// `400 Bad Request` naming the argument when it is absent or does not parse.
    pub fn require_as<T: FromStr>(&self, name: &str) -> Result<T, HttpError>
    where
        T::Err: fmt::Display,
    {
        parse_argument(&format!("argument {name}"), self.get(name))
    }

    pub(crate) fn extend(&mut self, other: Arguments) {
        self.pairs.extend(other.pairs);
    }
}

/// Parses an argument's value, or answers `400` naming it (`what`) and why.
pub(crate) fn parse_argument<T: FromStr>(what: &str, value: Option<&str>) -> Result<T, HttpError>
where
    T::Err: fmt::Display,
{
    let value = value.ok_or_else(|| HttpError::bad_request(format!("Missing {what}")))?;
    value.parse().map_err(|e| HttpError::bad_request(format!("Invalid {what} {value:?}: {e}")))
}

/// The groups a path pattern captured, percent-decoded: positional groups, or
/// named groups when the pattern names them (as in Tornado).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathArgs {
    pub(crate) positional: Vec<String>,
    pub(crate) named: Vec<(String, String)>,
}

impl PathArgs {
    /// The `index`-th unnamed group.
    pub fn get(&self, index: usize) -> Option<&str> {
        self.positional.get(index).map(String::as_str)
    }

    /// The group named `name`.
    pub fn named(&self, name: &str) -> Option<&str> {
        self.named.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The unnamed groups in order.
    pub fn positional(&self) -> &[String] {
        &self.positional
    }
}

/// Percent-decodes a captured path segment (`+` stays `+` in paths).
pub(crate) fn decode_path_arg(raw: &str) -> String {
    decode_lossy(raw, false)
}

/// Percent-decodes `input` (and `+` as space when `plus` is set).
/// A `%` not followed by two hex digits is kept as it is.
pub(crate) fn percent_decode(input: &[u8], plus: bool) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'%' || (plus && b == b'+')) {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
        match input[i] {
            b'%' => match (hex(input.get(i + 1)), hex(input.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Percent-decodes into text, replacing invalid UTF-8 with U+FFFD.
pub(crate) fn decode_lossy(input: &str, plus: bool) -> String {
    match percent_decode(input.as_bytes(), plus) {
        Cow::Borrowed(_) => input.to_owned(),
        Cow::Owned(bytes) => {
            String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
    }
}

/// Percent-encodes a path argument: everything but RFC 3986 unreserved
/// characters and `/` (as Tornado's `url_escape(plus=False)`).
pub(crate) fn encode_path_arg(input: &str) -> String {
    encode_path_bytes(input.as_bytes())
}

/// Percent-encodes path bytes, as [`encode_path_arg`] does text.
pub(crate) fn encode_path_bytes(input: &[u8]) -> String {
    percent_encode(input, b"/", "%20")
}

/// Percent-encodes `input`: RFC 3986's unreserved characters and the bytes
/// of `keep` stay as they are, a space becomes `space` (`%20`, or `+` in
/// `application/x-www-form-urlencoded`), every other byte `%XX`.
pub(crate) fn percent_encode(input: &[u8], keep: &[u8], space: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push_str(space);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request's arguments: its query, and the groups its route captured,
/// as text or parsed.
impl Request {
    /// The decoded query arguments.
    pub fn query_arguments(&self) -> Arguments {
        Arguments::parse(self.query())
    }

    /// The last value of query argument `name` (Tornado's `get_query_argument`).
    ///
    /// # Errors
    ///
    /// `400 Bad Request` when the argument is missing.
    pub fn query_argument(&self, name: &str) -> Result<String, HttpError> {
        self.query_arguments().require(name).map(str::to_owned)
    }

    /// The `index`-th unnamed group, parsed as a `T`.
    ///
    /// # Errors
    ///
    /// `400 Bad Request` saying which argument and why when the group is
    /// missing or does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// use squall::{get, HttpError, Request, Router};
    ///
    /// async fn item(req: Request) -> Result<String, HttpError> {
    ///     let id: u32 = req.path_arg_as(0)?;
    ///     Ok(format!("item {id}"))
    /// }
    ///
    /// let app = Router::new().route(r"/items/(\w+)", get(item));
    /// # squall::block_on(async {
    /// let resp = squall::testing::call(&app, Request::get("/items/12")).await;
    /// assert_eq!(resp.into_body().bytes().await.unwrap(), "item 12");
    /// let resp = squall::testing::call(&app, Request::get("/items/twelve")).await;
    /// assert_eq!(resp.status(), 400);
    /// assert_eq!(
    ///     resp.into_body().bytes().await.unwrap(),
    ///     "Invalid path argument 0 \"twelve\": invalid digit found in string"
    /// );
    /// # });
    /// ```
    pub fn path_arg_as<T: FromStr>(&self, index: usize) -> Result<T, HttpError>
    where
        T::Err: fmt::Display,
    {
        parse_argument(&format!("path argument {index}"), self.path_args().get(index))
    }

    /// The group named `name`, parsed as a `T`.
    ///
    /// # Errors
    ///
    /// As [`path_arg_as`](Self::path_arg_as).
    pub fn path_param_as<T: FromStr>(&self, name: &str) -> Result<T, HttpError>
    where
        T::Err: fmt::Display,
    {
        parse_argument(&format!("path argument {name}"), self.path_args().named(name))
    }

    /// The last value of query argument `name`, parsed as a `T`.
    ///
    /// # Errors
    ///
    /// `400 Bad Request` naming the argument when it is missing or does not parse.
    pub fn query_argument_as<T: FromStr>(&self, name: &str) -> Result<T, HttpError>
    where
        T::Err: fmt::Display,
    {
        self.query_arguments().require_as(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_edge_cases() {
        assert_eq!(&*percent_decode(b"a%2Fb%zz%4", false), b"a/b%zz%4");
        assert_eq!(&*percent_decode(b"a+b", false), b"a+b");
        assert_eq!(&*percent_decode(b"a+b", true), b"a b");
        assert_eq!(decode_lossy("%FF", false), "\u{FFFD}");
    }

    #[test]
    fn encoding_round_trips() {
        let s = "a b/c?d%é";
        assert_eq!(encode_path_arg(s), "a%20b/c%3Fd%25%C3%A9");
        assert_eq!(decode_lossy(&encode_path_arg(s), false), s);
    }

    #[test]
    fn typed_arguments_answer_400_naming_the_argument() {
        let args = Arguments::parse("page=2&size=big");
        assert_eq!(args.require_as::<u32>("page").unwrap(), 2);
        let bad = args.require_as::<u32>("size").unwrap_err();
        assert_eq!(bad.status(), 400);
        assert_eq!(bad.message(), Some("Invalid argument size \"big\": invalid digit found in string"));
        assert_eq!(args.require_as::<u32>("nope").unwrap_err().message(), Some("Missing argument nope"));
    }

    #[test]
    fn empty_names_values_and_pairs() {
        let a = Arguments::parse("&a&=x&b=");
        assert_eq!(a.iter().collect::<Vec<_>>(), [("a", ""), ("", "x"), ("b", "")]);
    }
}
