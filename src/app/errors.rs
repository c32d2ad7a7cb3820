//! Error pages: what an [`App`](super::App) sends for an error — an
//! [`HttpError`](crate::HttpError), a panic, a request no route takes —
//! rendered as HTML or JSON by the request's `Accept` (Tornado's `write_error`).

use http::StatusCode;
use http::header::{self, HeaderValue};

use crate::web::Response;
use crate::web::app_context::escape_html;

/// An error about to be answered, as a renderer sees it.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The response's status.
    pub status: StatusCode,
    /// The public message ([`HttpError::with_message`](crate::HttpError::with_message)),
    /// if the error has one.
    pub message: Option<String>,
    /// The log message or the panic's, only when the app runs in
    /// [debug](super::App::debug): never shown in production.
    pub detail: Option<String>,
    /// The client asked for JSON (`Accept` prefers `application/json` to HTML).
    pub wants_json: bool,
}

impl ErrorPage {
    /// The message to show: the public one, or the status's reason phrase.
    pub fn text(&self) -> &str {
        self.message.as_deref().unwrap_or_else(|| self.status.canonical_reason().unwrap_or("Error"))
    }

    /// The default page: `{"status": …, "message": …}` (and `detail` in
    /// debug) for a JSON client, a small HTML page otherwise.
    pub fn render_default(&self) -> Response {
        if self.wants_json {
            let mut json = serde_json::json!({"status": self.status.as_u16(), "message": self.text()});
            if let Some(detail) = &self.detail {
                json["detail"] = serde_json::Value::from(detail.as_str());
            }
            return Response::json(&json).with_status(self.status);
        }
        let title = format!("{} {}", self.status.as_u16(), self.status.canonical_reason().unwrap_or("Error"));
        let mut page = format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n"
        );
        if self.message.is_some() {
            page.push_str(&format!("<p>{}</p>\n", escape_html(self.text())));
        }
        if let Some(detail) = &self.detail {
            page.push_str(&format!("<pre>{}</pre>\n", escape_html(detail)));
        }
        page.push_str("</body></html>\n");
        Response::html(page).with_status(self.status)
    }
}

/// Whether `Accept` ranks JSON above HTML (q-values honoured; absent or `*/*`: HTML).
pub(super) fn prefers_json(accept: Option<&HeaderValue>) -> bool {
    let Some(value) = accept.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let (mut json, mut html) = (0.0f32, 0.0f32);
    for range in value.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).next().unwrap_or(1.0);
        match media.as_str() {
            "application/json" => json = json.max(q),
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            _ => {}
        }
    }
    json > html
}

/// Replaces the body of `original` by `page`'s, keeping the headers that
/// say something about the error (`Allow`, `Retry-After`, `Location`, …).
pub(super) fn apply(mut original: Response, page: Response) -> Response {
    let (status, page_headers, body) = page.into_parts();
    let headers = original.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &page_headers {
        headers.insert(name, value.clone());
    }
    if !page_headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    *original.status_mut() = status;
    *original.body_mut() = body;
    original
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<HeaderValue> {
        Some(HeaderValue::try_from(value).unwrap())
    }

    #[test]
    fn json_only_when_it_outranks_html() {
        assert!(prefers_json(accept("application/json").as_ref()));
        assert!(prefers_json(accept("text/html;q=0.5, application/json").as_ref()));
        assert!(!prefers_json(accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8").as_ref()));
        assert!(!prefers_json(accept("*/*").as_ref()));
        assert!(!prefers_json(None));
        assert!(!prefers_json(accept("application/json;q=0.1, text/html").as_ref()));
    }

    #[test]
    fn messages_and_details_are_escaped() {
        let page = ErrorPage {
            status: StatusCode::BAD_REQUEST,
            message: Some("<script>".into()),
            detail: Some("a & b".into()),
            wants_json: false,
        };
        let resp = page.render_default();
        let body = futures_lite::future::block_on(resp.into_body().bytes()).unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("<p>&lt;script&gt;</p>") && body.contains("<pre>a &amp; b</pre>"), "{body}");
    }
}
