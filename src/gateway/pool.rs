//! The pools a [`GatewayContainer`](super::GatewayContainer) runs its app on:
//! worker loops on the `blocking` pool, or a rayon pool.
//!
//! What does not live here: admission (how many calls may run or wait),
//! which the container decides before a job reaches a pool.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{App, Executor};
use crate::error::panic_message;
use crate::rt::lock;

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
/// needed, fed from one queue. A job wakes a worker only when none is
/// already awake looking for work: the one that went idle last, whose
/// caches are still warm. A worker that takes a job while more wait, with
/// nobody else looking, wakes one more, so calls that block run side by side.
///
/// An idle worker parks at once when the process may run on several CPUs:
/// spinning there would burn a core the rest of the machine could use, and
/// be counted against every request. On a single CPU it first yields a few
/// times: each yield hands that CPU straight to the event loop, which is
/// likely to submit the next job, and costs less than a park and a wake.
pub(super) struct Workers {
    shared: Arc<Shared>,
}

/// What the submitting side and the workers share.
struct Shared {
    state: Mutex<State>,
    app: Arc<dyn App>,
    threads: usize,
    /// Yields before parking: only when the process has one CPU.
    yields: usize,
}

/// Yields an idle worker makes before it parks, on a single CPU.
const YIELDS_ON_ONE_CPU: usize = 64;
/// Yielding pays only while jobs come this close together: a slower
/// stream of jobs (an app that waits on I/O) finds its workers parked.
const YIELD_WHILE_JOBS_WITHIN: Duration = Duration::from_micros(50);

struct State {
    jobs: VecDeque<Job>,
    /// Parked workers; the last one parked at the end.
    idle: Vec<Arc<Parker>>,
    /// Workers awake and not running a job: about to take one, or to park.
    /// Counted by whoever wakes or starts them.
    searching: usize,
    started: usize,
    /// The container is gone: workers end once the queue is empty.
    closed: bool,
    /// When the last job arrived (read only on a single CPU).
    last_job: Instant,
}

/// What [`Shared::wake_one`] decided, done after the lock is released.
enum Wake {
    Unpark(Arc<Parker>),
    Start,
}

/// A worker's own parking place: an unpark before the park is not lost.
struct Parker {
    thread: std::thread::Thread,
    notified: AtomicBool,
}

impl Parker {
    fn park(&self) {
        while !self.notified.swap(false, Ordering::Acquire) {
            std::thread::park();
        }
    }

    fn unpark(&self) {
        self.notified.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

impl Shared {
    /// Picks a worker to look at the queue: the last one parked, or a new
    /// one while fewer than `threads` run; none when all are busy (a busy
    /// worker looks at the queue when its job ends).
    fn wake_one(&self, state: &mut State) -> Option<Wake> {
        if let Some(parked) = state.idle.pop() {
            state.searching += 1;
            return Some(Wake::Unpark(parked));
        }
        (state.started < self.threads).then(|| {
            state.started += 1;
            state.searching += 1;
            Wake::Start
        })
    }

    fn wake(self: &Arc<Self>, wake: Option<Wake>) {
        match wake {
            Some(Wake::Unpark(parked)) => parked.unpark(),
            Some(Wake::Start) => {
                let shared = self.clone();
                blocking::unblock(move || shared.app.clone().around_thread(&mut || shared.work())).detach();
            }
            None => {}
        }
    }

    /// A worker's life: take jobs while there are any, park when there are
    /// none (on a single CPU, after yielding a while), end when the
    /// container is gone.
    fn work(self: &Arc<Self>) {
        let parker = Arc::new(Parker { thread: std::thread::current(), notified: AtomicBool::new(false) });
        let mut state = lock(&self.state);
        loop {
            if let Some(job) = state.jobs.pop_front() {
                state.searching -= 1;
                let more = !state.jobs.is_empty() && state.searching == 0;
                let wake = if more { self.wake_one(&mut state) } else { None };
                drop(state);
                self.wake(wake);
                job();
                state = lock(&self.state);
                state.searching += 1;
                continue;
            }
            if state.closed {
                state.searching -= 1;
                state.started -= 1;
                return;
            }
            state = self.yield_for_jobs(state);
            if !state.jobs.is_empty() || state.closed {
                continue;
            }
            state.searching -= 1;
            state.idle.push(parker.clone());
            drop(state);
            parker.park();
            // Whoever woke us counted us as searching.
            state = lock(&self.state);
        }
    }

    /// On a single CPU, yields (with the lock released) until a job arrives
    /// or the rounds are over. The worker stays counted as searching, so a
    /// job submitted meanwhile wakes nobody. Only a lone searcher yields
    /// (one is enough to catch the next job), and only while jobs come fast.
    fn yield_for_jobs<'a>(&'a self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let busy = self.yields > 0 && state.last_job.elapsed() < YIELD_WHILE_JOBS_WITHIN;
        let rounds = if busy && state.searching == 1 { self.yields } else { 0 };
        for _ in 0..rounds {
            drop(state);
            std::thread::yield_now();
            state = lock(&self.state);
            if !state.jobs.is_empty() || state.closed {
                break;
            }
        }
        state
    }
}

impl Workers {
    fn new(threads: usize, app: Arc<dyn App>) -> Self {
        let (jobs, idle, last_job) = (VecDeque::new(), Vec::new(), Instant::now());
        let state = State { jobs, idle, searching: 0, started: 0, closed: false, last_job };
        let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
        let yields = if one_cpu { YIELDS_ON_ONE_CPU } else { 0 };
        Workers { shared: Arc::new(Shared { state: Mutex::new(state), app, threads: threads.max(1), yields }) }
    }

    fn run(&self, job: Job) {
        let mut state = lock(&self.shared.state);
        state.jobs.push_back(job);
        if self.shared.yields > 0 {
            state.last_job = Instant::now();
        }
        // A worker already looking will find it; else wake one.
        let wake = if state.searching == 0 { self.shared.wake_one(&mut state) } else { None };
        drop(state);
        self.shared.wake(wake);
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let idle = {
            let mut state = lock(&self.shared.state);
            state.closed = true;
            let idle = std::mem::take(&mut state.idle);
            state.searching += idle.len();
            idle
        };
        for parked in idle {
            parked.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;

    fn workers(threads: usize) -> Workers {
        let app: Arc<dyn App> = Arc::new(|_: &mut super::super::Environ, _: &super::super::StartResponse| {
            Ok(super::super::AppIter::empty())
        });
        Workers::new(threads, app)
    }

    fn within(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn workers_start_no_more_threads_than_allowed_and_run_every_job() {
        let workers = workers(2);
        let (done, finished) = mpsc::channel();
        for i in 0..20 {
            let done = done.clone();
            workers.run(Box::new(move || done.send(i).unwrap_or(())));
        }
        let mut seen: Vec<i32> = (0..20).map(|_| finished.recv().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
        assert!(lock(&workers.shared.state).started <= 2);
    }

    #[test]
    fn jobs_that_block_run_side_by_side_up_to_the_thread_count() {
        // Four jobs that can only end together: one worker per job must be awake.
        let workers = workers(4);
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let (done, finished) = mpsc::channel();
        for _ in 0..4 {
            let (barrier, done) = (barrier.clone(), done.clone());
            workers.run(Box::new(move || {
                barrier.wait();
                done.send(()).unwrap_or(());
            }));
        }
        for _ in 0..4 {
            finished.recv_timeout(Duration::from_secs(10)).expect("every job met the others");
        }
    }

    #[test]
    fn no_job_is_lost_between_a_worker_parking_and_a_job_arriving() {
        // Each job is sent once the one before has run: it meets a worker
        // that is about to park or parked, the race a lost wake-up hides in.
        let workers = workers(3);
        let (done, finished) = mpsc::channel();
        for i in 0..20_000 {
            let done = done.clone();
            workers.run(Box::new(move || done.send(i).unwrap_or(())));
            assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok(i));
        }
    }

    #[test]
    fn workers_end_when_the_pool_is_dropped() {
        let workers = workers(3);
        let shared = workers.shared.clone();
        let (done, finished) = mpsc::channel();
        for i in 0..3 {
            let done = done.clone();
            workers.run(Box::new(move || done.send(i).unwrap_or(())));
        }
        for _ in 0..3 {
            finished.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        drop(workers);
        within("every worker has ended", || lock(&shared.state).started == 0);
    }
}
