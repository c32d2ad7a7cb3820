//! [`WsgiApp`]: a Python WSGI callable as a gateway app.

use std::path::PathBuf;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyString};

use super::streams::{WsgiErrors, WsgiInput, WsgiStartResponse, type_name};
use crate::error::Error;
use crate::gateway::{App, AppError, AppIter, Environ, ErrorStream, StartResponse};

/// A Python WSGI app (PEP 3333) as a gateway [`App`]: Flask, Django, or any
/// `module:callable`, in the interpreter embedded in this process.
///
/// # Examples
///
/// ```no_run
/// use squall::gateway::{Executor, GatewayContainer};
/// use squall::python::WsgiApp;
/// use squall::{get, Router};
///
/// # fn main() -> squall::Result<()> {
/// let flask = WsgiApp::builder("app:app").path("/srv/legacy").load()?;
/// let router = Router::new()
///     .route("/squall/hello", get(|_req| async { "Hello from squall" }))
///     .mount("/", GatewayContainer::builder(flask).executor(Executor::thread_pool(16)).build());
/// # let _ = router;
/// # Ok(())
/// # }
/// ```
///
/// # Warning
///
/// Python runs one thread at a time per process (the GIL): `thread_pool(n)`
/// gives `n` calls in flight, which helps an app that waits on I/O, not one
/// that computes. Use worker processes for more cores.
#[derive(Debug, Clone)]
pub struct WsgiApp {
    callable: std::sync::Arc<Py<PyAny>>,
    /// `wsgiref.util.FileWrapper`, looked up once.
    file_wrapper: std::sync::Arc<Py<PyAny>>,
    /// `module:callable`: also the log target of its `wsgi.errors`.
    name: std::sync::Arc<str>,
}

std::thread_local! {
    /// The environ names squall sets, as Python strings, made once per thread.
    static KEYS: std::cell::RefCell<std::collections::HashMap<&'static str, Py<PyString>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());

    /// This thread keeps its interpreter state for its whole life
    /// ([`App::around_thread`]): requests need not keep one of their own.
    static ANCHORED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Where to find a WSGI app; see [`WsgiApp::builder`].
#[derive(Debug, Clone)]
pub struct WsgiAppBuilder {
    target: String,
    paths: Vec<PathBuf>,
    virtualenv: Option<PathBuf>,
}

impl WsgiApp {
    /// The app `target` names, as `module:callable` (`module` alone means
    /// its `application`, as gunicorn reads it).
    pub fn builder(target: impl Into<String>) -> WsgiAppBuilder {
        WsgiAppBuilder { target: target.into(), paths: Vec::new(), virtualenv: None }
    }
}

impl WsgiAppBuilder {
    /// Puts `dir` at the front of `sys.path` (`PYTHONPATH` is honoured as by
    /// `python` itself).
    pub fn path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.paths.push(dir.into());
        self
    }

    /// Runs the app in the virtualenv at `dir`, as its own `python` would
    /// (mod_wsgi's `python-home`): `sys.prefix` and `sys.executable` name
    /// the virtualenv, its site-packages come before any of the system's,
    /// and those are visible only when its `pyvenv.cfg` says
    /// `include-system-site-packages = true`.
    ///
    /// A process has one interpreter, started by the first app loaded: give
    /// the virtualenv to that one (later apps may name the same one or
    /// none).
    pub fn virtualenv(mut self, dir: impl Into<PathBuf>) -> Self {
        self.virtualenv = Some(dir.into());
        self
    }

    /// Starts the interpreter if it is not running (and logs, at INFO,
    /// which one and which virtualenv), and imports the app.
    ///
    /// # Errors
    ///
    /// A configuration error carrying the Python traceback when the module
    /// cannot be imported or has no such callable; one naming the path when
    /// the virtualenv is missing or not one, both versions when it was made
    /// by another Python than the one embedded, and the running one when
    /// the interpreter already runs for another virtualenv or none.
    pub fn load(self) -> Result<WsgiApp, Error> {
        super::interpreter::start(self.virtualenv.as_deref())?;
        let (module, attribute) = match self.target.split_once(':') {
            Some((module, attribute)) => (module.to_owned(), attribute.to_owned()),
            None => (self.target.clone(), "application".to_owned()),
        };
        Python::attach(|py| {
            let fail = |e: PyErr| {
                // A traceback starts on a line of its own, as Python prints it.
                let why = describe(py, &e);
                let gap = if why.contains('\n') { "\n" } else { " " };
                Error::config(format!("cannot load {}:{gap}{why}", self.target))
            };
            let sys = py.import("sys").map_err(fail)?;
            let path = sys.getattr("path").map_err(fail)?;
            for dir in self.paths.iter().rev() {
                path.call_method1("insert", (0, dir.to_string_lossy().as_ref())).map_err(fail)?;
            }
            let mut callable = py.import(module.as_str()).map_err(fail)?.into_any();
            for part in attribute.split('.') {
                callable = callable.getattr(part).map_err(fail)?;
            }
            if !callable.is_callable() {
                return Err(Error::config(format!("{} is not callable", self.target)));
            }
            let file_wrapper = py.import("wsgiref.util").and_then(|m| m.getattr("FileWrapper")).map_err(fail)?;
            Ok(WsgiApp {
                callable: std::sync::Arc::new(callable.unbind()),
                file_wrapper: std::sync::Arc::new(file_wrapper.unbind()),
                name: self.target.as_str().into(),
            })
        })
    }
}

/// A Python exception with its traceback, for the log.
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let formatted = py
        .import("traceback")
        .and_then(|tb| tb.call_method1("format_exception", (e.get_type(py), e.value(py), e.traceback(py))))
        .and_then(|lines| lines.extract::<Vec<String>>());
    match formatted {
        Ok(lines) => lines.concat().trim_end().to_owned(),
        Err(_) => e.to_string(),
    }
}

/// `bytes` as Python's Latin-1 "bytes as str" (PEP 3333's native strings).
fn latin1_str<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(bytes) {
        Ok(ascii) if ascii.is_ascii() => PyString::new(py, ascii),
        _ => PyString::new(py, &bytes.iter().map(|&b| char::from(b)).collect::<String>()),
    }
}

impl WsgiApp {
    fn environ<'py>(&self, py: Python<'py>, environ: &mut Environ) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        KEYS.with_borrow_mut(|keys| -> PyResult<()> {
            for (key, value) in environ.vars() {
                let key = match key {
                    // The names squall sets are the same every request: made once per thread.
                    std::borrow::Cow::Borrowed(name) => keys
                        .entry(name)
                        .or_insert_with(|| pyo3::types::PyString::intern(py, name).unbind())
                        .bind(py)
                        .clone(),
                    std::borrow::Cow::Owned(name) => PyString::new(py, name),
                };
                dict.set_item(key, latin1_str(py, value))?;
            }
            Ok(())
        })?;
        dict.set_item(pyo3::intern!(py, "wsgi.version"), (1, 0))?;
        let scheme = match environ.url_scheme() {
            "https" => pyo3::intern!(py, "https"),
            _ => pyo3::intern!(py, "http"),
        };
        dict.set_item(pyo3::intern!(py, "wsgi.url_scheme"), scheme)?;
        dict.set_item(pyo3::intern!(py, "wsgi.input"), Py::new(py, WsgiInput::new(environ.take_input()))?)?;
        // The input ends where the body ends, also without CONTENT_LENGTH (a
        // streamed chunked body): the flag Werkzeug reads to trust that.
        dict.set_item(pyo3::intern!(py, "wsgi.input_terminated"), true)?;
        let errors = ErrorStream::named(self.name.clone());
        dict.set_item(pyo3::intern!(py, "wsgi.errors"), Py::new(py, WsgiErrors::new(errors))?)?;
        dict.set_item(pyo3::intern!(py, "wsgi.multithread"), environ.multithread())?;
        // Worker processes each run the app: other processes serve it too.
        #[cfg(unix)]
        let workers = crate::server::process::task_id().is_some();
        #[cfg(not(unix))]
        let workers = false;
        dict.set_item(pyo3::intern!(py, "wsgi.multiprocess"), environ.multiprocess() || workers)?;
        dict.set_item(pyo3::intern!(py, "wsgi.run_once"), environ.run_once())?;
        dict.set_item(pyo3::intern!(py, "wsgi.file_wrapper"), self.file_wrapper.bind(py))?;
        Ok(dict)
    }
}

impl App for WsgiApp {
    /// Keeps this thread's interpreter state for the whole request, with the
    /// GIL released outside Python: context variables and thread locals set
    /// while the app is called survive into its body's iteration (Flask's
    /// `stream_with_context` needs them), and each chunk does not create and
    /// destroy a thread state of its own.
    fn around_request(&self, request: &mut (dyn FnMut() + Send)) {
        if ANCHORED.get() {
            request();
        } else {
            Python::attach(|py| py.detach(request));
        }
    }

    /// A pool thread keeps its interpreter state for its whole life, as a
    /// Python server's threads do: a request then takes the GIL once for the
    /// call and once per later chunk, and creates no thread state.
    fn around_thread(&self, thread: &mut (dyn FnMut() + Send)) {
        Python::attach(|py| {
            py.detach(|| {
                ANCHORED.set(true);
                thread();
                ANCHORED.set(false);
            })
        });
    }

    fn call(&self, environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
        Python::attach(|py| {
            let fault =
                |what: &str, e: PyErr| -> AppError { format!("{}: {what}: {}", self.name, describe(py, &e)).into() };
            let env = self.environ(py, environ).map_err(|e| fault("building the environ", e))?;
            let start_response =
                Py::new(py, WsgiStartResponse::new(start.clone())).map_err(|e| fault("start_response", e))?;
            let result = self.callable.bind(py).call1((env, start_response)).map_err(|e| fault("the app raised", e))?;
            // A list of bytes (most apps answer `[body]`) is taken whole now:
            // no GIL per chunk, and a list has no `close`.
            if let Ok(list) = result.cast_exact::<pyo3::types::PyList>()
                && let Some(chunks) = list
                    .iter()
                    .map(|c| c.cast::<PyBytes>().map(|b| Bytes::copy_from_slice(b.as_bytes())).ok())
                    .collect::<Option<Vec<_>>>()
            {
                return Ok(AppIter::from_chunks(chunks));
            }
            let iterator = result.try_iter().map_err(|e| fault("its result is not iterable", e))?;
            let body = Body { iterator: Some(iterator.unbind()), name: self.name.clone() };
            let result = result.unbind();
            Ok(AppIter::new(body).on_close(move || close(result)))
        })
    }
}

/// Calls the result's `close()`, if it has one (PEP 3333: on every path).
fn close(result: Py<PyAny>) {
    Python::attach(|py| {
        let result = result.bind(py);
        if let Ok(true) = result.hasattr("close")
            && let Err(e) = result.call_method0("close")
        {
            log::error!(target: "squall::python", "the app's close() raised: {}", describe(py, &e));
        }
    });
}

/// The app's result, iterated chunk by chunk with the GIL held only while
/// Python produces the next one.
struct Body {
    iterator: Option<Py<PyIterator>>,
    name: std::sync::Arc<str>,
}

impl Iterator for Body {
    type Item = Result<Bytes, AppError>;

    fn next(&mut self) -> Option<Self::Item> {
        let iterator = self.iterator.as_ref()?;
        let next = Python::attach(|py| -> Option<Result<Bytes, AppError>> {
            match iterator.bind(py).clone().next()? {
                Ok(chunk) => Some(match chunk.cast::<PyBytes>() {
                    Ok(bytes) => Ok(Bytes::copy_from_slice(bytes.as_bytes())),
                    Err(_) => Err(format!("{}: the body yielded {}, not bytes", self.name, type_name(&chunk)).into()),
                }),
                Err(e) => Some(Err(format!("{}: iterating the body raised: {}", self.name, describe(py, &e)).into())),
            }
        });
        if !matches!(next, Some(Ok(_))) {
            self.iterator = None;
        }
        next
    }
}
