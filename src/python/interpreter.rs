//! The process's one interpreter, started for a virtualenv the way that
//! virtualenv's own `python` starts (mod_wsgi's `python-home` does the
//! same): its `bin/python` is the program name, so Python finds the
//! `pyvenv.cfg` beside it and sets `sys.prefix`, `sys.executable` and
//! `sys.path` itself — the venv's site-packages after the standard library
//! and before nothing else, the system's only when `pyvenv.cfg` says
//! `include-system-site-packages = true`. Adding the venv's directory to an
//! interpreter already running could not undo what its start-up did: the
//! system's packages first, their `.pth` hooks already run.
//!
//! PyO3 has no safe way to give the interpreter its configuration before it
//! starts; this file is the crate's only `unsafe` code, a few calls of
//! CPython's documented initialization API.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;

use crate::error::Error;

/// How the interpreter of this process was started, once it was.
static STARTED: Mutex<Option<Started>> = Mutex::new(None);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Started {
    /// Without a virtualenv: the interpreter's own packages.
    Plain,
    /// For the virtualenv at this path.
    Virtualenv(PathBuf),
}

/// Starts the interpreter, for `virtualenv` if one is given, unless it runs
/// already; logs (at INFO) which interpreter and which virtualenv it uses.
///
/// # Errors
///
/// A configuration error when the virtualenv is missing, is not one, was
/// made by another Python version than the one embedded, or cannot be used
/// because the interpreter already runs without it or with another.
pub(super) fn start(virtualenv: Option<&Path>) -> Result<(), Error> {
    let mut started = crate::rt::lock(&STARTED);
    let wanted = match virtualenv {
        Some(dir) => Some(Virtualenv::open(dir)?),
        None => None,
    };
    match (&*started, &wanted) {
        (Some(_), None) => return Ok(()),
        (Some(Started::Virtualenv(running)), Some(venv)) if *running == venv.dir => return Ok(()),
        (Some(running), Some(venv)) => {
            let running = match running {
                Started::Plain => "without a virtualenv".to_owned(),
                Started::Virtualenv(dir) => format!("for the virtualenv {}", dir.display()),
            };
            return Err(Error::config(format!(
                "cannot use the virtualenv {}: this process's Python interpreter already runs {running}, and a \
                 process has one interpreter (give the virtualenv to the first app loaded)",
                venv.dir.display()
            )));
        }
        (None, _) => {}
    }
    // SAFETY: asking whether the interpreter runs is allowed at any time.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        // Started outside squall (the host program, or PyO3 for other code).
        if let Some(venv) = wanted {
            return Err(Error::config(format!(
                "cannot use the virtualenv {}: the Python interpreter was started before squall loaded an app",
                venv.dir.display()
            )));
        }
        *started = Some(Started::Plain);
        return Ok(());
    }
    match &wanted {
        None => Python::initialize(),
        Some(venv) => initialize_for(venv)?,
    }
    if let Err(e) = Python::attach(|py| describe_interpreter(py, wanted.as_ref())) {
        log::warn!(target: "squall::python", "the Python interpreter started, but cannot describe itself: {e}");
    }
    *started = Some(wanted.map_or(Started::Plain, |venv| Started::Virtualenv(venv.dir)));
    Ok(())
}

/// A virtualenv about to be used: its directory and what `pyvenv.cfg` says.
#[derive(Debug)]
struct Virtualenv {
    /// Absolute, symlinks kept: as its `python` sees itself.
    dir: PathBuf,
    python: PathBuf,
    /// `include-system-site-packages = true`.
    system_packages: bool,
}

impl Virtualenv {
    /// Checks that `dir` is a virtualenv made for the embedded Python.
    fn open(dir: &Path) -> Result<Virtualenv, Error> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io(format!("virtualenv {}", dir.display()), e))?;
        if !dir.is_dir() {
            return Err(Error::config(format!("virtualenv {}: no such directory", dir.display())));
        }
        let cfg = std::fs::read_to_string(dir.join("pyvenv.cfg")).map_err(|e| {
            Error::config(format!("{} is not a virtualenv: cannot read its pyvenv.cfg ({e})", dir.display()))
        })?;
        let setting = |names: &[&str]| {
            cfg.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(key, _)| names.contains(&key.trim()))
                .map(|(_, value)| value.trim().to_owned())
        };
        let made_by = setting(&["version", "version_info"]);
        let system_packages =
            setting(&["include-system-site-packages"]).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let embedded = embedded_version();
        match made_by {
            Some(made_by) if minor_version(&made_by) == minor_version(&embedded) => {}
            made_by => {
                let made_by = made_by.map_or("an unknown Python version".to_owned(), |v| format!("Python {v}"));
                let wanted = minor_version(&embedded);
                return Err(Error::config(format!(
                    "virtualenv {} was made by {made_by}, but this program embeds Python {embedded}: make the \
                     virtualenv with Python {wanted} (python{wanted} -m venv {})",
                    dir.display(),
                    dir.display()
                )));
            }
        }
        let python = dir.join("bin").join("python");
        if !python.exists() {
            return Err(Error::config(format!("virtualenv {} has no bin/python", dir.display())));
        }
        Ok(Virtualenv { dir, python, system_packages })
    }
}

/// The version of the Python library this process runs (`3.11.2`), known
/// before the interpreter starts.
fn embedded_version() -> String {
    // SAFETY: Py_GetVersion may be called before initialization; it returns
    // a static, NUL-terminated string.
    let full = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) };
    full.to_string_lossy().split_whitespace().next().unwrap_or_default().to_owned()
}

/// `3.11` of `3.11.2` (or of `3.11.2.final.0`, as the `virtualenv` tool writes it).
fn minor_version(version: &str) -> &str {
    let mut dots = version.match_indices('.').map(|(i, _)| i);
    match (dots.next(), dots.next()) {
        (Some(_), Some(second)) => &version[..second],
        _ => version,
    }
}

/// Starts the interpreter with the virtualenv's `python` as its program
/// name, and releases the GIL for PyO3, as `Python::initialize` does.
fn initialize_for(venv: &Virtualenv) -> Result<(), Error> {
    let program = CString::new(venv.python.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::config(format!("virtualenv path {} holds a NUL byte", venv.dir.display())))?;
    let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
    let config = config.as_mut_ptr();
    // SAFETY: the calls follow CPython's "Python Initialization
    // Configuration" API: PyConfig_InitPythonConfig fills the structure,
    // PyConfig_SetBytesString copies `program` into one of its fields, and
    // PyConfig_Clear frees what the structure owns on every path. The
    // interpreter is not running (checked under the STARTED lock), so
    // Py_InitializeFromConfig is its first start; after it, this thread
    // holds the GIL and PyEval_SaveThread releases it.
    let status = unsafe {
        ffi::PyConfig_InitPythonConfig(config);
        // As PyO3 starts it: squall owns the signals and the process's stdio.
        (*config).install_signal_handlers = 0;
        (*config).parse_argv = 0;
        (*config).configure_c_stdio = 0;
        let status = ffi::PyConfig_SetBytesString(config, &raw mut (*config).program_name, program.as_ptr());
        let status = if ffi::PyStatus_Exception(status) == 0 { ffi::Py_InitializeFromConfig(config) } else { status };
        ffi::PyConfig_Clear(config);
        status
    };
    // SAFETY: `status` came from the calls above; its message, when set, is
    // a static C string.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        let why = match status.err_msg.is_null() {
            true => "no reason given".into(),
            false => unsafe { CStr::from_ptr(status.err_msg) }.to_string_lossy(),
        };
        return Err(Error::config(format!("cannot start Python for the virtualenv {}: {why}", venv.dir.display())));
    }
    // SAFETY: the interpreter has just started on this thread, which holds the GIL.
    unsafe { ffi::PyEval_SaveThread() };
    Ok(())
}

/// Logs the interpreter's version and program, and its virtualenv.
fn describe_interpreter(py: Python<'_>, venv: Option<&Virtualenv>) -> PyResult<()> {
    let version: String = py.import("sys")?.getattr("version")?.extract()?;
    let version = version.split_whitespace().next().unwrap_or_default().to_owned();
    let sysconfig = py.import("sysconfig")?;
    let bindir: Option<String> = sysconfig.call_method1("get_config_var", ("BINDIR",))?.extract()?;
    let short: Option<String> = sysconfig.call_method1("get_config_var", ("VERSION",))?.extract()?;
    let program = match (bindir, short) {
        (Some(dir), Some(short)) => format!("{dir}/python{short}"),
        _ => "an unknown program".to_owned(),
    };
    match venv {
        None => log::info!(target: "squall::python", "Python {version} ({program}), no virtualenv"),
        Some(venv) => {
            let system = if venv.system_packages { "with" } else { "without" };
            log::info!(target: "squall::python", "Python {version} ({program}), virtualenv {} ({system} the system's site-packages)", venv.dir.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_versions_of_every_spelling() {
        assert_eq!(minor_version("3.11.2"), "3.11");
        assert_eq!(minor_version("3.12.1.final.0"), "3.12");
        assert_eq!(minor_version("3.13"), "3.13");
        assert_eq!(minor_version(""), "");
    }

    #[test]
    fn a_missing_directory_or_a_foreign_version_is_refused_with_both_named() {
        let missing = Virtualenv::open(Path::new("/nonexistent/squall-venv")).unwrap_err().to_string();
        assert_eq!(missing, "virtualenv /nonexistent/squall-venv: no such directory");
        let dir = std::env::temp_dir().join(format!("squall-venv-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_one = Virtualenv::open(&dir).unwrap_err().to_string();
        assert!(not_one.contains("is not a virtualenv"), "{not_one}");
        std::fs::write(dir.join("pyvenv.cfg"), "home = /opt/py/bin\nversion = 2.7.18\n").unwrap();
        let foreign = Virtualenv::open(&dir).unwrap_err().to_string();
        let embedded = embedded_version();
        assert!(foreign.contains("made by Python 2.7.18"), "{foreign}");
        assert!(foreign.contains(&format!("embeds Python {embedded}")), "{foreign}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
