//! A process that installed no logger still learns of its first failure:
//! this test runs itself again as a child with no logger, whose handler
//! fails twice, and reads the child's standard error.
#![allow(clippy::unwrap_used)]

use squall::testing::TestServer;
use squall::{Request, Router, get};

const CHILD: &str = "SQUALL_NO_LOGGER_CHILD";
const NAME: &str = "the_first_failure_reaches_stderr_once_when_no_logger_is_installed";

#[test]
fn the_first_failure_reaches_stderr_once_when_no_logger_is_installed() {
    if std::env::var_os(CHILD).is_some() {
        // The child: no logger installed, a route whose state is missing.
        let app =
            Router::new().route("/nostate", get(|req: Request| async move { req.state::<u64>().map(u64::to_string) }));
        let server = TestServer::start(app);
        assert_eq!(server.get("/nostate").status, 500);
        assert_eq!(server.get("/nostate").status, 500);
        return;
    }
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "the child failed: {stderr}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("squall: ")).collect();
    println!("{}", ours.join("\n"));
    assert_eq!(ours.len(), 2, "the first failure and how to see the rest, once: {stderr}");
    assert!(
        ours[0].contains("500 Internal Server Error: no application state of type u64 for /nostate"),
        "{}",
        ours[0]
    );
    assert_eq!(ours[1], "squall: install a logger, e.g. env_logger, and set RUST_LOG to see every error");
}
