//! An in-memory byte stream: reads come from a fixed input, writes are kept.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::routing::Target;
use crate::rt::{Io, lock};
use crate::server::http1::conn::{self, ConnInfo};
use crate::server::{Config, Core};

/// Reads give `input` then end of stream; each write call is kept apart.
pub(crate) struct MemoryIo {
    input: Vec<u8>,
    read: usize,
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl MemoryIo {
    /// A stream over `input`, and the handle its writes land in.
    pub(crate) fn new(input: &[u8]) -> (Self, Arc<Mutex<Vec<Vec<u8>>>>) {
        let writes = Arc::new(Mutex::new(Vec::new()));
        (MemoryIo { input: input.to_vec(), read: 0, writes: writes.clone() }, writes)
    }
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
        lock(&self.writes).push(buf.to_vec());
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
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn ends_when_peer_leaves(&self) -> bool {
        false
    }
}

pub(super) async fn serve(app: impl Target, input: &[u8]) -> Vec<u8> {
    let (io, writes) = MemoryIo::new(input);
    let info = ConnInfo { peer: None, local: None, scheme: "http" };
    let server = Core::standalone(Arc::new(app), Config::default());
    let entry = server.registry.register();
    conn::serve(io, server.clone(), info, entry.watch.clone()).await;
    let writes = std::mem::take(&mut *lock(&writes));
    writes.concat()
}
