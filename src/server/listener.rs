//! Accept loops: one task per listener, one task per connection.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt;

use super::Core;
use super::http1::conn::{self, ConnInfo};
use crate::rt;

/// Pause after an accept error (descriptor exhaustion, say) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) async fn tcp(listener: rt::TcpListener, shared: Arc<Core>) {
    let local = listener.get_ref().local_addr().ok();
    while let Some(accepted) = next(listener.accept(), &shared.stop).await {
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = stream.get_ref().set_nodelay(true) {
                    log::debug!(target: "squall::server", "{peer}: cannot set TCP_NODELAY: {e}");
                }
                let local = stream.get_ref().local_addr().ok().or(local);
                let info = ConnInfo { peer: Some(peer), local, scheme: "http" };
                #[cfg(feature = "tls")]
                if let Some(tls) = &shared.config.tls {
                    let tls = tls.clone();
                    let info = ConnInfo { scheme: "https", ..info };
                    spawn_connection(&shared, info, move |shared, watch| async move {
                        if let Some(stream) = super::tls::accept(stream, tls, &shared.config, info).await {
                            conn::serve(stream, shared, info, watch).await;
                        }
                    });
                    continue;
                }
                spawn_connection(&shared, info, move |shared, watch| conn::serve(stream, shared, info, watch));
            }
            Err(e) => backoff(e).await,
        }
    }
}

#[cfg(unix)]
pub(crate) async fn unix(listener: rt::UnixListener, shared: Arc<Core>) {
    while let Some(accepted) = next(listener.accept(), &shared.stop).await {
        match accepted {
            Ok((stream, _)) => {
                let info = ConnInfo { peer: None, local: None, scheme: "http" };
                spawn_connection(&shared, info, move |shared, watch| conn::serve(stream, shared, info, watch));
            }
            Err(e) => backoff(e).await,
        }
    }
}

/// The next accepted connection, or `None` once the server is stopped.
async fn next<T>(accept: impl std::future::Future<Output = io::Result<T>>, stop: &rt::Signal) -> Option<io::Result<T>> {
    if stop.is_fired() {
        return None;
    }
    async { Some(accept.await) }
        .or(async {
            stop.wait().await;
            None
        })
        .await
}

async fn backoff(e: io::Error) {
    log::error!(target: "squall::server", "accept failed: {e}");
    rt::sleep(ACCEPT_BACKOFF).await;
}

/// Runs a connection in a task of its own: registered for deadlines and
/// shutdown, cut when the server says so, and isolated from panics.
fn spawn_connection<F, Fut>(shared: &Arc<Core>, info: ConnInfo, serve: F)
where
    F: FnOnce(Arc<Core>, Arc<super::watch::Watch>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let shared = shared.clone();
    rt::spawn(async move {
        let entry = shared.registry.register();
        let watch = entry.watch.clone();
        // A fault in squall itself must cost one connection, never the process.
        let task = AssertUnwindSafe(serve(shared, watch.clone())).catch_unwind();
        let outcome = async { Some(task.await) }.or(async {
            watch.killed().await;
            None
        });
        match outcome.await {
            Some(Ok(())) => {}
            Some(Err(_)) => log::error!(target: "squall::server", "{}: connection task panicked", conn::peer(&info)),
            None => log::info!(target: "squall::server", "{}: connection cut by the server", conn::peer(&info)),
        }
        drop(entry);
    });
}
