//! TLS on the server's TCP listeners (feature `tls`), with rustls.
//!
//! Give the builder a certificate chain and key in PEM files, or a rustls
//! [`ServerConfig`] of your own; every TCP listener of that server then speaks
//! HTTPS and requests report the `https` scheme. A client speaking plain HTTP
//! to the port gets a plain-text `400` at once instead of a stalled handshake.
//!
//! ```no_run
//! use squall::{Router, Server};
//!
//! let server = Server::builder()
//!     .tls_pem_files("cert.pem", "key.pem")?
//!     .build(Router::new().route("/", |_req| async { "secure" }));
//! server.listen("127.0.0.1:8443")?;
//! # Ok::<_, squall::Error>(())
//! ```

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::AsyncWriteExt;
use futures_rustls::TlsAcceptor;
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer};
/// The rustls version squall uses, for building a [`ServerConfig`] by hand.
pub use futures_rustls::rustls;
pub use futures_rustls::rustls::ServerConfig;
use futures_rustls::server::TlsStream;

use super::http1::conn::{ConnInfo, peer};
use super::{Config, ServerBuilder};
use crate::error::{Error, Result};
use crate::rt::{self, Io};

/// The longest a TLS handshake may take (the idle timeout, when shorter).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 41\r\nConnection: close\r\n\r\nThis port speaks HTTPS: use https:// URLs";

impl ServerBuilder {
    /// Serves every TCP listener over TLS with this rustls configuration
    /// (its ALPN protocols, if any, should offer `http/1.1` only).
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.config.tls = Some(config);
        self
    }

    /// Serves every TCP listener over TLS with the certificate chain and
    /// private key in these PEM files (the chain leaf first).
    ///
    /// # Errors
    ///
    /// A configuration error when a file cannot be read, holds no
    /// certificate or key, or the key does not match the certificate.
    pub fn tls_pem_files(self, cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self> {
        let (cert_chain, key) = (cert_chain.as_ref(), key.as_ref());
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| Error::config(format!("cannot read {}: {e}", path.display())))
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert_chain)?)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::config(format!("{}: {e}", cert_chain.display())))?;
        if certs.is_empty() {
            return Err(Error::config(format!("{}: no certificate found", cert_chain.display())));
        }
        let key = PrivateKeyDer::from_pem_slice(&read(key)?)
            .map_err(|e| Error::config(format!("{}: no private key: {e}", key.display())))?;
        let provider = Arc::new(futures_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| Error::config(format!("TLS certificate and key: {e}")))?;
        Ok(self.tls(Arc::new(config)))
    }
}

/// Completes the TLS handshake on an accepted connection. `None` (logged)
/// when the client speaks plain HTTP, fails the handshake, or is too slow.
pub(crate) async fn accept(
    stream: rt::TcpStream,
    tls: Arc<ServerConfig>,
    config: &Config,
    info: ConnInfo,
) -> Option<TlsStream<rt::TcpStream>> {
    let limit = config.idle_connection_timeout.map_or(HANDSHAKE_TIMEOUT, |idle| idle.min(HANDSHAKE_TIMEOUT));
    let handshake = async {
        stream.readable().await?;
        let mut first = [0u8; 1];
        if stream.get_ref().peek(&mut first)? == 1 && first[0] != HANDSHAKE_RECORD {
            let mut stream = stream;
            log::warn!(target: "squall::server", "{}: 400 plain HTTP sent to the TLS port", peer(&info));
            stream.write_all(PLAIN_HTTP_ANSWER).await?;
            let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
            return Ok(None);
        }
        TlsAcceptor::from(tls).accept(stream).await.map(Some)
    };
    match rt::timeout(limit, handshake).await {
        Some(Ok(tls)) => tls,
        Some(Err(e)) => {
            log::info!(target: "squall::server", "{}: TLS handshake failed: {e}", peer(&info));
            None
        }
        None => {
            log::info!(target: "squall::server", "{}: TLS handshake timed out", peer(&info));
            None
        }
    }
}

impl Io for TlsStream<rt::TcpStream> {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.get_ref().0.get_ref().shutdown(std::net::Shutdown::Write)
    }

    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn try_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        futures_lite::io::AsyncRead::poll_read(Pin::new(self), cx, buf)
    }
}
