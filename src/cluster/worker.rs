//! [`Worker`]: the user's own binary in worker mode. It pulls tasks from the
//! cluster's work queue (its build's pull consumer, which every worker of
//! the build shares, and which holds only that build's tasks), runs
//! each on a [`ProcessPool`] of its own, heartbeats while it runs, sends the
//! outcome to the client that submitted it, and only then acks it: a worker
//! that dies mid-task leaves it to be redelivered after the ack wait. A
//! client's cancel request kills the task's process (see `cancel.rs`).
//!
//! The loop runs on the feature's runtime; it decodes only this crate's own
//! messages (a task's argument and value stay encoded: the pool's worker
//! process decodes them).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, AckKind, Message, consumer, stream};
use futures_util::StreamExt;
use serde_bytes::ByteBuf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::cancel::{self, Held};
use super::exec::{Exec, exec_fn};
use super::objects::{Objects, Unready};
use super::presence;
use super::settings::{self, Settings};
use super::wire::{self, Presence, Reply, TaskMsg};
use crate::loom::sync::Arc;
use crate::process_pool::ProcessPool;

mod builder;

pub use builder::WorkerBuilder;

/// A cluster worker: the user's own binary, started in worker mode and
/// pointed at the server. See the [module docs](crate::cluster).
///
/// # Examples
///
/// ```no_run
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
///     futurepool::process::init(); // first: the worker's own pool runs this binary too
///     if std::env::args().nth(1).as_deref() == Some("worker") {
///         let worker = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222")
///             .user_password("futurepool", "secret")
///             .concurrency(4)
///             .build()
///             .expect("cannot reach the cluster");
///         worker.run(); // until SIGTERM
///         return;
///     }
///     // ... the client's side
/// }
/// ```
pub struct Worker {
    settings: Settings,
    build: String,
    name: String,
    concurrency: usize,
    sigterm: bool,
    pool: ProcessPool,
    runtime: tokio::runtime::Runtime,
    nats: async_nats::Client,
    js: jetstream::Context,
    consumer: consumer::Consumer<consumer::pull::Config>,
    /// The stream of cancel requests, the subscription to them, and what
    /// says the connection is back (requests sent meanwhile were missed).
    cancels: (
        stream::Stream,
        async_nats::Subscriber,
        std::sync::Arc<tokio::sync::Notify>,
    ),
    objects: Arc<Objects>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("build", &self.build)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A builder for a worker of the cluster whose server is at `url`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://10.0.0.1:4222");
    /// assert!(format!("{b:?}").contains("10.0.0.1"));
    /// ```
    pub fn builder(url: &str) -> WorkerBuilder {
        WorkerBuilder {
            settings: Settings::new(url),
            build: None,
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sigterm: true,
        }
    }

    /// This worker's name in replies and errors: `host:pid`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let worker = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").build()?;
    /// assert!(worker.name().ends_with(&format!(":{}", std::process::id())));
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs tasks until SIGTERM (see
    /// [`stop_on_sigterm`](WorkerBuilder::stop_on_sigterm)): then it takes
    /// no new task, finishes the ones it holds, shuts its process pool down
    /// and returns. Call it from `main`, after
    /// [`process::init`](crate::process::init).
    ///
    /// # Examples
    ///
    /// See [`Worker`].
    pub fn run(self) {
        let Worker {
            settings,
            build,
            name,
            concurrency,
            sigterm,
            pool,
            runtime,
            nats,
            js,
            consumer,
            cancels: (cancels, requests, reconnected),
            objects,
        } = self;
        let held = Arc::new(Held::default());
        runtime.spawn(cancel::listen(held.clone(), requests));
        runtime.spawn(cancel::recheck(
            held.clone(),
            cancels.clone(),
            settings.prefix.clone(),
            reconnected,
        ));
        let job = Job {
            settings,
            build,
            name,
            pool: pool.clone(),
            nats,
            js,
            held,
            cancels,
            objects: objects.clone(),
        };
        settings::block_on(
            &runtime,
            serve(Arc::new(job), consumer, concurrency, sigterm),
        );
        pool.shutdown();
        objects.remove_dir();
        runtime.shutdown_background();
    }
}

/// What every task's handler needs.
struct Job {
    settings: Settings,
    build: String,
    name: String,
    pool: ProcessPool,
    nats: async_nats::Client,
    js: jetstream::Context,
    /// The tasks it holds, for cancel requests to reach.
    held: Arc<Held>,
    /// The stored cancel requests (looked up for a task taken again).
    cancels: stream::Stream,
    objects: Arc<Objects>,
}

/// The pull loop: one task per free slot, until SIGTERM.
async fn serve(
    job: Arc<Job>,
    consumer: consumer::Consumer<consumer::pull::Config>,
    concurrency: usize,
    sigterm: bool,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut running = tokio::task::JoinSet::new();
    // `stop` turns true on SIGTERM (where there are signals).
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    #[cfg(unix)]
    if sigterm {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::spawn(async move {
                term.recv().await;
                let _ = stop_tx.send(true);
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (sigterm, stop_tx);
    // Says it is there until it stops taking tasks (see `presence.rs`).
    tokio::spawn(presence::announce(
        job.nats.clone(),
        job.settings.prefix.clone(),
        Presence {
            worker: job.name.clone(),
            build: job.build.clone(),
            concurrency: u32::try_from(concurrency).unwrap_or(u32::MAX),
            leaving: false,
        },
        stop.clone(),
    ));
    let terminated = async |stop: &mut tokio::sync::watch::Receiver<bool>| {
        if stop.wait_for(|stopped| *stopped).await.is_err() {
            // No signal to wait for: never.
            std::future::pending::<()>().await;
        }
    };
    'pull: loop {
        // `biased`, the signal first: once it has come, a slot free at
        // the same moment pulls nothing new.
        let slot = tokio::select! {
            biased;
            _ = terminated(&mut stop) => break 'pull,
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
        };
        let batch = consumer
            .batch()
            .max_messages(1)
            .expires(Duration::from_millis(500))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(_) => {
                // The connection is down: async-nats reconnects.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // `biased`, the message first: one the server has handed to this
        // pull is held, and runs (left unacked, it would wait out its ack
        // wait and use up a delivery, unrun).
        tokio::select! {
            biased;
            next = batch.next() => {
                if let Some(Ok(message)) = next {
                    running.spawn(handle(job.clone(), message, slot));
                    // Forget the ones that are done.
                    while running.try_join_next().is_some() {}
                }
            }
            _ = terminated(&mut stop) => {
                // A message the server sends to this pull now waits out its
                // ack wait, then goes to another worker.
                break 'pull;
            }
        }
    }
    // Finish what it holds (its replies sent and its tasks acked).
    while running.join_next().await.is_some() {}
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs one task and answers it. Its `slot` is free once the answer is
/// sent: the next pull needn't wait for the ack.
async fn handle(job: Arc<Job>, message: Message, slot: OwnedSemaphorePermit) {
    let job = &*job;
    let mut task: TaskMsg = match wire::decode(&message.payload) {
        Ok(task) => task,
        Err(err) => {
            // Nobody can run it: it leaves the queue.
            eprintln!(
                "futurepool worker {}: dropped an unreadable task: {err}",
                job.name
            );
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let id = task.task;
    let to = format!("{}.{id}", job.settings.results_subject(&task.client));
    let worker = job.name.clone();
    if task.build != job.build {
        // Its build's queue is this worker's (a hash collision, or a
        // message not of a client's making): nobody here can run it.
        let failed = Reply::Failed {
            task: id,
            worker,
            message: format!(
                "it reached a worker of build {} (the task's is {})",
                job.build, task.build
            ),
        };
        if end(job, &to, &failed).await.is_ok() {
            let _ = message.ack_with(AckKind::Term).await;
        }
        return;
    }
    // Held from here, before `Started`: see `cancel.rs`.
    let mut holding = job.held.hold(&task.client, id);
    // Taken again (its worker died): its cancel may have been asked
    // meanwhile, and never reached a worker.
    let again = message.info().is_ok_and(|info| info.delivered > 1);
    let requested = again
        && cancel::requested(&job.cancels, &job.settings.cancel_subject(&task.client, id)).await;
    if requested || holding.cancel.try_recv().is_ok() {
        if end(job, &to, &Reply::Cancelled { task: id, worker })
            .await
            .is_ok()
        {
            let _ = message.ack().await;
        }
        return;
    }
    // Lost before (its worker died, or its link): run again only as many
    // times as its retries say (beyond them, `max_deliveries` rules).
    let delivered = message
        .info()
        .map_or(1, |info| info.delivered.max(1) as u64);
    if let Some(retries) = task.retries.filter(|&n| delivered > u64::from(n) + 1) {
        let lost = Reply::Failed {
            task: id,
            worker,
            message: format!(
                "worker lost: the task was delivered {delivered} times, and may run {} at \
                 most (retries({retries}))",
                u64::from(retries) + 1
            ),
        };
        if end(job, &to, &lost).await.is_ok() {
            let _ = message.ack_with(AckKind::Term).await;
        }
        return;
    }
    let now = now_ms();
    let left = task
        .deadline_ms
        .map(|d| Duration::from_millis(d.saturating_sub(now)));
    if left == Some(Duration::ZERO) {
        if end(job, &to, &Reply::TimedOut { task: id, worker })
            .await
            .is_ok()
        {
            let _ = message.ack().await;
        }
        return;
    }
    // Its arguments, if they are an object, and the scattered values it
    // names (fetched once by this worker).
    let ack_wait = job.settings.ack_wait;
    let scattered = match beating(job.objects.prepare(&mut task), &message, ack_wait).await {
        Ok(dir) => dir,
        Err(unready) => {
            let failed = match unready {
                Unready::TooLarge(message) => Reply::TooLarge {
                    task: id,
                    worker,
                    message,
                },
                Unready::Failed(message) => Reply::Failed {
                    task: id,
                    worker,
                    message,
                },
            };
            if end(job, &to, &failed).await.is_ok() {
                let _ = message.ack().await;
            }
            return;
        }
    };
    note(
        job,
        &to,
        &Reply::Started {
            task: id,
            worker: worker.clone(),
        },
    )
    .await;
    let limit = match (task.time_limit_ms.map(Duration::from_millis), left) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut builder = job.pool.task();
    if let Some(limit) = limit {
        builder = builder.time_limit(limit);
    }
    if let Some(retries) = task.retries {
        // Its process dying here: the pool runs it again, so many times.
        builder = builder.retries(retries);
    }
    let exec = Exec {
        name: task.name,
        args: task
            .args
            .into_iter()
            .map(ByteBuf::into_vec)
            .map(ByteBuf::from)
            .collect(),
        objects: scattered.map(|dir| dir.to_string_lossy().into_owned()),
    };
    let answer = match builder.submit_fn(exec_fn(), exec) {
        Err(err) => Reply::Failed {
            task: id,
            worker,
            message: format!("the worker's process pool refused it: {err}"),
        },
        Ok(running) => {
            tokio::pin!(running);
            let mut beat = heartbeat(job.settings.ack_wait);
            let mut asked = false;
            let outcome = loop {
                tokio::select! {
                    outcome = &mut running => break outcome,
                    _ = beat.tick() => {
                        let _ = message.ack_with(AckKind::Progress).await;
                    }
                    request = &mut holding.cancel, if !asked => {
                        asked = true;
                        if request.is_ok() {
                            // Kills its process, unless it has just ended:
                            // then its outcome is the answer.
                            running.cancel();
                        }
                    }
                }
            };
            match outcome {
                Ok(outcomes) => Reply::Done {
                    task: id,
                    worker,
                    outcomes,
                },
                Err(err) if err.is_timeout() => Reply::TimedOut { task: id, worker },
                Err(err) if err.is_cancelled() => Reply::Cancelled { task: id, worker },
                Err(err) => Reply::Failed {
                    task: id,
                    worker,
                    message: err.to_string(),
                },
            }
        }
    };
    // The answer is in the results stream (the server said so) before the
    // ack: a worker that dies in between makes a duplicate (which the
    // client ignores), never a loss. An answer the server didn't take
    // leaves the task unacked: it is redelivered after the ack wait.
    // Outcomes too large for a reply go through the object store.
    let answer = beating(job.objects.shrink(answer, &task.client), &message, ack_wait).await;
    drop(slot);
    let stored = match end(job, &to, &answer).await {
        // Refused (too large, say): the client learns why.
        Err(Some(why)) => {
            let failed = Reply::Failed {
                task: id,
                worker: job.name.clone(),
                message: format!("the server didn't take the task's outcome: {why}"),
            };
            end(job, &to, &failed).await
        }
        stored => stored,
    };
    if stored.is_ok() {
        let _ = message.ack().await;
    }
}

/// Runs `work` (a transfer through the object store), heartbeating the
/// task's `message` meanwhile, as while it runs.
async fn beating<T>(work: impl Future<Output = T>, message: &Message, ack_wait: Duration) -> T {
    tokio::pin!(work);
    let mut beat = heartbeat(ack_wait);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = beat.tick() => {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    }
}

/// The heartbeat of a task held for `ack_wait`: every third of it, the
/// first a third from now.
///
/// Not `interval(period)` and a first `tick().await`: that first tick,
/// due "now", waits for the timer's next millisecond tick (about 1 ms, in
/// the round trip of every task).
fn heartbeat(ack_wait: Duration) -> tokio::time::Interval {
    let period = ack_wait / 3;
    tokio::time::interval_at(tokio::time::Instant::now() + period, period)
}

/// Publishes a note (started; left for another build) to the client, on
/// `<to>.note`: at most once, nothing waits for it.
async fn note(job: &Job, to: &str, reply: &Reply) {
    match wire::encode(reply) {
        Ok(bytes) => {
            let _ = job.nats.publish(format!("{to}.note"), bytes.into()).await;
        }
        Err(err) => eprintln!(
            "futurepool worker {}: cannot encode a reply: {err}",
            job.name
        ),
    }
}

/// Publishes how a task ended to the results stream, on `<to>.end`, and
/// waits until the server has stored it (retrying across a reconnect, for
/// up to [`END_RETRY`]). An error says why the server refused it (`None`:
/// it wasn't reachable, or the reply can't be encoded).
async fn end(job: &Job, to: &str, reply: &Reply) -> Result<(), Option<String>> {
    let bytes = match wire::encode(reply) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!(
                "futurepool worker {}: cannot encode a reply: {err}",
                job.name
            );
            return Err(None);
        }
    };
    let subject = format!("{to}.end");
    let give_up = tokio::time::Instant::now() + END_RETRY;
    loop {
        let publish = jetstream::message::PublishMessage::build()
            .payload(bytes.clone().into())
            // The same reply twice (a retry) is stored once.
            .message_id(format!("{subject}:{}", job.name));
        let stored = match job.js.send_publish(subject.clone(), publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match stored {
            Ok(_) => return Ok(()),
            Err(e) if super::client::transient(&e) => {
                if tokio::time::Instant::now() >= give_up {
                    return Err(None);
                }
            }
            Err(e) => return Err(Some(e.to_string())),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long a worker tries to store a task's outcome before leaving the
/// task to be redelivered.
const END_RETRY: Duration = Duration::from_secs(60);
