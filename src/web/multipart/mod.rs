//! `multipart/form-data` request bodies (RFC 7578), parsed as they stream
//! in: part by part with [`Request::multipart`], or whole with
//! [`Request::multipart_form`] — fields as [`Arguments`], files as
//! [`UploadedFile`]s kept in memory or, above a threshold, in a temporary
//! file that is gone from the disk before the first byte is written to it.
//!
//! Memory stays bounded whatever the client sends: the preamble and a
//! part nobody reads stream past, and a part's header block, a field and
//! the preamble each have a limit ([`MultipartLimits`]).

mod parser;

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::Stream;
use http::StatusCode;

use self::parser::{Bounds, Event, Parser, PartHead};
use super::{Arguments, Body, Request, Spool, Spooled};
use crate::error::HttpError;
use crate::rt::lock;

/// Limits on a multipart body; beyond them the request gets `413`.
#[derive(Debug, Clone, Copy)]
pub struct MultipartLimits {
    /// Parts (fields and files) in all (default 1,000).
    pub max_parts: usize,
    /// Bytes in one non-file field (default 64 KiB).
    pub max_field_size: u64,
    /// Bytes in one file (default 100 MiB; the server's `max_body_size`
    /// bounds the whole body too).
    pub max_file_size: u64,
    /// Files larger than this go to a temporary file (default 1 MiB).
    pub spool_above: u64,
    /// Bytes before the first boundary, which are skipped (default 16 KiB).
    pub max_preamble: usize,
    /// Bytes of one part's header block (default 16 KiB; at most 16 headers).
    pub max_part_headers: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        MultipartLimits {
            max_parts: 1000,
            max_field_size: 64 * 1024,
            max_file_size: 100 << 20,
            spool_above: 1 << 20,
            max_preamble: 16 * 1024,
            max_part_headers: 16 * 1024,
        }
    }
}

/// A multipart body, part by part.
pub struct Multipart {
    shared: Arc<Mutex<Reading>>,
    limits: MultipartLimits,
    parts: usize,
}

/// One part of a multipart body, read chunk by chunk. A part left unread
/// is skipped (streamed past, not kept) when the next one is asked for.
pub struct Part {
    shared: Arc<Mutex<Reading>>,
    head: PartHead,
    /// Which part of the body this is, counted from 1.
    number: usize,
    limit: u64,
    read: u64,
}

/// The body and the parser, shared by a [`Multipart`] and its current [`Part`].
struct Reading {
    body: Body,
    parser: Parser,
    /// The part the parser is in (0: none yet), and whether its end was seen.
    current: usize,
    current_done: bool,
}

impl Reading {
    /// The parser's next event, reading the body as it needs.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event, HttpError>> {
        loop {
            if let Some(event) = self.parser.next()? {
                match event {
                    Event::Part(_) => (self.current, self.current_done) = (self.current + 1, false),
                    Event::PartEnd => self.current_done = true,
                    Event::Data(_) | Event::End => {}
                }
                return Poll::Ready(Ok(event));
            }
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => self.parser.push(&chunk),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(HttpError::from(e))),
                Poll::Ready(None) => self.parser.end_input(),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart").field("limits", &self.limits).field("parts", &self.parts).finish_non_exhaustive()
    }
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part").field("name", &self.name()).field("file_name", &self.file_name()).finish_non_exhaustive()
    }
}

impl Request {
    /// The body as `multipart/form-data`, part by part, with the default
    /// [`MultipartLimits`]: a handler that processes a large upload as it
    /// arrives (hashing it, passing it on) never holds it whole.
    ///
    /// # Errors
    ///
    /// `400` when the request is not `multipart/form-data` with a boundary.
    pub fn multipart(&mut self) -> Result<Multipart, HttpError> {
        self.multipart_with(MultipartLimits::default())
    }

    /// [`multipart`](Self::multipart) with other limits.
    ///
    /// # Errors
    ///
    /// As for [`multipart`](Self::multipart).
    pub fn multipart_with(&mut self, limits: MultipartLimits) -> Result<Multipart, HttpError> {
        let boundary = boundary(self.header("content-type").unwrap_or_default())
            .ok_or_else(|| HttpError::bad_request("expected a multipart/form-data body with a boundary"))?;
        let bounds = Bounds { preamble: limits.max_preamble, header_block: limits.max_part_headers };
        let reading =
            Reading { body: self.take_body(), parser: Parser::new(&boundary, bounds), current: 0, current_done: true };
        Ok(Multipart { shared: Arc::new(Mutex::new(reading)), limits, parts: 0 })
    }

    /// The whole multipart body: fields as [`Arguments`] (as a urlencoded
    /// form's would be), files as [`UploadedFile`]s (Tornado's
    /// `request.files`), large ones spooled to temporary files.
    ///
    /// # Errors
    ///
    /// `400` for a malformed body, `413` past the limits.
    pub async fn multipart_form(&mut self) -> Result<MultipartForm, HttpError> {
        let mut multipart = self.multipart()?;
        let spool_above = multipart.limits.spool_above;
        let (mut fields, mut files) = (Vec::new(), Vec::new());
        while let Some(mut part) = multipart.next_part().await? {
            let name = part.name().unwrap_or_default().to_owned();
            match part.file_name().map(str::to_owned) {
                None => {
                    let mut value = Vec::new();
                    while let Some(chunk) = part.chunk().await? {
                        value.extend_from_slice(&chunk);
                    }
                    fields.push((name, String::from_utf8_lossy(&value).into_owned()));
                }
                Some(filename) => {
                    let content_type = part.content_type().map(str::to_owned);
                    let failed = |e: io::Error| HttpError::internal(format!("spooling an upload: {e}"));
                    let mut spool = Spool::new(usize::try_from(spool_above).unwrap_or(usize::MAX));
                    while let Some(chunk) = part.chunk().await? {
                        spool.write(&chunk).await.map_err(failed)?;
                    }
                    let size = spool.len();
                    let data = spool.finish().await.map_err(failed)?;
                    files.push(UploadedFile { field: name, filename, content_type, size, data });
                }
            }
        }
        Ok(MultipartForm { fields: Arguments::from_pairs(fields), files })
    }
}

/// The `boundary` parameter of a `multipart/form-data` media type: 1 to 70
/// characters (RFC 2046 §5.1.1), quoted or not.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let (media, params) = content_type.split_once(';')?;
    if !media.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let value = params.split(';').find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim().eq_ignore_ascii_case("boundary").then(|| value.trim())
    })?;
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    (1..=70).contains(&value.len()).then(|| value.to_owned())
}

/// What [`leading_field`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Leading {
    /// The field's value.
    Found(String),
    /// A file part came first.
    FileFirst,
    /// Not among the form's fields (or not within the bytes allowed).
    Missing,
}

/// The value of field `name` among the fields that precede the first file
/// of a multipart body, reading no further than it (and at most `max_read`
/// bytes): a check that needs one field (the XSRF token) never reads an
/// upload. Returns the bytes read, to be put back in front of the rest.
pub(crate) async fn leading_field(
    body: &mut Body,
    boundary: &str,
    name: &str,
    max_read: usize,
) -> (Result<Leading, HttpError>, Bytes) {
    let limits = MultipartLimits::default();
    let bounds = Bounds { preamble: limits.max_preamble, header_block: limits.max_part_headers };
    let mut parser = Parser::new(boundary, bounds);
    let (mut read, mut value, mut in_field) = (Vec::new(), Vec::new(), false);
    let found = loop {
        match parser.next() {
            Err(e) => break Err(e),
            Ok(Some(Event::Part(head))) if head.file_name.is_some() => break Ok(Leading::FileFirst),
            Ok(Some(Event::Part(head))) => in_field = head.name.as_deref() == Some(name),
            Ok(Some(Event::Data(data))) if in_field => value.extend_from_slice(&data),
            Ok(Some(Event::PartEnd)) if in_field => {
                break Ok(Leading::Found(String::from_utf8_lossy(&value).into_owned()));
            }
            Ok(Some(Event::End)) => break Ok(Leading::Missing),
            Ok(Some(_)) => {}
            Ok(None) if read.len() >= max_read => break Ok(Leading::Missing),
            Ok(None) => match body.chunk().await {
                Some(Ok(chunk)) => {
                    parser.push(&chunk);
                    read.extend_from_slice(&chunk);
                }
                Some(Err(e)) => break Err(HttpError::from(e)),
                None => parser.end_input(),
            },
        }
    };
    (found, read.into())
}

impl Multipart {
    /// The next part, or `None` after the last. What is left of the part
    /// before it is skipped as it streams past.
    ///
    /// # Errors
    ///
    /// `400` for a malformed body, `413` past the part count or size limits.
    pub async fn next_part(&mut self) -> Result<Option<Part>, HttpError> {
        let shared = self.shared.clone();
        let head = poll_fn(|cx| {
            let mut reading = lock(&shared);
            loop {
                match reading.poll_event(cx) {
                    Poll::Ready(Ok(Event::Part(head))) => return Poll::Ready(Ok(Some(head))),
                    Poll::Ready(Ok(Event::End)) => return Poll::Ready(Ok(None)),
                    Poll::Ready(Ok(Event::Data(_) | Event::PartEnd)) => {} // the rest of an unread part
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await?;
        let Some(head) = head else { return Ok(None) };
        self.parts += 1;
        if self.parts > self.limits.max_parts {
            return Err(HttpError::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_message(format!("more than {} multipart parts", self.limits.max_parts)));
        }
        let limit = if head.file_name.is_some() { self.limits.max_file_size } else { self.limits.max_field_size };
        Ok(Some(Part { shared: self.shared.clone(), head, number: self.parts, limit, read: 0 }))
    }
}

impl Part {
    /// The form field's name.
    pub fn name(&self) -> Option<&str> {
        self.head.name.as_deref()
    }

    /// The file's name, for a file part.
    pub fn file_name(&self) -> Option<&str> {
        self.head.file_name.as_deref()
    }

    /// The part's `Content-Type` (its media type, without parameters), if it has one.
    pub fn content_type(&self) -> Option<&str> {
        self.head.content_type.as_deref()
    }

    /// The next chunk of the part, `None` at its end (or once the body has
    /// moved on to a later part).
    ///
    /// # Errors
    ///
    /// `400` for a malformed body, `413` past the part's size limit.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        let shared = self.shared.clone();
        let number = self.number;
        let chunk = poll_fn(|cx| {
            let mut reading = lock(&shared);
            if reading.current != number || reading.current_done {
                return Poll::Ready(Ok(None));
            }
            match reading.poll_event(cx) {
                Poll::Ready(Ok(Event::Data(data))) => Poll::Ready(Ok(Some(data))),
                Poll::Ready(Ok(_)) => Poll::Ready(Ok(None)),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await?;
        if let Some(c) = &chunk {
            self.read += c.len() as u64;
            if self.read > self.limit {
                let what = if self.file_name().is_some() { "file" } else { "field" };
                return Err(HttpError::new(StatusCode::PAYLOAD_TOO_LARGE).with_message(format!(
                    "multipart {what} {:?} larger than {} bytes",
                    self.name().unwrap_or_default(),
                    self.limit
                )));
            }
        }
        Ok(chunk)
    }
}

/// A whole multipart form.
#[derive(Debug)]
pub struct MultipartForm {
    /// The fields that are not files.
    pub fields: Arguments,
    /// The files, in order.
    pub files: Vec<UploadedFile>,
}

impl MultipartForm {
    /// The first file of field `name`.
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.files.iter().find(|f| f.field == name)
    }
}

/// An uploaded file.
#[derive(Debug)]
pub struct UploadedFile {
    /// The form field it came in.
    pub field: String,
    /// The name the client gave it (not a safe path: never use it as one).
    pub filename: String,
    /// Its `Content-Type`, as the client said.
    pub content_type: Option<String>,
    /// Its length in bytes.
    pub size: u64,
    data: Spooled,
}

impl UploadedFile {
    /// Whether the bytes are in a temporary file rather than in memory.
    pub fn is_spooled(&self) -> bool {
        matches!(self.data, Spooled::File(_))
    }

    /// The file's bytes, read into memory (from the temporary file if spooled).
    ///
    /// # Errors
    ///
    /// When the temporary file cannot be read.
    pub fn bytes(&self) -> io::Result<Vec<u8>> {
        match &self.data {
            Spooled::Memory(bytes) => Ok(bytes.clone()),
            Spooled::File(file) => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(0))?;
                let mut all = Vec::with_capacity(self.size as usize);
                file.read_to_end(&mut all)?;
                Ok(all)
            }
        }
    }
}

/// A part as `parse_in_two` gives it: name, file name and content.
pub type ParsedPart = (Option<String>, Option<String>, Vec<u8>);

/// Parses `body` handed over in two pieces, split at `split`, with 1 KiB
/// bounds on the preamble and on each header block: its parts, or the
/// status it is refused with. For the fuzz targets (`crate::__private`).
pub(crate) fn parse_in_two(boundary: &str, body: &[u8], split: usize) -> Result<Vec<ParsedPart>, u16> {
    let bounds = parser::Bounds { preamble: 1024, header_block: 1024 };
    let (first, second) = body.split_at(split.min(body.len()));
    let events = parser::parse_pieces(boundary, bounds, [first, second]).map_err(|e| e.status().as_u16())?;
    let mut parts: Vec<ParsedPart> = Vec::new();
    for event in events {
        match (event, parts.last_mut()) {
            (parser::Event::Part(head), _) => parts.push((head.name, head.file_name, Vec::new())),
            (parser::Event::Data(data), Some(part)) => part.2.extend_from_slice(&data),
            _ => {}
        }
    }
    Ok(parts)
}
