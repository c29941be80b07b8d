//! A cluster of workers over NATS JetStream (feature `cluster`):
//! [`ClusterExecutor`] on the client's side, [`Worker`] on the workers'.
//! The crate docs' chapter "Beyond one machine: a cluster" tells the story:
//! the one-line change from a `ProcessPool`, how to start a worker, the
//! failure behaviour, what works yet and what doesn't, and which Rust the
//! feature needs (1.89+).
//!
//! # Examples
//!
//! ```no_run
//! use futurepool::{Executor, remote};
//! use futurepool::cluster::Worker;
//!
//! futurepool::process::init();
//! if std::env::var_os("WORKER").is_some() {
//!     Worker::builder("nats://127.0.0.1:4222").build().unwrap().run();
//! } else {
//!     let pool = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222").build().unwrap();
//!     assert_eq!(pool.submit_fn(remote!(|x: u8| x + 1), 1).unwrap().join().unwrap(), 2);
//! }
//! ```
//
// The code (a backend: it imports the core, the executor layer, `remote`,
// and, on the worker's side, the process pool's public API):
//
// - `mod.rs` (here): `ClusterExecutor`, its methods and its `Executor`;
// - `submit.rs`: how a task is submitted: its argument encoded in the
//   caller, a message to the work queue, a producer waiting for the
//   worker's reply;
// - `builder.rs`: `ClusterBuilder`, which connects;
// - `client.rs`: the tasks a client waits for, and how replies end them
//   (`client/slot.rs`: a task as the client holds it, and its decoding;
//   `client/tasks.rs`: the client's runtime tasks: publish, lost tasks,
//   sweep);
// - `replies.rs`: how a client reads its replies (the results stream);
// - `presence.rs`: which workers are there (their heartbeats);
// - `objects.rs`: payloads above the server's message limit and scattered
//   values, through the object store; `scatter.rs`: `scatter`;
// - `worker.rs`: `Worker`, the user's binary in worker mode, and its loop
//   (`worker/builder.rs`: `WorkerBuilder`, which connects);
// - `exec.rs`: what a worker's process pool runs for a task;
// - `wire.rs`: the messages (docs/WIRE.md, "The cluster's messages");
// - `settings.rs`: the server, the credentials, the stream and consumer,
//   the feature's own tokio runtime (one thread, never user code);
// - `identity.rs`: the build identity;
// - `cancel.rs`: cancel of a running task (a request to its worker);
// - `matching.rs`: a queue per build, and the match timeout;
// - `tls.rs`: the builders' TLS options.

mod builder;
mod cancel;
mod client;
mod exec;
mod identity;
mod matching;
mod objects;
mod presence;
mod replies;
mod scatter;
mod settings;
mod submit;
mod tls;
mod wire;
mod worker;

pub use builder::ClusterBuilder;
pub use scatter::ScatterError;
pub use worker::{Worker, WorkerBuilder};

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use client::{Queued, Shared, Typed};
use submit::one_decoder;

use crate::core::cell::{Caller, TaskSpec};
use crate::core::handle::TaskHandle;
use crate::core::producer::new_task;
use crate::core::timer::Timer;
use crate::error::{Refusal, TaskError};
use crate::executor::Executor;
use crate::executor::metrics::{Counters, PoolMetrics};
use crate::executor::options::TaskOptions;
use crate::executor::sealed::Sealed;
use crate::executor::shutdown::ShutdownOptions;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::{Arc, Weak};
use crate::remote::RemoteFn;

/// An executor whose tasks run on a cluster of [`Worker`]s, through a NATS
/// JetStream work queue: Dask's distributed client, on an existing engine.
///
/// Build one with [`ClusterExecutor::builder`]; it connects at `build`.
/// Tasks are named functions ([`remote!`](crate::remote)) with serde
/// arguments and results, as on a [`ProcessPool`](crate::ProcessPool):
/// moving a program to the cluster changes the line that builds its
/// executor. Clones share the connection.
///
/// **Dropping the last clone closes the connection at once** (the drop
/// never blocks): unlike a pool's, a handle still waiting for its task
/// then fails as abandoned
/// ([`is_abandoned`](crate::TaskError::is_abandoned)), since no reply can
/// reach it any more; tasks already stored in the queue run on all the
/// same, and a later client of the same
/// [`client_id`](ClusterBuilder::client_id) can
/// [`collect`](Self::collect) their results. To wait for the tasks, call
/// [`shutdown`](Executor::shutdown) first.
///
/// # Examples
///
/// ```no_run
/// use futurepool::{ClusterExecutor, Executor, remote};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// // let pool = futurepool::ProcessPool::new();   // one machine
/// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222")
///     .user_password("futurepool", "secret")
///     .build()?; // many machines
/// let squares: Vec<u64> = pool.map_fn(remote!(square), 1..=4).map(Result::unwrap).collect();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # Ok::<(), futurepool::BuildError>(())
/// ```
#[doc(alias = "Client")]
#[doc(alias = "distributed")]
#[derive(Clone)]
pub struct ClusterExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    timer: Timer,
    /// Dropped last: the connection's tasks run on it.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.timer.close();
        if let Some(rt) = self.runtime.take() {
            // Never blocks, whatever thread (or runtime) drops the last
            // clone.
            rt.shutdown_background();
        }
    }
}

impl fmt::Debug for ClusterExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterExecutor")
            .field("client", &self.inner.shared.id)
            .field("build", &self.inner.shared.build)
            .finish_non_exhaustive()
    }
}

impl ClusterExecutor {
    /// A builder for a client of the server at `url` (`nats://host:port`).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ClusterExecutor;
    ///
    /// // Nothing listens on port 1: the build says so.
    /// let err = ClusterExecutor::builder("nats://127.0.0.1:1").build().unwrap_err();
    /// assert!(err.to_string().starts_with("cannot connect to the NATS server"));
    /// ```
    pub fn builder(url: &str) -> ClusterBuilder {
        ClusterBuilder::new(url)
    }

    /// The build identity this client's tasks carry: only workers of the
    /// same build run them.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::ClusterExecutor;
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").build_identity("v1.2.3").build()?;
    /// assert_eq!(pool.build_identity(), "v1.2.3");
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    pub fn build_identity(&self) -> &str {
        &self.inner.shared.build
    }

    /// This client's id in the cluster (see
    /// [`ClusterBuilder::client_id`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::ClusterExecutor;
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").client_id("reports").build()?;
    /// assert_eq!(pool.client_id(), "reports");
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    pub fn client_id(&self) -> &str {
        &self.inner.shared.id
    }

    /// The key of a task this client submitted, in the cluster:
    /// `<client id>:<number>`. Keep it (in a file, a database) to
    /// [`collect`](Self::collect) the task's result from a client built
    /// later with the same [`client_id`](ClusterBuilder::client_id), e.g.
    /// after a restart. `handle` must be one this client returned (a key
    /// of another executor's handle names nothing).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::{ClusterExecutor, Executor, remote};
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").client_id("reports").build()?;
    /// let handle = pool.submit_fn(remote!(|x: u32| x + 1), 1).unwrap();
    /// assert!(pool.task_key(&handle).starts_with("reports:"));
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    pub fn task_key<T>(&self, handle: &TaskHandle<T>) -> String {
        let shared = self.shared();
        format!(
            "{}:{}",
            shared.id,
            shared.base.wrapping_add(handle.id().as_u64())
        )
    }

    /// A handle on the result of the task whose key is `key` (see
    /// [`task_key`](Self::task_key)), submitted by this client or by an
    /// earlier one of the same [`client_id`](ClusterBuilder::client_id):
    /// it resolves from the stored reply, or, if the task hasn't ended
    /// yet, when it does. `R` is the function's result type; the value is
    /// decoded by the thread that takes it. For calls (`submit_fn`), not
    /// for a map's chunks.
    ///
    /// The reply is kept for the results stream's
    /// [`result_ttl`](ClusterBuilder::result_ttl); a task whose reply has
    /// expired (or that never existed) waits for nothing that will come:
    /// wait for it with a timeout.
    ///
    /// # Errors
    ///
    /// The handle fails with a cluster error
    /// ([`is_cluster_error`](crate::TaskError::is_cluster_error)) if `key`
    /// isn't a key, or is another client's, or if another handle of this
    /// client waits for that task (its own, or an earlier `collect`'s);
    /// and as the task's does otherwise.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::{ClusterExecutor, Executor, remote};
    ///
    /// fn add_one(x: u32) -> u32 {
    ///     x + 1
    /// }
    ///
    /// let url = "nats://127.0.0.1:4222";
    /// let first = ClusterExecutor::builder(url).client_id("reports").build()?;
    /// let key = first.task_key(&first.submit_fn(remote!(add_one), 1).unwrap());
    /// drop(first); // the program stops, say; its task runs on
    ///
    /// let again = ClusterExecutor::builder(url).client_id("reports").build()?;
    /// assert_eq!(again.collect::<u32>(&key).join().unwrap(), 2);
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    #[doc(alias = "get")]
    pub fn collect<R: DeserializeOwned + Send + 'static>(&self, key: &str) -> TaskHandle<R> {
        let shared = self.shared();
        let (producer, handle) = new_task(Queued, TaskSpec::default(), Caller::Internal);
        let task = match key.rsplit_once(':') {
            Some((client, n)) if client == shared.id => n.parse::<u64>().ok(),
            _ => None,
        };
        let Some(task) = task else {
            producer.fail(TaskError::cluster(format!(
                "{key:?} is not the key of a task of client {}",
                shared.id
            )));
            return handle;
        };
        producer.set_request(shared.requests.hook(task));
        let slot = Box::new(Typed {
            producer,
            decode: one_decoder(),
        });
        if let Err(slot) = shared.insert_new(task, slot) {
            slot.fail(TaskError::cluster(format!(
                "another handle of this client waits for task {key}"
            )));
            return handle;
        }
        self.runtime().spawn(replies::look_up(shared.clone(), task));
        handle
    }

    /// Waits until the message of every task submitted so far is stored
    /// in the work queue (or its handle has failed saying why it isn't):
    /// from then on the tasks run even if this client goes away. Call it
    /// before dropping a client (or exiting) whose tasks are to be
    /// [`collect`](Self::collect)ed later: `submit` returns before the
    /// message reaches the server, and a client dropped meanwhile drops
    /// the message. (A task with a start delay counts until it is sent,
    /// or ends unsent: cancelled, or cancelled by a shutdown.)
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::{ClusterExecutor, Executor, remote};
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").client_id("reports").build()?;
    /// let key = pool.task_key(&pool.submit_fn(remote!(|x: u32| x + 1), 1).unwrap());
    /// pool.flush();
    /// std::fs::write("task.key", key)?; // collect it after a restart
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) {
        self.shared().wait_sent(None);
    }

    /// [`flush`](Self::flush), for at most `timeout`; `true` if every
    /// message is stored.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::ClusterExecutor;
    /// use std::time::Duration;
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").build()?;
    /// assert!(pool.flush_timeout(Duration::from_secs(5))); // nothing submitted
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    pub fn flush_timeout(&self, timeout: Duration) -> bool {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.flush_deadline(deadline),
            None => {
                self.flush();
                true
            }
        }
    }

    /// [`flush`](Self::flush), until `deadline` at most; `true` if every
    /// message is stored.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::ClusterExecutor;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").build()?;
    /// assert!(pool.flush_deadline(Instant::now() + Duration::from_secs(5)));
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    pub fn flush_deadline(&self, deadline: Instant) -> bool {
        self.shared().wait_sent(Some(deadline))
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.inner
            .runtime
            .as_ref()
            .expect("held until the last clone drops")
    }
}

impl Executor for ClusterExecutor {
    fn shutdown_with(&self, options: ShutdownOptions) -> bool {
        // ORDERING: Release pairs with `is_shut`'s Acquire.
        self.shared().shut.store(true, Ordering::Release);
        // A task waiting for its start never will: cancelled.
        self.shared().cancel_delayed();
        let deadline = options.deadline().filter(|_| options.wait);
        if options.cancel_pending {
            // Their messages leave the queue (on the runtime thread), and
            // even a shutdown that doesn't wait for tasks waits for that (a
            // round trip): a client dropped right after must not leave them
            // to run. Disconnected once done.
            let (shared, tasks) = (self.shared().clone(), self.shared().cancel_queued());
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            self.runtime().spawn(async move {
                shared.withdraw(tasks).await;
                drop(tx);
            });
            match deadline {
                Some(d) => {
                    let _ = rx.recv_timeout(d.saturating_duration_since(Instant::now()));
                }
                None => {
                    let _ = rx.recv();
                }
            }
        }
        if options.cancel_running {
            self.shared().cancel_running();
        }
        if !options.wait {
            return self.shared().drained_now();
        }
        self.shared().wait_drained(deadline)
    }

    fn is_shutdown(&self) -> bool {
        client::is_shut(self.shared())
    }

    /// A cluster's workers are elsewhere: this is how many tasks the
    /// client has in flight at most (unbounded: `usize::MAX`). A map keeps
    /// 1024 chunks in flight by default, not twice this
    /// (see [`FnMap::max_in_flight`](crate::FnMap::max_in_flight)).
    fn max_workers(&self) -> usize {
        usize::MAX
    }

    /// The workers of this client's build that are there: those that
    /// announced themselves within the last 3 s (they do every second)
    /// and haven't said they stop. A worker that stops (SIGTERM) is
    /// uncounted at once; one that dies without a word (SIGKILL, a lost
    /// link) up to 3 s after its last heartbeat; a client just built knows
    /// the workers within a round trip (it asks them).
    fn worker_count(&self) -> usize {
        self.shared().seen.count()
    }

    fn queued(&self) -> usize {
        self.shared().counts().0
    }

    fn metrics(&self) -> PoolMetrics {
        let counts = self.shared().counters.read();
        let (queued, running) = self.shared().counts();
        // ORDERING: Relaxed: a count.
        let submitted = self.shared().submitted.load(Ordering::Relaxed) as u64 + counts.unqueued;
        Counters::snapshot(counts, submitted, queued, running, self.worker_count())
    }
}

/// How many chunks a cluster map submits ahead of the one it yields, by
/// default: enough to keep a large cluster busy, few enough that a map over
/// endless (or huge) input yields without first queueing all of it.
const MAP_IN_FLIGHT: usize = 1024;

// `Sealed`'s methods take crate-private types on purpose: the trait is
// sealed, and they are how the executor layer reaches the backend.
#[allow(private_interfaces)]
impl Sealed for ClusterExecutor {
    fn timer(&self) -> &Timer {
        &self.inner.timer
    }

    fn weak(&self) -> Box<dyn Fn() -> Option<Self> + Send + Sync> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        Box::new(move || weak.upgrade().map(|inner| ClusterExecutor { inner }))
    }

    fn map_in_flight(&self) -> Option<usize> {
        Some(MAP_IN_FLIGHT)
    }

    fn spawn_fn<A, R>(
        &self,
        f: RemoteFn<A, R>,
        arg: A,
        options: &TaskOptions,
        _block: bool,
    ) -> Result<TaskHandle<R>, (A, Refusal)>
    where
        A: Serialize + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        self.submit_one(f, arg, options)
    }

    #[allow(clippy::type_complexity)]
    fn spawn_fn_chunk<A, R>(
        &self,
        f: RemoteFn<A, R>,
        args: Vec<A>,
        options: &TaskOptions,
        _block: bool,
    ) -> Result<TaskHandle<Vec<Result<R, TaskError>>>, (Vec<A>, Refusal)>
    where
        A: Serialize + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        self.submit_chunk(f, args, options)
    }
}
