//! Helpers shared by the integration tests.
//!
//! Races are arranged with gates and channels, never with sleeps: a task that
//! must be "running" signals that it started and then waits on a [`Gate`]
//! until the test opens it. Anything a test waits for has a generous upper
//! bound ([`LONG`]) so a broken pool fails the test instead of hanging CI.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use futurepool::{TaskHandle, ThreadPool};

/// The bound on anything that must happen: far longer than it ever takes,
/// even on a loaded two-core CI machine.
pub const LONG: Duration = Duration::from_secs(30);

/// A one-shot latch held by the test: tasks wait on a [`GateWaiter`] until
/// the test calls [`open`](Gate::open). Dropping the gate opens it, so a
/// failing test unblocks its tasks and the pool's drop doesn't hang.
pub struct Gate {
    shared: Arc<(Mutex<bool>, Condvar)>,
}

/// The tasks' side of a [`Gate`].
#[derive(Clone)]
pub struct GateWaiter {
    shared: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate {
            shared: Arc::new((Mutex::new(false), Condvar::new())),
        }
    }

    pub fn waiter(&self) -> GateWaiter {
        GateWaiter {
            shared: self.shared.clone(),
        }
    }

    pub fn open(&self) {
        let (lock, cond) = &*self.shared;
        *lock.lock().unwrap() = true;
        cond.notify_all();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

impl GateWaiter {
    /// Blocks until the gate is open.
    pub fn wait(&self) {
        let (lock, cond) = &*self.shared;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cond.wait(open).unwrap();
        }
    }

    pub fn is_open(&self) -> bool {
        *self.shared.0.lock().unwrap()
    }
}

/// Counts how many of its guards have been dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

/// Increments its [`DropCounter`] when dropped.
#[derive(Debug)]
pub struct DropGuard(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A task that is running on a worker and stays there until released.
pub struct Blocker<T = ()> {
    pub handle: TaskHandle<T>,
    pub gate: Gate,
}

impl<T> Blocker<T> {
    /// Lets the task finish and returns its handle.
    pub fn release(self) -> TaskHandle<T> {
        self.gate.open();
        self.handle
    }
}

/// Submits a task that returns `value` once released, and waits until it is
/// running: it holds one worker until [`Blocker::release`].
pub fn block_worker_with<T: Send + 'static>(pool: &ThreadPool, value: T) -> Blocker<T> {
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (started_tx, started_rx) = mpsc::channel();
    let handle = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            waiter.wait();
            value
        })
        .unwrap();
    started_rx
        .recv_timeout(LONG)
        .expect("the blocking task never started");
    Blocker { handle, gate }
}

/// [`block_worker_with`] a `()` value.
pub fn block_worker(pool: &ThreadPool) -> Blocker {
    block_worker_with(pool, ())
}

/// A one-worker pool whose worker is held by a [`Blocker`]: whatever is
/// submitted next stays queued until the blocker is released.
pub fn busy_pool() -> (ThreadPool, Blocker) {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    (pool, blocker)
}

/// Waits until `cond` holds, checking it often, and panics after [`LONG`].
/// For conditions the test can observe but not be told about (a worker
/// retiring, a thread going to sleep).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    let mut spins = 0u32;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        spins += 1;
        if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A thread-name prefix unique in this test binary, short enough that
/// `prefix-N` fits Linux's 15-byte thread names.
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let tag: String = tag.chars().take(5).collect();
    format!("{tag}{n}")
}

/// The threads of this process whose name starts with `prefix-`, with
/// their scheduler state (`R` running, `S` sleeping, ...). Linux only: it
/// reads `/proc/self/task`.
#[cfg(target_os = "linux")]
pub fn threads_named(prefix: &str) -> Vec<(String, char)> {
    let wanted = format!("{prefix}-");
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return found;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        // A thread may exit between listing and reading: skip it.
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        let name = comm.trim_end().to_owned();
        if !name.starts_with(&wanted) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // `pid (comm) S ...`: the state follows the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .unwrap_or('?');
        found.push((name, state));
    }
    found
}

/// How many threads of this process are named exactly `name` (as Linux
/// keeps it: the first 15 bytes). A new thread has its creator's name until
/// it names itself, so counting the creator's name too catches a thread
/// that was just started.
#[cfg(target_os = "linux")]
pub fn threads_named_exactly(name: &str) -> usize {
    let name: String = name.chars().take(15).collect();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// The scheduler state of the thread named exactly `name`, if it exists.
#[cfg(target_os = "linux")]
pub fn thread_state(name: &str) -> Option<char> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    for entry in dir.flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim_end() == name {
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            return stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
        }
    }
    None
}

/// Hand-built handles in each state, as CPython's `util.py` fixtures
/// (`PENDING_FUTURE`, `RUNNING_FUTURE`, `CANCELLED_AND_NOTIFIED_FUTURE`,
/// `EXCEPTION_FUTURE`, `SUCCESSFUL_FUTURE`), made through the public API on
/// a one-worker pool. CPython's `CANCELLED_FUTURE` (cancelled, executor not
/// yet told) has no counterpart: here a cancel completes the handle at once.
pub struct Fixtures {
    pub success: TaskHandle<i32>,
    pub exception: TaskHandle<i32>,
    pub cancelled: TaskHandle<i32>,
    pub running: TaskHandle<i32>,
    pub pending: TaskHandle<i32>,
    pub gate: Gate,
    pub pool: ThreadPool,
}

impl Fixtures {
    pub fn new() -> Fixtures {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let success = pool.submit(|| 42).unwrap();
        success.wait();
        let exception = pool.submit(|| -> i32 { panic!("OSError") }).unwrap();
        exception.wait();
        let Blocker {
            handle: running,
            gate,
        } = block_worker_with(&pool, 7);
        let pending = pool.submit(|| 8).unwrap();
        let cancelled = pool.submit(|| 9).unwrap();
        assert!(cancelled.cancel());
        Fixtures {
            success,
            exception,
            cancelled,
            running,
            pending,
            gate,
            pool,
        }
    }
}

/// A chain of nested waits `depth` deep: each task submits the next to the
/// same pool and joins it; returns `depth`.
pub fn chain(pool: ThreadPool, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    let p = pool.clone();
    let next = pool.submit(move || chain(p, depth - 1)).unwrap();
    next.join().unwrap() + 1
}
