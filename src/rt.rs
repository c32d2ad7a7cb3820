//! The runtime: the one module that names `async_std` or `smol` (and
//! `async_io`, the reactor both run on).
//!
//! async-std is the default; the `smol` feature selects smol instead (and
//! wins when both are on). Everything else in squall is written against
//! `futures-lite` traits and the handful of items defined here, so the
//! choice is this file's alone.
//!
//! Sockets are `async_io::Async` handles rather than async-std's wrappers:
//! the same reactor, but with access to readiness, which lets a connection
//! wait for its next request without a read that would only say `EAGAIN`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};

/// A TCP connection registered with the reactor.
#[cfg(feature = "tls")]
pub(crate) type TcpStream = async_io::Async<std::net::TcpStream>;
/// A listening TCP socket registered with the reactor.
pub(crate) type TcpListener = async_io::Async<std::net::TcpListener>;
/// A listening Unix socket registered with the reactor.
#[cfg(unix)]
pub(crate) type UnixListener = async_io::Async<std::os::unix::net::UnixListener>;

/// A byte stream a connection runs over: a socket registered with the
/// reactor, a TLS session over one, or an in-memory stream in tests.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Half-closes the stream: the peer reads end of stream, and reading
    /// still works (`poll_close` only flushes on some streams).
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Waits until a read may find data. Called instead of a read that would
    /// only report `WouldBlock` after a short read drained the socket.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// Reads what is there now; may answer `WouldBlock` (then the caller waits
    /// on [`poll_read_ready`](Io::poll_read_ready)). Streams without a
    /// readiness API read as usual.
    fn try_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_read(cx, buf)
    }

    /// Sends up to `count` bytes of `file` from `*offset` (moved on) with
    /// `sendfile(2)`: from the page cache to the socket, with no copy
    /// through user space. Only for a stream that [`sends_files`](Io::sends_files);
    /// others (TLS, memory) answer `Unsupported`, and the caller copies.
    #[cfg(target_os = "linux")]
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: &mut u64,
        count: usize,
    ) -> Poll<io::Result<usize>> {
        let _ = (cx, file, offset, count);
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }

    /// Whether [`poll_sendfile`](Io::poll_sendfile) works on this stream.
    #[cfg(target_os = "linux")]
    fn sends_files(&self) -> bool {
        false
    }

    /// Holds back partial segments (`TCP_CORK`) while on, so a response
    /// head and the file sent after it leave in full segments; a no-op for
    /// streams that are not TCP.
    #[cfg(target_os = "linux")]
    fn cork(&mut self, on: bool) {
        let _ = on;
    }

    /// Whether the end of this stream's input means the client has gone. An
    /// in-memory stream's input simply ends; its "client" still wants the
    /// whole response.
    fn ends_when_peer_leaves(&self) -> bool {
        true
    }
}

/// Sockets wait on the reactor's readiness and read directly, so a read after
/// a wake-up never just answers `EAGAIN`.
macro_rules! reactor_io {
    ($($(#[$attr:meta])* $stream:ty;)*) => {$(
        $(#[$attr])*
        impl Io for async_io::Async<$stream> {
            fn shutdown_write(&mut self) -> io::Result<()> {
                self.get_ref().shutdown(std::net::Shutdown::Write)
            }

            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.poll_readable(cx)
            }

            fn try_read(&mut self, _cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                use std::io::Read;
                Poll::Ready(self.get_ref().read(buf))
            }

            #[cfg(target_os = "linux")]
            fn sends_files(&self) -> bool {
                true
            }

            #[cfg(target_os = "linux")]
            fn cork(&mut self, on: bool) {
                // Not TCP (a Unix socket): nothing to hold back.
                let _ = rustix::net::sockopt::set_tcp_cork(self.get_ref(), on);
            }

            #[cfg(target_os = "linux")]
            fn poll_sendfile(
                &mut self,
                cx: &mut Context<'_>,
                file: &std::fs::File,
                offset: &mut u64,
                count: usize,
            ) -> Poll<io::Result<usize>> {
                use rustix::io::Errno;
                loop {
                    match rustix::fs::sendfile(self.get_ref(), file, Some(&mut *offset), count) {
                        Ok(sent) => break Poll::Ready(Ok(sent)),
                        Err(Errno::INTR) => continue,
                        Err(Errno::AGAIN) => match self.poll_writable(cx) {
                            Poll::Ready(Ok(())) => continue,
                            Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                            Poll::Pending => break Poll::Pending,
                        },
                        Err(e) => break Poll::Ready(Err(e.into())),
                    }
                }
            }
        }
    )*};
}

reactor_io! {
    std::net::TcpStream;
    #[cfg(unix)]
    std::os::unix::net::UnixStream;
}

#[cfg(not(any(feature = "async-std", feature = "smol")))]
compile_error!("squall needs a runtime: the default feature `async-std`, or `smol`");

/// A handle to a spawned task; dropping it lets the task run on (detached).
#[cfg(not(feature = "smol"))]
pub(crate) type JoinHandle<T> = async_std::task::JoinHandle<T>;

/// Spawns a future onto the runtime's executor.
#[cfg(not(feature = "smol"))]
pub(crate) fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    async_std::task::spawn(future)
}

/// Runs a future to completion on the current thread, driving the runtime.
///
/// This is how a `main` function starts squall:
///
/// ```no_run
/// squall::block_on(async {
///     // build and run a server here
/// });
/// ```
#[cfg(not(feature = "smol"))]
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Sleeps for `duration` without blocking the thread (Tornado's `gen.sleep`).
///
/// ```
/// # squall::block_on(async {
/// squall::sleep(std::time::Duration::from_millis(1)).await;
/// # });
/// ```
#[cfg(not(feature = "smol"))]
pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}

/// A handle to a spawned task; dropping it lets the task run on (detached),
/// as async-std's does (a dropped `smol::Task` would cancel it).
#[cfg(feature = "smol")]
pub(crate) struct JoinHandle<T>(Option<smol::Task<T>>);

#[cfg(feature = "smol")]
impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.detach();
        }
    }
}

#[cfg(feature = "smol")]
impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.0.as_mut() {
            Some(task) => Pin::new(task).poll(cx),
            None => Poll::Pending,
        }
    }
}

/// The executor tasks run on: one thread per CPU, as async-std's, started
/// on first use (smol's own global executor has one unless `SMOL_THREADS` says).
#[cfg(feature = "smol")]
fn executor() -> &'static smol::Executor<'static> {
    static EXECUTOR: smol::Executor<'static> = smol::Executor::new();
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        for i in 0..threads {
            let spawned = std::thread::Builder::new()
                .name(format!("squall-smol-{i}"))
                .spawn(|| smol::block_on(EXECUTOR.run(std::future::pending::<()>())));
            if let Err(e) = spawned {
                log::error!(target: "squall::server", "cannot start an executor thread: {e}");
            }
        }
    });
    &EXECUTOR
}

/// Spawns a future onto the runtime's executor.
#[cfg(feature = "smol")]
pub(crate) fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    JoinHandle(Some(executor().spawn(future)))
}

/// Runs a future to completion on the current thread, driving the runtime.
///
/// This is how a `main` function starts squall:
///
/// ```no_run
/// squall::block_on(async {
///     // build and run a server here
/// });
/// ```
#[cfg(feature = "smol")]
pub fn block_on<F: Future>(future: F) -> F::Output {
    executor();
    smol::block_on(future)
}

/// Sleeps for `duration` without blocking the thread (Tornado's `gen.sleep`).
///
/// ```
/// # squall::block_on(async {
/// squall::sleep(std::time::Duration::from_millis(1)).await;
/// # });
/// ```
#[cfg(feature = "smol")]
pub async fn sleep(duration: Duration) {
    smol::Timer::after(duration).await;
}

/// Runs `future` for at most `duration`; `None` when time ran out first.
pub(crate) async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    use futures_lite::FutureExt;
    async { Some(future.await) }
        .or(async {
            sleep(duration).await;
            None
        })
        .await
}

/// Adopts a listener bound by the caller (it is switched to non-blocking mode).
pub(crate) fn adopt_tcp(listener: std::net::TcpListener) -> io::Result<TcpListener> {
    async_io::Async::new(listener)
}

/// Adopts a Unix listener bound by the caller.
#[cfg(unix)]
pub(crate) fn adopt_unix(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
    async_io::Async::new(listener)
}

/// Connects to `addr` over TCP.
#[cfg(any(feature = "fastcgi", feature = "redis"))]
pub(crate) async fn connect_tcp(addr: std::net::SocketAddr) -> io::Result<Box<dyn Io>> {
    let stream = async_io::Async::<std::net::TcpStream>::connect(addr).await?;
    stream.get_ref().set_nodelay(true)?;
    Ok(Box::new(stream))
}

/// Connects to the Unix socket at `path`.
#[cfg(all(unix, any(feature = "fastcgi", feature = "redis")))]
pub(crate) async fn connect_unix(path: &std::path::Path) -> io::Result<Box<dyn Io>> {
    Ok(Box::new(async_io::Async::<std::os::unix::net::UnixStream>::connect(path).await?))
}

/// A child process's standard error, read through the reactor: waiting on
/// it costs no thread.
#[cfg(all(unix, feature = "cgi"))]
pub(crate) fn child_pipe(pipe: std::process::ChildStderr) -> io::Result<impl AsyncRead + Unpin + Send + 'static> {
    async_io::Async::new(pipe)
}

/// A one-shot broadcast: any number of waiters, fired once, stays fired.
#[derive(Clone)]
pub(crate) struct Signal {
    sender: async_channel::Sender<()>,
    receiver: async_channel::Receiver<()>,
}

impl Signal {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = async_channel::bounded(1);
        Signal { sender, receiver }
    }

    /// Fires the signal; every current and future `wait` returns.
    pub(crate) fn fire(&self) {
        self.sender.close();
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.sender.is_closed()
    }

    /// Waits until the signal fires.
    pub(crate) async fn wait(&self) {
        // Nothing is ever sent: `recv` only returns once the channel is closed.
        let _ = self.receiver.recv().await;
    }
}

/// Locks a mutex, taking the data of one a panicking thread left poisoned:
/// squall's locks guard no invariant a panic can break half-way (each
/// critical section is a few assignments), so the data stays usable.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
