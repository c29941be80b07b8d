//! Helpers shared by the stress tests (`stress.rs`, `process_stress.rs`,
//! `shutdown_races.rs`): the scale and seed read from the environment, a
//! small deterministic random generator, a watchdog that turns a hang into a
//! failure, a tally of outcomes that proves each was seen exactly once, and
//! this process's thread and fd counts.
//!
//! `FUTUREPOOL_STRESS_SCALE` multiplies every count (default 1: the bounded
//! CI run; `scripts/stress.sh` runs 10). `FUTUREPOOL_STRESS_SEED` fixes the
//! random choices (default: from the clock, printed, so a failure can be
//! replayed).

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How much more work than the CI default to do.
pub fn scale() -> f64 {
    std::env::var("FUTUREPOOL_STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0)
}

/// How much slower than native this run is: `FUTUREPOOL_STRESS_SLOWDOWN`
/// (default 1; `scripts/stress.sh` sets 100 under valgrind). Multiplies
/// the watchdogs' limits.
pub fn slowdown() -> f64 {
    std::env::var("FUTUREPOOL_STRESS_SLOWDOWN")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s >= 1.0)
        .unwrap_or(1.0)
}

/// A watchdog's limit: `secs` at the CI scale, more for a larger scale or
/// a slower run, never less.
pub fn limit(secs: u64) -> Duration {
    Duration::from_secs(secs).mul_f64(scale().max(1.0) * slowdown())
}

/// `n` times the scale, at least 1.
pub fn scaled(n: usize) -> usize {
    ((n as f64 * scale()).round() as usize).max(1)
}

/// The run's seed: `FUTUREPOOL_STRESS_SEED`, or one from the clock.
pub fn seed() -> u64 {
    std::env::var("FUTUREPOOL_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// xorshift64*: deterministic from its seed, good enough to pick a mix.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Spread nearby seeds (0, 1, 2 for the submitters) apart.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Picks an index by weight.
    pub fn pick(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w as u64 {
                return i;
            }
            r -= w as u64;
        }
        weights.len() - 1
    }
}

/// Aborts the process (with a message) if it is still alive after `limit`:
/// every wait in a stress run is bounded by it, so a hang fails the run
/// instead of stalling CI. Stress tests run in a child copy of the test
/// binary (see `process::child_test`), so the abort fails only that test.
pub struct Watchdog {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    tx: Option<std::sync::mpsc::Sender<()>>,
}

impl Watchdog {
    pub fn new(what: &'static str, limit: Duration) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let flag = done.clone();
        let thread = std::thread::Builder::new()
            .name("stress-watchdog".into())
            .spawn(move || {
                // Woken early by the drop (the sender goes away).
                let _ = rx.recv_timeout(limit);
                if !flag.load(Ordering::SeqCst) {
                    eprintln!("watchdog: {what} still running after {limit:?}: a hang");
                    std::process::abort();
                }
            })
            .unwrap();
        Watchdog {
            done,
            thread: Some(thread),
            tx: Some(tx),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs test `name` alone in a child copy of this binary (so that the
/// thread, fd and child-process counts are its own) and prints its figures
/// (what it prints after `stress:`), also appending them to the file named
/// by `FUTUREPOOL_STRESS_REPORT` if set (`scripts/stress.sh` collects them
/// so). Returns `true` in the parent, which then returns; `false` in the
/// child, which runs the test.
pub fn run_alone(name: &str) -> bool {
    if std::env::var_os("FUTUREPOOL_TEST_ALONE").is_some() {
        return false;
    }
    let mut child = super::process::child_test(name);
    child.env("FUTUREPOOL_TEST_ALONE", "1");
    let (stdout, _) = super::process::passed(child);
    // The child harness prints `test name ... ` before the test's own
    // output, on the same line.
    for line in stdout
        .lines()
        .filter_map(|l| l.find("stress:").map(|at| &l[at..]))
    {
        eprintln!("{line}");
        if let Some(path) = std::env::var_os("FUTUREPOOL_STRESS_REPORT") {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            writeln!(file, "{line}").unwrap();
        }
    }
    true
}

/// How a task ended, as its done-callback saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Seen {
    Ok = 1,
    Panic = 2,
    Cancelled = 3,
    Timeout = 4,
    WorkerDied = 5,
    Other = 6,
}

impl Seen {
    pub fn of<T>(outcome: Result<&T, &futurepool::TaskError>) -> Seen {
        match outcome {
            Ok(_) => Seen::Ok,
            Err(e) if e.is_panic() => Seen::Panic,
            Err(e) if e.is_cancelled() => Seen::Cancelled,
            Err(e) if e.is_timeout() => Seen::Timeout,
            Err(e) if e.is_worker_died() => Seen::WorkerDied,
            Err(_) => Seen::Other,
        }
    }

    fn from_u8(v: u8) -> Option<Seen> {
        Some(match v {
            1 => Seen::Ok,
            2 => Seen::Panic,
            3 => Seen::Cancelled,
            4 => Seen::Timeout,
            5 => Seen::WorkerDied,
            6 => Seen::Other,
            _ => return None,
        })
    }
}

/// One slot per task: its done-callback writes the outcome once. A second
/// write, or a slot left empty, fails the run.
pub struct Tally {
    slots: Vec<AtomicU8>,
    calls: AtomicUsize,
    doubles: AtomicUsize,
}

impl Tally {
    pub fn new(tasks: usize) -> Arc<Tally> {
        Arc::new(Tally {
            slots: (0..tasks).map(|_| AtomicU8::new(0)).collect(),
            calls: AtomicUsize::new(0),
            doubles: AtomicUsize::new(0),
        })
    }

    /// Records task `i`'s outcome (from its done-callback).
    pub fn record(&self, i: usize, seen: Seen) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.slots[i]
            .compare_exchange(0, seen as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            self.doubles.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Task `i`'s outcome, if its callback has run.
    pub fn get(&self, i: usize) -> Option<Seen> {
        Seen::from_u8(self.slots[i].load(Ordering::SeqCst))
    }

    /// How many callbacks have run.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `n` callbacks have run: callbacks of tasks the
    /// timer or a process pool's driver ended run on the callback runner,
    /// which may still be at it when a shutdown returns.
    pub fn wait_calls(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.calls() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits (bounded) for `n` callbacks, then checks that exactly `n` ran
    /// and none twice (for runs where some slots stay empty: refused
    /// submits).
    pub fn check_calls(&self, n: usize, limit: Duration) {
        self.wait_calls(n, limit);
        assert_eq!(
            self.doubles.load(Ordering::SeqCst),
            0,
            "a callback ran twice"
        );
        assert_eq!(self.calls(), n, "callbacks != accepted tasks");
    }

    /// Checks exactly-once: no slot written twice, every slot written, and
    /// returns the count per outcome (indexed by `Seen as usize`).
    pub fn check(&self) -> [usize; 7] {
        assert_eq!(
            self.doubles.load(Ordering::SeqCst),
            0,
            "a callback ran twice"
        );
        let mut counts = [0; 7];
        for (i, slot) in self.slots.iter().enumerate() {
            let v = slot.load(Ordering::SeqCst);
            assert!(v != 0, "task {i}: its done-callback never ran");
            counts[v as usize] += 1;
        }
        assert_eq!(self.calls(), self.slots.len(), "callbacks != tasks");
        counts
    }
}

/// This process's threads.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// This process's open file descriptors.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (bounded) until this process has `threads` threads and `fds` fds;
/// panics with what is left otherwise. The callback runner's idle threads
/// exit after their keep-alive (5 s), so a check right after a shutdown
/// waits up to that long.
pub fn wait_counts_back(threads: usize, fds: usize, limit: Duration) -> Duration {
    let start = Instant::now();
    while (thread_count() != threads || fd_count() != fds) && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(5));
    }
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|s| s.trim_end().to_owned())
        .collect();
    assert_eq!(thread_count(), threads, "threads left: {names:?}");
    assert_eq!(fd_count(), fds, "fds leaked");
    start.elapsed()
}

/// Silences the panic messages of the stress tasks' deliberate panics
/// (their payload starts with `stress:`), and keeps the others.
pub fn quiet_deliberate_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        if !msg.is_some_and(|m| m.starts_with("stress:")) {
            previous(info);
        }
    }));
}

/// Spins for about `d` (a task's "work": no sleep, so it holds its core).
pub fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
