//! Reading a request's body whole: as bytes, text, JSON, a urlencoded form,
//! or Tornado's merged query-and-form arguments. Streaming reads are on
//! [`Body`](super::Body) itself.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{Arguments, Request};
use crate::error::HttpError;

impl Request {
    /// Reads the whole body.
    ///
    /// # Errors
    ///
    /// `400` for a malformed body, `413` for one over the server's limit,
    /// `500` when the connection fails. A second call returns an empty body.
    pub async fn bytes(&mut self) -> Result<Bytes, HttpError> {
        self.take_body().bytes().await
    }

    /// Reads the whole body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`Request::bytes`], and `400` when the body is not UTF-8.
    pub async fn text(&mut self) -> Result<String, HttpError> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.into()).map_err(|_| HttpError::bad_request("request body is not UTF-8"))
    }

    /// Reads the whole body as JSON.
    ///
    /// # Errors
    ///
    /// As [`Request::bytes`], and `400` naming the problem when the JSON is
    /// invalid or does not fit `T`.
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, HttpError> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| HttpError::bad_request(format!("invalid JSON body: {e}")))
    }

    /// Reads a form body: urlencoded (`application/x-www-form-urlencoded`),
    /// or the fields of a `multipart/form-data` one (its files are read and
    /// dropped: use [`Request::multipart_form`] to keep them).
    ///
    /// # Errors
    ///
    /// As [`Request::text`] or [`Request::multipart_form`], and `415` for any
    /// other content type.
    pub async fn form(&mut self) -> Result<Arguments, HttpError> {
        let content_type = self.header("content-type").unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("multipart/form-data") {
            return Ok(self.multipart_form().await?.fields);
        }
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(HttpError::new(http::StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .with_message("expected an application/x-www-form-urlencoded body"));
        }
        Ok(Arguments::parse(&self.text().await?))
    }

    /// Query arguments followed by form-body arguments (Tornado's
    /// `get_argument` sources); the body is read only when it is a form,
    /// urlencoded or multipart.
    ///
    /// # Errors
    ///
    /// As [`Request::form`], for a form body.
    pub async fn arguments(&mut self) -> Result<Arguments, HttpError> {
        let mut args = self.query_arguments();
        let is_form = self.header("content-type").is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("application/x-www-form-urlencoded") || ct.starts_with("multipart/form-data")
        });
        if is_form {
            args.extend(self.form().await?);
        }
        Ok(args)
    }
}

/// A new file in the temporary directory, already unlinked: it vanishes
/// with its last descriptor, whatever happens to the request.
pub(crate) fn temp_file() -> std::io::Result<std::fs::File> {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("squall-body-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Bytes being kept: in memory up to a limit, past it in a [`temp_file`]
/// written from a blocking thread. Uploads and buffered request bodies both
/// keep theirs so.
pub(crate) struct Spool {
    memory: Vec<u8>,
    file: Option<blocking::Unblock<std::fs::File>>,
    len: u64,
    in_memory: usize,
}

/// What a [`Spool`] kept: the bytes, or the file rewound to its start.
pub(crate) enum Spooled {
    Memory(Vec<u8>),
    File(std::fs::File),
}

impl std::fmt::Debug for Spooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spooled::Memory(bytes) => write!(f, "Memory({} bytes)", bytes.len()),
            Spooled::File(_) => f.write_str("File(..)"),
        }
    }
}

impl Spool {
    /// Keeps up to `in_memory` bytes in memory.
    pub(crate) fn new(in_memory: usize) -> Self {
        Spool { memory: Vec::new(), file: None, len: 0, in_memory }
    }

    /// Adds `chunk`, moving everything to a file once it would pass the limit.
    pub(crate) async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        use futures_lite::AsyncWriteExt;
        self.len += chunk.len() as u64;
        if self.file.is_none() && self.memory.len() + chunk.len() <= self.in_memory {
            self.memory.extend_from_slice(chunk);
            return Ok(());
        }
        if self.file.is_none() {
            let mut file = blocking::Unblock::new(blocking::unblock(temp_file).await?);
            file.write_all(&std::mem::take(&mut self.memory)).await?;
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(chunk).await,
            None => Ok(()),
        }
    }

    /// The bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// What was kept; a file is flushed and rewound, ready to read.
    pub(crate) async fn finish(self) -> std::io::Result<Spooled> {
        use futures_lite::AsyncWriteExt;
        use std::io::Seek;
        let Some(mut file) = self.file else {
            return Ok(Spooled::Memory(self.memory));
        };
        file.flush().await?;
        let mut file = file.into_inner().await;
        blocking::unblock(move || file.rewind().map(|()| Spooled::File(file))).await
    }
}
