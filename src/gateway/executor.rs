//! [`Executor`]: where a gateway app runs.

use std::fmt;
use std::sync::Arc;

/// Where a [`GatewayContainer`](super::GatewayContainer) runs its app.
///
/// | strategy | runs the app on | good for |
/// |---|---|---|
/// | `Inline` (deprecated default) | the event-loop thread, one call at a time | nothing in production |
/// | [`thread_pool`](Executor::thread_pool) | the `blocking` pool, behind squall's bound | blocking I/O apps, CGI |
/// | [`rayon`](Executor::rayon) | a dedicated rayon pool | CPU-bound apps |
///
/// The pools bound concurrent calls (`threads`) and calls waiting for a
/// thread (`queue`, default 4 × threads); past that a request gets an
/// immediate `503 Service Unavailable` with `Retry-After`, and the event loop
/// never waits for a thread.
///
/// # Examples
///
/// ```
/// use squall::gateway::Executor;
///
/// let pool = Executor::thread_pool(32).with_queue(64);
/// let cpu = Executor::rayon(4);
/// # let _ = (pool, cpu);
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub enum Executor {
    /// Runs the app on the event-loop thread serving the connection, one call
    /// at a time per container (Tornado's default), with the request body
    /// read in full first.
    ///
    /// # Warning
    ///
    /// One slow call stalls every connection of that event-loop thread and
    /// every other call of the app; an app that calls back into its own server
    /// deadlocks. The response body is collected before it is sent (as
    /// Tornado does), so an endless body never finishes and a large one is
    /// held in memory. It exists for compatibility and is the default only so that
    /// code ported from Tornado behaves as it did; a one-time warning is
    /// logged. Use [`Executor::thread_pool`].
    ///
    /// Naming it compiles without a warning (the choice is deliberate);
    /// taking it as the default does not (see
    /// [`GatewayContainer`](super::GatewayContainer)).
    Inline,
    /// The `blocking` thread pool, with squall's bound in front.
    ThreadPool(Bound),
    /// A rayon pool: the container's own or one you share.
    Rayon(Bound, Option<Arc<rayon::ThreadPool>>),
}

/// The limits of a pool strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Calls running at once.
    pub threads: usize,
    /// Calls waiting for a thread; one more gets `503`.
    pub queue: usize,
}

impl Executor {
    /// The `blocking` pool with at most `threads` calls at once (at least 1).
    pub fn thread_pool(threads: usize) -> Self {
        Executor::ThreadPool(Bound::new(threads))
    }

    /// A dedicated rayon pool of `threads` threads, created by the container.
    pub fn rayon(threads: usize) -> Self {
        Executor::Rayon(Bound::new(threads), None)
    }

    /// A rayon pool you built and may share; calls at once are bounded by its size.
    pub fn rayon_pool(pool: Arc<rayon::ThreadPool>) -> Self {
        Executor::Rayon(Bound::new(pool.current_num_threads()), Some(pool))
    }

    /// The strategy named `inline`, `pool` or `rayon` with `threads` threads,
    /// for command lines and configuration files.
    ///
    /// # Errors
    ///
    /// A configuration error naming the accepted names.
    ///
    /// # Examples
    ///
    /// ```
    /// use squall::gateway::Executor;
    ///
    /// assert!(matches!(Executor::by_name("pool", 8), Ok(Executor::ThreadPool(b)) if b.threads == 8));
    /// assert!(Executor::by_name("fork", 8).unwrap_err().is_config());
    /// ```
    pub fn by_name(name: &str, threads: usize) -> Result<Self, crate::error::Error> {
        match name {
            "inline" => Ok(Executor::Inline),
            "pool" => Ok(Executor::thread_pool(threads)),
            "rayon" => Ok(Executor::rayon(threads)),
            other => Err(crate::error::Error::config(format!("executor must be inline, pool or rayon, not {other:?}"))),
        }
    }

    /// Sets how many calls may wait for a thread (pools only).
    pub fn with_queue(mut self, queue: usize) -> Self {
        if let Executor::ThreadPool(bound) | Executor::Rayon(bound, _) = &mut self {
            bound.queue = queue;
        }
        self
    }

    pub(crate) fn bound(&self) -> Option<Bound> {
        match self {
            Executor::ThreadPool(bound) | Executor::Rayon(bound, _) => Some(*bound),
            Executor::Inline => None,
        }
    }
}

impl Bound {
    fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        Bound { threads, queue: threads * 4 }
    }
}

impl Default for Executor {
    /// `Inline`, deprecated as a default: see its warning.
    fn default() -> Self {
        Executor::Inline
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Executor::Inline => f.write_str("Inline"),
            Executor::ThreadPool(b) => write!(f, "ThreadPool({} threads, queue {})", b.threads, b.queue),
            Executor::Rayon(b, shared) => {
                write!(
                    f,
                    "Rayon({} threads, queue {}{})",
                    b.threads,
                    b.queue,
                    if shared.is_some() { ", shared" } else { "" }
                )
            }
        }
    }
}
