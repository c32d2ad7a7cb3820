//! What a CGI request costs in threads, counted exactly: this file holds a
//! single test, so nothing else runs in its process.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing
#![cfg(all(unix, feature = "cgi"))]

mod support;

use std::os::unix::fs::PermissionsExt;

use squall::Router;
use squall::cgi::CgiProgram;
use squall::gateway::{Executor, GatewayContainer};
use squall::testing::TestServer;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_program_holding_stderr_open_costs_no_thread() {
    support::init_logger();
    let dir = std::env::temp_dir().join(format!("squall-cgi-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lingering");
    // The program answers at once, but leaves a child holding its standard
    // error for two seconds (stdout is closed, so the response ends).
    let body =
        "echo 'lingering-marker' >&2; sleep 2 </dev/null >/dev/null &\nprintf 'Content-Type: text/plain\\n\\nok'";
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let container =
        GatewayContainer::builder(CgiProgram::new(path).pass_env("PATH")).executor(Executor::thread_pool(1)).build();
    let server = TestServer::start(Router::new().mount("/app.cgi", container));

    assert_eq!(server.get("/app.cgi").text(), "ok"); // starts the pool's thread and the watchdog
    let before = threads();
    for _ in 0..30 {
        assert_eq!(server.get("/app.cgi").text(), "ok");
    }
    let during = threads();
    // A thread reading each program's stderr would add 30 here, all still
    // waiting for their sleeping children.
    assert!(during <= before + 2, "threads: {before} before, {during} with 30 stderr pipes open");
    let logged = support::wait_for_log("lingering-marker");
    assert!(logged.len() >= 31, "every program's stderr is still logged: {}", logged.len());
}
