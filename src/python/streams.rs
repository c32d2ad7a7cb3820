//! The Python objects a WSGI app receives besides the environ's strings:
//! `wsgi.input`, `wsgi.errors`, `start_response` and the `write` it returns.

use std::io::{Read, Write};
use std::sync::Mutex;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::gateway::{ErrorStream, Input, StartResponse};
use crate::rt::lock;

/// Bytes read from the body at a time to find a line end.
const LINE_READ: usize = 8 * 1024;

/// `wsgi.input`: the request body as a file-like object (`read`,
/// `readline`, `readlines`, iteration). Reads let go of the GIL while they
/// wait for the body.
#[pyclass(module = "squall")]
pub(super) struct WsgiInput {
    state: Mutex<InputState>,
}

struct InputState {
    input: Input,
    /// Bytes read ahead while looking for a line end.
    ahead: Vec<u8>,
    eof: bool,
}

impl InputState {
    /// Reads more into `ahead`; false at the end of the body.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let start = self.ahead.len();
        self.ahead.resize(start + LINE_READ, 0);
        let read = self.input.read(&mut self.ahead[start..]);
        self.ahead.truncate(start + read.as_ref().map_or(0, |&n| n));
        let n = read?;
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Up to `limit` bytes (all when `None`).
    fn read(&mut self, limit: Option<usize>) -> std::io::Result<Vec<u8>> {
        while limit.is_none_or(|l| self.ahead.len() < l) && self.fill()? {}
        let n = limit.map_or(self.ahead.len(), |l| l.min(self.ahead.len()));
        Ok(self.ahead.drain(..n).collect())
    }

    /// One line, its `\n` included, of at most `limit` bytes.
    fn readline(&mut self, limit: Option<usize>) -> std::io::Result<Vec<u8>> {
        let mut searched = 0;
        loop {
            let end = self.ahead[searched..].iter().position(|&b| b == b'\n').map(|i| searched + i + 1);
            let cut = match (end, limit) {
                (Some(end), Some(l)) => Some(end.min(l)),
                (Some(end), None) => Some(end),
                (None, Some(l)) if self.ahead.len() >= l => Some(l),
                (None, _) => None,
            };
            if let Some(cut) = cut {
                return Ok(self.ahead.drain(..cut).collect());
            }
            searched = self.ahead.len();
            if !self.fill()? {
                return Ok(std::mem::take(&mut self.ahead));
            }
        }
    }
}

impl WsgiInput {
    pub(super) fn new(input: Input) -> Self {
        WsgiInput { state: Mutex::new(InputState { input, ahead: Vec::new(), eof: false }) }
    }

    /// Runs `f` on the body with the GIL released: waiting for bytes must not
    /// stop other Python threads.
    fn with_body<'py>(
        &self,
        py: Python<'py>,
        f: impl FnOnce(&mut InputState) -> std::io::Result<Vec<u8>> + Send,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| f(&mut lock(&self.state)))?;
        Ok(PyBytes::new(py, &bytes))
    }
}

fn limit(size: Option<isize>) -> Option<usize> {
    size.and_then(|s| usize::try_from(s).ok())
}

#[pymethods]
impl WsgiInput {
    #[pyo3(signature = (size = None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        self.with_body(py, |state| state.read(limit(size)))
    }

    #[pyo3(signature = (size = None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        self.with_body(py, |state| state.readline(limit(size)))
    }

    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyList>> {
        let hint = limit(hint).filter(|&h| h > 0);
        let lines = PyList::empty(py);
        let mut total = 0;
        loop {
            let line = self.with_body(py, |state| state.readline(None))?;
            if line.as_bytes().is_empty() {
                return Ok(lines);
            }
            total += line.as_bytes().len();
            lines.append(line)?;
            if hint.is_some_and(|h| total >= h) {
                return Ok(lines);
            }
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.with_body(py, |state| state.readline(None))?;
        Ok((!line.as_bytes().is_empty()).then_some(line))
    }
}

/// `wsgi.errors`: text written to it goes to the log, a line at a time.
#[pyclass(module = "squall")]
pub(super) struct WsgiErrors {
    stream: Mutex<ErrorStream>,
}

impl WsgiErrors {
    pub(super) fn new(stream: ErrorStream) -> Self {
        WsgiErrors { stream: Mutex::new(stream) }
    }
}

#[pymethods]
impl WsgiErrors {
    fn write(&self, text: &str) -> PyResult<usize> {
        lock(&self.stream).write_all(text.as_bytes())?;
        Ok(text.chars().count())
    }

    fn writelines(&self, lines: Vec<String>) -> PyResult<()> {
        let mut stream = lock(&self.stream);
        for line in lines {
            stream.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    fn flush(&self) -> PyResult<()> {
        Ok(lock(&self.stream).flush()?)
    }
}

/// Text that must be Latin-1 (PEP 3333's "native strings" for the status and
/// headers): its bytes, or a `ValueError` naming what it was.
fn latin1(what: &str, text: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let text = text
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be str, not {}", type_name(text))))?
        .to_cow()?;
    let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
    let bytes = bytes.ok_or_else(|| PyValueError::new_err(format!("{what} {text:?} is not Latin-1")))?;
    if bytes.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(PyValueError::new_err(format!("{what} {text:?} holds CR, LF or NUL")));
    }
    Ok(bytes)
}

/// The name of a value's type, for error messages.
pub(super) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// `start_response(status, response_headers, exc_info=None)`, returning `write`.
#[pyclass(module = "squall")]
pub(super) struct WsgiStartResponse {
    start: StartResponse,
}

impl WsgiStartResponse {
    pub(super) fn new(start: StartResponse) -> Self {
        WsgiStartResponse { start }
    }
}

#[pymethods]
impl WsgiStartResponse {
    #[pyo3(signature = (status, response_headers, exc_info = None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        response_headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<WsgiWrite> {
        let status = String::from_utf8(latin1("status", status)?)
            .map_err(|_| PyValueError::new_err("the status must be ASCII"))?;
        let list = response_headers.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!("headers must be a list, not {}", type_name(response_headers)))
        })?;
        let mut headers = Vec::with_capacity(list.len());
        for item in list.iter() {
            let pair = item
                .cast::<PyTuple>()
                .map_err(|_| PyTypeError::new_err(format!("a header must be a tuple, not {}", type_name(&item))))?;
            if pair.len() != 2 {
                return Err(PyValueError::new_err("a header must be a (name, value) tuple"));
            }
            let name = String::from_utf8(latin1("header name", &pair.get_item(0)?)?)
                .map_err(|_| PyValueError::new_err("a header name must be ASCII"))?;
            headers.push((name, latin1("header value", &pair.get_item(1)?)?));
        }
        let error = match exc_info.filter(|e| !e.is_none()) {
            None => None,
            Some(info) => Some((info.get_item(1)?.unbind(), format!("{}", info.get_item(1)?))),
        };
        match error {
            None => self.start.start_raw(status, headers, None).map_err(|e| PyValueError::new_err(e.to_string()))?,
            Some((exception, text)) => {
                // After the first byte the response cannot change: re-raise (PEP 3333).
                if self.start.start_raw(status, headers, Some(text.into())).is_err() {
                    return Err(PyErr::from_value(exception.into_bound(py)));
                }
            }
        }
        Ok(WsgiWrite { start: self.start.clone() })
    }
}

/// The `write(data)` callable `start_response` returns, for legacy apps.
#[pyclass(module = "squall")]
pub(super) struct WsgiWrite {
    start: StartResponse,
}

#[pymethods]
impl WsgiWrite {
    fn __call__(&self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err(format!("write() takes bytes, not {}", type_name(data))))?;
        self.start
            .write(bytes::Bytes::copy_from_slice(data.as_bytes()))
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn state(body: &'static [u8]) -> InputState {
        InputState { input: Input::buffered(Bytes::from_static(body)), ahead: Vec::new(), eof: false }
    }

    #[test]
    fn readline_stops_at_the_line_end_or_the_size_and_read_takes_the_rest() {
        let mut input = state(b"one\ntwo is longer\nlast");
        assert_eq!(input.readline(None).unwrap(), b"one\n");
        assert_eq!(input.readline(Some(3)).unwrap(), b"two");
        assert_eq!(input.readline(Some(100)).unwrap(), b" is longer\n");
        assert_eq!(input.read(Some(2)).unwrap(), b"la");
        assert_eq!(input.read(None).unwrap(), b"st");
        assert_eq!(input.readline(None).unwrap(), b"", "end of the body");
        assert_eq!(input.read(Some(5)).unwrap(), b"");
    }

    #[test]
    fn a_line_longer_than_one_read_is_whole() {
        let long: &'static [u8] =
            Box::leak([vec![b'x'; LINE_READ * 2 + 5], b"\nnext".to_vec()].concat().into_boxed_slice());
        let mut input = state(long);
        assert_eq!(input.readline(None).unwrap().len(), LINE_READ * 2 + 6);
        assert_eq!(input.readline(None).unwrap(), b"next");
    }
}
