//! The client's side: the tasks it waits for ([`Shared::pending`]), how a
//! task is published to the work queue, and how a worker's reply ends it.
//!
//! This file holds the client's shared state and what changes it (a reply,
//! a sweep, a shutdown); `client/tasks.rs` the tasks the client runs on
//! the feature's runtime (publishing a task's message, reading the
//! server's advisories of lost tasks, sweeping ended tasks);
//! `client/slot.rs` a task as the client holds it, and its decoding.
//!
//! Everything here runs on the feature's runtime thread or the submitting
//! thread; it never runs user code. A reply that carries a value ends its
//! task with a *deferred* outcome, decoded (under `catch_unwind`) by the
//! thread that takes it or by the callback runner, as a process pool's does.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::wire::Reply;
use crate::core::state::End;
use crate::error::TaskError;
use crate::executor::metrics::Counters;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::progress::live;
use crate::remote::registry::Outcome;

mod slot;
mod tasks;

pub(super) use slot::{Decoder, Queued, Slot, Typed, outcome};
pub(super) use tasks::{publish, read_lost, sweep, transient, until_due};

/// What the client knows of one task it waits for.
pub(super) struct Pending {
    pub(super) slot: Box<dyn Slot>,
    started: bool,
    /// The worker that started it (the last, if it was redelivered).
    worker: Option<std::sync::Arc<str>>,
    /// Its message's sequence number in the stream, once published.
    seq: Option<u64>,
    /// When its message was stored (the match timeout counts from then).
    published: Option<std::time::Instant>,
    /// It waits for its start (`start_after`): nothing sent yet, and a
    /// shutdown ends it as cancelled.
    delayed: bool,
}

/// The client's state, shared by the executor's clones and the runtime's
/// tasks.
pub(super) struct Shared {
    pub(super) id: String,
    pub(super) build: String,
    pub(super) subject: String,
    pub(super) match_timeout: Duration,
    /// The consumer of this client's build's workers.
    pub(super) consumer: String,
    /// Where its tasks' cancel requests go (see `cancel.rs`).
    pub(super) requests: super::cancel::Requests,
    pub(super) js: jetstream::Context,
    pub(super) stream: stream::Stream,
    /// The results stream, where `collect` looks for a stored reply.
    pub(super) results: stream::Stream,
    /// `<prefix>.results.<client>`: the subjects of this client's replies
    /// start so.
    pub(super) replies: String,
    /// Added to a task's id in this process to make its id in the cluster:
    /// the time the client was built, in nanoseconds, so a client of the
    /// same id built later (a restart) never reuses an earlier one's ids.
    pub(super) base: u64,
    /// The results stream's sequence number where this client's replies
    /// start.
    pub(super) first_reply: u64,
    /// Tasks whose message is on its way to the work queue (`flush`
    /// waits for them; changed under `pending`'s lock).
    in_flight: AtomicUsize,
    /// Tasks taken out of `pending` whose end isn't counted yet (changed
    /// under `pending`'s lock): a shutdown waits for them too, so the
    /// metrics it leaves count every task.
    ending: AtomicUsize,
    pending: Mutex<HashMap<u64, Pending>>,
    /// Signalled when `pending` shrinks (a shutdown waits on it).
    drained: Condvar,
    pub(super) counters: Counters,
    pub(super) submitted: AtomicUsize,
    pub(super) shut: AtomicBool,
    /// The workers of this build that announced themselves.
    pub(super) seen: super::presence::Seen,
    /// The object store: large payloads, scattered values.
    pub(super) objects: Arc<super::objects::Objects>,
}

impl Shared {
    // One call site (the builder), each argument named there.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        id: String,
        build: String,
        (subject, consumer): (String, String),
        match_timeout: Duration,
        requests: super::cancel::Requests,
        js: jetstream::Context,
        (stream, results): (stream::Stream, stream::Stream),
        replies: String,
        first_reply: u64,
        objects: Arc<super::objects::Objects>,
    ) -> Shared {
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Shared {
            id,
            build,
            subject,
            match_timeout,
            consumer,
            requests,
            js,
            stream,
            results,
            replies,
            base,
            first_reply,
            in_flight: AtomicUsize::new(0),
            ending: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            drained: Condvar::new(),
            counters: Counters::new(),
            submitted: AtomicUsize::new(0),
            shut: AtomicBool::new(false),
            seen: Default::default(),
            objects,
        }
    }

    /// Waits for `task`; `delayed` if it waits for its start first.
    pub(super) fn insert(&self, task: u64, slot: Box<dyn Slot>, delayed: bool) {
        self.pending.lock().insert(
            task,
            Pending {
                slot,
                started: false,
                worker: None,
                seq: None,
                published: None,
                delayed,
            },
        );
    }

    /// A delayed task's start has come: `true` if it is to be sent (no
    /// shutdown, cancel or deadline ended it meanwhile).
    pub(super) fn due(&self, task: u64) -> bool {
        match self.pending.lock().get_mut(&task) {
            Some(p) if p.slot.ended().is_none() => {
                p.delayed = false;
                true
            }
            _ => false,
        }
    }

    /// Whether the client still waits for `task`, and it hasn't ended.
    pub(super) fn waits_for(&self, task: u64) -> bool {
        self.pending
            .lock()
            .get(&task)
            .is_some_and(|p| p.slot.ended().is_none())
    }

    /// Ends every task still waiting for its start as cancelled (a
    /// shutdown): it never runs.
    pub(super) fn cancel_delayed(&self) {
        let delayed: Vec<(u64, Pending)> = {
            let mut pending = self.pending.lock();
            let ids: Vec<u64> = pending
                .iter()
                .filter(|(_, p)| p.delayed)
                .map(|(k, _)| *k)
                .collect();
            ids.iter()
                .filter_map(|id| Some((*id, pending.remove(id)?)))
                .collect()
        };
        for (task, p) in delayed {
            live::ended(self.local(task), u64::MAX);
            self.counters.count(p.slot.cancel());
        }
        self.drained.notify_all();
    }

    /// Waits for `task` unless the client already does (then hands the
    /// slot back).
    pub(super) fn insert_new(&self, task: u64, slot: Box<dyn Slot>) -> Result<(), Box<dyn Slot>> {
        let mut pending = self.pending.lock();
        if pending.contains_key(&task) {
            return Err(slot);
        }
        pending.insert(
            task,
            Pending {
                slot,
                started: false,
                worker: None,
                seq: None,
                published: None,
                delayed: false,
            },
        );
        Ok(())
    }

    /// Ends `task` by `end` (which says how it ended; `failed` of its
    /// units without a value) if the client still waits for it, and counts
    /// it before a shutdown can see it gone.
    pub(super) fn end(&self, task: u64, failed: u64, end: impl FnOnce(Box<dyn Slot>) -> End) {
        if let Some(p) = self.take_ending(task, |_| true) {
            // Before the handle resolves: see `live::ended`.
            live::ended(self.local(task), failed);
            self.ended(end(p.slot));
        }
    }

    /// Takes `task` out of `pending` if `take` says so, as ending: counted
    /// by [`ended`](Self::ended).
    fn take_ending(&self, task: u64, take: impl FnOnce(&Pending) -> bool) -> Option<Pending> {
        let mut pending = self.pending.lock();
        if !take(pending.get(&task)?) {
            return None;
        }
        // ORDERING: Relaxed: read and written under `pending`'s lock.
        self.ending.fetch_add(1, Ordering::Relaxed);
        pending.remove(&task)
    }

    /// Counts the end of a task [taken as ending](Self::take_ending).
    fn ended(&self, end: End) {
        {
            let _pending = self.pending.lock();
            self.counters.count(end);
            // ORDERING: Relaxed: under `pending`'s lock.
            self.ending.fetch_sub(1, Ordering::Relaxed);
        }
        self.drained.notify_all();
    }

    /// Whether the client waits for no task, and has counted every end.
    fn is_drained(&self, pending: &HashMap<u64, Pending>) -> bool {
        // ORDERING: Relaxed: under `pending`'s lock.
        pending.is_empty() && self.ending.load(Ordering::Relaxed) == 0
    }

    /// Whether [`is_drained`](Self::is_drained), now.
    pub(super) fn drained_now(&self) -> bool {
        self.is_drained(&self.pending.lock())
    }

    /// Ends `task` with `err` if the client still waits for it.
    pub(super) fn fail(&self, task: u64, err: TaskError) {
        self.end(task, u64::MAX, |slot| slot.fail(err));
    }

    /// The number of the [`TaskId`](crate::TaskId) of the task numbered
    /// `task` in the cluster (what progress reports know it by).
    fn local(&self, task: u64) -> u64 {
        task.wrapping_sub(self.base)
    }

    /// How many tasks the client waits for; (queued, running).
    pub(super) fn counts(&self) -> (usize, usize) {
        let pending = self.pending.lock();
        let running = pending.values().filter(|p| p.started).count();
        (pending.len() - running, running)
    }

    /// Cancels every task no worker has started. Returns the tasks whose
    /// message is stored in the queue, and where: it is to leave the queue
    /// ([`withdraw`](Self::withdraw)), or a worker would run it all the
    /// same.
    pub(super) fn cancel_queued(&self) -> Vec<(u64, u64)> {
        let queued: Vec<(u64, Pending)> = {
            let mut pending = self.pending.lock();
            let ids: Vec<u64> = pending
                .iter()
                .filter(|(_, p)| !p.started)
                .map(|(k, _)| *k)
                .collect();
            ids.iter()
                .filter_map(|id| Some((*id, pending.remove(id)?)))
                .collect()
        };
        let mut stored = Vec::new();
        for (task, p) in queued {
            live::ended(self.local(task), u64::MAX);
            self.counters.count(p.slot.cancel());
            // One still on its way is taken out once stored (`publish`).
            if let Some(seq) = p.seq {
                stored.push((task, seq));
            }
        }
        self.drained.notify_all();
        stored
    }

    /// Takes the messages of tasks cancelled unstarted (`(task, seq)`) out
    /// of the queue, and asks the workers to kill them, for a worker that
    /// took one in that instant (as the sweep does for a handle's cancel).
    /// The deletions run at once, so this takes one round trip (or one
    /// request's timeout, the server away), however many tasks.
    pub(super) async fn withdraw(&self, tasks: Vec<(u64, u64)>) {
        let mut deleting = tokio::task::JoinSet::new();
        for (task, seq) in tasks {
            let stream = self.stream.clone();
            deleting.spawn(async move {
                let _ = stream.delete_message(seq).await;
                task
            });
        }
        while let Some(deleted) = deleting.join_next().await {
            if let Ok(task) = deleted {
                self.requests.send(task);
            }
        }
    }

    /// Asks the workers running the client's tasks to kill them (a
    /// shutdown that cancels running work); each handle resolves as
    /// cancelled when its worker has.
    pub(super) fn cancel_running(&self) {
        let pending = self.pending.lock();
        for (task, p) in pending.iter() {
            if p.started {
                self.requests.send(*task);
            }
        }
    }

    /// A task's message is on its way to the work queue.
    pub(super) fn sending(&self) {
        let _pending = self.pending.lock();
        // ORDERING: Relaxed: read and written under `pending`'s lock.
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A task's message is in the work queue, or never will be.
    pub(super) fn sent(&self) {
        {
            let _pending = self.pending.lock();
            // ORDERING: Relaxed: under `pending`'s lock.
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        self.drained.notify_all();
    }

    /// Waits until no task's message is on its way, or `deadline` passes.
    pub(super) fn wait_sent(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut pending = self.pending.lock();
        // ORDERING: Relaxed: under `pending`'s lock.
        while self.in_flight.load(Ordering::Relaxed) > 0 {
            match deadline {
                Some(d) => {
                    if self.drained.wait_until(&mut pending, d).timed_out() {
                        return self.in_flight.load(Ordering::Relaxed) == 0;
                    }
                }
                None => {
                    self.drained.wait(&mut pending);
                }
            }
        }
        true
    }

    /// Waits until the client waits for nothing, or `deadline` passes.
    pub(super) fn wait_drained(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut pending = self.pending.lock();
        while !self.is_drained(&pending) {
            match deadline {
                Some(d) => {
                    if self.drained.wait_until(&mut pending, d).timed_out() {
                        return self.is_drained(&pending);
                    }
                }
                None => {
                    // Woken by each reply, and by each sweep.
                    self.drained.wait_for(&mut pending, Duration::from_secs(1));
                }
            }
        }
        true
    }

    /// Forgets the tasks that something else ended (a handle's cancel, the
    /// deadline timer): their replies, if any come, are ignored. The
    /// message of one that no worker had started leaves the queue first;
    /// for a cancelled one, a cancel request follows, so that a worker that
    /// took it in that instant kills it (its reply is ignored).
    pub(super) async fn sweep(&self) {
        let (ended, seqs): (Vec<u64>, Vec<(u64, u64, bool)>) = {
            let pending = self.pending.lock();
            let mut ended = Vec::new();
            let mut seqs = Vec::new();
            for (task, p) in pending.iter() {
                if let Some(end) = p.slot.ended() {
                    ended.push(*task);
                    if let (false, Some(seq)) = (p.started, p.seq) {
                        seqs.push((*task, seq, end == End::Cancelled));
                    }
                }
            }
            (ended, seqs)
        };
        if ended.is_empty() {
            return;
        }
        for (task, seq, cancelled) in seqs {
            let _ = self.stream.delete_message(seq).await;
            if cancelled {
                self.requests.send(task);
            }
        }
        let ends: Vec<(u64, End)> = {
            let mut pending = self.pending.lock();
            ended
                .iter()
                .filter_map(|task| Some((*task, pending.remove(task)?)))
                .map(|(task, p)| {
                    // Counted under the lock: a shutdown never sees it gone
                    // and uncounted.
                    let end = p.slot.ended().unwrap_or(End::Error);
                    self.counters.count(end);
                    (task, end)
                })
                .collect()
        };
        for (task, end) in ends {
            let failed = if end == End::Value { 0 } else { u64::MAX };
            live::ended(self.local(task), failed);
        }
        self.drained.notify_all();
    }

    /// The task's message is in the stream at `seq`. Returns `false` if
    /// the task has ended meanwhile (cancelled, timed out): its message is
    /// then to leave the queue.
    pub(super) fn published(&self, task: u64, seq: u64) -> bool {
        match self.pending.lock().get_mut(&task) {
            Some(p) => {
                p.seq = Some(seq);
                p.published = Some(std::time::Instant::now());
                p.slot.ended().is_none()
            }
            None => false,
        }
    }

    /// A worker's reply.
    pub(super) fn on_reply(self: &Arc<Self>, reply: Reply) {
        let task = reply.task();
        match reply {
            Reply::Started { worker, .. } => {
                let known = match self.pending.lock().get_mut(&task) {
                    Some(p) => {
                        // One cancelled first stays unstarted: the sweep takes
                        // its message out and asks its worker to kill it. A
                        // second note (a redelivery) finds the cell started.
                        if !p.started {
                            p.started = p.slot.start();
                        }
                        if p.started {
                            p.worker = Some(worker.as_str().into());
                        }
                        p.started
                    }
                    None => false,
                };
                // Outside the lock: see `live.rs`'s lock order.
                if known {
                    live::started(self.local(task), &worker);
                }
            }
            Reply::Done {
                worker, outcomes, ..
            } => {
                let failed = failed_units(&outcomes);
                self.end(task, failed, |slot| slot.done(outcomes, worker));
            }
            Reply::TimedOut { .. } => self.fail(task, TaskError::timeout()),
            Reply::Failed {
                worker, message, ..
            } => self.fail(
                task,
                TaskError::cluster(format!("the task failed on worker {worker}: {message}")),
            ),
            Reply::Cancelled { .. } => self.end(task, u64::MAX, |slot| slot.cancelled()),
            // Not sent since version 3: a worker sees only its build's.
            Reply::Mismatch { .. } => {}
            Reply::DoneObject { worker, object, .. } => {
                tokio::spawn(super::objects::fetch_done(
                    self.clone(),
                    task,
                    worker,
                    object,
                ));
            }
            Reply::TooLarge {
                worker, message, ..
            } => self.fail(
                task,
                TaskError::too_large(format!("on worker {worker}: {message}")),
            ),
        }
    }

    /// Whether some task waits, stored in the queue, unstarted.
    pub(super) fn has_unstarted(&self) -> bool {
        self.pending
            .lock()
            .values()
            .any(|p| !p.started && p.published.is_some())
    }

    /// Fails the tasks that have waited unstarted for the match timeout
    /// while only workers of other builds (`others`) consumed the queue,
    /// since `since`; their messages leave the queue.
    pub(super) async fn no_match(&self, since: std::time::Instant, others: &[String]) {
        let now = std::time::Instant::now();
        let taken: Vec<(u64, Pending)> = {
            let mut pending = self.pending.lock();
            let late: Vec<u64> = pending
                .iter()
                .filter(|(_, p)| {
                    !p.started
                        && p.slot.ended().is_none()
                        && p.published.is_some_and(|at| {
                            now.saturating_duration_since(at.max(since)) >= self.match_timeout
                        })
                })
                .map(|(task, _)| *task)
                .collect();
            late.iter()
                .filter_map(|t| {
                    let p = pending.remove(t)?;
                    // ORDERING: Relaxed: under `pending`'s lock.
                    self.ending.fetch_add(1, Ordering::Relaxed);
                    Some((*t, p))
                })
                .collect()
        };
        for (task, p) in taken {
            live::ended(self.local(task), u64::MAX);
            if let Some(seq) = p.seq {
                let _ = self.stream.delete_message(seq).await;
            }
            let err = TaskError::cluster(format!(
                "no worker of build {} took the task within {:?}: workers of build {} consume \
                 the queue, none of build {}",
                self.build,
                self.match_timeout,
                others.join(", "),
                self.build
            ));
            self.ended(p.slot.fail(err));
        }
        self.drained.notify_all();
    }
}

/// Where a task of this client is, for a progress report (`task` is the
/// number of its `TaskId`): queued until a worker's note says it started,
/// then running there until its reply.
impl live::Source for Shared {
    fn place(&self, task: u64) -> Option<live::Place> {
        let pending = self.pending.lock();
        let p = pending.get(&self.base.wrapping_add(task))?;
        Some(match &p.worker {
            Some(worker) if p.started => live::Place::Running(worker.clone()),
            _ => live::Place::Queued,
        })
    }
}

/// How many of a task's units (a call's one, a chunk's each) ended
/// without a value, for progress reports.
pub(super) fn failed_units(outcomes: &[Outcome]) -> u64 {
    outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::Value(_)))
        .count() as u64
}

/// Whether the client is shut down.
pub(super) fn is_shut(shared: &Shared) -> bool {
    // ORDERING: Acquire pairs with the shutdown's Release store.
    shared.shut.load(Ordering::Acquire)
}
