//! The client's tasks on the feature's runtime (one thread, never user
//! code): [`publish`], which puts a task's message in the work queue
//! (retried across a reconnect); [`read_lost`], which fails the tasks the
//! server gave up on; and [`sweep`], which forgets ended tasks.

use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;

use super::Shared;
use crate::error::TaskError;
use crate::loom::sync::Arc;

/// The runtime's task that fails the tasks the server gave up on: each
/// advisory names a message (its `stream_seq`) delivered `max_deliveries`
/// times and never acked.
pub(in crate::cluster) async fn read_lost(
    shared: Arc<Shared>,
    mut advisories: async_nats::Subscriber,
) {
    while let Some(message) = advisories.next().await {
        let Some(seq) = json_u64(&message.payload, "stream_seq") else {
            continue;
        };
        let deliveries = json_u64(&message.payload, "deliveries").unwrap_or(0);
        // Only workers of its build were given it (see `settings::consumer`).
        let task = shared
            .pending
            .lock()
            .iter()
            .find_map(|(task, p)| (p.seq == Some(seq)).then_some(*task));
        if let Some(task) = task {
            let err = TaskError::cluster(format!(
                "worker lost: the task was delivered {deliveries} times (max_deliveries) \
                 and no worker finished it"
            ));
            shared.fail(task, err);
            // It stays in a work queue until acked: it leaves now.
            let _ = shared.stream.delete_message(seq).await;
        }
    }
}

/// The number after `"key":` in a JSON object (the server's advisories),
/// without a JSON parser.
fn json_u64(json: &[u8], key: &str) -> Option<u64> {
    let text = std::str::from_utf8(json).ok()?;
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The runtime's task that forgets ended tasks, every `every`.
pub(in crate::cluster) async fn sweep(shared: std::sync::Weak<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match shared.upgrade() {
            Some(shared) => shared.sweep().await,
            None => return,
        }
    }
}

/// Publishes a task's message and records where it landed; a message the
/// server didn't take (after retries across a reconnect, for up to
/// [`PUBLISH_RETRY`]) fails its task.
pub(in crate::cluster) async fn publish(shared: Arc<Shared>, task: u64, bytes: Vec<u8>) {
    let give_up = tokio::time::Instant::now() + PUBLISH_RETRY;
    let acked = loop {
        let publish = jetstream::message::PublishMessage::build()
            .payload(bytes.clone().into())
            // A retry of a publish the server did store is stored once.
            .message_id(format!("{}:{task}", shared.id));
        let acked = match shared
            .js
            .send_publish(shared.subject.clone(), publish)
            .await
        {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Err(e) if transient(&e) && tokio::time::Instant::now() < give_up => {}
            acked => break acked.map_err(|e| e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    match acked {
        Ok(ack) => {
            if !shared.published(task, ack.sequence) {
                // Ended meanwhile (cancelled, timed out): out of the queue,
                // and a worker that took it in that instant kills it.
                let _ = shared.stream.delete_message(ack.sequence).await;
                shared.requests.send(task);
            }
        }
        Err(err) => shared.fail(
            task,
            TaskError::cluster(format!("the server didn't take the task: {err}")),
        ),
    }
    shared.sent();
}

/// Waits for the start of delayed `task` (`at`), looking every quarter
/// second whether it has ended meanwhile (a cancel, a shutdown, its
/// deadline: then `flush` needn't wait for it); `true` if it is to be sent
/// now.
pub(in crate::cluster) async fn until_due(
    shared: &Shared,
    task: u64,
    at: tokio::time::Instant,
) -> bool {
    let start = tokio::time::sleep_until(at);
    tokio::pin!(start);
    loop {
        tokio::select! {
            _ = &mut start => return shared.due(task),
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                if !shared.waits_for(task) {
                    return false;
                }
            }
        }
    }
}

/// Whether a publish may succeed if tried again (the connection is down,
/// the server is starting).
pub(in crate::cluster) fn transient(err: &jetstream::context::PublishError) -> bool {
    use jetstream::context::PublishErrorKind as K;
    matches!(
        err.kind(),
        K::TimedOut | K::BrokenPipe | K::StreamNotFound | K::MaxAckPending
    )
}

/// How long a client tries to get a task's message stored.
const PUBLISH_RETRY: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_number_of_an_advisory() {
        let json = br#"{"type":"io.nats.jetstream.advisory.v1.max_deliver","stream_seq": 42,"deliveries":3}"#;
        assert_eq!(super::json_u64(json, "stream_seq"), Some(42));
        assert_eq!(super::json_u64(json, "deliveries"), Some(3));
        assert_eq!(super::json_u64(json, "absent"), None);
    }
}
