//! A page in its reader's language:
//! `cargo run --example translations --features templates,locale -- [ADDR] [--translations DIR]`
//! and the server options; ADDR defaults to `127.0.0.1:8888`, DIR to
//! `examples/translations/csv` (Tornado's CSV files: `fr_FR.csv`).
//!
//! The language is the reader's choice, kept in a cookie by
//! `/language/CODE`, else the best `Accept-Language` asks for, else English.
//! The page shows a translated greeting, a plural ("You have 3 notes"), a
//! relative date ("il y a 5 minutes") and a list ("anglais et français").

use std::time::SystemTime;

use squall::app::{App, Templates, context, render};
use squall::cookie::Cookie;
use squall::locale::{DateFormat, Translations};
use squall::{HttpError, Request, Response, Router, get};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

const USAGE: &str = "\
usage: translations [ADDR] [--translations DIR] [server options]
(ADDR defaults to 127.0.0.1:8888, DIR to examples/translations/csv)
";

/// When the server started, for the page's relative date.
struct Started(SystemTime);

// ANCHOR: page
async fn page(req: Request) -> Result<Response, HttpError> {
    let locale = req.locale();
    let notes: u64 = req.query_argument_as("notes").unwrap_or(3);
    let started = req.state::<Started>()?.0;
    let languages = [locale.translate("English"), locale.translate("French")];
    render(
        &req,
        "index.html",
        context! {
            name => req.query_argument("name").unwrap_or_else(|_| "Ada".to_owned()),
            notes,
            started => locale.format_date(started, &DateFormat::default()),
            languages => locale.list(&languages),
        },
    )
}

/// `/language/fr_FR`: remembers the reader's choice in a cookie.
async fn choose(req: Request) -> Response {
    let code = req.path_arg(0).unwrap_or_default().to_owned();
    let mut response = Response::redirect("/");
    response.set_cookie(Cookie::build(("lang", code)).path("/").build());
    response
}

fn app(dir: &str) -> squall::Result<App> {
    let router = Router::with_state(Started(SystemTime::now()))
        .route("/", get(page))
        .route("/language/([A-Za-z_-]+)", get(choose));
    let templates = Templates::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/translations/templates"));
    Ok(App::new(router)
        .templates(templates)
        .translations(Translations::csv_dir(dir)?)
        // The reader's own choice comes first (Tornado's get_user_locale).
        .user_locale(|req| req.cookie("lang")))
}
// ANCHOR_END: page

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let mut cli = Cli::new("translations", USAGE);
    let mut dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/translations/csv").to_owned();
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--translations" => dir = cli.value(&flag),
            _ => cli.unknown(&flag),
        }
    }
    cli.serve(|_worker| app(&dir), |scheme, addr| format!("serving a translated page on {scheme}://{addr}/"))
}
