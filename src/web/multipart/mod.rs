//! `multipart/form-data` request bodies (RFC 7578), parsed as they stream
//! in by `multer`: part by part with [`Request::multipart`], or whole with
//! [`Request::multipart_form`] — fields as [`Arguments`], files as
//! [`UploadedFile`]s kept in memory or, above a threshold, in a temporary
//! file that is gone from the disk before the first byte is written to it.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

use bytes::Bytes;
use http::StatusCode;

use super::{Arguments, Request, Spool, Spooled};
use crate::error::HttpError;

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
}

impl Default for MultipartLimits {
    fn default() -> Self {
        MultipartLimits { max_parts: 1000, max_field_size: 64 * 1024, max_file_size: 100 << 20, spool_above: 1 << 20 }
    }
}

/// A multipart body, part by part.
pub struct Multipart {
    inner: multer::Multipart<'static>,
    limits: MultipartLimits,
    parts: usize,
}

/// One part of a multipart body, read chunk by chunk.
pub struct Part {
    inner: multer::Field<'static>,
    limit: u64,
    read: u64,
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

fn multer_error(e: multer::Error) -> HttpError {
    match e {
        multer::Error::FieldSizeExceeded { limit, field_name } => HttpError::new(StatusCode::PAYLOAD_TOO_LARGE)
            .with_message(format!("multipart field {:?} larger than {limit} bytes", field_name.unwrap_or_default())),
        multer::Error::StreamSizeExceeded { limit } => HttpError::new(StatusCode::PAYLOAD_TOO_LARGE)
            .with_message(format!("multipart body larger than {limit} bytes")),
        multer::Error::StreamReadFailed(cause) => match cause.downcast::<io::Error>() {
            Ok(io) => HttpError::from(*io),
            Err(other) => HttpError::bad_request("malformed multipart body").with_log(other.to_string()),
        },
        other => HttpError::bad_request("malformed multipart body").with_log(other.to_string()),
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
        let content_type = self.header("content-type").unwrap_or_default();
        let boundary = multer::parse_boundary(content_type)
            .map_err(|_| HttpError::bad_request("expected a multipart/form-data body with a boundary"))?;
        let constraints = multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().per_field(limits.max_file_size.max(limits.max_field_size)));
        let inner = multer::Multipart::with_constraints(self.take_body(), boundary, constraints);
        Ok(Multipart { inner, limits, parts: 0 })
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

impl Multipart {
    /// The next part, or `None` after the last.
    ///
    /// # Errors
    ///
    /// `400` for a malformed body, `413` past the part count or size limits.
    pub async fn next_part(&mut self) -> Result<Option<Part>, HttpError> {
        let Some(field) = self.inner.next_field().await.map_err(multer_error)? else {
            return Ok(None);
        };
        self.parts += 1;
        if self.parts > self.limits.max_parts {
            return Err(HttpError::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_message(format!("more than {} multipart parts", self.limits.max_parts)));
        }
        let limit = if field.file_name().is_some() { self.limits.max_file_size } else { self.limits.max_field_size };
        Ok(Some(Part { inner: field, limit, read: 0 }))
    }
}

impl Part {
    /// The form field's name.
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The file's name, for a file part.
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The part's `Content-Type`, if it has one.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(|m| m.essence_str())
    }

    /// The next chunk of the part, `None` at its end.
    ///
    /// # Errors
    ///
    /// `400` for a malformed body, `413` past the part's size limit.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        let chunk = self.inner.chunk().await.map_err(multer_error)?;
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
