//! The process pool: Python's `ProcessPoolExecutor`, with running tasks that
//! can be cancelled and timed out (the worker is killed and replaced), and
//! workers whose crash fails only their own task.
//!
//! - [`ProcessPool`] is the pool and the submit / map / shutdown API;
//!   [`ProcessPoolBuilder`] configures one;
//! - `task_builder.rs`: [`ProcessTaskBuilder`] submits one task with options
//!   (a timeout, retries);
//! - [`ProcessMap`] is `map` with a chunk size;
//! - `registry.rs`: [`RemoteFn`] and [`remote!`](crate::remote), how a task
//!   names its function (a stable string, looked up in a link-time table);
//! - `protocol.rs`: the versioned, length-prefixed frames on the pipes;
//!   `shm.rs`: the memory file each worker shares with the pool, which
//!   large frames go through (Linux); `bulk.rs`: where a large value is
//!   read into and written from;
//! - `worker.rs`: the worker's side as a program sees it, [`init`],
//!   [`process_init_before_main!`](crate::process_init_before_main) and the
//!   marker argument; `serve.rs`: what a worker process does (Linux);
//!   `identity.rs`: is the worker running the parent's program (Linux);
//!   `forked.rs`: a copy of a worker that a task forks is not a worker
//!   (Linux);
//! - `child/`: the parent's handle on one worker process (start,
//!   handshake, call, kill, reap): `linux.rs` (with `pipes.rs`, pipe I/O
//!   under deadlines), and `unsupported.rs`, a handle that can't exist,
//!   everywhere else;
//! - `remote_task.rs`: a queued task as the drivers see it, and how a
//!   worker's reply becomes its outcome;
//! - `supervisor.rs`: the queue and the driver threads, one per worker;
//!   `supervisor/run.rs`: how a driver runs one task on its worker;
//!   `supervisor/direct.rs`: the direct path, a submit that writes to an
//!   idle worker and a joiner that reads the reply itself.
//!
//! Worker processes run on Linux only; the rest compiles everywhere, and
//! [`ProcessPoolBuilder::build`] refuses elsewhere (`builder.rs`,
//! `check_platform`).
//!
//! How these fit together (start-up and the identity check, a task's trip,
//! killing, crashes, shutdown, parent death) is described in `README.md`
//! beside this file.

// Off Linux the pool compiles but never starts a worker (`child/mod.rs`):
// what only a worker, or the handle on one, uses (the handshake, parts of
// the configuration) is dead there by design. Linux builds check it all.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

mod builder;
mod bulk;
mod child;
#[cfg(target_os = "linux")]
mod forked;
#[cfg(test)]
mod fuzz;
mod handles;
#[cfg(target_os = "linux")]
mod identity;
#[cfg(target_os = "linux")]
mod mailbox;
mod metrics;
pub(crate) mod protocol;
mod remote_task;
#[cfg(target_os = "linux")]
mod serve;
#[cfg(target_os = "linux")]
mod shm;
mod submit;
mod supervisor;
mod task_builder;
mod worker;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use builder::ProcessPoolBuilder;
pub use handles::WeakProcessPool;
pub use task_builder::ProcessTaskBuilder;

/// The map of [`ProcessPool::map`]: the named-function map every executor
/// has ([`FnMap`]), on a process pool.
pub type ProcessMap<I, A, R> = FnMap<ProcessPool, I, A, R>;
pub use worker::init;
#[doc(hidden)]
pub use worker::init_before_main;

use handles::Handles;
use supervisor::Shared;

use crate::core::handle::TaskHandle;
use crate::error::SubmitError;
use crate::executor::fn_map::FnMap;
use crate::executor::options::TaskBuilder;
use crate::executor::shutdown::ShutdownOptions;
use crate::loom::sync::Arc;
use crate::remote::RemoteFn;

/// A pool of worker **processes** that runs registered functions and hands
/// back a [`TaskHandle`] for each: the same handle as a
/// [`ThreadPool`](crate::ThreadPool)'s, with the same `join`, `cancel`,
/// callbacks, `.await`, [`as_completed`](crate::as_completed()) and
/// [`wait`](crate::wait()).
///
/// # Setting up
///
/// Workers are this program, started again (never a `fork` of this
/// multi-threaded process). The program opts in with one line, first in
/// `main`, which turns a worker into a worker and does nothing otherwise:
///
/// ```no_run
/// fn main() {
///     futurepool::process::init();
///     // ...
/// }
/// ```
///
/// A test binary uses [`process_init_before_main!`](crate::process_init_before_main)
/// instead. A task is a plain function (or non-capturing closure) named with
/// [`remote!`](crate::remote), and an argument: serde-serializable, and so
/// is the result.
///
/// # What it fixes
///
/// - [`cancel`](TaskHandle::cancel) stops a **running** task: its worker is
///   killed (`SIGKILL`) and replaced, and the handle reports cancelled. A
///   [timeout](ProcessTaskBuilder::timeout) does the same and reports a
///   timeout.
/// - A worker that **dies** mid-task (a segfault, `abort`, `kill -9`, the
///   out-of-memory killer, `exit`) fails only the task it was running, with
///   [`TaskError::is_worker_died`](crate::TaskError::is_worker_died) naming its pid and exit code or signal.
///   The next task gets a fresh worker. Python breaks the whole pool.
/// - A **panic** in a task comes back as [`TaskError::is_panic`](crate::TaskError::is_panic) with its
///   message (and [backtrace](crate::TaskError::panic_backtrace), if
///   `RUST_BACKTRACE` asks for one); the worker lives on and prints
///   nothing (see [`worker_stderr`](ProcessPoolBuilder::worker_stderr)).
/// - A value that fails to **serialize** fails only its task
///   ([`TaskError::is_serialization`](crate::TaskError::is_serialization)).
///
/// # Workers
///
/// Workers start as tasks arrive and no idle worker can take them, up to
/// [`max_workers`](ProcessPoolBuilder::max_workers) (by default one per
/// core), and live until shutdown, or until they have done
/// [`max_tasks_per_child`](ProcessPoolBuilder::max_tasks_per_child) tasks.
/// Each runs one task at a time. A worker never outlives the pool, and
/// dies with this process even if it is killed with `kill -9` (Linux's
/// parent-death signal).
///
/// # Platforms
///
/// Worker processes run on **Linux** only. This type,
/// [`remote!`](crate::remote), [`RemoteFn`] and
/// [`process::init`](crate::process::init) exist on every platform, so a
/// program written for Linux compiles everywhere; elsewhere (macOS,
/// Windows, the BSDs) [`ProcessPoolBuilder::build`] returns a
/// [`BuildError`](crate::BuildError) that
/// [`is_unsupported`](crate::BuildError::is_unsupported) and that names
/// the platform, [`ProcessPool::new`] panics with it, and `process::init`
/// returns at once. Use a [`ThreadPool`](crate::ThreadPool) there: it runs
/// everywhere. What ties workers to Linux: they die with their parent by
/// Linux's parent-death signal (`PR_SET_PDEATHSIG`), the identity check
/// reads `/proc/self/exe`, and
/// [`process_init_before_main!`](crate::process_init_before_main) is an
/// ELF constructor.
///
/// # Handles, and shutdown
///
/// As for the thread pool: a `ProcessPool` is a cheap handle (clone it to
/// share the pool), a [`WeakProcessPool`] refers to it without keeping it
/// alive, and dropping the last handle shuts the pool down **without
/// waiting** (queued tasks still run; each driver reaps its worker process
/// when done). [`shutdown`](Self::shutdown) refuses new tasks, lets the
/// queued ones run, and waits for every worker process to exit (and reaps
/// it); [`shutdown_with`](Self::shutdown_with) can skip the wait, wait at
/// most a while, cancel the queued tasks, and **kill** the workers running
/// tasks ([`ShutdownOptions::cancel_running`]).
///
/// # Examples
///
/// ```
/// # fn main() {
/// # futurepool::process::init();
/// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
/// use futurepool::{ProcessPool, remote};
///
/// fn fib(n: u64) -> u64 {
///     if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
/// }
///
/// let pool = ProcessPool::builder().max_workers(2).build().unwrap();
/// let handle = pool.submit(remote!(fib), 20).unwrap();
/// assert_eq!(handle.join().unwrap(), 6765);
/// # }
/// ```
#[doc(alias = "ProcessPoolExecutor")]
#[allow(clippy::needless_doctest_main)] // `main` is the point
#[derive(Clone)]
pub struct ProcessPool {
    handles: Arc<Handles>,
}

impl Default for ProcessPool {
    fn default() -> Self {
        ProcessPool::new()
    }
}

impl ProcessPool {
    /// A pool with the default configuration (see [`ProcessPoolBuilder::new`]).
    ///
    /// # Panics
    ///
    /// On a platform other than Linux (see [Platforms](Self#platforms)), or
    /// if this program's executable can't be found
    /// ([`std::env::current_exe`] fails): [`ProcessPoolBuilder::build`]
    /// returns these as errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// let pool = ProcessPool::new();
    /// assert!(!pool.is_shutdown());
    /// ```
    pub fn new() -> ProcessPool {
        ProcessPoolBuilder::new()
            .build()
            .unwrap_or_else(|err| panic!("cannot build a process pool: {err}"))
    }

    /// A builder to configure a pool.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::new()
    }

    /// Submits `f(arg)` to run in a worker process and returns its handle.
    ///
    /// The argument is serialized here, before this returns: one that fails
    /// to serialize never leaves this process, and its handle reports
    /// [`TaskError::is_serialization`](crate::TaskError::is_serialization). With a bounded queue that is full,
    /// waits for room.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding `arg` if the pool is shut down or broken.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// fn shout(s: String) -> String {
    ///     s.to_uppercase()
    /// }
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let handle = pool.submit(remote!(shout), "hi".to_owned()).unwrap();
    /// assert_eq!(handle.join().unwrap(), "HI");
    /// # }
    /// ```
    pub fn submit<A, R>(&self, f: RemoteFn<A, R>, arg: A) -> Result<TaskHandle<R>, SubmitError<A>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        self.task().submit(f, arg)
    }

    /// Like [`submit`](Self::submit), but refuses instead of waiting when a
    /// bounded queue is full.
    ///
    /// # Errors
    ///
    /// As for `submit`, and [`SubmitError::is_full`] if the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::new();
    /// pool.shutdown();
    /// let err = pool.try_submit(remote!(|x: u8| x), 5).unwrap_err();
    /// assert!(err.is_shutdown());
    /// assert_eq!(err.into_inner(), 5); // the argument comes back
    /// ```
    pub fn try_submit<A, R>(
        &self,
        f: RemoteFn<A, R>,
        arg: A,
    ) -> Result<TaskHandle<R>, SubmitError<A>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        self.task().try_submit(f, arg)
    }

    /// Starts a task with options: a time limit, a deadline, retries (see
    /// [`TaskBuilder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    /// use std::time::Duration;
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let handle = pool
    ///     .task()
    ///     .time_limit(Duration::from_secs(60))
    ///     .retries(2)
    ///     .submit(remote!(|x: u8| 2 * x), 21)
    ///     .unwrap();
    /// assert_eq!(handle.join().unwrap(), 42);
    /// # }
    /// ```
    pub fn task(&self) -> TaskBuilder<'_, ProcessPool> {
        TaskBuilder::new(self)
    }

    /// A handle to this pool that doesn't keep it alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// let pool = ProcessPool::new();
    /// let weak = pool.downgrade();
    /// assert!(!weak.upgrade().unwrap().is_shutdown());
    /// ```
    pub fn downgrade(&self) -> WeakProcessPool {
        WeakProcessPool {
            handles: Arc::downgrade(&self.handles),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handles.shared
    }

    pub(crate) fn from_shared(shared: Shared) -> ProcessPool {
        ProcessPool {
            handles: Arc::new(Handles {
                shared: Arc::new(shared),
            }),
        }
    }

    /// Runs `f` on every input in the worker processes, sending inputs in
    /// chunks, and yields the results **in input order**. See [`ProcessMap`]
    /// for the options (the chunk size, a timeout, how much runs ahead).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    /// let squares: Vec<u64> = pool
    ///     .map(remote!(|x: u64| x * x), 1..=6)
    ///     .chunksize(2)
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// assert_eq!(squares, [1, 4, 9, 16, 25, 36]);
    /// # }
    /// ```
    pub fn map<A, R, I>(&self, f: RemoteFn<A, R>, inputs: I) -> ProcessMap<I::IntoIter, A, R>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        FnMap::new(self, f, inputs.into_iter())
    }

    /// Like [`map`](Self::map), but yields results in the order the tasks
    /// finish (Python's `imap_unordered`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    /// let mut v: Vec<u32> = pool
    ///     .map_unordered(remote!(|x: u32| x * 3), 1..=4)
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// v.sort();
    /// assert_eq!(v, [3, 6, 9, 12]);
    /// # }
    /// ```
    #[doc(alias = "imap_unordered")]
    pub fn map_unordered<A, R, I>(
        &self,
        f: RemoteFn<A, R>,
        inputs: I,
    ) -> ProcessMap<I::IntoIter, A, R>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        FnMap::new(self, f, inputs.into_iter()).unordered()
    }

    /// Shuts the pool down: refuses new tasks, lets the queued ones run, and
    /// waits for every worker process to exit (and reaps it). Returns
    /// whether they all have: always `true` here, since it waits (a task
    /// that never ends keeps it waiting: see
    /// [`shutdown_with`](Self::shutdown_with) to bound the wait or kill
    /// the workers). Calling it again does nothing more.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::new();
    /// assert!(pool.shutdown());
    /// assert_eq!(pool.worker_count(), 0);
    /// assert!(pool.submit(remote!(|x: i32| x), 1).is_err());
    /// assert!(pool.shutdown()); // again: nothing more to do
    /// ```
    pub fn shutdown(&self) -> bool {
        self.shutdown_with(ShutdownOptions::new())
    }

    /// Shuts the pool down as `options` say: whether to wait (and for how
    /// long), whether to cancel the queued tasks, and whether to **kill**
    /// the workers running tasks
    /// ([`cancel_running`](ShutdownOptions::cancel_running): their tasks
    /// end cancelled). Otherwise running tasks are not affected (cancel
    /// their handles to kill them). Returns whether every worker process
    /// has exited, and been reaped, when it returns: `false` if it did not
    /// wait, or its [`timeout`](ShutdownOptions::timeout) passed first,
    /// while some still ran (a later `shutdown` waits for them).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, ShutdownOptions, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let stuck = remote!(|_: ()| -> u8 { loop { std::thread::park() } });
    /// let running = pool.submit(stuck, ()).unwrap();
    /// let queued = pool.submit(remote!(|x: u8| x), 1).unwrap();
    /// let options = ShutdownOptions::new().cancel_pending(true).cancel_running(true);
    /// assert!(pool.shutdown_with(options)); // every worker has exited
    /// assert!(pool.is_shutdown() && pool.worker_pids().is_empty());
    /// assert!(running.join().unwrap_err().is_cancelled()); // its worker was killed
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// # }
    /// ```
    pub fn shutdown_with(&self, options: ShutdownOptions) -> bool {
        self.shared().shutdown(options)
    }

    /// Returns `true` once [`shutdown`](Self::shutdown) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// let pool = ProcessPool::new();
    /// pool.shutdown();
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared().is_shutdown()
    }

    /// The most worker processes that run at once.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert_eq!(ProcessPool::builder().max_workers(5).build().unwrap().max_workers(), 5);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared().config.max_workers
    }

    /// How many worker processes are alive now.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert_eq!(ProcessPool::new().worker_count(), 0); // they start lazily
    /// ```
    pub fn worker_count(&self) -> usize {
        self.shared().worker_pids().len()
    }

    /// The process ids of the live workers, in increasing order. A worker
    /// that dies while idle leaves the list (and is reaped) within about
    /// 100 ms; one that dies running a task, when its task ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert!(ProcessPool::new().worker_pids().is_empty());
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared().worker_pids()
    }

    /// How many worker processes the pool has started in its life,
    /// replacements included.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert_eq!(ProcessPool::new().workers_started(), 0);
    /// ```
    pub fn workers_started(&self) -> u64 {
        self.shared().workers_started()
    }

    /// How many tasks are queued, waiting for a worker.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert_eq!(ProcessPool::new().queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.shared().queued()
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("max_workers", &self.max_workers())
            .field("workers", &self.worker_pids())
            .field("queued", &self.queued())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}
