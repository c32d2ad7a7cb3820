//! The few HTTP calls a login makes to its provider (discovery, keys, the
//! token exchange, GitHub's user API): a blocking client, `ureq`, run on
//! the blocking thread pool so that the event loop never waits on it.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// How long one call may take, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from a provider.
const MAX_BODY: u64 = 1 << 20;

/// Why a call to the provider gave no usable answer.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No answer: refused, reset, timed out, a TLS failure.
    Unreachable(String),
    /// An answer with an error status; the body says why.
    Status(u16, String),
    /// A 2xx answer that is not a JSON object.
    NotJson(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(why) => write!(f, "unreachable: {why}"),
            CallError::Status(status, body) => write!(f, "answered {status}: {body}"),
            CallError::NotJson(body) => write!(f, "answered something that is not JSON: {body}"),
        }
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("squall")
            .build()
            .into()
    })
}

/// How the token endpoint learns who the client is (RFC 6749, section
/// 2.3.1): HTTP Basic, which every server must support, or the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    Basic,
    Form,
}

/// The first part of a body, for a log line.
fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value, CallError> {
    let mut response = result.map_err(|e| CallError::Unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| CallError::Unreachable(e.to_string()))?;
    if !(200..300).contains(&status) {
        return Err(CallError::Status(status, excerpt(&body)));
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err(CallError::NotJson(excerpt(&body))),
    }
}

/// GET `url` for a JSON object, with a bearer token when given.
pub(crate) fn get_json(url: &str, bearer: Option<&str>) -> Result<Value, CallError> {
    let mut request = agent().get(url).header("Accept", "application/json");
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    answer(request.call())
}

/// POST `form` to `url` (the token endpoint) as the client `id`, for a
/// JSON object.
pub(crate) fn post_form(
    url: &str,
    form: &[(&str, &str)],
    (id, secret): (&str, &str),
    auth: ClientAuth,
) -> Result<Value, CallError> {
    let mut request = agent().post(url).header("Accept", "application/json");
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    match auth {
        ClientAuth::Basic => {
            // RFC 6749, section 2.3.1: each part form-encoded, then Basic.
            let credentials = format!("{}:{}", form_encode_one(id), form_encode_one(secret));
            request = request.header("Authorization", format!("Basic {}", STANDARD.encode(credentials)));
        }
        ClientAuth::Form => fields.extend([("client_id", id), ("client_secret", secret)]),
    }
    answer(request.send_form(fields))
}

/// `application/x-www-form-urlencoded` for one value.
pub(crate) fn form_encode_one(value: &str) -> String {
    crate::web::percent_encode(value.as_bytes(), b"", "+")
}

/// `url` with `params` added to its query.
pub(crate) fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = url.to_owned();
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        out.push(separator);
        out.push_str(&form_encode_one(name));
        out.push('=');
        out.push_str(&form_encode_one(value));
        separator = '&';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_encoded_and_queries_appended() {
        assert_eq!(form_encode_one("a b/c?d=é"), "a+b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(
            with_query("https://p/auth", &[("scope", "openid email"), ("x", "1")]),
            "https://p/auth?scope=openid+email&x=1"
        );
        assert_eq!(with_query("https://p/auth?a=1", &[("b", "2")]), "https://p/auth?a=1&b=2");
    }
}
