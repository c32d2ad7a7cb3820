//! The book's tutorial app, finished: a small notes service with a legacy app
//! mounted beside it.
//!
//! `cargo run --example tutorial [ADDR]` serves it; `cargo test --example
//! tutorial` runs its tests. The book walks through it region by region.

// ANCHOR: imports
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use squall::gateway::{AppError, AppIter, Environ, Executor, GatewayContainer, StartResponse};
use squall::http::{Method, StatusCode};
use squall::{HttpError, Request, RequestHandler, Response, Router, Server, get, request_handler};
// ANCHOR_END: imports

#[path = "support/cli.rs"]
mod cli;

// ANCHOR: state
/// The notes: the app's state, shared by every request.
#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl Notes {
    fn list(&self) -> MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
// ANCHOR_END: state

// ANCHOR: one_note
/// `GET /notes/(\d+)`: one note by its number, or `404`.
async fn one_note(req: Request) -> Result<String, HttpError> {
    let id: usize = req.path_arg_as(0)?;
    let notes = req.state::<Notes>()?.list();
    let note = notes.get(id).ok_or_else(|| HttpError::not_found().with_message(format!("no note {id}\n")))?;
    Ok(format!("{note}\n"))
}
// ANCHOR_END: one_note

// ANCHOR: handler
/// `/notes`: a Tornado-style handler type, one method per HTTP method.
struct NotesHandler;

impl RequestHandler for NotesHandler {
    const SUPPORTED_METHODS: &'static [Method] = &[Method::GET, Method::HEAD, Method::POST];

    /// `GET /notes?contains=word`: the notes as JSON, optionally filtered.
    async fn get(&mut self, req: Request) -> Result<Response, HttpError> {
        let word = req.query_arguments().get("contains").unwrap_or_default().to_owned();
        let notes = req.state::<Notes>()?.list();
        Ok(Response::json(&notes.iter().filter(|n| n.contains(&word)).collect::<Vec<_>>()))
    }

    /// `POST /notes` with a form field `text`: adds a note, answers `201`.
    async fn post(&mut self, mut req: Request) -> Result<Response, HttpError> {
        let form = req.form().await?;
        let text = form.get("text").filter(|t| !t.trim().is_empty());
        let text = text.ok_or_else(|| HttpError::bad_request("the form needs a non-empty text field\n"))?;
        let mut notes = req.state::<Notes>()?.list();
        notes.push(text.to_owned());
        Ok(Response::text(format!("note {} added\n", notes.len() - 1)).with_status(StatusCode::CREATED))
    }
}
// ANCHOR_END: handler

// ANCHOR: legacy
/// A synchronous legacy app, written to squall's gateway interface.
fn legacy(environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
    let path = environ.get("PATH_INFO").unwrap_or("/").to_owned();
    start.start("200 OK", [("Content-Type", "text/plain; charset=utf-8")])?;
    Ok(AppIter::once(format!("legacy app here, you asked for {path}\n")))
}
// ANCHOR_END: legacy

// ANCHOR: app
fn app() -> Router {
    Router::with_state(Notes::default())
        .route("/", get(|_req| async { "Notes: GET or POST /notes, GET /notes/0\n" }))
        .route(r"/notes/(\d+)", get(one_note))
        .route("/notes", request_handler(|| NotesHandler))
        .mount("/legacy", GatewayContainer::builder(legacy).executor(Executor::thread_pool(8)).build())
}
// ANCHOR_END: app

// ANCHOR: main
fn main() -> squall::Result<()> {
    // Warnings and the access log unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let addr = cli::address("tutorial", "usage: tutorial [ADDR]   (ADDR defaults to 127.0.0.1:8888)");
    squall::block_on(async {
        let server = Server::new(app());
        // Under systemd or systemfd, the socket handed over; else `addr`.
        let bound = server.listen(addr.as_str())?;
        // SIGTERM or Ctrl-C: finish the requests in flight, then exit.
        server.shutdown_on_signals(Duration::from_secs(10))?;
        println!("serving on http://{bound}/");
        server.wait().await;
        Ok(())
    })
}
// ANCHOR_END: main

// ANCHOR: tests
#[cfg(test)]
mod tests {
    use super::*;
    use squall::testing::{TestServer, call};

    #[test]
    fn notes_are_added_listed_and_fetched() {
        let app = app();
        squall::block_on(async {
            let form = Request::post("/notes", "text=buy+milk")
                .with_header("content-type", "application/x-www-form-urlencoded");
            assert_eq!(call(&app, form).await.status(), 201);

            let one = call(&app, Request::get("/notes/0")).await;
            assert_eq!(one.into_body().bytes().await.unwrap(), "buy milk\n");

            let list = call(&app, Request::get("/notes?contains=milk")).await;
            assert_eq!(list.into_body().bytes().await.unwrap(), r#"["buy milk"]"#);

            assert_eq!(call(&app, Request::get("/notes/7")).await.status(), 404);
            let empty =
                Request::post("/notes", "text=").with_header("content-type", "application/x-www-form-urlencoded");
            assert_eq!(call(&app, empty).await.status(), 400);
        });
    }

    #[test]
    fn the_legacy_app_answers_under_its_prefix() {
        let server = TestServer::start(app());
        let resp = server.get("/legacy/reports/2024");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), "legacy app here, you asked for /reports/2024\n");
    }
}
// ANCHOR_END: tests
