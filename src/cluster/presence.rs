//! Which workers are there: each worker announces itself on
//! `<prefix>.workers` (a [`Presence`], plain NATS, nothing stored) when it
//! starts, every [`HEARTBEAT`], when a client asks (on
//! `<prefix>.workers.ask`), and once more, `leaving`, when it stops taking
//! tasks (SIGTERM). A client counts the workers of its build it heard from
//! within [`STALE`] that haven't left: [`ClusterExecutor::worker_count`].
//!
//! How stale it may be: a worker that stops is uncounted as soon as its
//! goodbye arrives; one that dies without a word (SIGKILL, a machine or a
//! link gone) is counted until [`STALE`] after its last heartbeat; a new
//! one from its first announcement (within a round trip of its start). A
//! client just built asks, so it knows the workers within a round trip.
//!
//! [`ClusterExecutor::worker_count`]: crate::ClusterExecutor

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::wire::{self, Presence};
use crate::loom::sync::Mutex;

/// How often a worker says it is there.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long after its last word a silent worker is still counted: three
/// heartbeats.
pub(super) const STALE: Duration = Duration::from_secs(3);

/// The subject of the announcements.
pub(super) fn subject(prefix: &str) -> String {
    format!("{prefix}.workers")
}

/// The subject a client asks on.
pub(super) fn ask_subject(prefix: &str) -> String {
    format!("{prefix}.workers.ask")
}

/// The worker's side: announces `me` until `stop` turns true, then says it
/// leaves. Runs on the worker's runtime; never fails (a lost announcement
/// is made good by the next).
pub(super) async fn announce(
    nats: async_nats::Client,
    prefix: String,
    me: Presence,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let to = subject(&prefix);
    let mut asked = nats.subscribe(ask_subject(&prefix)).await.ok();
    let mut tick = tokio::time::interval(HEARTBEAT);
    let say = async |nats: &async_nats::Client, me: &Presence| {
        if let Ok(bytes) = wire::encode(me) {
            let _ = nats.publish(to.clone(), bytes.into()).await;
        }
    };
    // Whether a stop may still come (its sender is alive).
    let mut stoppable = true;
    loop {
        tokio::select! {
            _ = tick.tick() => say(&nats, &me).await,
            Some(_) = async {
                match &mut asked {
                    Some(asked) => asked.next().await,
                    None => std::future::pending().await,
                }
            } => say(&nats, &me).await,
            stopped = async { stop.wait_for(|stopped| *stopped).await.is_ok() }, if stoppable => {
                if stopped {
                    break;
                }
                stoppable = false;
            }
        }
    }
    let bye = Presence {
        leaving: true,
        ..me
    };
    say(&nats, &bye).await;
    let _ = nats.flush().await;
}

/// The client's side: the workers of its build it has heard from, and when.
#[derive(Default)]
pub(super) struct Seen {
    workers: Mutex<HashMap<String, Instant>>,
}

impl Seen {
    /// Records an announcement of a worker of `build` (others are ignored).
    fn heard(&self, presence: Presence, build: &str) {
        if presence.build != build {
            return;
        }
        let mut workers = self.workers.lock();
        if presence.leaving {
            workers.remove(&presence.worker);
        } else {
            workers.insert(presence.worker, Instant::now());
        }
    }

    /// The workers heard from within [`STALE`] that haven't left.
    pub(super) fn count(&self) -> usize {
        let mut workers = self.workers.lock();
        workers.retain(|_, seen| seen.elapsed() <= STALE);
        workers.len()
    }
}

/// The client's runtime task that reads the announcements, while the
/// client lives.
pub(super) async fn listen(
    shared: std::sync::Weak<super::client::Shared>,
    mut announcements: async_nats::Subscriber,
) {
    while let Some(message) = announcements.next().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Ok(presence) = wire::decode::<Presence>(&message.payload) {
            shared.seen.heard(presence, &shared.build);
        }
    }
}
