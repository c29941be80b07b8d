//! The deadline timer: one lazily started thread per pool that ends tasks
//! whose deadline has passed.
//!
//! The timer decides and signals; it runs no user code. Ending a task as
//! timed out moves its state, signals its token and runs the backend's stop
//! hook (a `kill` for a process pool); the task's done-callbacks go to the
//! [callback runner](super::runner). Entries hold weak references, so a task
//! that finished early is freed at once; its entry stays in the heap until
//! its deadline and is then skipped. If the timer happens to hold the last
//! reference to a task, the task is [released](super::cell::release), so
//! even its drop runs elsewhere.
//!
//! [`close`](Timer::close) stops the thread for good: a pool closes its
//! timer when it shuts down, and a later `schedule` is refused rather than
//! starting a new thread (a restarted timer raced with the stop and left
//! shutdown waiting forever).
//!
//! # Jobs on a clock
//!
//! Besides deadlines, the timer holds *jobs* ([`run_at`](Timer::run_at)):
//! crate code to run at a point in time, which is how tasks on a clock
//! work (a task that starts later, a periodic series; see
//! `executor/schedule.rs`). A job is held strongly (nothing else may keep
//! it), and the timer thread never runs one. When jobs come due, the timer
//! moves them to its *lane*, a queue that one job of the [callback
//! runner](super::runner) drains at a time, running each with
//! [`Fire::Due`]: so a due job (which queues a task, may wait for room in a
//! bounded queue, and owns user values) runs, and is dropped, there, and a
//! pool's ticks hold at most one runner thread however many come due at
//! once (a runner job per tick started a thread per tick in a burst: 400
//! threads for 1,000 series). A due job keeps user code off the lane (it
//! hands a task's end, callbacks and drops, to the runner), so a blocking
//! callback can't hold up the pool's other ticks; what does run there is
//! the clone and encoding of a named function's argument, as in any
//! submit. When the timer closes, each job still
//! waiting (in the heap or the lane) runs with [`Fire::Closed`] on the
//! thread that closes it (a shutdown, the last worker of a closed pool:
//! threads that may run user code), or on the runner if that is an
//! internal thread (the timer itself, a process pool's last driver:
//! [`close_internal`](Timer::close_internal)), so that whatever waits on it ends (as cancelled) before a
//! waiting shutdown returns. A job not yet due can be taken back
//! ([`remove`](Timer::remove): a cancelled series). One thread drives
//! every job of a pool.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use super::cell::{Caller, Cell, Payload, release};
use super::runner;
use super::state::Ending;
use crate::error::TaskError;
use crate::loom::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use crate::loom::thread::{self, JoinHandle};

/// What the timer needs of a task, whatever its types.
pub(crate) trait Expire: Send + Sync {
    /// The task's deadline passed: end it as timed out. Called on the timer
    /// thread, which then lets go of `self`.
    fn expire(self: Arc<Self>);
}

impl<T: Send + 'static, P: Payload> Expire for Cell<T, P> {
    fn expire(self: Arc<Self>) {
        self.end_with(Ending::Expire, TaskError::timeout(), Caller::Internal);
        // The payload may be a closure the backend hasn't dropped yet.
        release(self, true);
    }
}

/// Why a [job](Timer::run_at) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fire {
    /// Its time came (it runs on the callback runner).
    Due,
    /// The timer closed first: its pool shut down.
    Closed,
}

/// A job on the clock: crate code, which may own user values.
pub(crate) type TimerJob = Box<dyn FnOnce(Fire) + Send + 'static>;

/// Why a deadline could not be registered.
#[derive(Debug)]
pub(crate) enum ScheduleError {
    /// The timer was closed: its pool is shut down.
    Closed,
    /// Its thread could not be started.
    Spawn(io::Error),
}

pub(crate) struct Timer {
    shared: Arc<Shared>,
    name: String,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    /// Jobs come due, in order, for the lane to run.
    lane: VecDeque<TimerJob>,
    /// Whether a runner job is draining `lane`.
    draining: bool,
    seq: u64,
    closed: bool,
    thread: Option<JoinHandle<()>>,
}

struct Entry {
    deadline: Instant,
    seq: u64,
    task: Held,
}

/// What an entry holds: a deadline's task, weakly; a job, strongly.
enum Held {
    Deadline(Weak<dyn Expire>),
    Job(TimerJob),
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

impl Timer {
    /// A timer whose thread, once started, is called `name` (which the
    /// pool's builder checked for NUL bytes).
    pub(crate) fn new(name: String) -> Timer {
        Timer {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    heap: BinaryHeap::new(),
                    lane: VecDeque::new(),
                    draining: false,
                    seq: 0,
                    closed: false,
                    thread: None,
                }),
                cond: Condvar::new(),
            }),
            name,
        }
    }

    /// Starts the timer thread if it isn't running: a task with a time
    /// limit makes sure at its submit that its limit can be enforced once
    /// it runs.
    pub(crate) fn start(&self) -> Result<(), ScheduleError> {
        let mut st = self.shared.state.lock();
        self.start_locked(&mut st)
    }

    fn start_locked(&self, st: &mut State) -> Result<(), ScheduleError> {
        if st.closed {
            return Err(ScheduleError::Closed);
        }
        if st.thread.is_none() {
            let shared = self.shared.clone();
            let handle = thread::spawn_named(self.name.clone(), None, move || shared.run())
                .map_err(ScheduleError::Spawn)?;
            st.thread = Some(handle);
        }
        Ok(())
    }

    /// Expires `task` at `deadline`, starting the timer thread if needed.
    pub(crate) fn schedule(
        &self,
        deadline: Instant,
        task: Weak<dyn Expire>,
    ) -> Result<(), ScheduleError> {
        self.push(deadline, Held::Deadline(task)).map(drop)
    }

    /// Runs `job` on the callback runner once `at` has come (see the
    /// [module docs](self#jobs-on-a-clock)), or on the closing thread with
    /// [`Fire::Closed`] if the timer closes first. Refused (and `job`
    /// dropped here, unrun) if the timer is closed or can't start.
    /// Returns the job's key, for [`remove`](Self::remove).
    pub(crate) fn run_at(&self, at: Instant, job: TimerJob) -> Result<u64, ScheduleError> {
        self.push(at, Held::Job(job))
    }

    /// Takes back the job `key` if it is still waiting (not yet due, the
    /// timer not closed): the caller drops it unrun.
    pub(crate) fn remove(&self, key: u64) -> Option<TimerJob> {
        let mut st = self.shared.state.lock();
        let mut entries = std::mem::take(&mut st.heap).into_vec();
        let found = entries.iter().position(|Reverse(entry)| entry.seq == key);
        let entry = found.map(|at| entries.swap_remove(at).0);
        st.heap = entries.into(); // O(n): a cancel, not a tick
        match entry?.task {
            Held::Job(job) => Some(job),
            Held::Deadline(_) => None,
        }
    }

    fn push(&self, deadline: Instant, task: Held) -> Result<u64, ScheduleError> {
        let mut st = self.shared.state.lock();
        self.start_locked(&mut st)?;
        let seq = st.seq;
        st.seq += 1;
        let wake = st
            .heap
            .peek()
            .is_none_or(|Reverse(first)| deadline < first.deadline);
        st.heap.push(Reverse(Entry {
            deadline,
            seq,
            task,
        }));
        drop(st);
        if wake {
            self.shared.cond.notify_one();
        }
        Ok(seq)
    }

    /// Stops the timer for good and waits for its thread to exit (unless
    /// called on that thread). Deadlines not yet passed are dropped, jobs
    /// not yet due run with [`Fire::Closed`] (here, or on the runner if
    /// this is the timer thread), and later [`schedule`](Self::schedule)s
    /// are refused. Calling it again does nothing more. Only on a thread
    /// that may run user code; elsewhere, [`close_internal`](Self::close_internal).
    pub(crate) fn close(&self) {
        self.close_with(true);
    }

    /// Like [`close`](Self::close), from an internal thread (a process
    /// pool's driver): the jobs not yet due run on the runner.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn close_internal(&self) {
        self.close_with(false);
    }

    fn close_with(&self, user_thread: bool) {
        let (handle, heap, lane) = {
            let mut st = self.shared.state.lock();
            st.closed = true;
            let lane = std::mem::take(&mut st.lane);
            (st.thread.take(), std::mem::take(&mut st.heap), lane)
        };
        self.shared.cond.notify_all();
        let on_timer = handle
            .as_ref()
            .is_some_and(|h| h.thread().id() == thread::current_id());
        if let Some(handle) = handle {
            if !on_timer {
                let _ = handle.join();
            }
        }
        let waiting = heap.into_sorted_vec().into_iter().rev();
        let jobs = lane
            .into_iter()
            .chain(waiting.filter_map(|Reverse(entry)| match entry.task {
                Held::Job(job) => Some(job),
                Held::Deadline(_) => None,
            }));
        for job in jobs {
            if on_timer || !user_thread {
                runner::spawn(Box::new(move || job(Fire::Closed)));
            } else {
                // Crate code, which ends its task here (done-callbacks
                // included: this thread may run user code); the guard is
                // for a bug of ours.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| job(Fire::Closed)));
            }
        }
    }
}

impl Shared {
    /// Runs the jobs in the lane, in order, until it is empty (or the timer
    /// closed: `close` takes what is left). On the callback runner.
    fn drain(&self) {
        loop {
            let job = {
                let mut st = self.state.lock();
                match st.lane.pop_front() {
                    Some(job) => job,
                    None => {
                        st.draining = false;
                        return;
                    }
                }
            };
            // Crate code; the guard is for a bug of ours, which must not
            // stop the pool's later ticks.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| job(Fire::Due)));
        }
    }

    fn run(self: &Arc<Self>) {
        let mut st = self.state.lock();
        while !st.closed {
            let now = Instant::now();
            match st.heap.peek() {
                Some(Reverse(first)) if first.deadline <= now => {
                    let Reverse(entry) = st.heap.pop().expect("peeked");
                    match entry.task {
                        Held::Deadline(task) => MutexGuard::unlocked(&mut st, || {
                            if let Some(task) = task.upgrade() {
                                // Expiring runs no user code; the guard is
                                // for a bug of ours, which must not stop
                                // every later timeout of the pool.
                                let _ = panic::catch_unwind(AssertUnwindSafe(|| task.expire()));
                            }
                        }),
                        // Never run (nor dropped) here: see the module docs.
                        Held::Job(job) => {
                            st.lane.push_back(job);
                            if !std::mem::replace(&mut st.draining, true) {
                                let shared = self.clone();
                                MutexGuard::unlocked(&mut st, || {
                                    runner::spawn(Box::new(move || shared.drain()));
                                });
                            }
                        }
                    }
                }
                Some(Reverse(first)) => {
                    let deadline = first.deadline;
                    self.cond.wait_until(&mut st, deadline);
                }
                None => self.cond.wait(&mut st),
            }
        }
    }
}

#[cfg(all(test, not(futurepool_loom)))]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;

    struct Flag(mpsc::Sender<()>);

    impl Expire for Flag {
        fn expire(self: Arc<Self>) {
            let _ = self.0.send(());
        }
    }

    fn entry(tx: &mpsc::Sender<()>) -> (Arc<dyn Expire>, Weak<dyn Expire>) {
        let task: Arc<dyn Expire> = Arc::new(Flag(tx.clone()));
        let weak = Arc::downgrade(&task);
        (task, weak)
    }

    /// Issue 9, fault 2, the mechanism: a closed timer stays closed. Before,
    /// `stop` then `schedule` started a new thread and cleared the stop
    /// flag, so the old thread never saw it and `stop`'s join hung.
    #[test]
    fn close_is_final() {
        let timer = Timer::new("timer-test".to_owned());
        let (tx, rx) = mpsc::channel();
        let (_kept, weak) = entry(&tx);
        timer.schedule(Instant::now(), weak).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).expect("it fires");
        timer.close();
        let (_kept, weak) = entry(&tx);
        assert!(matches!(
            timer.schedule(Instant::now(), weak),
            Err(ScheduleError::Closed)
        ));
        assert!(timer.shared.state.lock().thread.is_none(), "no new thread");
        timer.close(); // again: nothing more
    }

    /// Due jobs run one at a time, in the order of their times, off the
    /// timer thread; jobs still waiting at the close run with `Closed`.
    #[test]
    fn jobs_run_on_the_lane_one_at_a_time_in_order() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let timer = Timer::new("timer-test".to_owned());
        let active = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        for i in (0..20u32).rev() {
            let (active, tx) = (active.clone(), tx.clone());
            let job: TimerJob = Box::new(move |fire| {
                assert_eq!(active.fetch_add(1, Ordering::SeqCst), 0, "two jobs at once");
                for _ in 0..100 {
                    std::thread::yield_now();
                }
                active.fetch_sub(1, Ordering::SeqCst);
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((i, fire, name)).unwrap();
            });
            timer
                .run_at(now + Duration::from_micros(u64::from(i)), job)
                .unwrap();
        }
        let ran: Vec<_> = (0..20)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(30))
                    .expect("every job ran once")
            })
            .collect();
        assert!(ran.iter().map(|r| r.0).eq(0..20), "in order");
        assert!(ran.iter().all(|r| r.1 == Fire::Due));
        assert!(
            ran.iter().all(|r| r.2.as_deref() != Some("timer-test")),
            "never on the timer"
        );
        let removed = tx.clone();
        let job: TimerJob = Box::new(move |fire| removed.send((98, fire, None)).unwrap());
        let key = timer.run_at(now + Duration::from_secs(3600), job).unwrap();
        let job: TimerJob = Box::new(move |fire| tx.send((99, fire, None)).unwrap());
        timer.run_at(now + Duration::from_secs(3600), job).unwrap();
        assert!(timer.remove(key).is_some(), "taken back, unrun");
        assert!(timer.remove(key).is_none());
        timer.close();
        assert_eq!(rx.try_recv().unwrap().0, 99, "the other one ran, closed");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn deadlines_fire_in_order_and_dead_entries_are_skipped() {
        let timer = Timer::new("timer-test".to_owned());
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        let (gone, weak) = entry(&tx);
        timer.schedule(now, weak).unwrap();
        drop(gone); // freed before its deadline: skipped
        let (_kept, weak) = entry(&tx);
        timer
            .schedule(now + Duration::from_millis(5), weak)
            .unwrap();
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "one fired"
        );
        timer.close();
    }
}
