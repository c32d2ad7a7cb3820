//! A real OpenID Provider for the login tests: `tests/oidc/provider.mjs`
//! (oidc-provider, installed from `tests/oidc/package-lock.json`) on a
//! loopback port.

use std::io::BufRead;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running oidc-provider, stopped when dropped.
pub(crate) struct OpenIdProvider {
    pub(crate) child: Child,
    pub(crate) issuer: String,
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/oidc` with its packages installed from the lockfile.
pub(crate) fn oidc_dir() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
            if !dir.join("node_modules/oidc-provider").is_dir() {
                let status = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&dir)
                    .status()
                    .unwrap();
                assert!(status.success(), "npm ci in tests/oidc failed");
            }
            dir
        })
        .clone()
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a provider knowing `clients` (oidc-provider's client metadata).
pub(crate) fn start_provider(clients: &Value) -> OpenIdProvider {
    let dir = oidc_dir();
    let port = free_port();
    let mut child = Command::new("node")
        .arg(dir.join("provider.mjs"))
        .arg(port.to_string())
        .arg(clients.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // What it prints later is read and dropped: a closed pipe would end it.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let issuer =
        line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("provider said {line:?}")).to_owned();
    OpenIdProvider { child, issuer }
}

/// oidc-provider's metadata for a client: `{id}-secret` as its secret, ID
/// tokens signed with `alg`.
pub(crate) fn client_metadata(id: &str, callbacks: &[String], alg: &str) -> Value {
    serde_json::json!({"client_id": id, "client_secret": format!("{id}-secret"), "redirect_uris": callbacks,
        "id_token_signed_response_alg": alg})
}
