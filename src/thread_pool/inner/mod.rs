//! The shared state of a thread pool: the queue, the counters of the wake
//! protocol, submit, and shutdown. The workers' loop is in `worker.rs`; the
//! protocol is described in `README.md` in `src/thread_pool/`.
//!
//! This file holds the state, submit, and waking or starting a worker;
//! `shutdown.rs` how the pool closes (a shutdown, a broken pool) and waits
//! for its workers; `tag.rs` the pool's [`PoolTag`].

mod shutdown;
mod tag;

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use super::job::{Context, Run, Taken};
use crate::core::blocking;
use crate::core::cell::Cancel;
use crate::core::state::End;
use crate::core::timer::Timer;
use crate::error::{BoxError, Refusal, TaskError};
use crate::executor::metrics::Counters;
use crate::loom::SegQueue;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex, Weak};
use crate::loom::thread;
use crate::threads::ThreadSet;
use tag::PoolTag;

pub(crate) type Initializer = dyn Fn() -> Result<(), BoxError> + Send + Sync + 'static;

pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) name_prefix: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) initializer: Option<Arc<Initializer>>,
    pub(crate) keep_alive: Duration,
    pub(crate) capacity: Option<usize>,
    /// The most workers whose places are lent at once.
    pub(crate) max_lent: usize,
}

/// A counter on a cache line of its own (128 bytes: a line and the one the
/// prefetcher pairs with it, as crossbeam's `CachePadded`). The pool's hot
/// counters are written by different threads at every task (`queued` by
/// submitters and workers, `submitting` by submitters, `spinning` by
/// workers); sharing a line, each write would evict the others' copies,
/// and the fields read at every task (`closed`, `active`, the config) with
/// them.
#[repr(align(128))]
pub(crate) struct Line<T>(pub(crate) T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) struct Inner {
    /// Tasks submitted and not yet taken by a worker. Lock-free: submitters
    /// and workers don't take the pool's mutex to push or pop.
    queue: SegQueue<Arc<dyn Run>>,
    /// Tasks counted into `queue` (incremented *before* a push, reserving
    /// a slot of a bounded queue), and tasks taken out of it (incremented
    /// *after* a pop): `pushed - popped` is how many are queued, and never
    /// under-counts what a worker can find. Two counters, each written by
    /// one side only (submitters, workers), on lines of their own: one
    /// counter written by both sides moved its line between them at every
    /// task. Read with [`queued`](Self::queued).
    pub(super) pushed: Line<AtomicUsize>,
    pub(super) popped: Line<AtomicUsize>,
    /// Submits that passed the `closed` check and have not finished pushing.
    /// Shutdown waits for it to drain, so no task is pushed behind it.
    pub(super) submitting: Line<AtomicUsize>,
    /// Set once, by shutdown or by a failed initializer.
    pub(super) closed: AtomicBool,
    /// Workers asleep on `work`, or committed to it (changed under the lock).
    pub(super) sleeping: AtomicUsize,
    /// Workers spinning a moment for work before they sleep, and workers
    /// just started. Each is sure to look at the queue *after* it stops
    /// being counted here; see `README.md`, "No lost start".
    pub(super) spinning: Line<AtomicUsize>,
    /// `threads - lent`, the count held to `max_workers` (changed under the lock).
    pub(super) active: AtomicUsize,
    /// Submitters waiting for room in a bounded queue (changed under the lock).
    room_waiters: AtomicUsize,
    /// `PoolState::threads`, readable without the lock (for `metrics`).
    /// Written only under the lock, by `publish_counts`.
    pub(super) threads: AtomicUsize,
    /// How the tasks taken off the queue ended (see `metrics`), written by
    /// whichever thread ends a task, at most once per task: on a line of
    /// its own, away from the queue's counters.
    pub(crate) counters: Line<Counters>,
    /// Tasks a waiter ran itself (help-while-waiting) that ended, less the
    /// queue entries of such tasks taken off the queue: the ended tasks
    /// whose entries are still queued, which `metrics` doesn't count as
    /// queued. Only ever read by `metrics`; wrapping (read as signed), since
    /// an entry may be taken off before its task ends.
    pub(super) helped: AtomicUsize,
    pub(super) state: Mutex<PoolState>,
    /// Idle workers wait here for work.
    pub(super) work: Condvar,
    /// Workers held in reserve (see `PoolState::reserve`) wait here.
    pub(super) reserve: Condvar,
    /// Submitters wait here for room in a bounded queue.
    room: Condvar,
    /// Shutdowns wait here for workers to exit.
    pub(super) exited: Condvar,
    pub(crate) config: Config,
    pub(crate) timer: Timer,
    /// The cancellable tasks running now: what a shutdown that cancels
    /// running work reaches. Only tasks with a token are here (a thread
    /// can't be stopped otherwise), so plain tasks never touch it.
    running: Mutex<Running>,
    /// Test-only interleaving points; see `tests.rs`.
    #[cfg(test)]
    pub(super) hook: Option<Arc<dyn Fn(Point) + Send + Sync>>,
    /// What this pool's tasks carry (`TaskSpec::owner`), so that only its
    /// workers help with them. Last, so that it is given back only once
    /// the queue (and every task in it) is gone.
    pub(crate) tag: PoolTag,
}

/// The cancellable tasks of a pool that are running (or about to start),
/// and whether a shutdown has cancelled the running ones.
#[derive(Default)]
struct Running {
    /// By id, registered just before they start.
    tasks: HashMap<u64, Weak<dyn Cancel>>,
    /// Set by a shutdown that cancelled the running tasks: whether it
    /// cancelled the queued ones too. A cancellable task that comes to
    /// start after it is cancelled unrun if it was in a worker's hands at
    /// the shutdown ([`Taken::WhileOpen`]), or queued at a shutdown that
    /// cancelled the queued tasks: that shutdown could reach it neither in
    /// the queue nor here.
    stopped: Option<bool>,
}

/// Places in the protocol where a unit test can stop a worker to force an
/// interleaving (`tests.rs`). Outside tests, reaching one does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Point {
    /// A worker just started has taken its first task off the queue, and
    /// hasn't run it yet.
    FirstTaskTaken,
}

/// What only the slow paths need, under the pool's mutex.
#[derive(Default)]
pub(super) struct PoolState {
    /// Live worker threads.
    pub(super) threads: usize,
    /// Wake-ups sent to sleeping workers and not yet taken up.
    pub(super) notified: usize,
    /// Workers blocked in a futurepool wait, their places lent to the pool.
    pub(super) lent: usize,
    /// Workers held in reserve: a lender that came back to a pool already
    /// at `max_workers` (a thread was started in its place) finishes its
    /// task, then waits on `reserve` rather than exit, so that the next
    /// lend takes it back instead of starting a thread. Not counted in
    /// `active`. It leaves after the keep-alive, or when the pool closes.
    pub(super) reserve: usize,
    /// Reserve workers taken back (by `wake_or_spawn`) that have not woken
    /// yet: each takes one and goes back to work.
    pub(super) recalled: usize,
    /// Workers of this pool blocked inside this pool's own `shutdown`:
    /// other shutdowns don't wait for them (they would wait for each other).
    in_shutdown: usize,
    pub(super) shutdown: bool,
    pub(super) broken: Option<Arc<BoxError>>,
    /// Worker threads started so far (the next one's index).
    pub(super) next_index: usize,
    /// The most live worker threads there have been at once.
    pub(super) peak_threads: usize,
    pub(super) workers: ThreadSet,
}

impl PoolState {
    /// Workers counted against `max_workers`: the lent ones and those in
    /// reserve don't count.
    pub(super) fn active(&self) -> usize {
        self.threads.saturating_sub(self.lent + self.reserve)
    }
}

impl Inner {
    pub(crate) fn new(config: Config) -> Inner {
        let timer = Timer::new(format!("{}-timer", config.name_prefix));
        Inner {
            queue: SegQueue::new(),
            pushed: Line(AtomicUsize::new(0)),
            popped: Line(AtomicUsize::new(0)),
            submitting: Line(AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
            sleeping: AtomicUsize::new(0),
            spinning: Line(AtomicUsize::new(0)),
            active: AtomicUsize::new(0),
            room_waiters: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
            counters: Line(Counters::new()),
            helped: AtomicUsize::new(0),
            state: Mutex::new(PoolState::default()),
            work: Condvar::new(),
            reserve: Condvar::new(),
            room: Condvar::new(),
            exited: Condvar::new(),
            config,
            timer,
            running: Mutex::new(Running::default()),
            #[cfg(test)]
            hook: None,
            tag: PoolTag::new(),
        }
    }

    /// Reaches a test interleaving point.
    #[inline]
    pub(super) fn reach(&self, point: Point) {
        #[cfg(test)]
        if let Some(hook) = &self.hook {
            hook(point);
        }
        #[cfg(not(test))]
        let _ = point;
    }

    /// Copies the counts the lock-free paths read. Called under the lock
    /// after every change to `threads` or `lent`.
    pub(super) fn publish_counts(&self, st: &PoolState) {
        // ORDERING: SeqCst: read by submitters deciding whether to wake.
        self.active.store(st.active(), Ordering::SeqCst);
        // ORDERING: Relaxed: a statistic, read by `metrics` only.
        self.threads.store(st.threads, Ordering::Relaxed);
    }

    /// Queues `job`. With `block`, waits for room in a bounded queue;
    /// without, a full queue refuses.
    ///
    /// The fast path takes no lock: reserve a count in `queued`, announce
    /// the submit in `submitting`, check `closed`, push, and wake nobody if a
    /// spinning or busy worker will find the task anyway.
    pub(crate) fn push<R: Run + 'static>(
        self: &Arc<Self>,
        job: Arc<R>,
        block: bool,
    ) -> Result<(), (Arc<R>, Refusal)> {
        // ORDERING (throughout): SeqCst. The wake protocol is a Dekker-style
        // handshake between a submitter (write `queued`, then read
        // `sleeping`/`spinning`) and a worker going to sleep or done spinning
        // (write `sleeping`/`spinning`, then read `queued`): in the single
        // total order of SeqCst operations at least one of them sees the
        // other's write.
        if self.closed.load(Ordering::SeqCst) {
            return Err((job, self.refusal().unwrap_or(Refusal::Shutdown)));
        }
        if let Err(reason) = self.reserve(block) {
            return Err((job, reason));
        }
        self.submitting.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.submitting.fetch_sub(1, Ordering::SeqCst);
            self.unreserve();
            return Err((job, self.refusal().unwrap_or(Refusal::Shutdown)));
        }
        let mut started = false;
        if self.active.load(Ordering::SeqCst) == 0 {
            // No worker at all: start one before the task is queued, so a
            // failure to start it refuses a task nobody has seen.
            let mut st = self.state.lock();
            if st.threads == 0 {
                if let Err(err) = self.spawn_worker(&mut st) {
                    drop(st);
                    self.submitting.fetch_sub(1, Ordering::SeqCst);
                    self.unreserve();
                    return Err((job, Refusal::spawn(err)));
                }
                started = true;
            }
        }
        // The task's own reference moves into the queue: no count is
        // taken or dropped for it.
        self.queue.push(job as Arc<dyn Run>);
        self.submitting.fetch_sub(1, Ordering::SeqCst);
        if started {
            // That worker can't sleep while `queued` counts this task (it
            // was counted before the worker started): it will take it.
            return Ok(());
        }

        // Each queued task has a spinning worker that will look at the
        // queue after it stops spinning.
        if self.queued() <= self.spinning.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Nobody asleep, and the pool is at its size: a busy worker takes the
        // task when it comes back to the queue, before it could sleep.
        if self.sleeping.load(Ordering::SeqCst) == 0
            && self.active.load(Ordering::SeqCst) >= self.config.max_workers
        {
            return Ok(());
        }
        let mut st = self.state.lock();
        if let Err(err) = self.wake_or_spawn(&mut st) {
            if st.threads == 0 {
                // The one worker retired just as this task arrived, and no
                // other can be started: nothing will ever run the queue.
                // Fail what is there rather than leave it hanging.
                drop(st);
                let err = Arc::new(err);
                while let Some(job) = self.pop() {
                    job.fail_queued(TaskError::spawn_failure(err.clone()), Some(&**self));
                }
            }
        }
        Ok(())
    }

    /// Counts a task into `queued`, waiting for room in a full bounded
    /// queue, or refusing without `block`.
    fn reserve(self: &Arc<Self>, block: bool) -> Result<(), Refusal> {
        let Some(cap) = self.config.capacity else {
            self.pushed.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        };
        let try_reserve = || {
            let popped = self.popped.load(Ordering::SeqCst);
            self.pushed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |pushed| {
                    (pushed.wrapping_sub(popped) < cap).then_some(pushed + 1)
                })
                .is_ok()
        };
        if try_reserve() {
            return Ok(());
        }
        if !block {
            return Err(Refusal::Full);
        }
        // A worker (of any pool) waiting here lends its place. Declared
        // before the state guard, so it drops after it: ending the loan
        // locks that pool's state.
        let _blocking = blocking::enter();
        let mut st = self.state.lock();
        self.room_waiters.fetch_add(1, Ordering::SeqCst);
        let outcome = loop {
            if self.closed.load(Ordering::SeqCst) {
                break Err(if st.shutdown {
                    Refusal::Shutdown
                } else {
                    st.broken.clone().map_or(Refusal::Shutdown, Refusal::Broken)
                });
            }
            if try_reserve() {
                break Ok(());
            }
            self.room.wait(&mut st);
        };
        self.room_waiters.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    /// Gives back a count taken by `reserve` for a task that was not pushed.
    fn unreserve(&self) {
        self.pushed.fetch_sub(1, Ordering::SeqCst);
        self.room_freed();
    }

    /// Takes the next task off the queue.
    pub(super) fn pop(&self) -> Option<Arc<dyn Run>> {
        let job = self.queue.pop()?;
        self.popped.fetch_add(1, Ordering::SeqCst);
        self.room_freed();
        Some(job)
    }

    /// A bounded queue has room again: wake one submitter waiting for it.
    fn room_freed(&self) {
        if self.config.capacity.is_some() && self.room_waiters.load(Ordering::SeqCst) > 0 {
            // Under the lock, so the waiter is either in `wait` or about to
            // re-check `queued` before waiting: it can't miss this.
            let _st = self.state.lock();
            self.room.notify_one();
        }
    }

    /// Makes sure someone will take a queued task: wakes a sleeping worker,
    /// or starts a new one if the pool has room.
    pub(super) fn wake_or_spawn(self: &Arc<Self>, st: &mut PoolState) -> io::Result<()> {
        if self.queued() <= self.spinning.load(Ordering::SeqCst) {
            Ok(()) // each queued task has a spinning worker to take it
        } else if self.sleeping.load(Ordering::SeqCst) > st.notified {
            st.notified += 1;
            self.work.notify_one();
            Ok(())
        } else if st.active() < self.config.max_workers {
            if st.reserve > 0 {
                // A worker in reserve takes the place: no thread started.
                // It is counted as active from now, and its first look
                // after it wakes is at the queue.
                st.reserve -= 1;
                st.recalled += 1;
                self.publish_counts(st);
                self.reserve.notify_one();
                Ok(())
            } else {
                self.spawn_worker(st)
            }
        } else {
            Ok(()) // a busy worker will take it
        }
    }

    fn spawn_worker(self: &Arc<Self>, st: &mut PoolState) -> io::Result<()> {
        let index = st.next_index;
        let name = format!("{}-{}", self.config.name_prefix, index);
        let inner = self.clone();
        // Counted as spinning until its loop starts: it will look at the
        // queue first thing, so nobody needs to wake it or start another.
        self.spinning.fetch_add(1, Ordering::SeqCst);
        let spawned = thread::spawn_named(name, self.config.stack_size, move || {
            inner.run_worker(index)
        });
        let handle = match spawned {
            Ok(handle) => handle,
            Err(err) => {
                self.spinning.fetch_sub(1, Ordering::SeqCst);
                return Err(err);
            }
        };
        st.next_index += 1;
        st.threads += 1;
        st.peak_threads = st.peak_threads.max(st.threads);
        self.publish_counts(st);
        st.workers.insert(index, handle);
        Ok(())
    }

    /// Why a submit would be refused now, if it would.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        if !self.closed.load(Ordering::SeqCst) {
            return None;
        }
        let st = self.state.lock();
        if st.shutdown {
            Some(Refusal::Shutdown)
        } else {
            st.broken.clone().map(Refusal::Broken)
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.state.lock().shutdown
    }

    pub(crate) fn worker_count(&self) -> usize {
        self.state.lock().threads
    }

    pub(crate) fn queued(&self) -> usize {
        // ORDERING: SeqCst, part of the wake protocol. `popped` first: a
        // pop between the two loads can only make this over-count, which
        // costs a look at the queue, never a lost task.
        let popped = self.popped.load(Ordering::SeqCst);
        self.pushed.load(Ordering::SeqCst).wrapping_sub(popped)
    }
}

impl Context for Inner {
    fn pool_tag(&self) -> u16 {
        self.tag.get()
    }

    fn timer(&self) -> &Timer {
        &self.timer
    }

    fn running(&self, id: u64, task: Weak<dyn Cancel>, taken: Taken) -> bool {
        let mut running = self.running.lock();
        match running.stopped {
            Some(queued_too) if queued_too || taken == Taken::WhileOpen => false,
            _ => {
                running.tasks.insert(id, task);
                true
            }
        }
    }

    fn done_running(&self, id: u64) {
        self.running.lock().tasks.remove(&id);
    }

    #[inline]
    fn ended(&self, end: End) {
        self.counters.count(end);
    }

    fn helped_ended(&self) {
        // ORDERING: Relaxed, a statistic (see `metrics`).
        self.helped.fetch_add(1, Ordering::Relaxed);
    }

    fn helped_entry_taken(&self) {
        // ORDERING: Relaxed, a statistic (see `metrics`).
        self.helped.fetch_sub(1, Ordering::Relaxed);
    }
}
