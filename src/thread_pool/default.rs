//! The default pool: a [`ThreadPool`] built on first use, for code that
//! just wants to run something blocking (as `tokio::task::spawn_blocking`
//! and `rayon::spawn` do).

use super::ThreadPool;
use crate::core::handle::TaskHandle;
use crate::error::SubmitError;
use crate::loom::sync::OnceLock;

/// The process-wide default pool, built with the default configuration
/// ([`ThreadPoolBuilder::new`](crate::ThreadPoolBuilder::new): up to
/// `min(32, cores + 4)` workers, started lazily, idle ones retiring after
/// 10 seconds) the first time it is asked for. Every call returns a handle
/// to the same pool.
///
/// It lives as long as the process: no handle's drop shuts it down. Don't
/// shut it down yourself: it serves everyone in the process (libraries
/// included), and a shut-down pool refuses work for good. Build a pool of
/// your own for work that needs its own size, names or shutdown.
///
/// # Examples
///
/// ```
/// let pool = futurepool::default_pool();
/// let handle = pool.submit(|| std::fs::read_dir(".").map(|d| d.count())).unwrap();
/// assert!(handle.join().unwrap().is_ok());
/// ```
pub fn default_pool() -> ThreadPool {
    static DEFAULT: OnceLock<ThreadPool> = OnceLock::new();
    DEFAULT.get_or_init(ThreadPool::new).clone()
}

/// Submits `f` to the [`default_pool`] and returns its handle: the
/// shortest way to run something blocking and get a handle back.
///
/// # Errors
///
/// A [`SubmitError`] holding `f` if no worker thread could be started to
/// run it (or if someone shut the default pool down).
///
/// # Examples
///
/// ```
/// let handle = futurepool::submit(|| (1..=20u64).product::<u64>()).unwrap();
/// assert_eq!(handle.join().unwrap(), 2_432_902_008_176_640_000);
/// ```
#[doc(alias = "spawn_blocking")]
#[doc(alias = "spawn")]
pub fn submit<F, T>(f: F) -> Result<TaskHandle<T>, SubmitError<F>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    default_pool().submit(f)
}
