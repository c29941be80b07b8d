//! How a client reads its replies: from the results stream, through an
//! ordered consumer filtered on its id, remade after each reconnection
//! from after the last reply it read; and how `collect` finds a stored one.
//! Runs on the feature's runtime thread; never user code (a value stays
//! encoded until the thread that takes it decodes it).

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;

use super::client::Shared;
use super::wire::{self, Reply};
use crate::loom::sync::Arc;

/// The runtime's task that reads this client's replies from the results
/// stream (an ordered consumer, which resumes where it was after a
/// reconnect) until the client is dropped.
///
/// After each reconnection it remakes the consumer (from after the last
/// reply read) rather than wait for the ordered consumer to notice, by its
/// missed heartbeats, that a restarted server has forgotten it.
pub(super) async fn read_replies(
    shared: std::sync::Weak<Shared>,
    first: Replies,
    reconnected: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut consumer = Some(first);
    // The stream sequence of the last reply read.
    let mut last = None;
    loop {
        let made = match consumer.take() {
            Some(consumer) => Ok(consumer),
            None => {
                let Some(s) = shared.upgrade() else { return };
                let policy = match last {
                    Some(seq) => jetstream::consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: seq + 1,
                    },
                    // Nothing read yet: from where the client started.
                    None => jetstream::consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: s.first_reply,
                    },
                };
                replies(&s.results, &s.replies, policy).await
            }
        };
        let messages = match made {
            Ok(consumer) => consumer.messages().await.map_err(|e| e.to_string()),
            Err(err) => Err(err),
        };
        let mut messages = match messages {
            Ok(messages) => messages,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // The consumer recreates itself across reconnects (it is ordered);
        // a failure it can't get over ends this stream: start again after
        // the last reply read.
        loop {
            let message = tokio::select! {
                message = messages.next() => message,
                _ = reconnected.notified() => break,
            };
            let Some(Ok(message)) = message else { break };
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if let Ok(info) = message.info() {
                last = Some(info.stream_sequence);
            }
            // Not ours to end anything with: nothing says which task.
            if let Ok(reply) = wire::decode::<Reply>(&message.payload) {
                shared.on_reply(reply);
            }
        }
        if shared.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The consumer of a client's replies.
pub(super) type Replies = jetstream::consumer::Consumer<jetstream::consumer::pull::OrderedConfig>;

/// Makes the consumer of a client's replies: ordered, from `policy` (the
/// first: the replies stored after now; older ones are `collect`'s).
pub(super) async fn replies(
    results: &stream::Stream,
    prefix: &str,
    policy: jetstream::consumer::DeliverPolicy,
) -> Result<Replies, String> {
    results
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: format!("{prefix}.>"),
            deliver_policy: policy,
            // Pulls of 2 s, so a heartbeat every second: a server that went
            // away (a restart) is noticed, and the consumer remade, within
            // seconds rather than the default's 30.
            max_expires: Duration::from_secs(2),
            ..Default::default()
        })
        .await
        .map_err(|err| format!("cannot subscribe to the client's replies: {err}"))
}

/// Looks for the stored end of `task` (a `collect`ed one) and ends it with
/// it; if there is none yet, the task waits for its reply.
pub(super) async fn look_up(shared: Arc<Shared>, task: u64) {
    let subject = format!("{}.{task}.end", shared.replies);
    if let Ok(message) = shared
        .results
        .get_last_raw_message_by_subject(&subject)
        .await
    {
        if let Ok(reply) = wire::decode::<Reply>(&message.payload) {
            shared.on_reply(reply);
        }
    }
}
