//! Tasks that take other tasks' results: [`TaskBuilder::after`] and
//! [`After`], Dask's futures-as-arguments.
//!
//! # How it works
//!
//! `pool.task().after(deps).submit(f)` returns at once with the handle of
//! a new task, the *dependent*. Its cell is a promise-style task of the
//! core (nothing to run; its id and name are its own), pending while its
//! dependencies run. Each dependency gets a watch ([`deps`](super::deps)):
//! a done-callback for a shared handle (the value is cloned there), a
//! [`Then`] for a handle moved in (the value is moved out once the task is
//! done). Each watch reports into a [`Gather`]: a count of the
//! dependencies still running and a slot per value, behind one mutex.
//!
//! - The watch that reports the last value starts the dependent: it marks
//!   it running, assembles the values, and submits the real task to the
//!   executor, on the thread it reports on. The real task's outcome is then
//!   forwarded into the dependent's cell (through a [`Then`] again).
//! - A watch that reports an error ends the dependent at once with
//!   [`TaskError::is_dependency_failed`](crate::TaskError::is_dependency_failed),
//!   without waiting for the other dependencies; their values are dropped
//!   as they arrive.
//! - Ending a dependent reports to its own dependents, and so on down a
//!   chain. A thread that starts or fails dependents does so one after the
//!   other, not one inside the other (a trampoline, [`chain`]), so a chain
//!   thousands long costs the thread that ends its first link a few stack
//!   frames, not thousands.
//!
//! No thread waits for a dependency: the dependent is only state until its
//! last dependency reports, and the reports run where the dependencies end,
//! on threads that may run user code (a pool worker that ran the
//! dependency, the thread that cancelled it or kept its promise, or the
//! crate's callback runner for a task ended by a timer or a process pool's
//! driver), never on an internal thread.
//!
//! A dependent with a deadline is also registered with its executor's
//! deadline timer (reached through the executor's sealed `timer` hook), which ends
//! it at its deadline if it still waits. The timer only moves the
//! dependent's state; its callbacks, and the drop of the function and the
//! values gathered so far, go to the callback runner, as for any task the
//! timer ends.
//!
//! The thread that starts the dependent may be a worker of a pool (of any
//! executor), so it never waits for room in a bounded queue: it offers the
//! task without waiting, and if the queue is full, the callback runner
//! makes the waiting submit.
//!
//! # Cancel
//!
//! The dependent's handle cancels the dependent only, never a dependency.
//! Before it is handed to its executor (while it waits), a cancel ends it
//! at once and drops the function and the values gathered so far; it will
//! not run. After, the cancel reaches the real task as a cancel of its
//! handle would (a queued task is dropped, a running one gets its token,
//! a process pool kills a running worker).

use std::fmt;
use std::time::Instant;

use super::Executor;
use super::deps::{Dependencies, Report, Value, Values, Watch};
use super::options::{TaskBuilder, TaskOptions};
#[cfg(feature = "tracing")]
use super::trace;
use crate::core::cell::{Caller, Start, TaskSpec};
use crate::core::handle::{TaskHandle, Then};
use crate::core::producer::{Producer, new_task};
use crate::core::runner;
use crate::error::{Refusal, SubmitError, TaskError};
use crate::loom::sync::{Arc, Mutex};
#[cfg(feature = "remote")]
use crate::remote::RemoteFn;

impl<'a, E: Executor> TaskBuilder<'a, E> {
    /// Makes the task depend on `deps`: it starts once they have all
    /// finished, and receives their values (see [`After`]). `deps` is a
    /// handle, a shared handle (or a borrow of one: a value fed to many
    /// dependents), or a tuple, `Vec` or array of those; see
    /// [`Dependencies`] for the shapes and what the task receives. The
    /// dependencies may come from any executor, or be promises.
    ///
    /// The other options apply to the dependent: its name, a
    /// [`timeout`](Self::timeout) or [`deadline`](Self::deadline) counted
    /// from the submit (time spent waiting for the dependencies included), a
    /// [`time_limit`](Self::time_limit) counted from when it starts running.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let load = pool.submit(|| vec![3, 1, 2]).unwrap().shared();
    /// let min = pool.task().after(&load).submit(|v: Vec<i32>| *v.iter().min().unwrap()).unwrap();
    /// let max = pool.task().after(&load).submit(|v: Vec<i32>| *v.iter().max().unwrap()).unwrap();
    /// let spread = pool.task().name("spread").after((min, max)).submit(|(lo, hi)| hi - lo).unwrap();
    /// assert_eq!(spread.join().unwrap(), 2);
    /// ```
    #[doc(alias = "depends_on")]
    #[doc(alias = "then")]
    pub fn after<D: Dependencies>(self, deps: D) -> After<'a, E, D> {
        After {
            builder: self,
            deps,
        }
    }
}

/// Submits a task that starts when the tasks it depends on have finished,
/// and receives their values: Dask's `client.submit(f, future)`. Made by
/// [`TaskBuilder::after`].
///
/// - **Values**: the dependent receives [`D::Output`](Dependencies::Output),
///   the dependencies' values in their shape (one value, a tuple, a `Vec`).
///   A [`SharedHandle`](crate::SharedHandle) feeds any number of dependents
///   (each gets a clone); a [`TaskHandle`] feeds one (its value is moved).
/// - **Failure**: if a dependency fails, panics, is cancelled or times out,
///   the dependent ends at once without running, with an error that
///   [`is_dependency_failed`](crate::TaskError::is_dependency_failed) and
///   names the dependency (``task `combine`: dependency task 3 `load`
///   failed``); [`failed_dependency`](crate::TaskError::failed_dependency)
///   (and the error's `source()`) is the dependency's own error. Down a
///   chain, each link names the one before.
/// - **No thread waits**: until its last dependency finishes the dependent
///   is only state; the thread that finishes that dependency submits it.
/// - **Cancel**: cancelling the dependent never cancels a dependency. While
///   it waits, it ends at once and never runs. Once handed to its
///   executor, the dependent's handle ends as cancelled at once (as a
///   [`Promise`](crate::Promise)'s does) and the cancel reaches the task
///   there: a queued one is dropped unrun, a running one gets its token
///   ([`submit_cancellable`](After::submit_cancellable)) or, on a process
///   pool, its worker is killed; a running closure without a token runs to
///   its end and its value is dropped. Dropping the dependent's handle
///   cancels nothing.
/// - **State**: the dependent is pending while it waits;
///   [`is_running`](TaskHandle::is_running) from the moment it is handed to
///   its executor (queued there or running) until it ends.
/// - **Time**: a [`timeout`](TaskBuilder::timeout) or
///   [`deadline`](TaskBuilder::deadline) counts from the `submit` call,
///   waiting included. A dependent still waiting at its deadline ends then,
///   timed out, unrun (its executor's deadline timer ends it; the
///   dependencies go on). After a shutdown of its executor, whose timer
///   stops, the deadline is checked when the dependencies finish. Once
///   handed over, the executor enforces the deadline as for any task. A
///   [`time_limit`](TaskBuilder::time_limit) counts from when it runs.
/// - **Shutdown**: a submit to an executor already shut down is refused; if
///   the executor shuts down while the dependent waits, the dependent ends
///   with the executor's refusal
///   ([`is_shutdown`](crate::TaskError::is_shutdown)) when its dependencies
///   finish. Nothing hangs.
/// - **Panics**: the function's panic is the dependent's, as for any task;
///   so is a panic in a dependency value's `Clone`.
///
/// The submits: [`submit`](After::submit) for closures on a
/// [`ThreadPool`](crate::ThreadPool); [`submit_fn`](After::submit_fn) for
/// named functions on every executor (feature `remote`), which makes a
/// thread pool's values feed a process pool's task.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let load = pool.task().name("load").submit(|| -> Vec<u32> { panic!("disk on fire") }).unwrap();
/// let sum = pool.task().after(load).submit(|v: Vec<u32>| v.iter().sum::<u32>()).unwrap();
/// let err = sum.join().unwrap_err();
/// assert!(err.is_dependency_failed());
/// assert_eq!(err.failed_dependency().unwrap().task_name(), Some("load"));
/// ```
#[must_use = "a task builder does nothing until a submit method is called"]
pub struct After<'a, E: Executor, D> {
    builder: TaskBuilder<'a, E>,
    deps: D,
}

impl<E: Executor, D> fmt::Debug for After<'_, E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("After")
            .field("builder", &self.builder)
            .finish_non_exhaustive()
    }
}

impl<E: Executor, D: Dependencies> After<'_, E, D> {
    /// The backends' submit: makes the dependent and its watches; once the
    /// values are in, `make` turns them into the work `spawn` hands to the
    /// executor (`block`: wait for room in a bounded queue; refused, the
    /// work comes back). Refused at once, with the dependencies and `f`
    /// back, if the executor is shut down.
    pub(crate) fn spawn_with<F, W, R>(
        self,
        f: F,
        make: fn(F, D::Output) -> W,
        spawn: impl Fn(&E, W, &TaskOptions, bool) -> Result<TaskHandle<R>, (W, Refusal)>
        + Send
        + Sync
        + 'static,
    ) -> Result<TaskHandle<R>, SubmitError<(D, F)>>
    where
        F: Send + 'static,
        W: Send + 'static,
        R: Send + 'static,
    {
        let After { builder, deps } = self;
        if builder.executor.is_shutdown() {
            return Err(SubmitError::new((deps, f), Refusal::Shutdown));
        }
        // A timeout counts from now, waiting included.
        let deadline = builder.options.deadline();
        #[cfg_attr(not(feature = "tracing"), allow(unused_mut))]
        let mut options = builder.options.with_deadline(deadline);
        let spec = TaskSpec {
            // Its handle's cancel ends it pending or running (see the
            // module docs).
            cancellable: true,
            name: options.name.clone(),
            ..TaskSpec::default()
        };
        let (producer, handle) = new_task::<R, ()>((), spec, Caller::User);
        // The dependent's span (feature `tracing`): made by this submit, in
        // the submitter's span, with the dependent's id; the task that runs
        // it is traced in it (see `TaskOptions::span`).
        #[cfg(feature = "tracing")]
        {
            let name = options.name.as_ref().map(|n| n.as_str());
            options.span = builder
                .executor
                .trace_pool()
                .and_then(|pool| trace::task_span(pool, name));
            if let Some(span) = &options.span {
                trace::set_id(span, handle.id().as_u64());
            }
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Already passed: timed out, unrun, as any submit would; the
            // dependencies are let go (which cancels none of them).
            producer.expire();
            #[cfg(feature = "tracing")]
            said_ended(options.span.as_ref(), Err(&TaskError::timeout()));
            return Ok(handle);
        }
        if let Some(deadline) = deadline {
            // Ended at its deadline while it waits, by the executor's
            // timer (which runs no user code: the dependent's callbacks, and
            // the drop of what waited, go to the callback runner); if the
            // timer is closed (a shutdown), when its dependencies finish.
            let _ = builder
                .executor
                .timer()
                .schedule(deadline, producer.expiry());
        }
        let handover = Arc::new(Mutex::new(Handover::Waiting));
        let mut watches: Vec<Box<dyn Watch>> = Vec::new();
        let assemble = deps.split(&mut watches);
        let executor = builder.executor.clone();
        #[cfg(feature = "tracing")]
        let traced = options.span.clone();
        let start = {
            let handover = Arc::clone(&handover);
            move |values: Result<Values, TaskError>| {
                let mut values = match values {
                    Ok(values) => values,
                    Err(err) => {
                        producer.fail(err); // a dependency failed
                        return;
                    }
                };
                let work = make(f, assemble(&mut values));
                let launch = Launch {
                    executor,
                    options,
                    spawn,
                    producer,
                    handover,
                };
                launch.start(work);
            }
        };
        let gather = Arc::new(Gather {
            state: Mutex::new(GatherState {
                values: (0..watches.len()).map(|_| None).collect(),
                remaining: watches.len(),
                start: Some(Box::new(start)),
            }),
        });
        {
            // Ended: if before its dependencies finished (cancelled, or
            // timed out by the timer), drop what waits; if cancelled or
            // timed out once handed over, pass the cancel on.
            let gather = Arc::clone(&gather);
            handle.add_done_callback(move |outcome| {
                let unwanted = outcome.is_err_and(|e| e.is_cancelled() || e.is_timeout());
                drop(gather.abandon());
                let was = std::mem::replace(&mut *handover.lock(), Handover::Ended);
                // Ended unrun while it waited: its span says so here (once
                // it has started, its executor or `Launch` does).
                #[cfg(feature = "tracing")]
                if matches!(was, Handover::Waiting) {
                    said_ended(traced.as_ref(), outcome.map(drop));
                }
                if let (Handover::Handed(inner), true) = (was, unwanted) {
                    inner.cancel();
                }
            });
        }
        if watches.is_empty() {
            gather.ready();
        }
        for (index, watch) in watches.into_iter().enumerate() {
            let gather = Arc::clone(&gather);
            let report: Report = Box::new(move |value| gather.report(index, value));
            watch.watch(report);
        }
        Ok(handle)
    }
}

/// Says in the dependent's span (feature `tracing`), if it has one, that it
/// ended as `outcome` says without running.
#[cfg(feature = "tracing")]
fn said_ended(span: Option<&tracing::Span>, outcome: Result<(), &TaskError>) {
    use super::trace::Outcome;
    let Some(span) = span else {
        return;
    };
    let outcome = match outcome {
        Ok(()) => Outcome::Ok,
        Err(err) if err.is_cancelled() => Outcome::Cancelled,
        Err(err) if err.is_timeout() => Outcome::TimedOut,
        Err(_) => Outcome::Failed,
    };
    trace::ended(span, outcome, None);
}

/// Starts the dependent once its values are in.
type StartFn = Box<dyn FnOnce(Result<Values, TaskError>) + Send>;

/// The dependent's values as they arrive; see the [module docs](self).
struct Gather {
    state: Mutex<GatherState>,
}

struct GatherState {
    values: Vec<Option<Value>>,
    remaining: usize,
    /// Taken by whoever starts or fails the dependent, or by its end.
    start: Option<StartFn>,
}

impl Gather {
    /// Dependency `index` ended: with its value, or with the error that
    /// ends the dependent.
    fn report(&self, index: usize, value: Result<Value, TaskError>) {
        let mut st = self.state.lock();
        let (start, outcome) = match value {
            Err(err) => (st.start.take(), Err(err)),
            Ok(value) if st.start.is_some() => {
                st.values[index] = Some(value);
                st.remaining -= 1;
                if st.remaining > 0 {
                    return;
                }
                let values: Vec<Value> = std::mem::take(&mut st.values)
                    .into_iter()
                    .map(|v| v.expect("every dependency reported"))
                    .collect();
                (st.start.take(), Ok(values.into_iter()))
            }
            // The dependent has ended: the value is dropped here, on the
            // thread that reported it (one that may run user code).
            Ok(value) => {
                drop(st);
                drop(value);
                return;
            }
        };
        drop(st);
        if let Some(start) = start {
            // Starting or failing the dependent may end it, which reports to
            // its own dependents, and so on down a chain: one frame per link
            // would overflow the stack of a chain thousands long.
            chain::run(Box::new(move || start(outcome)));
        }
    }

    /// No dependencies: start now.
    fn ready(&self) {
        let start = self.state.lock().start.take();
        if let Some(start) = start {
            start(Ok(Vec::new().into_iter()));
        }
    }

    /// The dependent ended before it started: what waited is handed back,
    /// for the caller to drop outside the lock.
    fn abandon(&self) -> (Option<StartFn>, Vec<Option<Value>>) {
        let mut st = self.state.lock();
        (st.start.take(), std::mem::take(&mut st.values))
    }
}

/// The dependents that one dependency's end starts or fails, down a chain,
/// run one after the other on the thread that reports, not one inside the
/// other: a trampoline.
mod chain {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::panic::{self, AssertUnwindSafe};

    use crate::core::runner::Job;
    use crate::loom::thread_local;

    thread_local! {
        // loom's `thread_local!` (the loom seam) takes no `const` initializer.
        #[allow(clippy::missing_const_for_thread_local)]
        /// The jobs to run once the one running on this thread (further up
        /// its stack) returns; `None` while none runs.
        static LATER: RefCell<Option<VecDeque<Job>>> = RefCell::new(None);
    }

    /// Runs `job` on this thread: now, or, if this thread is already running
    /// one (`job` comes from inside it), right after that one, from the
    /// outermost call, which returns once every job queued meanwhile has
    /// run. A job's panic doesn't stop the others; the first one goes on
    /// unwinding from the outermost call once they have run.
    pub(super) fn run(job: Job) {
        let outermost = LATER.with(|later| {
            let mut later = later.borrow_mut();
            match &mut *later {
                Some(queue) => {
                    queue.push_back(job);
                    None
                }
                None => {
                    *later = Some(VecDeque::new());
                    Some(job)
                }
            }
        });
        let Some(mut job) = outermost else {
            return;
        };
        let mut panicked = None;
        loop {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(job)) {
                panicked.get_or_insert(payload);
            }
            let next = LATER.with(|later| {
                let mut later = later.borrow_mut();
                let next = later.as_mut().and_then(VecDeque::pop_front);
                if next.is_none() {
                    *later = None;
                }
                next
            });
            match next {
                Some(next) => job = next,
                None => break,
            }
        }
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
    }
}

/// Where the dependent is, for its cancel: the real task's handle once it
/// has one.
enum Handover<R> {
    Waiting,
    /// Started (marked running), being handed to its executor.
    Starting,
    Handed(Arc<Then<R>>),
    Ended,
}

/// Everything to hand the dependent to its executor.
struct Launch<E, S, R: Send + 'static> {
    executor: E,
    options: TaskOptions,
    spawn: S,
    producer: Producer<R, ()>,
    handover: Arc<Mutex<Handover<R>>>,
}

impl<E, S, R> Launch<E, S, R>
where
    E: Executor,
    R: Send + 'static,
{
    /// Marks the dependent running and offers `work` to the executor
    /// without waiting; a full queue hands the waiting submit to the
    /// callback runner (see the [module docs](self)).
    fn start<W>(self, work: W)
    where
        W: Send + 'static,
        S: Fn(&E, W, &TaskOptions, bool) -> Result<TaskHandle<R>, (W, Refusal)> + Send + 'static,
    {
        {
            // Under the lock, so that an end that races the start sees
            // either `Waiting` (it ended first: `start` says so) or
            // `Starting`, never a started dependent as `Waiting`.
            let mut at = self.handover.lock();
            if self.producer.start() != Start::Run {
                return; // cancelled meanwhile: `work` is dropped here
            }
            *at = Handover::Starting;
        }
        if self
            .options
            .deadline()
            .is_some_and(|d| d <= std::time::Instant::now())
        {
            self.producer.expire();
            #[cfg(feature = "tracing")]
            said_ended(self.options.span.as_ref(), Err(&TaskError::timeout()));
            return;
        }
        match (self.spawn)(&self.executor, work, &self.options, false) {
            Ok(inner) => self.hand_over(inner),
            Err((work, Refusal::Full)) => runner::spawn(Box::new(move || {
                match (self.spawn)(&self.executor, work, &self.options, true) {
                    Ok(inner) => self.hand_over(inner),
                    Err((work, reason)) => self.refused(work, reason),
                }
            })),
            Err((work, reason)) => self.refused(work, reason),
        }
    }

    /// The executor refused the dependent: it ends with the refusal's error.
    fn refused<W>(self, work: W, reason: Refusal) {
        let err = reason.to_task_error();
        #[cfg(feature = "tracing")]
        said_ended(self.options.span.as_ref(), Err(&err));
        self.producer.fail(err);
        drop(work);
    }

    /// The real task is queued: forward its outcome into the dependent,
    /// and let the dependent's cancel reach it.
    fn hand_over(self, inner: TaskHandle<R>) {
        let Launch {
            producer, handover, ..
        } = self;
        let inner = Then::new(inner, move |outcome| {
            // Lost to a cancel of the dependent: the value is dropped here.
            let _ = producer.complete(outcome);
        });
        let mut at = handover.lock();
        if matches!(*at, Handover::Starting) {
            *at = Handover::Handed(inner);
        } else {
            drop(at);
            inner.cancel(); // the dependent ended while it was handed over
        }
    }
}

#[cfg(feature = "remote")]
impl<E: Executor, D: Dependencies> After<'_, E, D> {
    /// Submits the named function `f`, which receives the dependencies'
    /// values ([`D::Output`](Dependencies::Output)) as its argument, to run
    /// once they have all finished; on any executor. The values may come
    /// from another executor: a thread pool's result feeds a process pool's
    /// task (encoded when the task is handed to it).
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding the dependencies and `f` if the executor
    /// is shut down. A refusal after the dependencies finished ends the
    /// dependent with the refusal's error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// fn add((a, b): (u64, u64)) -> u64 {
    ///     a + b
    /// }
    ///
    /// fn sum_of_squares(executor: &impl Executor) -> u64 {
    ///     let a = executor.submit_fn(remote!(|x: u64| x * x), 3).unwrap();
    ///     let b = executor.submit_fn(remote!(|x: u64| x * x), 4).unwrap();
    ///     let sum = executor.task().after((a, b)).submit_fn(remote!(add)).unwrap();
    ///     sum.join().unwrap()
    /// }
    ///
    /// assert_eq!(sum_of_squares(&ThreadPool::new()), 25);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    #[allow(clippy::type_complexity)] // what is handed back, spelt out
    pub fn submit_fn<R>(
        self,
        f: RemoteFn<D::Output, R>,
    ) -> Result<TaskHandle<R>, SubmitError<(D, RemoteFn<D::Output, R>)>>
    where
        D::Output: serde::Serialize,
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        self.spawn_with(
            f,
            |f, values| (f, values),
            |executor: &E, (f, values), options, block| {
                executor
                    .spawn_fn(f, values, options, block)
                    .map_err(|(values, reason)| ((f, values), reason))
            },
        )
    }
}
