//! The shared state of a thread pool and its workers' loop. The protocol is
//! described in `README.md` beside this file.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{BoxError, Refusal, TaskError, payload_message};
use crate::sync::{Arc, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, Weak, spin_until};
use crate::task::Runnable;
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
    state: Mutex<PoolState>,
    /// `state.queue.len()`, readable without the lock: what a spinning
    /// worker watches. Written only under the lock.
    queued: AtomicUsize,
    /// Idle workers wait here for work.
    work: Condvar,
    /// Submitters wait here for room in a bounded queue.
    room: Condvar,
    pub(crate) config: Config,
    pub(crate) timer: Timer,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Arc<dyn Runnable>>,
    /// Live worker threads.
    threads: usize,
    /// Workers waiting on `work`.
    idle: usize,
    /// Wake-ups sent to idle workers and not yet taken up.
    notified: usize,
    /// Workers spinning a moment for work before they go idle; each will
    /// take a queued job without being woken.
    spinning: usize,
    /// Workers blocked in a futurepool wait, their places lent to the pool.
    lent: usize,
    shutdown: bool,
    broken: Option<Arc<BoxError>>,
    next_index: usize,
    workers: HashMap<usize, JoinHandle<()>>,
    /// Handles of workers that have exited, to be joined.
    exited: Vec<JoinHandle<()>>,
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
        self.0.state.lock().lent -= 1;
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
        if !st.queue.is_empty() {
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
            state: Mutex::new(PoolState::default()),
            queued: AtomicUsize::new(0),
            work: Condvar::new(),
            room: Condvar::new(),
            config,
            timer,
        }
    }

    /// Queues `job`. With `block`, waits for room in a bounded queue;
    /// without, a full queue refuses.
    pub(crate) fn push(
        self: &Arc<Self>,
        job: Arc<dyn Runnable>,
        block: bool,
    ) -> Result<(), Refusal> {
        // Declared before the state guard, so it drops after it: dropping a
        // `Lend` locks the state.
        let mut _lend = None;
        let mut lend_tried = false;
        let mut st = self.state.lock();
        loop {
            if st.shutdown {
                return Err(Refusal::Shutdown);
            }
            if let Some(cause) = &st.broken {
                return Err(Refusal::Broken(cause.clone()));
            }
            match self.config.capacity {
                Some(cap) if st.queue.len() >= cap => {
                    if !block {
                        return Err(Refusal::Full);
                    }
                    if !lend_tried {
                        // A worker submitting to its own full pool lends its
                        // place, so the queue keeps draining. (Elsewhere
                        // there is nothing to lend: just wait.)
                        lend_tried = true;
                        _lend = MutexGuard::unlocked(&mut st, enter_blocking);
                        continue;
                    }
                    self.room.wait(&mut st);
                }
                _ => break,
            }
        }
        st.queue.push_back(job);
        self.set_queued(&st);
        if let Err(err) = self.wake_or_spawn(&mut st) {
            if st.threads == 0 {
                // Nobody would ever run it: refuse it instead.
                st.queue.pop_back();
                self.set_queued(&st);
                return Err(Refusal::Spawn(err));
            }
        }
        Ok(())
    }

    /// Publishes the queue's length to spinning workers. Called under the
    /// lock after every change to the queue.
    fn set_queued(&self, st: &PoolState) {
        // ORDERING: a hint for `spin_for_work` only; a worker that sees it
        // takes the lock and looks at the queue itself.
        self.queued.store(st.queue.len(), Ordering::Relaxed);
    }

    /// Makes sure someone will take the newest queued job: leaves it to a
    /// spinning worker, wakes an idle one, or starts a new one if the pool
    /// has room.
    fn wake_or_spawn(self: &Arc<Self>, st: &mut PoolState) -> io::Result<()> {
        if st.queue.len() <= st.spinning {
            Ok(()) // each queued job has a spinning worker to take it
        } else if st.idle > st.notified {
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
        // Reap workers that retired since the last spawn.
        let (finished, running): (Vec<_>, Vec<_>) =
            st.exited.drain(..).partition(|h| h.is_finished());
        st.exited = running;
        for handle in finished {
            let _ = handle.join();
        }

        let index = st.next_index;
        let mut builder =
            thread::Builder::new().name(format!("{}-{}", self.config.name_prefix, index));
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let inner = self.clone();
        let handle = builder.spawn(move || inner.worker_main(index))?;
        st.next_index += 1;
        st.threads += 1;
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
                self.break_pool(cause);
                self.exit(self.state.lock(), index);
                return;
            }
        }

        let mut st = self.state.lock();
        // Whether this worker has spun for work since its last job.
        let mut spun = false;
        loop {
            if let Some(job) = st.queue.pop_front() {
                self.set_queued(&st);
                spun = false;
                if self.config.capacity.is_some() {
                    self.room.notify_one();
                }
                MutexGuard::unlocked(&mut st, || {
                    // `run` catches the task's panic; this catches the rest
                    // (a panicking drop of a value nobody wanted), so that a
                    // worker never dies of a task.
                    let _ = panic::catch_unwind(AssertUnwindSafe(move || {
                        job.run();
                        drop(job);
                    }));
                });
                if st.active() > self.config.max_workers {
                    break; // a lent worker came back: one too many
                }
                continue;
            }
            if st.shutdown || st.broken.is_some() {
                break;
            }
            if !spun {
                // Stay awake a moment before going idle: the next job is
                // often microseconds away, and a spinning worker takes it
                // with no futex wake on either side.
                spun = true;
                st.spinning += 1;
                MutexGuard::unlocked(&mut st, || {
                    // ORDERING: a hint; the queue is re-read under the lock.
                    spin_until(|| self.queued.load(Ordering::Relaxed) > 0)
                });
                st.spinning -= 1;
                continue;
            }
            st.idle += 1;
            let timed_out = self
                .work
                .wait_for(&mut st, self.config.keep_alive)
                .timed_out();
            st.idle -= 1;
            if st.notified > 0 {
                st.notified -= 1;
                continue;
            }
            if timed_out && st.queue.is_empty() {
                break; // idle for keep_alive: retire
            }
        }
        self.exit(st, index);
    }

    fn exit(&self, mut st: MutexGuard<'_, PoolState>, index: usize) {
        st.threads -= 1;
        if let Some(handle) = st.workers.remove(&index) {
            st.exited.push(handle);
        }
        CURRENT.with(|c| *c.borrow_mut() = None);
    }

    /// A worker initializer failed: refuse new work and fail the queued.
    fn break_pool(&self, cause: BoxError) {
        let (cause, drained) = {
            let mut st = self.state.lock();
            let cause = st.broken.get_or_insert_with(|| Arc::new(cause)).clone();
            let drained = std::mem::take(&mut st.queue);
            self.set_queued(&st);
            (cause, drained)
        };
        self.work.notify_all();
        self.room.notify_all();
        for job in drained {
            job.fail(TaskError::broken(cause.clone()));
        }
    }

    /// Stops accepting work; optionally cancels what is queued and waits for
    /// every worker (and the timer) to exit.
    pub(crate) fn shutdown(&self, wait: bool, cancel_pending: bool) {
        let drained = {
            let mut st = self.state.lock();
            st.shutdown = true;
            if cancel_pending {
                let drained = std::mem::take(&mut st.queue);
                self.set_queued(&st);
                drained
            } else {
                VecDeque::new()
            }
        };
        self.work.notify_all();
        self.room.notify_all();
        for job in drained {
            job.cancel_queued();
        }
        if wait {
            self.join_workers();
            self.timer.stop();
        }
    }

    /// Joins every worker thread but the current one; loops because a
    /// worker lending its place may start another while we join.
    fn join_workers(&self) {
        let me = thread::current().id();
        loop {
            let handles: Vec<JoinHandle<()>> = {
                let mut st = self.state.lock();
                let mut handles: Vec<_> = st.exited.drain(..).collect();
                let ids: Vec<usize> = st
                    .workers
                    .iter()
                    .filter(|(_, h)| h.thread().id() != me)
                    .map(|(&i, _)| i)
                    .collect();
                handles.extend(ids.into_iter().filter_map(|i| st.workers.remove(&i)));
                handles
            };
            if handles.is_empty() {
                return;
            }
            for handle in handles {
                let _ = handle.join();
            }
        }
    }

    /// Why a submit would be refused now, if it would.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
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
        self.state.lock().queue.len()
    }
}
