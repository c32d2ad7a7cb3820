//! Deadlines and shutdown for open connections, without a timer per request.
//!
//! Each connection owns a [`Watch`]: its read and write deadlines as numbers,
//! the wakers of whatever is waiting on its socket, and its shutdown flags.
//! One sweeper task per server ([`sweep`]) looks at every registered watch a
//! few times a second and wakes the connections whose deadline has passed;
//! the woken side compares the clock itself and fails its read or write. So
//! the hot path sets a deadline with one atomic store and never registers a
//! timer, and a client dripping a byte a second cannot move a deadline.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::rt::{self, lock};

/// How often the sweeper looks at deadlines: the precision of every timeout.
pub(crate) const TICK: Duration = Duration::from_millis(100);

const NONE: u64 = u64::MAX;

/// Milliseconds since the first call, a clock shared by every watch.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

fn after(timeout: Duration) -> u64 {
    now_ms().saturating_add(timeout.as_millis().min(u128::from(NONE - 1)) as u64)
}

/// What a connection does when the server winds down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Ending {
    /// Serve on.
    No = 0,
    /// Finish the request in hand with `Connection: close`; close if idle.
    Drain = 1,
    /// Stop now: the connection task is dropped and its socket closed.
    Kill = 2,
}

/// One connection's deadlines, wakers and shutdown state.
pub(crate) struct Watch {
    read_deadline: AtomicU64,
    write_deadline: AtomicU64,
    ending: AtomicU8,
    read_waker: WakerSlot,
    write_waker: WakerSlot,
    task_waker: WakerSlot,
    /// Whoever waits for the drain to begin (an upgraded protocol saying goodbye).
    drain_waker: WakerSlot,
}

#[derive(Default)]
struct WakerSlot(Mutex<Option<Waker>>);

impl WakerSlot {
    fn register(&self, waker: &Waker) {
        let mut slot = lock(&self.0);
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    fn wake(&self) {
        let waker = lock(&self.0).take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Watch {
    pub(crate) fn new() -> Self {
        Watch {
            read_deadline: AtomicU64::new(NONE),
            write_deadline: AtomicU64::new(NONE),
            ending: AtomicU8::new(Ending::No as u8),
            read_waker: WakerSlot::default(),
            write_waker: WakerSlot::default(),
            task_waker: WakerSlot::default(),
            drain_waker: WakerSlot::default(),
        }
    }

    /// Reads must complete within `timeout` from now (`None`: no deadline).
    pub(crate) fn read_within(&self, timeout: Option<Duration>) {
        self.read_deadline.store(timeout.map_or(NONE, after), Ordering::Relaxed);
    }

    pub(crate) fn write_within(&self, timeout: Option<Duration>) {
        self.write_deadline.store(timeout.map_or(NONE, after), Ordering::Relaxed);
    }

    pub(crate) fn write_deadline_set(&self) -> bool {
        self.write_deadline.load(Ordering::Relaxed) != NONE
    }

    /// Called by a read about to wait: `true` when its deadline has passed.
    pub(crate) fn read_expired(&self, cx: &Context<'_>) -> bool {
        self.read_waker.register(cx.waker());
        now_ms() >= self.read_deadline.load(Ordering::Relaxed)
    }

    /// Called by a write about to wait: `true` when its deadline has passed.
    pub(crate) fn write_expired(&self, cx: &Context<'_>) -> bool {
        self.write_waker.register(cx.waker());
        now_ms() >= self.write_deadline.load(Ordering::Relaxed)
    }

    pub(crate) fn ending(&self) -> Ending {
        match self.ending.load(Ordering::Acquire) {
            0 => Ending::No,
            1 => Ending::Drain,
            _ => Ending::Kill,
        }
    }

    /// Moves the connection towards its end (never back) and wakes it.
    pub(crate) fn end(&self, ending: Ending) {
        self.ending.fetch_max(ending as u8, Ordering::AcqRel);
        self.read_waker.wake();
        self.write_waker.wake();
        self.task_waker.wake();
        self.drain_waker.wake();
    }

    /// Ready once the server has begun to wind down (drain or kill).
    pub(crate) fn poll_ending(&self, cx: &Context<'_>) -> Poll<()> {
        self.drain_waker.register(cx.waker());
        if self.ending() == Ending::No { Poll::Pending } else { Poll::Ready(()) }
    }

    /// Resolves once the connection is to be cut at once.
    pub(crate) async fn killed(&self) {
        std::future::poll_fn(|cx| {
            self.task_waker.register(cx.waker());
            if self.ending() == Ending::Kill { Poll::Ready(()) } else { Poll::Pending }
        })
        .await
    }

    fn wake_if_due(&self, now: u64) {
        if self.read_deadline.load(Ordering::Relaxed) <= now {
            self.read_waker.wake();
        }
        if self.write_deadline.load(Ordering::Relaxed) <= now {
            self.write_waker.wake();
        }
    }
}

/// Every open connection of a server.
#[derive(Default)]
pub(crate) struct Registry {
    slots: Mutex<Slots>,
    open: AtomicUsize,
    draining: AtomicBool,
}

#[derive(Default)]
struct Slots {
    watches: Vec<Option<Arc<Watch>>>,
    free: Vec<usize>,
}

/// A connection's place in the registry; leaving it unregisters the connection.
pub(crate) struct Entry {
    registry: Arc<Registry>,
    index: usize,
    pub(crate) watch: Arc<Watch>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut slots = lock(&self.registry.slots);
        slots.watches[self.index] = None;
        slots.free.push(self.index);
        self.registry.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Registry {
    pub(crate) fn register(self: &Arc<Self>) -> Entry {
        let watch = Arc::new(Watch::new());
        if self.is_draining() {
            watch.end(Ending::Drain);
        }
        let mut slots = lock(&self.slots);
        let index = match slots.free.pop() {
            Some(i) => {
                slots.watches[i] = Some(watch.clone());
                i
            }
            None => {
                slots.watches.push(Some(watch.clone()));
                slots.watches.len() - 1
            }
        };
        self.open.fetch_add(1, Ordering::AcqRel);
        Entry { registry: self.clone(), index, watch }
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    fn each(&self, mut f: impl FnMut(&Watch)) {
        // Clone out of the lock so that waking never runs under it.
        let watches: Vec<Arc<Watch>> = {
            let slots = lock(&self.slots);
            slots.watches.iter().flatten().cloned().collect()
        };
        for w in &watches {
            f(w);
        }
    }

    /// Starts draining every connection, present and future; `false` when
    /// a drain had already started.
    pub(crate) fn start_drain(&self) -> bool {
        if self.draining.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.end_all(Ending::Drain);
        true
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Asks every open connection to end as `ending` says.
    pub(crate) fn end_all(&self, ending: Ending) {
        self.each(|w| w.end(ending));
    }

    /// Waits until no connection is open, or `deadline` passes; `true` when none is.
    pub(crate) async fn wait_closed(&self, deadline: Instant) -> bool {
        while self.open() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            rt::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

/// Wakes connections whose deadlines have passed, every [`TICK`], until `stop` fires
/// and no connection is left.
pub(crate) async fn sweep(registry: Arc<Registry>, stop: rt::Signal) {
    loop {
        rt::sleep(TICK).await;
        if stop.is_fired() && registry.open() == 0 {
            return;
        }
        let now = now_ms();
        let due = |w: &Watch| w.wake_if_due(now);
        registry.each(due);
    }
}

/// What an event stream under a response body asks while a connection
/// polls it (see [`crate::web::body::polled_by`]).
impl crate::web::body::ServerEnding for Watch {
    fn poll_ending(&self, cx: &Context<'_>) -> Poll<()> {
        Watch::poll_ending(self, cx)
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Wake, Waker};

    use super::*;

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        (flag.clone(), Waker::from(flag))
    }

    #[test]
    fn registry_counts_and_reuses_slots() {
        let registry = Arc::new(Registry::default());
        let a = registry.register();
        let b = registry.register();
        assert_eq!(registry.open(), 2);
        let index = a.index;
        drop(a);
        assert_eq!(registry.open(), 1);
        let c = registry.register();
        assert_eq!(c.index, index, "a freed slot is reused");
        drop((b, c));
        assert_eq!(registry.open(), 0);
    }

    #[test]
    fn a_passed_deadline_is_reported_and_woken_by_the_sweep() {
        let watch = Watch::new();
        let (flag, waker) = waker();
        let cx = Context::from_waker(&waker);
        watch.read_within(Some(Duration::from_secs(60)));
        assert!(!watch.read_expired(&cx));
        watch.wake_if_due(now_ms());
        assert!(!flag.0.load(Ordering::SeqCst), "not due yet");
        watch.read_within(Some(Duration::ZERO));
        watch.wake_if_due(now_ms());
        assert!(flag.0.load(Ordering::SeqCst), "due: the waiting read is woken");
        assert!(watch.read_expired(&cx));
        watch.read_within(None);
        assert!(!watch.read_expired(&cx), "no deadline never expires");
    }

    #[test]
    fn endings_only_move_forward_and_reach_new_connections() {
        let registry = Arc::new(Registry::default());
        let before = registry.register();
        assert!(registry.start_drain());
        assert!(!registry.start_drain(), "a second drain is no new drain");
        assert_eq!(before.watch.ending(), Ending::Drain);
        let after = registry.register();
        assert_eq!(after.watch.ending(), Ending::Drain, "a connection accepted during a drain drains too");
        before.watch.end(Ending::Kill);
        before.watch.end(Ending::Drain);
        assert_eq!(before.watch.ending(), Ending::Kill, "never back");
    }
}
