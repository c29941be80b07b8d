//! What the bench binaries share: the peers that have no handle of their own
//! (a hand-written crossbeam-channel pool, the floor), the workloads' inputs,
//! where results go, and pinning a benchmark to one CPU.
//!
//! Each bench binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Worker counts the latency workloads are run with: 1, and the core count.
pub fn worker_counts() -> Vec<usize> {
    let cores = cores();
    if cores > 1 { vec![1, cores] } else { vec![1] }
}

pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The repository's root: the workspace this benches package belongs to.
pub fn repo_root() -> PathBuf {
    let benches = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    benches
        .parent()
        .expect("benches/ is inside the repository")
        .to_owned()
}

/// Cargo's target directory: the workspace's, unless `CARGO_TARGET_DIR` says otherwise.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Where the bench binaries leave what criterion does not record (the
/// as_completed ideal, the memory figures); `benches/report.rs` reads it.
pub fn results_dir() -> PathBuf {
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir).expect("create target/bench-results");
    dir
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The floor: the least a pool can be. Boxed jobs on one crossbeam channel,
/// workers looping on `recv`, and a `oneshot` channel per task as its handle.
/// No cancellation, no callbacks, no panic handling, no lazy start.
pub struct FloorPool {
    tx: Option<crossbeam_channel::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl FloorPool {
    pub fn new(workers: usize) -> FloorPool {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let threads = (0..workers)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    for job in rx {
                        job();
                    }
                })
            })
            .collect();
        FloorPool {
            tx: Some(tx),
            threads,
        }
    }

    pub fn execute(&self, f: impl FnOnce() + Send + 'static) {
        self.tx
            .as_ref()
            .expect("pool is running")
            .send(Box::new(f))
            .expect("workers are alive");
    }

    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        self.execute(move || {
            let _ = tx.send(f());
        });
        rx
    }
}

impl Drop for FloorPool {
    fn drop(&mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `rayon::ThreadPool::spawn` with a `oneshot` channel back: rayon's own
/// handle-less spawn made into a handle.
pub fn rayon_submit<T: Send + 'static>(
    pool: &rayon::ThreadPool,
    f: impl FnOnce() -> T + Send + 'static,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    pool.spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// The `threadpool` crate's `execute` with a `oneshot` channel back.
pub fn threadpool_submit<T: Send + 'static>(
    pool: &threadpool::ThreadPool,
    f: impl FnOnce() -> T + Send + 'static,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    pool.execute(move || {
        let _ = tx.send(f());
    });
    rx
}

/// A tokio runtime whose blocking pool has `workers` threads (and one async
/// worker, which the blocking workloads don't use).
pub fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(workers)
        .build()
        .expect("tokio runtime")
}

/// A current-thread tokio runtime, for awaiting from `block_on`, whose
/// blocking pool has `workers` threads.
pub fn tokio_current_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(workers)
        .build()
        .expect("tokio runtime")
}

/// Naive trial division: the CPU-bound function of the map workload.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// The first `count` primes from `from` on.
pub fn large_primes(from: u64, count: usize) -> Vec<u64> {
    (from..).filter(|&n| is_prime(n)).take(count).collect()
}

/// A small deterministic generator (xorshift64*), so every peer gets the
/// same inputs in every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `lo..hi` (microsecond precision is plenty here).
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = (lo.as_micros() as u64, hi.as_micros() as u64);
        Duration::from_micros(lo + self.next_u64() % (hi - lo))
    }
}

/// The makespan of running `tasks` in order on `workers` threads with no
/// overhead at all: each task goes to the first worker free (what a FIFO
/// pool does). The as_completed workload's ideal.
pub fn ideal_makespan(tasks: &[Duration], workers: usize) -> Duration {
    let mut free_at = vec![Duration::ZERO; workers];
    for &t in tasks {
        let (i, _) = free_at
            .iter()
            .enumerate()
            .min_by_key(|&(_, &at)| at)
            .expect("at least one worker");
        free_at[i] += t;
    }
    free_at.into_iter().max().unwrap_or_default()
}

/// Pins this thread, and so every thread and process it starts from now on,
/// to the first CPU it may run on.
pub fn pin_to_one_cpu() -> bool {
    // SAFETY: `cpu_set_t` is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid, writable `cpu_set_t` of `size` bytes.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return false;
    }
    // SAFETY: CPU_ISSET reads `set`, in bounds for every index below CPU_SETSIZE.
    let Some(cpu) = (0..libc::CPU_SETSIZE as usize).find(|&i| unsafe { libc::CPU_ISSET(i, &set) })
    else {
        return false;
    };
    // SAFETY: as above; CPU_ZERO and CPU_SET write within `set`.
    unsafe {
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
    }
    // SAFETY: `set` is a valid `cpu_set_t` of `size` bytes.
    unsafe { libc::sched_setaffinity(0, size, &set) == 0 }
}
