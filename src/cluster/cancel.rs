//! Cancel of a running task: a request from the client to the worker that
//! holds it, which kills the task's process and answers `Cancelled`.
//!
//! # The protocol
//!
//! 1. A handle's `cancel` finds its task running (a worker's `Started` note
//!    came) and not cancellable here: the core runs the task's request
//!    hook ([`Request`](crate::core::cell::Request)), which hands the
//!    task's number to this client's [`Requests`] queue and returns;
//!    `cancel` returns `false`. (A task the client still sees queued is
//!    cancelled at once; the client's sweep then takes its message out of
//!    the queue and sends the same request, for a worker that took it in
//!    that instant.)
//! 2. The runtime thread publishes the request through JetStream (stored
//!    in the stream `<PREFIX>_CANCELS`, retried across a reconnect) on
//!    `<prefix>.cancel.<client>.<task>`, an empty message.
//! 3. Every worker subscribes to `<prefix>.cancel.>` (plain NATS): the one
//!    that [holds](Held::hold) the task cancels its process-pool handle,
//!    which kills the task's process; the others ignore it. The worker
//!    answers `Cancelled` through the results stream (as any end: stored,
//!    then the task is acked, so it is never delivered again), and the
//!    client resolves the handle as cancelled only then.
//! 4. A task whose worker died before the request reached it is delivered
//!    again after the ack wait: a worker that takes a task a second time
//!    looks for its request in `<PREFIX>_CANCELS` first, and answers
//!    `Cancelled` without running it.
//!
//! The task ends once, whichever is first: the worker answers either its
//! outcome (it finished before the request came) or `Cancelled` (it
//! killed it or never started it), and the client takes the first answer.
//!
//! A worker holds a task from before it sends `Started`, so a request
//! (which the client sends only after `Started`, or after the task left
//! the queue) can't pass it; one that comes for a task the worker doesn't
//! hold yet is kept for [`EARLY`], for a message already on its way to it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::client::{Shared, transient};
use super::settings::Settings;
use crate::loom::sync::{Arc, Mutex};

/// The client's queue of cancel requests: the request hook of each task
/// sends its number here; the runtime thread publishes them.
pub(super) struct Requests {
    tx: mpsc::UnboundedSender<u64>,
    /// `<prefix>.cancel.<client>`: a task's request subject starts so.
    pub(super) prefix: String,
}

impl Requests {
    /// The queue, and its receiving end for [`send_requests`].
    pub(super) fn new(prefix: String) -> (Requests, mpsc::UnboundedReceiver<u64>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Requests { tx, prefix }, rx)
    }

    /// The request hook of `task`: never blocks, runs no user code.
    pub(super) fn hook(&self, task: u64) -> crate::core::cell::Request {
        let tx = self.tx.clone();
        Box::new(move || {
            // Gone: the client is being dropped, and nothing waits.
            let _ = tx.send(task);
        })
    }

    /// Asks for `task` to be cancelled (from the runtime thread).
    pub(super) fn send(&self, task: u64) {
        let _ = self.tx.send(task);
    }
}

/// The runtime's task that publishes the client's cancel requests.
pub(super) async fn send_requests(
    shared: std::sync::Weak<Shared>,
    mut rx: mpsc::UnboundedReceiver<u64>,
) {
    while let Some(task) = rx.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        tokio::spawn(publish(shared, task));
    }
}

/// Publishes one request, and retries it across a reconnect for up to
/// [`RETRY`]; a request the server never takes leaves the task to end as
/// it will.
async fn publish(shared: Arc<Shared>, task: u64) {
    let subject = format!("{}.{task}", shared.requests.prefix);
    let give_up = tokio::time::Instant::now() + RETRY;
    loop {
        let publish = jetstream::message::PublishMessage::build()
            .payload(Vec::new().into())
            .message_id(subject.clone());
        let stored = match shared.js.send_publish(subject.clone(), publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match stored {
            Err(e) if transient(&e) && tokio::time::Instant::now() < give_up => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long a client retries a cancel request.
const RETRY: Duration = Duration::from_secs(30);

/// Makes (or finds) the stream that keeps cancel requests, for as long as
/// the results stream keeps replies; one request per task.
pub(super) async fn stream(
    js: &jetstream::Context,
    settings: &Settings,
) -> Result<stream::Stream, String> {
    js.get_or_create_stream(stream::Config {
        name: settings.cancels_stream_name(),
        subjects: vec![format!("{}.cancel.>", settings.prefix)],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: settings.result_ttl,
        max_messages_per_subject: 1,
        ..Default::default()
    })
    .await
    .map_err(|err| {
        format!(
            "cannot set up the cancel requests' stream {} on the NATS server at {}: {err}",
            settings.cancels_stream_name(),
            settings.url
        )
    })
}

/// Whether the client asked to cancel the task whose request subject is
/// `subject` (a stored request): what a worker checks before it runs a task
/// delivered again. An error (the server is away) says no: the task runs,
/// and a request that comes meanwhile still reaches it.
pub(super) async fn requested(cancels: &stream::Stream, subject: &str) -> bool {
    cancels
        .get_last_raw_message_by_subject(subject)
        .await
        .is_ok()
}

/// The tasks a worker holds, by client and number: what a cancel request
/// reaches.
#[derive(Default)]
pub(super) struct Held {
    inner: Mutex<HeldInner>,
}

#[derive(Default)]
struct HeldInner {
    tasks: HashMap<(String, u64), oneshot::Sender<()>>,
    /// Requests for tasks not held (yet), and when they came.
    early: HashMap<(String, u64), Instant>,
    /// When `early` was last rid of its old requests.
    pruned: Option<Instant>,
}

/// How long a worker keeps a request for a task it doesn't hold: for a
/// task whose message is on its way to it as the request comes.
pub(super) const EARLY: Duration = Duration::from_secs(60);

/// A task a worker holds; dropped when the worker is done with it.
pub(super) struct Holding {
    held: Arc<Held>,
    key: (String, u64),
    /// Fires when the client asks to cancel the task.
    pub(super) cancel: oneshot::Receiver<()>,
}

impl Held {
    /// Holds a task from now on: a request for it fires its
    /// [`Holding::cancel`] (at once, if one came early).
    pub(super) fn hold(self: &Arc<Self>, client: &str, task: u64) -> Holding {
        let key = (client.to_owned(), task);
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner.lock();
        if inner.early.remove(&key).is_some() {
            let _ = tx.send(());
        } else {
            inner.tasks.insert(key.clone(), tx);
        }
        Holding {
            held: self.clone(),
            key,
            cancel: rx,
        }
    }

    /// A request: fires the task's [`Holding::cancel`] if the worker holds
    /// it, or keeps it for [`EARLY`].
    pub(super) fn request(&self, client: &str, task: u64) {
        let key = (client.to_owned(), task);
        let mut inner = self.inner.lock();
        match inner.tasks.remove(&key) {
            Some(tx) => {
                let _ = tx.send(());
            }
            None => {
                // Old ones go, at most once a second (a shutdown that
                // cancels a long queue sends a request per task).
                let now = Instant::now();
                if inner
                    .pruned
                    .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
                {
                    inner.early.retain(|_, at| now.duration_since(*at) < EARLY);
                    inner.pruned = Some(now);
                }
                inner.early.insert(key, now);
            }
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.held.inner.lock().tasks.remove(&self.key);
    }
}

/// The worker's task that, after each reconnection, looks for a stored
/// request of every task it holds: one sent while it was cut off never
/// reached its subscription.
pub(super) async fn recheck(
    held: Arc<Held>,
    cancels: stream::Stream,
    prefix: String,
    reconnected: std::sync::Arc<tokio::sync::Notify>,
) {
    loop {
        reconnected.notified().await;
        let keys: Vec<(String, u64)> = held.inner.lock().tasks.keys().cloned().collect();
        for (client, task) in keys {
            if requested(&cancels, &format!("{prefix}.cancel.{client}.{task}")).await {
                held.request(&client, task);
            }
        }
    }
}

/// The worker's task that hands each cancel request (a message on
/// `<prefix>.cancel.<client>.<task>`) to [`Held::request`].
pub(super) async fn listen(held: Arc<Held>, mut requests: async_nats::Subscriber) {
    while let Some(message) = requests.next().await {
        if let Some((client, task)) = parse(&message.subject) {
            held.request(client, task);
        }
    }
}

/// The client and task a request's subject names.
fn parse(subject: &str) -> Option<(&str, u64)> {
    let (rest, task) = subject.rsplit_once('.')?;
    let (_, client) = rest.rsplit_once('.')?;
    Some((client, task.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_subject_names_its_client_and_task() {
        assert_eq!(parse("jobs.cancel.c-1.42"), Some(("c-1", 42)));
        assert_eq!(parse("jobs.cancel.c-1.x"), None);
    }

    #[test]
    fn a_request_reaches_the_task_held_or_waits_for_it() {
        let held = Arc::new(Held::default());
        let mut a = held.hold("c", 1);
        held.request("c", 2); // not held yet
        held.request("c", 1);
        assert!(a.cancel.try_recv().is_ok());
        let mut b = held.hold("c", 2);
        assert!(b.cancel.try_recv().is_ok(), "the early request fired");
        let mut c = held.hold("c", 3);
        assert!(c.cancel.try_recv().is_err());
        drop(c);
        assert!(held.inner.lock().tasks.is_empty());
    }
}
