//! TLS (feature `tls`): a certificate made in the test, a real rustls client
//! over loopback, and plain HTTP sent to the TLS port.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing
#![cfg(feature = "tls")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use squall::server::tls::rustls;
use squall::testing::TestServer;
use squall::{Request, Response, Router, Server, get, post};

struct Tls {
    server: TestServer,
    cert: rustls::pki_types::CertificateDer<'static>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start() -> Tls {
    let app = Router::new()
        .route("/", get(|req: Request| async move { format!("hello over {}", req.protocol()) }))
        .route("/echo", post(|mut req: Request| async move { req.bytes().await.map(Response::text) }));
    start_with(app)
}

/// `app` behind squall's TLS listener, with a certificate made for `localhost`.
fn start_with(app: Router) -> Tls {
    support::init_logger();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("squall-tls-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), generated.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), generated.signing_key.serialize_pem()).unwrap();
    let builder = Server::builder().tls_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
    Tls { server: TestServer::with_builder(builder, app), cert: generated.cert.der().clone(), _dir: TempDir(dir) }
}

/// A rustls client stream to the server, trusting its certificate.
fn tls_stream(tls: &Tls) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(tls.server.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// Sends one request over TLS and returns the raw response, read to the close.
fn over_tls(tls: &Tls, request: &[u8]) -> String {
    let mut stream = tls_stream(tls);
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // A peer that closes without close_notify would surface here.
        Err(e) => panic!("TLS read failed: {e} after {:?}", String::from_utf8_lossy(&response)),
    }
    String::from_utf8(response).unwrap()
}

#[test]
fn get_over_tls_sees_https() {
    let tls = start();
    let response = over_tls(&tls, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello over https"), "{response}");
}

#[test]
fn a_5000_byte_post_over_tls_comes_back_whole() {
    let tls = start();
    let body: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut request =
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n".to_vec();
    request.extend_from_slice(&body);
    let response = over_tls(&tls, &request);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.to_ascii_lowercase().contains("content-length: 5000\r\n"), "{response}");
    assert!(response.as_bytes().ends_with(&body));
}

#[test]
fn plain_http_to_the_tls_port_gets_400_promptly() {
    let tls = start();
    let mut sock = TcpStream::connect(tls.server.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    sock.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    sock.read_to_string(&mut response).unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert!(response.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{response}");
    assert!(response.ends_with("This port speaks HTTPS: use https:// URLs"), "{response}");
    assert!(!support::wait_for_log("plain HTTP sent to the TLS port").is_empty());
    // The TLS side still works.
    let ok = over_tls(&tls, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"));
}

#[test]
fn a_client_that_says_nothing_is_dropped_after_the_handshake_deadline() {
    support::init_logger();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = TempDir(std::env::temp_dir().join(format!("squall-tls-silent-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("c.pem"), generated.cert.pem()).unwrap();
    std::fs::write(dir.0.join("k.pem"), generated.signing_key.serialize_pem()).unwrap();
    let builder = Server::builder()
        .idle_connection_timeout(Duration::from_millis(500))
        .tls_pem_files(dir.0.join("c.pem"), dir.0.join("k.pem"))
        .unwrap();
    let server = TestServer::with_builder(builder, Router::new());
    let mut sock = TcpStream::connect(server.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = sock.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(3), "closed after {waited:?}");
    assert!(rest.is_empty());
    assert!(!support::wait_for_log("TLS handshake timed out").is_empty());
}

#[test]
fn unreadable_pem_files_are_configuration_errors() {
    let missing = Server::builder().tls_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem");
    assert!(missing.is_err_and(|e| e.is_config()));
    let dir = TempDir(std::env::temp_dir().join(format!("squall-tls-bad-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("empty.pem"), "").unwrap();
    let empty = Server::builder().tls_pem_files(dir.0.join("empty.pem"), dir.0.join("empty.pem"));
    assert!(empty.is_err_and(|e| e.is_config()));
}

#[cfg(all(unix, feature = "cgi"))]
#[test]
fn a_cgi_program_behind_tls_is_told_https() {
    use std::os::unix::fs::PermissionsExt;
    support::init_logger();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("squall-tls-cgi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), generated.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), generated.signing_key.serialize_pem()).unwrap();
    let program = dir.join("env.cgi");
    std::fs::write(
        &program,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\necho \"HTTPS=$HTTPS REQUEST_SCHEME=$REQUEST_SCHEME\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let container = squall::gateway::GatewayContainer::builder(squall::cgi::CgiProgram::new(&program))
        .executor(squall::gateway::Executor::thread_pool(2))
        .build();
    let builder = Server::builder().tls_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
    let tls = Tls {
        server: TestServer::with_builder(builder, Router::new().mount("/env", container)),
        cert: generated.cert.der().clone(),
        _dir: TempDir(dir),
    };
    let response = over_tls(&tls, b"GET /env HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(response.contains("\r\nHTTPS=on REQUEST_SCHEME=https\n"), "{response}");
}

#[test]
#[cfg(feature = "websocket")]
fn a_websocket_over_tls_echoes_messages_of_every_size_and_closes_cleanly() {
    use squall::websocket::{Message, WebSocket, websocket_fn};
    let echo = |socket: WebSocket, message: Message| async move {
        let _ = socket.send(message).await;
    };
    let tls = start_with(Router::new().route("/ws", websocket_fn(echo)));
    let url = format!("wss://localhost:{}/ws", tls.server.addr().port());
    let (mut client, response) = tungstenite::client::client(url.as_str(), tls_stream(&tls)).unwrap();
    assert_eq!(response.status(), 101);
    // Many TLS records per frame, and frames that end mid-record.
    for size in [0, 5, 125, 126, 70_000, 1 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        client.send(tungstenite::Message::binary(payload.clone())).unwrap();
        assert_eq!(client.read().unwrap(), tungstenite::Message::binary(payload), "{size} bytes");
    }
    client.send(tungstenite::Message::text("ünïcode")).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::text("ünïcode"));
    let bye = tungstenite::protocol::CloseFrame { code: 1000.into(), reason: "bye".into() };
    client.close(Some(bye)).unwrap();
    loop {
        match client.read() {
            Ok(tungstenite::Message::Close(frame)) => {
                // RFC 6455 §5.5.1: the answering Close echoes the code.
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000), "the close is answered");
            }
            Ok(other) => panic!("after close: {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("closing: {e}"),
        }
    }
}

#[test]
fn a_large_static_file_over_tls_arrives_whole_without_sendfile() {
    // Plain TCP sends large files with sendfile(2); TLS must encrypt every
    // byte, so the same file is read and copied there: whole, and a range.
    let dir = std::env::temp_dir().join(format!("squall-tls-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let content: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &content).unwrap();
    let tls = start_with(Router::new().mount("/files", squall::static_files::StaticFiles::new(&dir)));
    let read = |request: &[u8]| {
        let mut stream = tls_stream(&tls);
        stream.write_all(request).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (String::from_utf8_lossy(&response[..split]).into_owned(), response[split..].to_vec())
    };
    let (head, body) = read(b"GET /files/big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.to_ascii_lowercase().contains("content-length: 1000000\r\n"),
        "{head}"
    );
    assert!(body == content, "the body is the file, byte for byte");
    let (head, body) =
        read(b"GET /files/big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=700000-\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 206 "), "{head}");
    assert!(body == content[700_000..], "the range, byte for byte");
    let _ = std::fs::remove_dir_all(&dir);
}
