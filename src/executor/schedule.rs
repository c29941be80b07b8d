//! Tasks on a clock: [`Every`], a task run periodically, and the series
//! that drives it. (A task that starts once, later, is the builder's
//! `start_after` / `start_at`: each backend hands it to its timer.)
//!
//! # How the timer drives a series
//!
//! A series is one [`Series`]: the run to queue (a closure or a named
//! function, behind an `Arc`), the options of each run, the series' own
//! task (its producer; the user holds its handle), and a weak way back to
//! the executor. Between two runs the executor's one timer holds it, as a
//! [job](crate::core::timer::Timer::run_at): no thread per series, however
//! many there are.
//!
//! 1. The series' time comes: the timer thread moves the job to its lane
//!    (one callback-runner job at a time runs the pool's due jobs, in
//!    order) and forgets it. It runs nothing of the user's, and drops
//!    nothing of the user's: the series (and the closure inside it) moves
//!    to the lane.
//! 2. On the lane, the series queues one run on its executor, as any
//!    submit would (waiting for room in a bounded queue), with a
//!    done-callback on the run's task. Anything that would run user code
//!    there (the series' end, its closure's drop) goes to the runner
//!    instead, so it can't hold up the pool's other ticks.
//! 3. The run ends on a worker (or, for a process pool, its callback runs
//!    on the runner). Its callback decides what comes next: the series
//!    ended meanwhile (cancelled, its deadline passed): nothing; the run
//!    failed (panicked, timed out, was cancelled): the series ends with
//!    that error; otherwise the series goes back to the timer for its next
//!    time. So runs never overlap, and a run that overruns its period
//!    makes the next one wait for the next tick still ahead.
//! 4. The executor shuts down: its timer closes, and each series it holds
//!    ends as cancelled on the thread that closes it; a series whose run
//!    is refused by the shut-down executor ends the same way.
//!
//! A series holds its executor weakly, so a series doesn't keep a pool
//! alive: dropping the last handle to the pool shuts it down, which ends
//! the series.

use std::fmt;
use std::time::{Duration, Instant};

use super::Executor;
use super::options::{TaskBuilder, TaskOptions};
use crate::core::cell::{Caller, Start, TaskSpec};
use crate::core::handle::TaskHandle;
use crate::core::producer::{Producer, new_task};
use crate::core::runner;
use crate::core::timer::{Fire, ScheduleError};
use crate::core::token::CancelToken;
use crate::error::{Refusal, SubmitError, TaskError};
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Mutex};

/// A task run periodically on a pool, until cancelled: made by
/// [`TaskBuilder::every`] (`pool.task().every(period)`), submitted with
/// [`submit`](Every::submit) or [`submit_cancellable`](Every::submit_cancellable)
/// (closures, on a [`ThreadPool`](crate::ThreadPool)) or
/// [`submit_fn`](Every::submit_fn) (a named function, on any executor).
/// Java's `scheduleAtFixedRate` / `scheduleWithFixedDelay`.
///
/// # Tasks on a clock
///
/// | you want | Java | Python | here |
/// |----------|------|--------|------|
/// | run once, after a delay | `schedule(task, delay)` | `threading.Timer(delay, f)`, `sched.enter` | `pool.task().`[`start_after(d)`](TaskBuilder::start_after)`.submit(f)` |
/// | run once, at a time | `schedule(task, Date)` (`Timer`) | `sched.enterabs` | `pool.task().`[`start_at(t)`](TaskBuilder::start_at)`.submit(f)` |
/// | run every period | `scheduleAtFixedRate` | a `sched` that re-enters itself | `pool.task().every(p).submit(f)` |
/// | a pause between runs | `scheduleWithFixedDelay` | | `pool.task().every(p).`[`fixed_delay()`](Every::fixed_delay)`.submit(f)` |
///
/// Each submit returns a [`TaskHandle<()>`](crate::TaskHandle) for the
/// whole series. The rules:
///
/// - **Start.** The first run is queued at once, or at
///   [`start_after`](Self::start_after) / [`start_at`](Self::start_at).
/// - **Fixed rate** (the default): runs are due at `first + k * period`.
///   **Runs never overlap**: a run that overruns its period delays the
///   next one to the next due time still ahead; the times it missed are
///   skipped, not piled up (no burst of catch-up runs). A run that starts
///   late (a busy pool) doesn't move the later due times.
/// - **Fixed delay** ([`fixed_delay`](Self::fixed_delay)): each run is
///   queued `period` after the previous one ended.
/// - **Failure ends the series**: a run that panics, exceeds its
///   [`time_limit`](TaskBuilder::time_limit), or is refused ends the series,
///   and its handle reports that error (a panic as a panic, with its
///   message: [`TaskError::panic_message`]).
/// - **Cancel** ([`TaskHandle::cancel`], which returns `true` while the
///   series lives) ends the series at once: no run of a closure starts
///   after `cancel` has returned; a run already started finishes, and sees
///   its [`CancelToken`] signalled
///   ([`submit_cancellable`](Self::submit_cancellable)). (A named
///   function's run queued before the cancel may still run: it has no
///   token to check.)
/// - **Dropping the handle doesn't stop the series**, as for every handle;
///   [`cancel_on_drop`](crate::TaskHandle::cancel_on_drop) makes one that
///   does.
/// - **A deadline** ([`timeout`](TaskBuilder::timeout),
///   [`deadline`](TaskBuilder::deadline)) is the series': when it passes
///   the series ends, timed out, as a task would (a run in progress
///   finishes, its token signalled), and no run is queued after it (with a
///   deadline already passed at the submit, none at all). A [`time_limit`](TaskBuilder::time_limit) is each run's,
///   and a [`name`](TaskBuilder::name) names the series and its runs.
/// - **Shutdown** ends every series as cancelled, and doesn't wait for
///   future runs: a run in progress finishes (or is cancelled, with
///   [`cancel_running`](crate::ShutdownOptions::cancel_running)), no new
///   run is queued, and the series waiting in the pool's timer end when it
///   closes, once the workers have exited: before a waiting
///   [`shutdown`](crate::ThreadPool::shutdown) returns. (A series whose run
///   was being queued at that very moment ends just after, when the pool
///   refuses the run.) The pool going away (its last handle dropped) is a
///   shutdown. The same holds for a task that starts later
///   ([`start_after`](TaskBuilder::start_after)).
/// - **Memory.** A cancelled series leaves the pool's timer at once (Java's
///   `setRemoveOnCancelPolicy(true)`): unless a run is in progress, its
///   closure is dropped right after `cancel` returns, on the callback
///   runner (a run in progress drops it when it ends; a cancel that races
///   the end of a run may leave it until its next due time).
/// - **A full bounded queue** delays a run until there is room; it neither
///   fails nor skips it. (The run waits on a callback-runner thread, never
///   on the timer; the pool's other due runs wait behind it, for the same
///   queue.)
///
/// No thread is started per series: the pool's one timer thread (the one
/// that enforces deadlines) drives them all, and it runs no user code. When
/// runs come due, one thread of the crate's callback runner at a time
/// queues them on the pool, in order, like any submit (see
/// `schedule.rs`): a thousand series every 10 ms keep a handful of
/// threads busy, not a thousand.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel();
/// let mut n = 0;
/// let ticker = pool
///     .task()
///     .every(Duration::from_millis(10))
///     .submit(move || {
///         n += 1;
///         let _ = tx.send(n);
///     })
///     .unwrap();
/// assert_eq!(rx.iter().take(3).collect::<Vec<_>>(), [1, 2, 3]);
/// assert!(ticker.cancel());
/// assert!(ticker.join().unwrap_err().is_cancelled());
/// ```
#[doc(alias = "scheduleAtFixedRate")]
#[doc(alias = "scheduleWithFixedDelay")]
#[doc(alias = "ScheduledExecutorService")]
#[doc(alias = "sched")]
#[doc(alias = "interval")]
#[must_use = "a periodic task does nothing until a submit method is called"]
pub struct Every<'a, E: Executor> {
    pub(crate) builder: TaskBuilder<'a, E>,
    period: Duration,
    fixed_delay: bool,
}

impl<'a, E: Executor> TaskBuilder<'a, E> {
    /// Runs the task every `period`, until cancelled; see [`Every`] for the
    /// rules (overruns, panics, cancel, shutdown). The options set so far
    /// apply: a name, each run's time limit, a deadline for the series, and
    /// the first run's [`start_after`](Self::start_after).
    ///
    /// A zero period is refused by the submit
    /// ([`SubmitError::is_zero_period`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel();
    /// let series = pool
    ///     .task()
    ///     .name("heartbeat")
    ///     .every(Duration::from_millis(5))
    ///     .submit(move || {
    ///         let _ = tx.send(());
    ///     })
    ///     .unwrap();
    /// rx.recv().unwrap();
    /// assert_eq!(series.name(), Some("heartbeat"));
    /// series.cancel();
    /// ```
    pub fn every(self, period: Duration) -> Every<'a, E> {
        Every {
            builder: self,
            period,
            fixed_delay: false,
        }
    }
}

impl<E: Executor> Every<'_, E> {
    /// Waits `period` between the end of a run and the start of the next
    /// (Java's `scheduleWithFixedDelay`), instead of running at a fixed
    /// rate.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel();
    /// let series = pool
    ///     .task()
    ///     .every(Duration::from_millis(20))
    ///     .fixed_delay()
    ///     .submit(move || {
    ///         std::thread::sleep(Duration::from_millis(10));
    ///         let _ = tx.send(Instant::now()); // the end of the run
    ///     })
    ///     .unwrap();
    /// let first_end = rx.recv().unwrap();
    /// let second_end = rx.recv().unwrap();
    /// series.cancel();
    /// // 20 ms of pause, then a run of 10 ms.
    /// assert!(second_end - first_end >= Duration::from_millis(30));
    /// ```
    #[doc(alias = "scheduleWithFixedDelay")]
    pub fn fixed_delay(mut self) -> Self {
        self.fixed_delay = true;
        self
    }

    /// Runs at a fixed rate (the default): runs are due at
    /// `first + k * period`, and the ones an overrun missed are skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let series = pool.task().every(Duration::from_secs(1)).fixed_rate().submit(|| ()).unwrap();
    /// assert!(series.cancel());
    /// ```
    #[doc(alias = "scheduleAtFixedRate")]
    pub fn fixed_rate(mut self) -> Self {
        self.fixed_delay = false;
        self
    }

    /// Queues the first run after `delay` (by default, at once); Java's
    /// `initialDelay`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel();
    /// let submitted = Instant::now();
    /// let series = pool
    ///     .task()
    ///     .every(Duration::from_millis(10))
    ///     .start_after(Duration::from_millis(30))
    ///     .submit(move || {
    ///         let _ = tx.send(Instant::now());
    ///     })
    ///     .unwrap();
    /// assert!(rx.recv().unwrap() >= submitted + Duration::from_millis(30));
    /// series.cancel();
    /// ```
    pub fn start_after(mut self, delay: Duration) -> Self {
        self.builder = self.builder.start_after(delay);
        self
    }

    /// Queues the first run at `at` (at once if it has passed).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel();
    /// let at = Instant::now() + Duration::from_millis(20);
    /// let series = pool
    ///     .task()
    ///     .every(Duration::from_millis(10))
    ///     .start_at(at)
    ///     .submit(move || {
    ///         let _ = tx.send(Instant::now());
    ///     })
    ///     .unwrap();
    /// assert!(rx.recv().unwrap() >= at);
    /// series.cancel();
    /// ```
    pub fn start_at(mut self, at: Instant) -> Self {
        self.builder = self.builder.start_at(at);
        self
    }

    /// Starts the series: checks what can be refused now (handing `given`
    /// back), then makes the series from `make(given)` and hands it to the
    /// executor's timer.
    pub(crate) fn launch<G>(
        self,
        given: G,
        make: impl FnOnce(G) -> Spawn<E>,
    ) -> Result<TaskHandle<()>, SubmitError<G>> {
        let executor = self.builder.executor;
        let options = self.builder.options;
        if self.period.is_zero() {
            return Err(SubmitError::new(given, Refusal::ZeroPeriod));
        }
        if executor.is_shutdown() {
            return Err(SubmitError::new(given, Refusal::Shutdown));
        }
        let timer = executor.timer();
        match timer.start() {
            Ok(()) => {}
            Err(ScheduleError::Closed) => return Err(SubmitError::new(given, Refusal::Shutdown)),
            Err(ScheduleError::Spawn(err)) => {
                return Err(SubmitError::new(given, Refusal::spawn(err)));
            }
        }
        let token = CancelToken::new();
        let spec = TaskSpec {
            token: Some(token.clone()),
            cancellable: true,
            name: options.name.clone(),
            ..TaskSpec::default()
        };
        // Ended on threads that may run user code (a worker, the callback
        // runner, the thread that shuts the pool down; never the timer,
        // which hands the series on): its callbacks run there.
        let (producer, handle) = new_task((), spec, Caller::User);
        // Running from now on: `cancel` signals the token every run sees.
        let started = producer.start();
        debug_assert_eq!(started, Start::Run);
        #[cfg_attr(not(feature = "tracing"), allow(unused_mut))]
        let mut run_options = options.for_each_run();
        // The series' span (feature `tracing`): made by this submit, in the
        // submitter's span, with the series' id; each run's span is a child
        // of it, and it says when the series ends.
        #[cfg(feature = "tracing")]
        {
            let name = options.name.as_ref().map(|n| n.as_str());
            let span = executor
                .trace_pool()
                .and_then(|pool| super::trace::task_span(pool, name));
            if let Some(span) = &span {
                super::trace::set_id(span, handle.id().as_u64());
                let since = super::trace::started(span);
                let span = span.clone();
                handle.add_done_callback(move |outcome| {
                    use super::trace::Outcome;
                    let outcome = match outcome {
                        Ok(()) => Outcome::Ok,
                        Err(err) if err.is_cancelled() => Outcome::Cancelled,
                        Err(err) if err.is_timeout() => Outcome::TimedOut,
                        Err(err) if err.is_panic() => Outcome::Panicked,
                        Err(_) => Outcome::Failed,
                    };
                    super::trace::ended(&span, outcome, since);
                });
            }
            run_options.span_parent = span;
        }
        let first = options.start().unwrap_or_else(Instant::now);
        let deadline = options.deadline();
        if let Some(deadline) = deadline {
            // Started above: only a shutdown racing this refuses it, and
            // then the series ends below.
            let _ = timer.schedule(deadline, producer.expiry());
        }
        let series = Arc::new(Series {
            pool: executor.weak(),
            spawn: make(given),
            options: run_options,
            token,
            period: self.period,
            fixed_delay: self.fixed_delay,
            deadline,
            producer: Mutex::new(Some(producer)),
            key: Mutex::new(None),
        });
        series.on_cancel();
        series.clone().next_at(executor, first);
        Ok(handle)
    }
}

impl<E: Executor> fmt::Debug for Every<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Every")
            .field("builder", &self.builder)
            .field("period", &self.period)
            .field("fixed_delay", &self.fixed_delay)
            .finish()
    }
}

/// How one run ends, as its series hears it.
pub(crate) type RunDone = Box<dyn FnOnce(Result<(), &TaskError>) + Send + 'static>;

/// Queues one run of a series on `executor`, with the run's options and the
/// series' token; `done` is told when it ends. A refusal says why.
pub(crate) type Spawn<E> = Box<
    dyn Fn(&E, &TaskOptions, &CancelToken, RunDone) -> Result<(), Refusal> + Send + Sync + 'static,
>;

/// A periodic task between its runs; see the [module docs](self).
struct Series<E: Executor> {
    /// The executor, if it is alive.
    pool: Box<dyn Fn() -> Option<E> + Send + Sync>,
    /// Queues a run (it holds the user's closure or argument).
    spawn: Spawn<E>,
    /// Each run's options (name, time limit).
    options: TaskOptions,
    /// The series' token: signalled when the series is cancelled (or a
    /// run's time limit passes); every run checks it before it starts.
    token: CancelToken,
    period: Duration,
    fixed_delay: bool,
    /// The series' deadline, if it has one: no run starts once it has
    /// passed.
    deadline: Option<Instant>,
    /// The series' task; `None` once this series ended it.
    producer: Mutex<Option<Producer<(), ()>>>,
    /// The key of its latest job on the timer: what a cancel takes back.
    key: Mutex<Option<u64>>,
}

impl<E: Executor> Series<E> {
    /// Whether the series goes on: not cancelled, timed out or ended.
    fn alive(&self) -> bool {
        self.producer
            .lock()
            .as_ref()
            .is_some_and(|producer| !producer.is_ended())
    }

    /// Ends the series: cancelled (`None`), or with a run's error. Nothing
    /// if it had ended (its handle cancelled it, its deadline passed).
    fn stop(&self, err: Option<TaskError>) {
        let Some(producer) = self.producer.lock().take() else {
            return;
        };
        match err {
            Some(err) if !err.is_cancelled() => producer.fail(err),
            _ => producer.cancel(),
        };
    }

    /// Ends the series as timed out: its deadline has passed (the timer
    /// may not have ended it yet).
    fn time_out(&self) {
        if let Some(producer) = self.producer.lock().take() {
            producer.expire();
        }
    }

    /// Hands the series to the executor's timer until `at`.
    fn next_at(self: Arc<Self>, executor: &E, at: Instant) {
        let series = self.clone();
        let job = Box::new(move |fire| match fire {
            Fire::Due => series.run(at),
            Fire::Closed => series.stop(None),
        });
        match executor.timer().run_at(at, job) {
            Ok(key) => *self.key.lock() = Some(key),
            Err(_) => self.stop(None), // closed: the executor is shut down
        }
    }

    /// Makes a cancel (or the series' deadline) take the series off the
    /// timer at once, so that its closure is dropped now rather than at
    /// its next due time. The cell runs the hook under its lock, so the
    /// hook only hands the work to the runner.
    fn on_cancel(self: &Arc<Self>) {
        let series = Arc::downgrade(self);
        let hook = Box::new(move || {
            runner::spawn(Box::new(move || {
                let Some(series) = series.upgrade() else {
                    return;
                };
                let key = series.key.lock().take();
                if let (Some(key), Some(executor)) = (key, (series.pool)()) {
                    // Dropped here, on the runner: the job holds the
                    // series, which may be its last holder.
                    drop(executor.timer().remove(key));
                }
            }));
        });
        if let Some(producer) = &*self.producer.lock() {
            producer.set_hook(hook);
        }
    }

    /// Its time `due` came: queues a run. On the timer's lane, which the
    /// pool's other ticks wait for, so what runs user code (the end of the
    /// series: its handle's callbacks, the drop of its closure) is handed
    /// to the callback runner.
    fn run(self: Arc<Self>, due: Instant) {
        if !self.alive() {
            return let_go(self);
        }
        if self.deadline.is_some_and(|d| d <= Instant::now()) {
            // No run starts past the series' deadline (one already passed
            // at the submit included, as for any task), even before the
            // timer's expiry of the series comes round.
            return runner::spawn(Box::new(move || self.time_out()));
        }
        let Some(executor) = (self.pool)() else {
            // The pool is gone: shut down.
            return runner::spawn(Box::new(move || self.stop(None)));
        };
        // Set while this thread is still in the submit: a run that ends
        // before its callback is added calls it here, on the lane.
        let on_lane = Arc::new(AtomicBool::new(true));
        let (series, lane) = (self.clone(), on_lane.clone());
        let done: RunDone = Box::new(move |outcome| {
            let outcome = outcome.map_err(TaskError::duplicate);
            // ORDERING: SeqCst, for simplicity: a stale `true` only costs
            // a hop through the runner.
            if lane.load(Ordering::SeqCst) {
                runner::spawn(Box::new(move || series.after_run(due, outcome)));
            } else {
                series.after_run(due, outcome);
            }
        });
        let spawned = (self.spawn)(&executor, &self.options, &self.token, done);
        // ORDERING: see above.
        on_lane.store(false, Ordering::SeqCst);
        drop(executor);
        let err = match spawned {
            Ok(()) => return let_go(self),
            Err(Refusal::Shutdown) => None,
            Err(reason) => Some(reason.to_task_error()),
        };
        runner::spawn(Box::new(move || self.stop(err)));
    }

    /// A run ended (on a worker, or the callback runner): the series ends
    /// with its error, or goes back to the timer.
    fn after_run(self: Arc<Self>, due: Instant, outcome: Result<(), TaskError>) {
        if let Err(err) = outcome {
            return self.stop(Some(err));
        }
        if !self.alive() {
            return;
        }
        let Some(executor) = (self.pool)() else {
            return self.stop(None);
        };
        let now = Instant::now();
        let next = if self.fixed_delay {
            later(now, self.period)
        } else {
            next_tick(due, self.period, now)
        };
        self.next_at(&executor, next);
    }
}

/// Lets go of `series` on the timer's lane: if that was the last reference,
/// the series (and the user's closure in it) is dropped on the runner.
fn let_go<E: Executor>(series: Arc<Series<E>>) {
    if let Some(series) = Arc::into_inner(series) {
        runner::spawn(Box::new(move || drop(series)));
    }
}

/// `at + by`, or a century on if that overflows (as good as never).
fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(at)
}

/// The first due time `due + k * period` (`k >= 1`) after `now`, or at
/// `now`: the due times an overrun missed are skipped.
fn next_tick(due: Instant, period: Duration, now: Instant) -> Instant {
    let one = later(due, period);
    if now <= one {
        return one;
    }
    let period_ns = period.as_nanos().max(1);
    let k = (now - due).as_nanos() / period_ns + 1;
    let ahead = k.saturating_mul(period_ns);
    let secs = u64::try_from(ahead / 1_000_000_000).unwrap_or(u64::MAX);
    let nanos = (ahead % 1_000_000_000) as u32;
    later(due, Duration::new(secs, nanos))
}

#[cfg(all(test, not(futurepool_loom)))]
mod tests {
    use super::*;

    #[test]
    fn next_tick_skips_missed_ticks() {
        let due = Instant::now();
        let p = Duration::from_millis(10);
        // On time, or early: the next tick.
        assert_eq!(next_tick(due, p, due), due + p);
        assert_eq!(next_tick(due, p, due + p), due + p);
        // Overran by 2.5 periods: ticks 1 and 2 are skipped.
        assert_eq!(next_tick(due, p, due + p * 5 / 2), due + p * 3);
        // Exactly on tick 3: that tick is still to come... or now.
        assert!(next_tick(due, p, due + p * 3) >= due + p * 3);
        assert!(next_tick(due, p, due + p * 3) <= due + p * 4);
    }
}
