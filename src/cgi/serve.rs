//! [`serve`]: a gateway app run as a CGI program.

use std::io::{self, Write};

use http::HeaderMap;

use crate::gateway::App;
use crate::gateway::driver::{Msg, run_app};
use crate::gateway::environ::{Input, from_cgi};
use crate::web::StatusLine;

/// Runs `app` as a CGI/1.1 program: the request comes from the process
/// environment and standard input, the response goes to standard output as
/// a CGI header block and body. A squall app runs this way through
/// [`TargetApp`](crate::gateway::TargetApp).
///
/// # Errors
///
/// When standard output fails (the server went away).
///
/// # Examples
///
/// ```no_run
/// use squall::gateway::TargetApp;
/// use squall::{get, Router};
///
/// fn main() -> std::io::Result<()> {
///     let app = Router::new().route(".*", get(|_req| async { "Hello from CGI" }));
///     squall::cgi::serve(TargetApp::new(app))
/// }
/// ```
pub fn serve(app: impl App) -> io::Result<()> {
    let environ = from_cgi(std::env::vars_os(), Input::reader(Box::new(io::stdin())));
    let mut out = io::BufWriter::new(io::stdout());
    let mut result = Ok(());
    let mut head_written = false;
    run_app(&app, environ, |message| {
        let written = match message {
            Msg::Head(head, first) => {
                head_written = true;
                write_head(&mut out, head.status, &head.headers)
                    .and_then(|()| first.map_or(Ok(()), |b| out.write_all(&b)))
                    .and_then(|()| out.flush())
            }
            Msg::Whole(head, body) => {
                head_written = true;
                write_head(&mut out, head.status, &head.headers).and_then(|()| out.write_all(&body))
            }
            Msg::Chunk(bytes) => out.write_all(&bytes).and_then(|()| out.flush()),
            // Before the head: a complete 500. After it: stop, the body is cut.
            Msg::Fail if !head_written => out.write_all(
                b"Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nInternal Server Error\n",
            ),
            Msg::Fail => Err(io::Error::other("the app failed mid-body")),
        };
        let ok = written.is_ok();
        if let Err(e) = written {
            result = Err(e);
        }
        ok
    });
    out.flush()?;
    result
}

fn write_head(out: &mut impl Write, status: http::StatusCode, headers: &HeaderMap) -> io::Result<()> {
    write!(out, "Status: {}\r\n", StatusLine(status))?;
    for (name, value) in headers {
        out.write_all(name.as_str().as_bytes())?;
        out.write_all(b": ")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b"\r\n")?;
    }
    out.write_all(b"\r\n")
}
