//! The pools a [`GatewayContainer`](super::GatewayContainer) runs its app on:
//! worker loops on the `blocking` pool, or a rayon pool.
//!
//! What does not live here: admission (how many calls may run or wait),
//! which the container decides before a job reaches a pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use super::{App, Executor};
use crate::error::panic_message;

/// A call of the app, ready to run on a pool thread.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// Where pooled calls run.
pub(super) enum Pool {
    Blocking(Workers),
    Rayon(Arc<rayon::ThreadPool>),
}

impl Pool {
    /// The pool `executor` asks for; `None` for `Inline`.
    ///
    /// # Panics
    ///
    /// If the executor is a rayon pool the container creates and the
    /// operating system refuses its threads.
    /// The threads this pool starts run their whole life inside
    /// [`App::around_thread`] of `app`.
    pub(super) fn for_executor(executor: &Executor, app: &Arc<dyn App>) -> Option<Pool> {
        match executor {
            Executor::ThreadPool(bound) => Some(Pool::Blocking(Workers::new(bound.threads, app.clone()))),
            Executor::Rayon(_, Some(pool)) => Some(Pool::Rayon(pool.clone())),
            Executor::Rayon(bound, None) => {
                let app = app.clone();
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(bound.threads)
                    .thread_name(|i| format!("squall-gateway-{i}"))
                    .panic_handler(
                        |p| log::error!(target: "squall::gateway", "rayon job panicked: {}", panic_message(&p)),
                    )
                    .spawn_handler(move |thread| {
                        let app = app.clone();
                        let mut builder = std::thread::Builder::new();
                        if let Some(name) = thread.name() {
                            builder = builder.name(name.to_owned());
                        }
                        let mut thread = Some(thread);
                        builder.spawn(move || {
                            app.around_thread(&mut || thread.take().into_iter().for_each(|t| t.run()))
                        })?;
                        Ok(())
                    })
                    .build()
                    .unwrap_or_else(|e| panic!("cannot start the gateway's rayon pool: {e}"));
                Some(Pool::Rayon(Arc::new(pool)))
            }
            Executor::Inline => None,
        }
    }

    /// Runs `job` on a pool thread.
    pub(super) fn run(&self, job: Job) {
        match self {
            Pool::Rayon(pool) => pool.spawn(job),
            Pool::Blocking(workers) => workers.run(job),
        }
    }
}

/// Up to `threads` worker loops hosted on the `blocking` pool, started as
/// needed and fed through a lock-free queue. One `blocking` task per call
/// would take the pool's mutex and condvar for every request.
pub(super) struct Workers {
    app: Arc<dyn App>,
    jobs: async_channel::Sender<Job>,
    queue: async_channel::Receiver<Job>,
    started: AtomicUsize,
    /// Idle workers minus queued jobs: a job submitted when it is not
    /// positive has no worker to take it at once.
    free: Arc<AtomicIsize>,
    spinning: Arc<AtomicUsize>,
    threads: usize,
}

/// Rounds an idle worker yields, polling the queue, before it parks: under
/// load the next job usually arrives within them, and parking and waking a
/// thread costs two context switches and a futex call.
const SPIN_ROUNDS: usize = 64;
/// Workers that may spin at once; the others park at once, so a large idle
/// pool does not crowd the event loop off the CPU.
const MAX_SPINNING: usize = 16;

fn next_job(queue: &async_channel::Receiver<Job>, spinning: &AtomicUsize) -> Result<Job, async_channel::RecvError> {
    if spinning.fetch_add(1, Ordering::AcqRel) < MAX_SPINNING {
        for _ in 0..SPIN_ROUNDS {
            match queue.try_recv() {
                Ok(job) => {
                    spinning.fetch_sub(1, Ordering::AcqRel);
                    return Ok(job);
                }
                Err(async_channel::TryRecvError::Closed) => break,
                Err(async_channel::TryRecvError::Empty) => std::thread::yield_now(),
            }
        }
    }
    spinning.fetch_sub(1, Ordering::AcqRel);
    queue.recv_blocking()
}

impl Workers {
    fn new(threads: usize, app: Arc<dyn App>) -> Self {
        let (jobs, queue) = async_channel::unbounded();
        Workers {
            app,
            jobs,
            queue,
            started: AtomicUsize::new(0),
            free: Arc::new(AtomicIsize::new(0)),
            spinning: Arc::new(AtomicUsize::new(0)),
            threads,
        }
    }

    fn run(&self, job: Job) {
        let start_one =
            || self.started.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.threads).then_some(n + 1));
        if self.free.fetch_sub(1, Ordering::AcqRel) <= 0 && start_one().is_ok() {
            let (queue, free, spinning) = (self.queue.clone(), self.free.clone(), self.spinning.clone());
            let app = self.app.clone();
            blocking::unblock(move || {
                app.around_thread(&mut || {
                    loop {
                        free.fetch_add(1, Ordering::AcqRel);
                        match next_job(&queue, &spinning) {
                            Ok(job) => job(),
                            Err(_) => return, // the container is gone
                        }
                    }
                })
            })
            .detach();
        }
        // The queue is unbounded and never closed while `self` lives; admission
        // already bounds what waits in it.
        let _ = self.jobs.try_send(job);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn workers_start_no_more_threads_than_allowed_and_run_every_job() {
        let app: Arc<dyn App> = Arc::new(|_: &mut super::super::Environ, _: &super::super::StartResponse| {
            Ok(super::super::AppIter::empty())
        });
        let workers = Workers::new(2, app);
        let (done, finished) = mpsc::channel();
        for i in 0..20 {
            let done = done.clone();
            workers.run(Box::new(move || done.send(i).unwrap_or(())));
        }
        let mut seen: Vec<i32> = (0..20).map(|_| finished.recv().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
        assert!(workers.started.load(Ordering::Acquire) <= 2);
    }
}
