//! An in-memory byte stream: reads come from a fixed input, writes are kept.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::routing::Target;
use crate::server::Config;
use crate::server::http1::conn::{self, ConnInfo, Io};

struct MemoryIo {
    input: Vec<u8>,
    read: usize,
    output: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for MemoryIo {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.input.len() - self.read);
        buf[..n].copy_from_slice(&self.input[self.read..self.read + n]);
        self.read += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for MemoryIo {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Io for MemoryIo {
    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

pub(super) async fn serve(app: impl Target, input: &[u8]) -> Vec<u8> {
    let output = Arc::new(Mutex::new(Vec::new()));
    let io = MemoryIo { input: input.to_vec(), read: 0, output: output.clone() };
    let info = ConnInfo { peer: None, local: None, scheme: "http" };
    conn::serve(io, Arc::new(app), Arc::new(Config::default()), info).await;
    std::mem::take(&mut *output.lock().unwrap_or_else(|e| e.into_inner()))
}
