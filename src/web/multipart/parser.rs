//! The `multipart/form-data` framing (RFC 7578 over RFC 2046 §5.1.1), parsed
//! as bytes arrive, holding no more than it must: the tail of the buffer
//! that may begin a delimiter, and one part's header block. The preamble is
//! skipped as it streams, and so is a part nobody reads; what a peer could
//! make grow without end (a preamble, a header block, padding after a
//! delimiter) has a bound, past which the body is refused.

use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use memchr::memmem::Finder;

use crate::error::HttpError;

/// What the parser holds at most, beyond one incoming chunk.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    /// Bytes before the first delimiter.
    pub(super) preamble: usize,
    /// Bytes of one part's header block.
    pub(super) header_block: usize,
}

/// Headers one part may have.
const MAX_HEADERS: usize = 16;
/// Spaces and tabs allowed after a delimiter (RFC 2046 transport padding).
const MAX_PADDING: usize = 64;

/// What the parser found next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// A part begins, with its headers.
    Part(PartHead),
    /// Bytes of the current part's content.
    Data(Bytes),
    /// The current part is complete.
    PartEnd,
    /// The closing delimiter: the form is complete.
    End,
}

/// A part's headers, and what `Content-Disposition` and `Content-Type` say.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct PartHead {
    pub(super) name: Option<String>,
    pub(super) file_name: Option<String>,
    pub(super) content_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preamble,
    /// Just after a delimiter: `--` (the close), or padding and a CRLF.
    Delimited,
    Headers,
    Content,
    Done,
}

pub(super) struct Parser {
    /// `CRLF "--" boundary`: what ends a part (and the preamble).
    delimiter: Finder<'static>,
    delimiter_len: usize,
    buf: BytesMut,
    state: State,
    bounds: Bounds,
    /// Preamble bytes skipped so far.
    skipped: usize,
    input_ended: bool,
}

impl Parser {
    pub(super) fn new(boundary: &str, bounds: Bounds) -> Self {
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        let delimiter_len = delimiter.len();
        // The first delimiter may open the body without a CRLF before it:
        // parse as though one were there.
        let buf = BytesMut::from(&b"\r\n"[..]);
        Parser {
            delimiter: Finder::new(&delimiter).into_owned(),
            delimiter_len,
            buf,
            state: State::Preamble,
            bounds,
            skipped: 0,
            input_ended: false,
        }
    }

    /// Takes the next bytes of the body.
    pub(super) fn push(&mut self, chunk: &[u8]) {
        if self.state != State::Done {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The body has no more bytes.
    pub(super) fn end_input(&mut self) {
        self.input_ended = true;
    }

    /// The next event, or `None` when more input is needed first.
    ///
    /// # Errors
    ///
    /// `400` for a malformed body or one that ends early; `413` past a bound.
    pub(super) fn next(&mut self) -> Result<Option<Event>, HttpError> {
        loop {
            let event = match self.state {
                State::Preamble => self.preamble()?,
                State::Delimited => self.delimited()?,
                State::Headers => return self.headers(),
                State::Content => return self.content(),
                State::Done => return Ok(Some(Event::End)),
            };
            match event {
                Step::Again => {}
                Step::NeedMore if self.input_ended => {
                    return Err(malformed("the body ended before its closing boundary"));
                }
                Step::NeedMore => return Ok(None),
                Step::Emit(event) => return Ok(Some(event)),
            }
        }
    }

    /// The first delimiter in the buffer that is one: followed by `--` or
    /// by padding and a CRLF. Content may hold the delimiter's bytes
    /// followed by others; those are content.
    fn find_delimiter(&self) -> Found {
        let mut from = 0;
        while let Some(at) = self.delimiter.find(&self.buf[from..]).map(|i| from + i) {
            let after = &self.buf[at + self.delimiter_len..];
            let padding = after.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
            // Past MAX_PADDING it is no delimiter, whatever follows: the
            // verdict never waits on more bytes than that, so it is the
            // same however the body is split into reads.
            if padding <= MAX_PADDING {
                if after.starts_with(b"--") || after[padding..].starts_with(b"\r\n") {
                    return Found::At(at);
                }
                let undecided = after.len() < 2 || padding == after.len() || after[padding..] == *b"\r";
                if undecided && !self.input_ended {
                    return Found::Undecided(at);
                }
            }
            from = at + 1;
        }
        Found::Nothing
    }

    fn preamble(&mut self) -> Result<Step, HttpError> {
        let found = self.find_delimiter();
        // Skip what is surely preamble; keep what may begin a delimiter.
        let drop = match found {
            Found::At(at) | Found::Undecided(at) => at,
            Found::Nothing => self.buf.len().saturating_sub(self.delimiter_len - 1),
        };
        self.skipped += drop;
        self.buf.advance(drop);
        // The bound holds wherever the preamble ends, and so does the cap
        // on what is kept while it goes on.
        let found_it = matches!(found, Found::At(_));
        if self.skipped > self.bounds.preamble || (!found_it && self.buf.len() > self.bounds.preamble) {
            return Err(too_large(format!("multipart preamble longer than {} bytes", self.bounds.preamble)));
        }
        if !found_it {
            return Ok(Step::NeedMore);
        }
        self.buf.advance(self.delimiter_len);
        self.state = State::Delimited;
        Ok(Step::Again)
    }

    fn delimited(&mut self) -> Result<Step, HttpError> {
        if self.buf.starts_with(b"--") {
            // The close delimiter: whatever follows is the epilogue.
            self.state = State::Done;
            self.buf = BytesMut::new();
            return Ok(Step::Emit(Event::End));
        }
        // Found as a delimiter: padding (no more than MAX_PADDING) and a CRLF follow.
        let padding = self.buf.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        self.buf.advance(padding + 2);
        self.state = State::Headers;
        Ok(Step::Again)
    }

    fn headers(&mut self) -> Result<Option<Event>, HttpError> {
        let end = if self.buf.starts_with(b"\r\n") {
            Some(2) // a part without headers
        } else {
            memchr::memmem::find(&self.buf, b"\r\n\r\n").map(|at| at + 4)
        };
        let Some(end) = end else {
            if self.buf.len() > self.bounds.header_block {
                return Err(too_large(format!(
                    "multipart part headers longer than {} bytes",
                    self.bounds.header_block
                )));
            }
            if self.input_ended {
                return Err(malformed("the body ended inside a part's headers"));
            }
            return Ok(None);
        };
        if end > self.bounds.header_block {
            return Err(too_large(format!("multipart part headers longer than {} bytes", self.bounds.header_block)));
        }
        let block = self.buf.split_to(end);
        self.state = State::Content;
        Ok(Some(Event::Part(part_head(&block)?)))
    }

    fn content(&mut self) -> Result<Option<Event>, HttpError> {
        let sure = match self.find_delimiter() {
            Found::At(0) => {
                self.buf.advance(self.delimiter_len);
                self.state = State::Delimited;
                return Ok(Some(Event::PartEnd));
            }
            Found::At(at) | Found::Undecided(at) => at,
            // All but what may be the start of the delimiter is content.
            Found::Nothing => self.buf.len().saturating_sub(self.delimiter_len - 1),
        };
        if sure > 0 {
            return Ok(Some(Event::Data(self.buf.split_to(sure).freeze())));
        }
        if self.input_ended {
            return Err(malformed("the body ended inside a part"));
        }
        if self.buf.len() > self.delimiter_len + MAX_PADDING + 2 {
            return Err(malformed("padding after a boundary"));
        }
        Ok(None)
    }
}

/// Parses a whole body handed over in `pieces`: its events, each part's
/// data joined into one `Data`. For the tests and the fuzz targets.
pub(super) fn parse_pieces<'a>(
    boundary: &str,
    bounds: Bounds,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Event>, HttpError> {
    let mut parser = Parser::new(boundary, bounds);
    let mut events: Vec<Event> = Vec::new();
    let mut pieces = pieces.into_iter();
    loop {
        match parser.next()? {
            Some(Event::End) => {
                events.push(Event::End);
                return Ok(events);
            }
            Some(Event::Data(data)) => match events.last_mut() {
                Some(Event::Data(joined)) => *joined = [&joined[..], &data[..]].concat().into(),
                _ => events.push(Event::Data(data)),
            },
            Some(event) => events.push(event),
            None => match pieces.next() {
                Some(piece) => parser.push(piece),
                None => parser.end_input(),
            },
        }
    }
}

/// Where [`Parser::find_delimiter`] found one.
enum Found {
    At(usize),
    /// Perhaps: the bytes after it have not all arrived.
    Undecided(usize),
    Nothing,
}

enum Step {
    Again,
    NeedMore,
    Emit(Event),
}

fn malformed(why: &str) -> HttpError {
    HttpError::bad_request("malformed multipart body").with_log(format!("malformed multipart body: {why}"))
}

fn too_large(why: String) -> HttpError {
    HttpError::new(StatusCode::PAYLOAD_TOO_LARGE).with_message(why)
}

/// The headers of a part (`block` ends with its blank line).
fn part_head(block: &[u8]) -> Result<PartHead, HttpError> {
    let mut head = PartHead::default();
    if block == b"\r\n" {
        return Ok(head);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(block, &mut headers) {
        Ok(httparse::Status::Complete((_, headers))) => {
            for header in headers {
                let value = String::from_utf8_lossy(header.value);
                if header.name.eq_ignore_ascii_case("content-disposition") {
                    disposition(&value, &mut head);
                } else if header.name.eq_ignore_ascii_case("content-type") {
                    head.content_type = Some(value.split(';').next().unwrap_or_default().trim().to_owned());
                }
            }
            Ok(head)
        }
        Err(httparse::Error::TooManyHeaders) => Err(malformed("more than 16 headers in a part")),
        _ => Err(malformed("a part's headers")),
    }
}

/// `form-data; name="…"; filename="…"` (RFC 7578 §4.2; `filename*`, RFC
/// 5987's UTF-8 form, wins over `filename`).
fn disposition(value: &str, head: &mut PartHead) {
    let mut extended = None;
    for (key, val) in parameters(value) {
        if key.eq_ignore_ascii_case("name") {
            head.name = Some(val);
        } else if key.eq_ignore_ascii_case("filename") {
            head.file_name = Some(val);
        } else if key.eq_ignore_ascii_case("filename*") {
            extended = val.strip_prefix("UTF-8''").or_else(|| val.strip_prefix("utf-8''")).map(percent_decoded);
        }
    }
    if extended.is_some() {
        head.file_name = extended;
    }
}

/// The `key=value` parameters after the first `;`, quoted values unquoted
/// (a backslash escapes the next character, as Tornado reads them).
fn parameters(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value.split_once(';').map_or("", |(_, r)| r);
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim_matches([' ', '\t', ';']).to_owned();
        let after = after.trim_start();
        let (val, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let (mut val, mut chars) = (String::new(), quoted.char_indices());
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => val.extend(chars.next().map(|(_, c)| c)),
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => val.push(c),
                    }
                }
                (val, &quoted[end..])
            }
            None => {
                let end = after.find(';').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            }
        };
        out.push((key, val));
        rest = next.split_once(';').map_or("", |(_, r)| r);
    }
    out
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::IntoResponse;

    const BOUNDS: Bounds = Bounds { preamble: 1024, header_block: 1024 };

    /// Feeds `body` in pieces of `step` bytes; the events, data joined per part.
    fn parse(body: &[u8], step: usize) -> Result<Vec<Event>, HttpError> {
        parse_pieces("XyZ", BOUNDS, body.chunks(step.max(1)))
    }

    fn form() -> Vec<u8> {
        b"--XyZ\r\nContent-Disposition: form-data; name=\"_xsrf\"\r\n\r\n2|ab|cd\r\n\
          --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\"\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\nline\r\n--XyZ-not-yet\r\n\r\n--XyZ--\r\nepilogue"
            .to_vec()
    }

    #[test]
    fn rfc7578_a_form_parses_alike_whatever_the_chunking() {
        let expected = vec![
            Event::Part(PartHead { name: Some("_xsrf".into()), ..PartHead::default() }),
            Event::Data(Bytes::from_static(b"2|ab|cd")),
            Event::PartEnd,
            Event::Part(PartHead {
                name: Some("file".into()),
                file_name: Some("a \"b\".txt".into()),
                content_type: Some("text/plain".into()),
            }),
            Event::Data(Bytes::from_static(b"line\r\n--XyZ-not-yet\r\n")),
            Event::PartEnd,
            Event::End,
        ];
        for step in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(parse(&form(), step).unwrap(), expected, "pieces of {step} bytes");
        }
    }

    #[test]
    fn rfc2046_5_1_1_preamble_padding_and_empty_parts() {
        let body =
            b"preamble text\r\n--XyZ \t\r\n\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=e\r\n\r\n\r\n--XyZ--";
        let events = parse(body, 4).unwrap();
        assert_eq!(
            events,
            vec![
                Event::Part(PartHead::default()),
                Event::PartEnd,
                Event::Part(PartHead { name: Some("e".into()), ..PartHead::default() }),
                Event::PartEnd,
                Event::End,
            ]
        );
    }

    #[test]
    fn rfc5987_filename_star_wins() {
        let mut head = PartHead::default();
        disposition("form-data; name=f; filename=\"plain.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt", &mut head);
        assert_eq!(head.file_name.as_deref(), Some("€ rates.txt"));
    }

    #[test]
    fn what_could_grow_without_end_is_bounded() {
        let status = |body: &[u8]| parse(body, 100).unwrap_err().into_response().status().as_u16();
        assert_eq!(status(&vec![b'x'; 5000]), 413, "a preamble");
        // The bound is the same whether the preamble's end arrives with it.
        let mut long_preamble = vec![b'x'; 2000];
        long_preamble.extend(form());
        for step in [100, 1500, long_preamble.len()] {
            let refused = parse(&long_preamble, step).unwrap_err();
            assert_eq!(refused.into_response().status(), 413, "read {step} bytes at a time");
        }
        let mut headers = b"--XyZ\r\nX-Long: ".to_vec();
        headers.extend(vec![b'y'; 5000]);
        assert_eq!(status(&headers), 413, "a header block");
        let mut padded = b"--XyZ".to_vec();
        padded.extend(vec![b' '; 100]);
        assert_eq!(status(&padded), 400, "padding after a delimiter, never ended");
        let many: String = (0..20).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(status(format!("--XyZ\r\n{many}\r\n\r\n--XyZ--").as_bytes()), 400, "17 headers");
    }

    #[test]
    fn bodies_that_end_early_or_go_astray_are_400() {
        let status = |body: &[u8]| parse(body, 3).unwrap_err().into_response().status().as_u16();
        assert_eq!(status(b""), 400, "no boundary at all");
        assert_eq!(status(b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue"), 400, "no close");
        assert_eq!(status(b"--XyZ\r\nContent-Disposition: form"), 400, "cut in the headers");
    }

    #[test]
    fn rfc2046_5_1_1_a_delimiter_is_one_only_followed_by_a_crlf_or_dashes() {
        let events = parse(b"--XyZjunk\r\n\r\n--XyZ--", 2).unwrap();
        assert_eq!(events, vec![Event::End], "the first line was preamble");
        // Padding past 64 bytes makes the line no delimiter, however the
        // body arrives (a 100-byte read sees where the padding ends; a
        // 7-byte one does not).
        let mut padded = b"--XyZ".to_vec();
        padded.extend([b' '; 100]);
        padded.extend(b"\r\n");
        padded.extend(form());
        let expected = parse(&form(), 1000).unwrap();
        for step in [7, 100, padded.len()] {
            assert_eq!(parse(&padded, step).unwrap(), expected, "read {step} bytes at a time");
        }
    }
}
