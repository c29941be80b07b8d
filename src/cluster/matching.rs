//! Build matching: each build identity has a work queue of its own (the
//! subject `<prefix>.tasks.<token>`, the consumer `workers-<token>`, see
//! `settings.rs`), so a worker only ever pulls its own build's tasks, and a
//! worker of another build never uses up a delivery of a task. What is left
//! is to notice a task no worker of its build will take: the client's
//! runtime watches the work queue's consumers while some task waits
//! unstarted, and a task fails with the match error once it has waited
//! [`match_timeout`](crate::ClusterBuilder::match_timeout) while workers of
//! other builds consumed the queue and none of its own did. With no worker
//! at all, a task waits (as on a queue whose workers are being restarted).
//!
//! A consumer counts as consumed by its workers while one of them waits
//! on it (a pull request outstanding) or holds a task of it (unacked).

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::client::Shared;

/// Who consumes the work queue: whether a worker of the client's build
/// does, and the builds of the other workers that do.
struct Presence {
    ours: bool,
    others: Vec<String>,
}

/// Reads the work queue's consumers.
async fn presence(shared: &Shared) -> Result<Presence, String> {
    let mut consumers = shared.stream.consumers();
    let mut presence = Presence {
        ours: false,
        others: Vec::new(),
    };
    while let Some(info) = consumers.next().await {
        let info = info.map_err(|e| e.to_string())?;
        if !info.name.starts_with("workers-") {
            continue;
        }
        let active = info.num_waiting > 0 || info.num_ack_pending > 0;
        if info.name == shared.consumer {
            presence.ours |= active;
        } else if active {
            presence
                .others
                .push(info.config.description.clone().unwrap_or(info.name.clone()));
        }
    }
    presence.others.sort();
    Ok(presence)
}

/// The runtime's task that fails the tasks no worker of their build takes
/// (see the [module docs](self)), every `every`, while the client lives.
pub(super) async fn watch(shared: std::sync::Weak<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Since when only workers of other builds have consumed the queue.
    let mut since: Option<Instant> = None;
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !shared.has_unstarted() {
            since = None;
            continue;
        }
        match presence(&shared).await {
            Ok(Presence {
                ours: false,
                others,
            }) if !others.is_empty() => {
                let since = *since.get_or_insert_with(Instant::now);
                shared.no_match(since, &others).await;
            }
            // A worker of its build is there, or none at all; or the server
            // can't say (it is away): nothing to fail a task for.
            _ => since = None,
        }
    }
}

/// How often the client looks, for a `match_timeout`: a few times per
/// timeout, between 50 ms and 1 s.
pub(super) fn period(match_timeout: Duration) -> Duration {
    (match_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
}
