//! The shared state of a thread pool and its workers' loop. The protocol is
//! described in `README.md` beside this file.

use std::cell::RefCell;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

use crate::error::{BoxError, Refusal, TaskError, payload_message};
use crate::sync::{
    Arc, AtomicBool, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, SegQueue, Weak, spin_until,
};
use crate::task::Runnable;
use crate::threads::{ThreadSet, join_all};
use crate::timer::Timer;

pub(crate) type Initializer = dyn Fn() -> Result<(), BoxError> + Send + Sync + 'static;

pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) name_prefix: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) initializer: Option<Arc<Initializer>>,
    pub(crate) keep_alive: Duration,
    pub(crate) capacity: Option<usize>,
}

pub(crate) struct Inner {
    /// Tasks submitted and not yet taken by a worker. Lock-free: submitters
    /// and workers don't take the pool's mutex to push or pop.
    queue: SegQueue<Arc<dyn Runnable>>,
    /// Tasks counted into `queue` and not yet taken out: incremented *before*
    /// a push (reserving a slot of a bounded queue) and decremented *after* a
    /// pop, so it never under-counts what a worker can find.
    queued: AtomicUsize,
    /// Submits that passed the `closed` check and have not finished pushing.
    /// Shutdown waits for it to drain, so no task is pushed behind it.
    submitting: AtomicUsize,
    /// Set once, by shutdown or by a failed initializer.
    closed: AtomicBool,
    /// Workers asleep on `work`, or committed to it (changed under the lock).
    sleeping: AtomicUsize,
    /// Workers spinning a moment for work before they sleep, and workers
    /// just started: both are sure to look at the queue before sleeping.
    spinning: AtomicUsize,
    /// `threads - lent`, the count held to `max_workers` (changed under the lock).
    active: AtomicUsize,
    /// Submitters waiting for room in a bounded queue (changed under the lock).
    room_waiters: AtomicUsize,
    state: Mutex<PoolState>,
    /// Idle workers wait here for work.
    work: Condvar,
    /// Submitters wait here for room in a bounded queue.
    room: Condvar,
    pub(crate) config: Config,
    pub(crate) timer: Timer,
}

/// What only the slow paths need, under the pool's mutex.
#[derive(Default)]
struct PoolState {
    /// Live worker threads.
    threads: usize,
    /// Wake-ups sent to sleeping workers and not yet taken up.
    notified: usize,
    /// Workers blocked in a futurepool wait, their places lent to the pool.
    lent: usize,
    shutdown: bool,
    broken: Option<Arc<BoxError>>,
    next_index: usize,
    workers: ThreadSet,
}

impl PoolState {
    /// Workers counted against `max_workers`: the lent ones don't count.
    fn active(&self) -> usize {
        self.threads.saturating_sub(self.lent)
    }
}

thread_local! {
    /// The pool this thread is a worker of.
    static CURRENT: RefCell<Option<Weak<Inner>>> = const { RefCell::new(None) };
}

/// While alive, the current worker's place is lent to its pool.
pub(crate) struct Lend(Arc<Inner>);

impl Drop for Lend {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        st.lent -= 1;
        self.0.publish_counts(&st);
    }
}

/// Called before a futurepool wait blocks. On a pool worker, lends the
/// worker's place to the pool until the returned guard drops, starting
/// another worker if work is queued and none is idle. Elsewhere, a no-op.
pub(crate) fn enter_blocking() -> Option<Lend> {
    let inner = CURRENT.with(|c| c.borrow().as_ref().and_then(Weak::upgrade))?;
    {
        let mut st = inner.state.lock();
        st.lent += 1;
        inner.publish_counts(&st);
        // ORDERING: SeqCst, like every read of the counters in the wake
        // protocol (see the README beside this file).
        if inner.queued.load(Ordering::SeqCst) > 0 {
            // A failure to start a thread only means the queue waits for a
            // worker that is already running.
            let _ = inner.wake_or_spawn(&mut st);
        }
    }
    Some(Lend(inner))
}

impl Inner {
    pub(crate) fn new(config: Config) -> Inner {
        let timer = Timer::new(format!("{}-timer", config.name_prefix));
        Inner {
            queue: SegQueue::new(),
            queued: AtomicUsize::new(0),
            submitting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            sleeping: AtomicUsize::new(0),
            spinning: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            room_waiters: AtomicUsize::new(0),
            state: Mutex::new(PoolState::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            config,
            timer,
        }
    }

    /// Copies the counts the lock-free paths read. Called under the lock
    /// after every change to `threads` or `lent`.
    fn publish_counts(&self, st: &PoolState) {
        // ORDERING: SeqCst: read by submitters deciding whether to wake.
        self.active.store(st.active(), Ordering::SeqCst);
    }

    /// Queues `job`. With `block`, waits for room in a bounded queue;
    /// without, a full queue refuses.
    ///
    /// The fast path takes no lock: reserve a count in `queued`, announce
    /// the submit in `submitting`, check `closed`, push, and wake nobody if a
    /// spinning or busy worker will find the task anyway.
    pub(crate) fn push(
        self: &Arc<Self>,
        job: Arc<dyn Runnable>,
        block: bool,
    ) -> Result<(), Refusal> {
        // ORDERING (throughout): SeqCst. The wake protocol is a Dekker-style
        // handshake between a submitter (write `queued`, then read
        // `sleeping`) and a worker going to sleep (write `sleeping`, then
        // read `queued`): in the single total order of SeqCst operations at
        // least one of them sees the other's write.
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.refusal().unwrap_or(Refusal::Shutdown));
        }
        self.reserve(block)?;
        self.submitting.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.submitting.fetch_sub(1, Ordering::SeqCst);
            self.unreserve();
            return Err(self.refusal().unwrap_or(Refusal::Shutdown));
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
                    return Err(Refusal::Spawn(err));
                }
                started = true;
            }
        }
        self.queue.push(job);
        self.submitting.fetch_sub(1, Ordering::SeqCst);
        if started {
            // That worker can't sleep while `queued` counts this task (it
            // was counted before the worker started): it will take it.
            return Ok(());
        }

        // Each queued task has a spinning worker that will see it.
        if self.queued.load(Ordering::SeqCst) <= self.spinning.load(Ordering::SeqCst) {
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
                    job.fail(TaskError::spawn_failure(err.clone()));
                }
            }
        }
        Ok(())
    }

    /// Counts a task into `queued`, waiting for room in a full bounded
    /// queue (lending this worker's place if it is one of ours), or refusing
    /// without `block`.
    fn reserve(self: &Arc<Self>, block: bool) -> Result<(), Refusal> {
        let Some(cap) = self.config.capacity else {
            self.queued.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        };
        let try_reserve = || {
            self.queued
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                    (q < cap).then_some(q + 1)
                })
                .is_ok()
        };
        if try_reserve() {
            return Ok(());
        }
        if !block {
            return Err(Refusal::Full);
        }
        // Declared before the state guard, so it drops after it: dropping a
        // `Lend` locks the state.
        let _lend = enter_blocking();
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
        self.queued.fetch_sub(1, Ordering::SeqCst);
        self.room_freed();
    }

    /// Takes the next task off the queue.
    fn pop(&self) -> Option<Arc<dyn Runnable>> {
        let job = self.queue.pop()?;
        self.queued.fetch_sub(1, Ordering::SeqCst);
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
    fn wake_or_spawn(self: &Arc<Self>, st: &mut PoolState) -> io::Result<()> {
        if self.queued.load(Ordering::SeqCst) <= self.spinning.load(Ordering::SeqCst) {
            Ok(()) // each queued task has a spinning worker to take it
        } else if self.sleeping.load(Ordering::SeqCst) > st.notified {
            st.notified += 1;
            self.work.notify_one();
            Ok(())
        } else if st.active() < self.config.max_workers {
            self.spawn_worker(st)
        } else {
            Ok(()) // a busy worker will take it
        }
    }

    fn spawn_worker(self: &Arc<Self>, st: &mut PoolState) -> io::Result<()> {
        let index = st.next_index;
        let mut builder =
            thread::Builder::new().name(format!("{}-{}", self.config.name_prefix, index));
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let inner = self.clone();
        // Counted as spinning until its loop starts: it will look at the
        // queue first thing, so nobody needs to wake it or start another.
        self.spinning.fetch_add(1, Ordering::SeqCst);
        let handle = match builder.spawn(move || inner.worker_main(index)) {
            Ok(handle) => handle,
            Err(err) => {
                self.spinning.fetch_sub(1, Ordering::SeqCst);
                return Err(err);
            }
        };
        st.next_index += 1;
        st.threads += 1;
        self.publish_counts(st);
        st.workers.insert(index, handle);
        Ok(())
    }

    fn worker_main(self: Arc<Self>, index: usize) {
        CURRENT.with(|c| *c.borrow_mut() = Some(Arc::downgrade(&self)));
        if let Some(init) = &self.config.initializer {
            let failure = match panic::catch_unwind(AssertUnwindSafe(|| init())) {
                Ok(Ok(())) => None,
                Ok(Err(err)) => Some(err),
                Err(payload) => Some(
                    format!(
                        "initializer panicked: {}",
                        payload_message(payload.as_ref()).unwrap_or("(non-string payload)")
                    )
                    .into(),
                ),
            };
            if let Some(cause) = failure {
                self.spinning.fetch_sub(1, Ordering::SeqCst);
                self.break_pool(cause);
                self.exit(self.state.lock(), index);
                return;
            }
        }
        // Counted as spinning until its first look at the queue.
        let mut starting = true;

        // Whether this worker has spun for work since its last task.
        let mut spun = false;
        loop {
            let job = self.pop();
            if starting {
                starting = false;
                self.spinning.fetch_sub(1, Ordering::SeqCst);
            }
            if let Some(job) = job {
                spun = false;
                // `run` catches the task's panic; this catches the rest (a
                // panicking drop of a value nobody wanted), so that a worker
                // never dies of a task.
                let _ = panic::catch_unwind(AssertUnwindSafe(move || {
                    job.run();
                    drop(job);
                }));
                // ORDERING: SeqCst, as everywhere in the wake protocol.
                if self.active.load(Ordering::SeqCst) > self.config.max_workers {
                    let st = self.state.lock();
                    if st.active() > self.config.max_workers {
                        // A lent worker came back: one too many.
                        return self.exit(st, index);
                    }
                }
                continue;
            }
            if self.closed.load(Ordering::SeqCst) {
                let st = self.state.lock();
                // Broken: the queue was failed. Shut down: leave once no
                // submit is in flight and the queue is empty.
                if st.broken.is_some()
                    || (self.submitting.load(Ordering::SeqCst) == 0
                        && self.queued.load(Ordering::SeqCst) == 0)
                {
                    return self.exit(st, index);
                }
                drop(st);
                thread::yield_now();
                continue;
            }
            if !spun {
                // Stay awake a moment before sleeping: the next task is often
                // microseconds away, and a spinning worker takes it with no
                // futex wake on either side.
                spun = true;
                self.spinning.fetch_add(1, Ordering::SeqCst);
                spin_until(|| {
                    self.queued.load(Ordering::SeqCst) > 0 || self.closed.load(Ordering::SeqCst)
                });
                self.spinning.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let mut st = self.state.lock();
            // Commit to sleeping, then look once more (the worker's half of
            // the handshake described in `push`).
            self.sleeping.fetch_add(1, Ordering::SeqCst);
            if self.queued.load(Ordering::SeqCst) > 0 || self.closed.load(Ordering::SeqCst) {
                self.sleeping.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let timed_out = self
                .work
                .wait_for(&mut st, self.config.keep_alive)
                .timed_out();
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            if st.notified > 0 {
                st.notified -= 1;
                continue;
            }
            if timed_out
                && self.queued.load(Ordering::SeqCst) == 0
                && !self.closed.load(Ordering::SeqCst)
            {
                return self.exit(st, index); // idle for keep_alive: retire
            }
        }
    }

    fn exit(&self, mut st: MutexGuard<'_, PoolState>, index: usize) {
        st.threads -= 1;
        self.publish_counts(&st);
        st.workers.exiting(index);
        CURRENT.with(|c| *c.borrow_mut() = None);
    }

    /// Closes the pool to new tasks and waits until every submit in flight
    /// has either pushed its task or backed out.
    fn close(&self, st: &mut MutexGuard<'_, PoolState>) {
        self.closed.store(true, Ordering::SeqCst);
        MutexGuard::unlocked(st, || {
            while self.submitting.load(Ordering::SeqCst) != 0 {
                thread::yield_now();
            }
        });
    }

    /// Wakes every sleeping worker and every submitter waiting for room.
    fn wake_all(&self) {
        let _st = self.state.lock();
        self.work.notify_all();
        self.room.notify_all();
    }

    /// A worker initializer failed: refuse new work and fail the queued.
    fn break_pool(&self, cause: BoxError) {
        let cause = {
            let mut st = self.state.lock();
            let cause = st.broken.get_or_insert_with(|| Arc::new(cause)).clone();
            self.close(&mut st);
            cause
        };
        self.wake_all();
        while let Some(job) = self.pop() {
            job.fail(TaskError::broken(cause.clone()));
        }
    }

    /// Stops accepting work; optionally cancels what is queued and waits for
    /// every worker (and the timer) to exit.
    pub(crate) fn shutdown(&self, wait: bool, cancel_pending: bool) {
        {
            let mut st = self.state.lock();
            st.shutdown = true;
            self.close(&mut st);
        }
        self.wake_all();
        if cancel_pending {
            while let Some(job) = self.pop() {
                job.cancel_queued();
            }
        }
        if wait {
            self.join_workers();
            self.timer.stop();
        }
    }

    /// Joins every worker thread but the current one.
    fn join_workers(&self) {
        join_all(|| self.state.lock().workers.take_joinable());
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
        // ORDERING: a snapshot for display; nothing is decided on it.
        self.queued.load(Ordering::Relaxed)
    }
}
