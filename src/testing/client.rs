//! A small blocking HTTP/1.1 client for tests: keep-alive, pipelining, raw bytes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::server::http1::body::Decoder;
use crate::server::http1::decode::RequestFraming;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A response as the test client read it.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers, in the order received.
    pub headers: HeaderMap,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// One header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One client connection to a test server: send requests (or raw bytes) and
/// read responses in order.
#[derive(Debug)]
pub struct TestConnection {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl TestConnection {
    /// Connects to `addr` with a 10 s read timeout.
    ///
    /// # Errors
    ///
    /// When the connection cannot be made.
    pub fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(TestConnection { stream, buf: Vec::new(), eof: false })
    }

    /// Writes raw bytes.
    ///
    /// # Errors
    ///
    /// When the write fails.
    pub fn send(&mut self, raw: &[u8]) -> io::Result<()> {
        self.stream.write_all(raw)
    }

    /// Closes the sending side (the server sees end of input).
    ///
    /// # Errors
    ///
    /// When the shutdown fails.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Sends a request with `Host` and, for a non-empty body, `Content-Length`.
    ///
    /// # Errors
    ///
    /// When the write fails.
    pub fn send_request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<()> {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut raw = raw.into_bytes();
        raw.extend_from_slice(body);
        self.send(&raw)
    }

    /// Sends a request and reads its response (see [`send_request`](Self::send_request)).
    ///
    /// # Errors
    ///
    /// When the exchange fails.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<TestResponse> {
        self.send_request(method, path, headers, body)?;
        self.read_response(method == "HEAD")
    }

    /// Reads the next response (an interim `100 Continue` counts as one).
    /// `head_request` tells that it answers a HEAD, which has no body.
    ///
    /// # Errors
    ///
    /// When the connection closes or times out before a complete response,
    /// or the response is malformed.
    pub fn read_response(&mut self, head_request: bool) -> io::Result<TestResponse> {
        let (status, headers, used) = loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(&self.buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))? {
                httparse::Status::Complete(used) => {
                    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(io::Error::other)?;
                    let mut headers = HeaderMap::new();
                    for h in resp.headers.iter() {
                        let name = HeaderName::try_from(h.name).map_err(io::Error::other)?;
                        headers.append(name, HeaderValue::from_bytes(h.value).map_err(io::Error::other)?);
                    }
                    break (status, headers, used);
                }
                httparse::Status::Partial => self.fill()?,
            }
        };
        self.buf.drain(..used);
        let no_body = head_request || status.is_informational() || status == 204 || status == 304;
        let length = headers.get("content-length").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let chunked = headers.get("transfer-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
        let body = match (no_body, chunked, length) {
            (true, _, _) => Vec::new(),
            (false, true, _) => self.read_framed(RequestFraming::Chunked)?,
            (false, false, Some(0)) => Vec::new(),
            (false, false, Some(n)) => self.read_framed(RequestFraming::Length(n))?,
            (false, false, None) => {
                while !self.eof {
                    self.fill_or_eof()?;
                }
                std::mem::take(&mut self.buf)
            }
        };
        Ok(TestResponse { status, headers, body })
    }

    fn read_framed(&mut self, framing: RequestFraming) -> io::Result<Vec<u8>> {
        let mut decoder = Decoder::new(framing);
        let mut body = Vec::new();
        loop {
            let step = decoder.decode(&self.buf).map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m.0))?;
            body.extend_from_slice(&self.buf[step.data.clone()]);
            self.buf.drain(..step.consumed);
            if decoder.is_done() {
                return Ok(body);
            }
            if step.consumed == 0 || self.buf.is_empty() {
                self.fill()?;
            }
        }
    }

    /// True once the server has closed the connection (reads until EOF or timeout;
    /// bytes received meanwhile are kept for the next read).
    pub fn is_closed(&mut self) -> bool {
        while !self.eof {
            if self.fill_or_eof().is_err() {
                return false;
            }
        }
        true
    }

    /// Everything the server sends until it closes the connection.
    ///
    /// # Errors
    ///
    /// When the server neither closes nor sends for 10 s.
    pub fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        while !self.eof {
            self.fill_or_eof()?;
        }
        Ok(std::mem::take(&mut self.buf))
    }

    fn fill(&mut self) -> io::Result<()> {
        self.fill_or_eof()?;
        if self.eof {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
        }
        Ok(())
    }

    fn fill_or_eof(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            // A reset after the server's last bytes is still an end of stream.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => self.eof = true,
            Err(e) => return Err(e),
        }
        Ok(())
    }
}
