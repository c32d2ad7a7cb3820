//! Accept loops: one task per listener, one task per connection.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt;

use super::Config;
use super::http1::conn::{self, ConnInfo, Io};
use crate::routing::Target;
use crate::rt;

/// Pause after an accept error (descriptor exhaustion, say) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) async fn tcp(listener: rt::TcpListener, app: Arc<dyn Target>, config: Arc<Config>, stop: rt::Signal) {
    let local = listener.get_ref().local_addr().ok();
    while let Some(accepted) = next(listener.accept(), &stop).await {
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = stream.get_ref().set_nodelay(true) {
                    log::debug!(target: "squall::server", "{peer}: cannot set TCP_NODELAY: {e}");
                }
                let local = stream.get_ref().local_addr().ok().or(local);
                let info = ConnInfo { peer: Some(peer), local, scheme: "http" };
                spawn_connection(stream, app.clone(), config.clone(), info);
            }
            Err(e) => backoff(e).await,
        }
    }
}

#[cfg(unix)]
pub(crate) async fn unix(listener: rt::UnixListener, app: Arc<dyn Target>, config: Arc<Config>, stop: rt::Signal) {
    while let Some(accepted) = next(listener.accept(), &stop).await {
        match accepted {
            Ok((stream, _)) => {
                let info = ConnInfo { peer: None, local: None, scheme: "http" };
                spawn_connection(stream, app.clone(), config.clone(), info);
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

fn spawn_connection<S>(stream: S, app: Arc<dyn Target>, config: Arc<Config>, info: ConnInfo)
where
    S: Io,
{
    // A fault in squall itself must cost one connection, never the process.
    let task = AssertUnwindSafe(conn::serve(stream, app, config, info)).catch_unwind();
    rt::spawn(async move {
        if task.await.is_err() {
            log::error!(target: "squall::server", "connection task panicked (peer {:?})", info.peer);
        }
    });
}
