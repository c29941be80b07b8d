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

use direct::{Flights, Parked};

use super::child::{StartError, WorkerProcess};
use super::protocol::Reply;
use crate::core::cell::{Cancel, Hook};
use crate::core::state::End;
use crate::core::timer::Expire;
use crate::core::timer::Timer;
use crate::error::{BoxError, Refusal, TaskError};
use crate::executor::metrics::{Counters, PoolMetrics};
use crate::executor::shutdown::ShutdownOptions;
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
    fn complete(self: Box<Self>, reply: Reply, pid: u32) -> End;
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

    /// Shuts the pool down as `options` say; returns whether every driver
    /// (and so every worker process) has exited.
    pub(crate) fn shutdown(&self, options: ShutdownOptions) -> bool {
        let (drained, running) = {
            let mut st = self.state.lock();
            st.shutdown = true;
            let drained = if options.cancel_pending {
                std::mem::take(&mut st.queue)
            } else {
                VecDeque::new()
            };
            let running: Vec<_> = if options.cancel_running {
                let flying = st.flights.cancellers();
                st.running.values().cloned().chain(flying).collect()
            } else {
                Vec::new()
            };
            (drained, running)
        };
        self.work.notify_all();
        self.room.notify_all();
        for job in drained {
            self.counters.count(job.cancel_queued());
        }
        // Cancelling a running process task kills its worker (the task's
        // stop hook): Python 3.14's `kill_workers`, task by task.
        for task in running.iter().filter_map(Weak::upgrade) {
            task.cancel();
        }
        let stopped = if options.wait {
            self.wait_for_drivers(options.deadline())
        } else {
            self.state.lock().drivers == 0
        };
        self.close_timer_if_idle(true);
        stopped
    }

    /// Waits until every driver has exited, or until `deadline`, then joins
    /// the ones that did. (No user code runs on a driver, so no driver ever
    /// waits here for itself.)
    fn wait_for_drivers(&self, deadline: Option<Instant>) -> bool {
        let (stopped, exited) = {
            let mut st = self.state.lock();
            let mut stopped = true;
            while st.drivers > 0 {
                match deadline {
                    None => self.exited.wait(&mut st),
                    Some(deadline) => {
                        if self.exited.wait_until(&mut st, deadline).timed_out() {
                            stopped = st.drivers == 0;
                            break;
                        }
                    }
                }
            }
            (stopped, st.threads.take_exited())
        };
        for handle in exited {
            let _ = handle.join();
        }
        stopped
    }

    /// Closes the deadline timer for good once the pool is shut down and
    /// no driver is left (a shutdown, or the last driver of a pool dropped
    /// without waiting).
    /// `user_thread`: whether this thread may run user code (a shutdown's
    /// caller) or not (a driver).
    fn close_timer_if_idle(&self, user_thread: bool) {
        let idle = {
            let st = self.state.lock();
            (st.shutdown || st.broken.is_some()) && st.drivers == 0
        };
        if idle && user_thread {
            self.timer.close();
        } else if idle {
            self.timer.close_internal();
        }
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
mod tests {
    use std::future::Future;
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::pin::Pin;
    use std::sync::mpsc;
    use std::task::{Context, Wake, Waker};

    use crate::process_pool::ProcessPool;

    /// Connects to the test at `path`, then returns once it sends a byte.
    fn run_when_told(path: String) -> u32 {
        let mut stream = UnixStream::connect(path).unwrap();
        stream.read_exact(&mut [0]).unwrap();
        std::process::id()
    }

    /// A waker that, woken by the driver just after it published the
    /// task's outcome, says so and holds the driver until told to go on.
    struct Gate {
        woken: std::sync::Mutex<Option<mpsc::Sender<()>>>,
        go_on: std::sync::Mutex<Option<mpsc::Receiver<()>>>,
    }

    impl Wake for Gate {
        fn wake(self: std::sync::Arc<Self>) {
            if let Some(woken) = self.woken.lock().unwrap().take() {
                woken.send(()).unwrap();
                let go_on = self.go_on.lock().unwrap().take().unwrap();
                go_on.recv().unwrap();
            }
        }
    }

    /// CPython's `test_idle_process_reuse_one` failed under load: a task
    /// submitted the moment the previous one's outcome was visible, before
    /// its driver had come back for more, started a second driver and
    /// worker. The window is held open here (the driver is held in the
    /// handle's waker), and the submit must leave the task to the driver.
    #[test]
    fn a_submit_right_after_a_completion_waits_for_the_same_driver() {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let path =
            std::env::temp_dir().join(format!("futurepool-unit-gate-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let mut first = pool
            .submit(
                crate::remote!(run_when_told),
                path.to_str().unwrap().to_owned(),
            )
            .unwrap();
        let (mut running, _) = listener.accept().unwrap(); // it runs, and waits
        let (woken_tx, woken_rx) = mpsc::channel();
        let (go_on_tx, go_on_rx) = mpsc::channel();
        let waker = Waker::from(std::sync::Arc::new(Gate {
            woken: std::sync::Mutex::new(Some(woken_tx)),
            go_on: std::sync::Mutex::new(Some(go_on_rx)),
        }));
        let polled = Pin::new(&mut first).poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending());
        running.write_all(&[1]).unwrap();
        woken_rx.recv().unwrap(); // published; the driver is held in `wake`
        let second = pool
            .submit(crate::remote!(|_: ()| std::process::id()), ())
            .unwrap();
        let drivers = pool.shared().state.lock().drivers;
        go_on_tx.send(()).unwrap();
        assert_eq!(drivers, 1, "the submit started a second driver");
        let worker = first.join().unwrap();
        assert_eq!(second.join().unwrap(), worker);
        assert_eq!(pool.workers_started(), 1);
        let _ = std::fs::remove_file(&path);
    }
}
