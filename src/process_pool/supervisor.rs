//! The parent side of a process pool: the queue, and one **driver thread**
//! per worker slot that owns a worker process, feeds it one task at a time,
//! and replaces it when it dies, is killed, or has done its quota. The
//! protocol is described in `README.md` beside this file.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod direct;
mod run;
mod shutdown;

use direct::{Flights, Parked};

use super::child::{StartError, WorkerProcess};
use super::protocol::Reply;
use crate::core::cell::{Cancel, Hook};
use crate::core::state::End;
use crate::core::timer::Expire;
use crate::core::timer::Timer;
use crate::error::{BoxError, Refusal, TaskError};
use crate::executor::metrics::{Counters, PoolMetrics};
use crate::loom::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use crate::loom::thread;
use crate::threads::ThreadSet;

/// A queued process task, whatever its result type: the driver's side of
/// its producer. Drivers are internal threads; nothing here runs user code
/// on them (see `remote_task.rs`).
pub(crate) trait Dispatch: Send {
    /// `Pending -> Running`: the encoded request frame, or `None` if the
    /// task already ended (cancelled or timed out while queued).
    fn start(&self) -> Option<Arc<Vec<u8>>>;
    /// Installs the hook that kills the worker running the task; `false` if
    /// the task was cancelled or timed out first (see the core's
    /// `Cell::set_hook`).
    fn set_hook(&self, hook: Hook) -> bool;
    /// Removes it; whether it ran. Once this returns it neither runs nor
    /// will run, so the worker may be reaped.
    fn clear_hook(&self) -> bool;
    /// How long the task may run, once started.
    fn time_limit(&self) -> Option<Duration>;
    /// When it must have ended, if it has a deadline.
    fn deadline(&self) -> Option<Instant>;
    /// What the timer holds to expire the task.
    fn expiry(&self) -> Weak<dyn Expire>;
    /// What a shutdown that cancels running work holds to cancel it.
    fn canceller(&self) -> Weak<dyn Cancel>;
    /// Ends the task with the reply of worker `pid`.
    ///
    /// This and the other methods that take the task return how it ended
    /// (by this call, or by an event that ended it first), for the pool's
    /// [`Counters`].
    /// `counters` count it as it ends: before anyone sees it ended, so a
    /// thread that has joined it finds it counted.
    fn complete(self: Box<Self>, reply: Reply, pid: u32, counters: &Counters) -> End;
    /// Ends the task (pending or running) with `err`.
    fn fail(self: Box<Self>, err: TaskError) -> End;
    /// Cancels a task that hasn't started.
    fn cancel_queued(self: Box<Self>) -> End;
    /// Ends the task (pending or running) as timed out: its deadline
    /// passed before it was sent.
    fn expire(self: Box<Self>) -> End;
    /// Lets go of a task that another event ended (cancelled or timed out,
    /// queued or running), and says how. `None` if it hasn't ended (it
    /// then ends as abandoned, uncounted: a driver never lets go of a live
    /// task).
    fn ended(self: Box<Self>) -> Option<End>;
    /// How many times to retry on a worker's death.
    fn retries(&self) -> u32;
    /// The task's id (what a waiter names it by: see `direct.rs`).
    fn id(&self) -> u64;
    /// The length of its encoded request.
    fn size(&self) -> usize;
}

/// A process pool's configuration, as its builder checked it.
pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) program: PathBuf,
    pub(crate) init: Option<(String, Vec<u8>)>,
    pub(crate) max_tasks_per_child: Option<usize>,
    pub(crate) capacity: Option<usize>,
    pub(crate) start_timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) worker_stderr: bool,
}

/// How often an idle driver looks at its worker: one killed while idle is
/// reaped (and no longer listed in `worker_pids`) within about this long.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// A request frame's buffer at least this large is kept, once its task is
/// done, for the next request that fits in it: a fresh buffer of megabytes
/// costs a page fault every 4 KiB as it is filled (and an unmap when it is
/// freed), more than the copy into it.
const SPARE_MIN: usize = 1 << 20;

pub(crate) struct Shared {
    state: Mutex<PoolState>,
    /// One large request frame's buffer, kept for the next (see
    /// [`SPARE_MIN`]). An idle pool holds at most this one.
    spare: Mutex<Option<Vec<u8>>>,
    /// Idle drivers wait here for work.
    work: Condvar,
    /// Shutdowns wait here for drivers to exit.
    exited: Condvar,
    /// Submitters wait here for room in a bounded queue.
    room: Condvar,
    pub(crate) config: Config,
    pub(crate) timer: Timer,
    /// How the tasks taken off the queue ended (see `metrics.rs`).
    pub(crate) counters: Counters,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Box<dyn Dispatch>>,
    /// Live driver threads.
    drivers: usize,
    /// Drivers waiting on `work`.
    idle: usize,
    /// Wake-ups sent to idle drivers and not yet taken up.
    notified: usize,
    /// Idle workers, each parked by its driver for a submit to send a task
    /// to directly (see `direct.rs`).
    parked: Vec<Parked>,
    /// The tasks a submit sent directly, by driver id, until their reply
    /// is read.
    flights: Flights,
    /// Tasks sent directly, ever: a driver that sees this move wakes now
    /// and then while it is idle, to read a reply that nobody waits for.
    lends: u64,
    /// How long a flight's reply waits for a joiner before the driver
    /// reads it: [`direct::FALLBACK`] (a test may lengthen it).
    fallback: Duration,
    shutdown: bool,
    broken: Option<Broken>,
    next_id: usize,
    threads: ThreadSet,
    /// The pid of each driver's worker process, while it has one.
    pids: HashMap<usize, u32>,
    /// Worker processes started, ever.
    started: u64,
    /// Tasks queued, ever (see `metrics.rs`).
    submitted: u64,
    /// Each driver's running task, while it runs: what a shutdown that
    /// cancels running work reaches.
    running: HashMap<usize, Weak<dyn Cancel>>,
}

#[derive(Clone)]
enum Broken {
    Init(Arc<BoxError>),
    Start(Arc<BoxError>),
}

impl Broken {
    fn refusal(&self) -> Refusal {
        match self {
            Broken::Init(cause) => Refusal::Broken(cause.clone()),
            Broken::Start(cause) => Refusal::StartFailed(cause.clone()),
        }
    }

    fn task_error(&self) -> TaskError {
        match self {
            Broken::Init(cause) => TaskError::broken(cause.clone()),
            Broken::Start(cause) => TaskError::start_failed(cause.clone()),
        }
    }
}

impl Shared {
    pub(crate) fn new(config: Config) -> Shared {
        Shared {
            state: Mutex::new(PoolState {
                fallback: direct::FALLBACK,
                ..PoolState::default()
            }),
            spare: Mutex::new(None),
            work: Condvar::new(),
            exited: Condvar::new(),
            room: Condvar::new(),
            config,
            timer: Timer::new("futurepool-process-timer".to_owned()),
            counters: Counters::new(),
        }
    }

    /// Queues `job`. With `block`, waits for room in a bounded queue;
    /// without, a full queue refuses.
    pub(crate) fn push(
        self: &Arc<Self>,
        job: Box<dyn Dispatch>,
        block: bool,
    ) -> Result<(), Refusal> {
        let mut st = self.state.lock();
        loop {
            if st.shutdown {
                return Err(Refusal::Shutdown);
            }
            if let Some(broken) = &st.broken {
                return Err(broken.refusal());
            }
            match self.config.capacity {
                Some(cap) if st.queue.len() >= cap => {
                    if !block {
                        return Err(Refusal::Full);
                    }
                    self.room.wait(&mut st);
                }
                _ => break,
            }
        }
        let job = match self.try_direct(st, job) {
            Ok(()) => return Ok(()),
            Err((back, job)) => {
                st = back;
                job
            }
        };
        st.queue.push_back(job);
        if let Err(err) = self.wake_or_spawn(&mut st) {
            if st.drivers == 0 {
                st.queue.pop_back();
                return Err(Refusal::spawn(err));
            }
        }
        st.submitted += 1;
        Ok(())
    }

    /// The spare request buffer, if `room` bytes are large enough to want
    /// it and it has room for them.
    pub(crate) fn take_spare(&self, room: usize) -> Option<Vec<u8>> {
        if room < SPARE_MIN {
            return None;
        }
        let mut spare = self.spare.lock();
        if spare.as_ref().is_some_and(|buf| buf.capacity() >= room) {
            spare.take()
        } else {
            None
        }
    }

    /// Keeps a done request's frame buffer for the next large request, if
    /// it is large (the largest kept).
    fn recycle(&self, request: Arc<Vec<u8>>) {
        let Ok(buf) = Arc::try_unwrap(request) else {
            return;
        };
        if buf.capacity() >= SPARE_MIN {
            let mut spare = self.spare.lock();
            if spare
                .as_ref()
                .is_none_or(|kept| kept.capacity() < buf.capacity())
            {
                *spare = Some(buf);
            }
        }
    }

    /// Wakes an idle driver for a queued job, or starts one if the pool
    /// has room.
    fn wake_or_spawn(self: &Arc<Self>, st: &mut PoolState) -> io::Result<()> {
        if st.idle > st.notified {
            st.notified += 1;
            self.work.notify_one();
            return Ok(());
        }
        if st.drivers >= self.config.max_workers {
            return Ok(()); // a busy driver will take it
        }
        let id = st.next_id;
        let shared = self.clone();
        let handle = thread::spawn_named(format!("futurepool-process-{id}"), None, move || {
            shared.driver_main(id)
        })?;
        st.next_id += 1;
        st.drivers += 1;
        st.threads.insert(id, handle);
        Ok(())
    }

    /// A driver: takes tasks off the queue and runs them on its worker;
    /// while idle, parks the worker for direct sends, and reads the replies
    /// to them that nobody else reads (see `direct.rs`).
    fn driver_main(self: Arc<Self>, id: usize) {
        let mut worker: Option<WorkerProcess> = None;
        let mut st = self.state.lock();
        // `lends` when this driver last went to sleep.
        let mut lends_seen = st.lends;
        // When it last looked at its parked worker.
        let mut checked = Instant::now();
        loop {
            if st.flights.contains(id) {
                // Its worker is lent to a task sent directly.
                match self.flight_turn(&mut st, id) {
                    Ok(landing) => {
                        MutexGuard::unlocked(&mut st, || self.land(id, &mut worker, landing));
                    }
                    Err(nap) => {
                        lends_seen = st.lends;
                        self.sleep(&mut st, Some(nap));
                    }
                }
                continue;
            }
            if let Some(job) = st.queue.pop_front() {
                direct::unpark(&mut st, id, &mut worker);
                if self.config.capacity.is_some() {
                    self.room.notify_one();
                }
                MutexGuard::unlocked(&mut st, || self.run(id, &mut worker, job));
                continue;
            }
            if st.shutdown || st.broken.is_some() {
                direct::unpark(&mut st, id, &mut worker);
                break;
            }
            // Idle: the worker waits parked, for a submit to send to it.
            if let Some(proc) = worker.take() {
                st.parked.push(Parked::new(id, proc));
            }
            let Some(at) = st.parked.iter().position(|p| p.id == id) else {
                self.sleep(&mut st, None);
                continue;
            };
            // Lent recently: a task sent directly may have to be read by
            // this driver (nobody joins it) within about `FALLBACK`. Else
            // look at the worker now and then: one that died idle is
            // reaped at once, not at the next task.
            let nap = if st.lends != lends_seen {
                st.fallback.min(IDLE_CHECK)
            } else {
                IDLE_CHECK
            };
            st.parked[at].long = nap == IDLE_CHECK;
            lends_seen = st.lends;
            let timed_out = self.sleep(&mut st, Some(nap));
            if !timed_out || checked.elapsed() < IDLE_CHECK {
                continue;
            }
            checked = Instant::now();
            let Some(at) = st.parked.iter().position(|p| p.id == id) else {
                continue; // lent meanwhile
            };
            if st.parked[at].proc.is_gone() {
                let proc = st.parked.swap_remove(at).proc;
                MutexGuard::unlocked(&mut st, || {
                    self.end_worker(id, proc, true);
                });
            }
        }
        drop(st);
        if let Some(proc) = worker.take() {
            self.end_worker(id, proc, false);
        }
        let mut st = self.state.lock();
        st.drivers -= 1;
        st.threads.exiting(id);
        drop(st);
        self.exited.notify_all();
        // On this driver: tasks on a clock that the close ends are ended
        // on the runner (their callbacks are user code).
        self.close_timer_if_idle(false);
    }

    /// Waits for work on `work` (at most `timeout`), counted as idle;
    /// returns whether the wait timed out.
    fn sleep(&self, st: &mut MutexGuard<'_, PoolState>, timeout: Option<Duration>) -> bool {
        st.idle += 1;
        let timed_out = match timeout {
            Some(timeout) => self.work.wait_for(st, timeout).timed_out(),
            None => {
                self.work.wait(st);
                false
            }
        };
        st.idle -= 1;
        // Taken even after a timeout: a wake-up sent just as this driver
        // stopped waiting is lost, and a count left too high would keep
        // the next submit from waking anyone. Too low only costs a spare
        // wake-up.
        if st.notified > 0 {
            st.notified -= 1;
        }
        timed_out
    }

    /// Ends a worker process, killing it or letting it exit, and reaps it.
    fn end_worker(&self, id: usize, proc: WorkerProcess, kill: bool) -> std::process::ExitStatus {
        let status = if kill { proc.kill() } else { proc.retire() };
        self.state.lock().pids.remove(&id);
        status
    }

    /// A worker could not start: the pool breaks, and every queued task
    /// fails. Returns the error for the task that needed the worker.
    fn break_pool(&self, err: StartError) -> TaskError {
        let (broken, drained) = {
            let mut st = self.state.lock();
            let broken = st
                .broken
                .get_or_insert_with(|| match err {
                    StartError::Init(msg) => Broken::Init(Arc::new(msg.into())),
                    StartError::Start(msg) | StartError::Lost { msg, .. } => {
                        Broken::Start(Arc::new(msg.into()))
                    }
                })
                .clone();
            let drained = std::mem::take(&mut st.queue);
            (broken, drained)
        };
        self.work.notify_all();
        self.room.notify_all();
        for job in drained {
            self.counters.count(job.fail(broken.task_error()));
        }
        broken.task_error()
    }

    /// Why a submit would be refused now (shut down or broken), if it
    /// would.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        let st = self.state.lock();
        if st.shutdown {
            return Some(Refusal::Shutdown);
        }
        st.broken.as_ref().map(Broken::refusal)
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.state.lock().shutdown
    }

    pub(crate) fn queued(&self) -> usize {
        self.state.lock().queue.len()
    }

    pub(crate) fn worker_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.state.lock().pids.values().copied().collect();
        pids.sort_unstable();
        pids
    }

    pub(crate) fn workers_started(&self) -> u64 {
        self.state.lock().started
    }

    /// See [`PoolMetrics`]. Under the lock, so the queue, the workers and
    /// `submitted` are of one instant; the counters are written outside it
    /// (a task is counted as it ends), so `running` is what was taken off
    /// the queue and not yet counted, and `submitted == queued + running +
    /// ended` always holds.
    pub(crate) fn metrics(&self) -> PoolMetrics {
        let st = self.state.lock();
        let counts = self.counters.read();
        let queued = st.queue.len();
        let running = st
            .submitted
            .saturating_sub(queued as u64)
            .saturating_sub(counts.ended_queued());
        Counters::snapshot(
            counts,
            st.submitted + counts.unqueued,
            queued,
            running as usize,
            st.pids.len(),
        )
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests;
