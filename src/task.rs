//! The shared cell of one task: its [state machine](crate::state) behind a
//! mutex, a condvar for blocked waiters, and the cancellation token.
//!
//! The handle holds one reference, the queue (or the worker running it)
//! another, and a deadline timer a weak one.
//!
//! The job lives inside the task's own allocation: a task is created as a
//! `Task<T, Option<J>>` for its concrete job type `J`, queued as an
//! `Arc<dyn Runnable>`, and handed to its handle unsized to `Task<T>` (whose
//! job is a `dyn JobSlot<T>`). One allocation per task, not two.
//!
//! A thread pool runs a task with [`Runnable::run`]. A process pool runs it
//! in another process: it calls [`Task::start`] itself, sends the job away,
//! and ends the task with [`Task::complete`] when the reply comes back. Its
//! tasks carry a token whose hook kills the worker, so that `cancel` and a
//! deadline stop them while they run.

use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll};
use std::time::Instant;

use crate::error::{TaskError, payload_message};
use crate::state::{Callback, End, Job, JobSlot, Phase, State};
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::token::CancelToken;
use crate::watch::Watcher;

pub(crate) struct Task<T, J: ?Sized = dyn JobSlot<T>> {
    state: Mutex<State<T>>,
    done: Condvar,
    /// Present for tasks that accept cooperative cancellation.
    token: Option<CancelToken>,
    /// When the task times out, if it has a deadline. The timer thread
    /// expires it; a worker checks too, because the timer may lag behind.
    deadline: Option<Instant>,
    /// The job, until it runs or is dropped unrun. Only the winner of
    /// `start`, or of the race to end a pending task, touches it, so this
    /// lock is never contended. Last, so that the task can be unsized.
    job: Mutex<J>,
}

/// What a pool's queue and timer need of a task, whatever its output type.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the task on this thread, unless it already ended.
    fn run(&self);
    /// Ends a task that hasn't started with `err` (shutdown, broken pool).
    fn fail(&self, err: TaskError);
    /// The deadline passed: ends the task as timed out.
    fn expire(&self);
    /// Cancels a task that hasn't started (shutdown with `cancel_pending`).
    fn cancel_queued(&self);
}

/// The job of a plain `FnOnce() -> T` closure.
pub(crate) struct Plain<F>(pub(crate) F);

impl<F, T> Job<T> for Plain<F>
where
    F: FnOnce() -> T + Send + 'static,
{
    fn call(self) -> T {
        (self.0)()
    }
    fn into_any(self) -> Box<dyn std::any::Any + Send> {
        Box::new(self.0)
    }
}

/// The job of a closure that takes a cancellation token.
pub(crate) struct WithToken<F>(pub(crate) F, pub(crate) CancelToken);

impl<F, T> Job<T> for WithToken<F>
where
    F: FnOnce(CancelToken) -> T + Send + 'static,
{
    fn call(self) -> T {
        (self.0)(self.1)
    }
    fn into_any(self) -> Box<dyn std::any::Any + Send> {
        Box::new(self.0)
    }
}

impl<T, J: Job<T>> Task<T, Option<J>> {
    pub(crate) fn new(job: J, token: Option<CancelToken>, deadline: Option<Instant>) -> Self {
        Task {
            state: Mutex::new(State::new()),
            done: Condvar::new(),
            token,
            deadline,
            job: Mutex::new(Some(job)),
        }
    }
}

impl<T, J: ?Sized + JobSlot<T>> Task<T, J> {
    /// `Pending -> Running`: returns whether the caller may now run the job
    /// (`false` if the task already ended). [`Runnable::run`] calls it before
    /// running the closure here; the process pool calls it before sending
    /// the request to a worker.
    pub(crate) fn start(&self) -> bool {
        self.state.lock().start()
    }

    /// `Running -> Completing -> Done` with an outcome computed by whoever
    /// [`start`](Self::start)ed the task (here, or in a worker process).
    /// Returns `false`, dropping `outcome`, if another event (a cancel, a
    /// timeout) ended the task first.
    pub(crate) fn complete(&self, outcome: Result<T, TaskError>) -> bool {
        self.complete_then(outcome, None)
    }

    /// [`complete`](Self::complete), calling `about_to_publish` once the
    /// done-callbacks have run, just before the outcome becomes visible (and
    /// so before `join` can return), if this call does publish it.
    ///
    /// It runs under the task's lock, so that no callback can be added
    /// after it: it must be short and run no user code. A process pool's
    /// driver uses it to count itself available before the thread that
    /// joins can submit the next task (see `process_pool/supervisor.rs`).
    pub(crate) fn complete_then(
        &self,
        outcome: Result<T, TaskError>,
        about_to_publish: Option<&mut dyn FnMut()>,
    ) -> bool {
        let mut st = self.state.lock();
        if st.phase != Phase::Running {
            // Cancelled or timed out while running: nobody wants this value.
            drop(st);
            drop(outcome);
            return false;
        }
        st.phase = Phase::Completing;
        st.end = Some(if outcome.is_ok() {
            End::Value
        } else {
            End::Error
        });
        self.finish(st, outcome, about_to_publish);
        true
    }

    /// The task's cancellation token, if it has one.
    #[cfg(feature = "process")]
    pub(crate) fn token(&self) -> Option<&CancelToken> {
        self.token.as_ref()
    }

    /// Takes back the job of a task that was never queued (a refused
    /// submit), as it was given; `None` if something already ended the task
    /// and dropped it (a deadline that passed at once).
    pub(crate) fn take_unqueued_job(&self) -> Option<Box<dyn std::any::Any + Send>> {
        self.job.lock().take_any()
    }

    pub(crate) fn phase(&self) -> Phase {
        self.state.lock().phase
    }

    /// Running, or finishing (callbacks) after it ran. A queued task being
    /// cancelled never counts as running.
    pub(crate) fn is_running(&self) -> bool {
        let st = self.state.lock();
        st.phase == Phase::Running || (st.phase == Phase::Completing && st.started)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        let st = self.state.lock();
        st.phase == Phase::Done && st.end == Some(End::Cancelled)
    }

    /// See [`TaskHandle::cancel`](crate::TaskHandle::cancel).
    pub(crate) fn cancel(&self) -> bool {
        let mut st = self.state.lock();
        match st.win(End::Cancelled, self.token.is_some()) {
            Ok(pending) => {
                if let Some(token) = &self.token {
                    token.signal();
                }
                if pending {
                    MutexGuard::unlocked(&mut st, || self.job.lock().discard());
                }
                self.finish(st, Err(TaskError::cancelled()), None);
                true
            }
            Err(_) => st.end == Some(End::Cancelled),
        }
    }

    /// Ends the task with `outcome` if it is still pending or running; `end`
    /// says which kind of outcome it is.
    fn end_with(&self, end: End, outcome: TaskError) {
        let mut st = self.state.lock();
        if let Ok(pending) = st.win(end, true) {
            if let Some(token) = &self.token {
                token.signal();
            }
            if pending {
                MutexGuard::unlocked(&mut st, || self.job.lock().discard());
            }
            self.finish(st, Err(outcome), None);
        }
    }

    /// Publishes `outcome`, calling `about_to_publish` (under the lock)
    /// just before. The caller has won (phase is `Completing`).
    fn finish(
        &self,
        mut st: MutexGuard<'_, State<T>>,
        outcome: Result<T, TaskError>,
        about_to_publish: Option<&mut dyn FnMut()>,
    ) {
        debug_assert_eq!(st.phase, Phase::Completing);
        // Callbacks run before the outcome is visible, so that `join`
        // returning implies they have run. A callback added meanwhile is
        // queued by `add_callback` and picked up by the next round.
        loop {
            let callbacks = std::mem::take(&mut st.callbacks);
            if callbacks.is_empty() {
                break;
            }
            MutexGuard::unlocked(&mut st, || {
                for cb in callbacks {
                    run_callback(cb, outcome.as_ref());
                }
            });
        }
        if let Some(about_to_publish) = about_to_publish {
            about_to_publish();
        }
        st.outcome = Some(outcome);
        st.phase = Phase::Done;
        let waker = st.waker.take();
        let watchers = std::mem::take(&mut st.watchers);
        drop(st);
        self.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
        for w in watchers {
            w.notify.push(w.index);
        }
    }

    /// See [`TaskHandle::add_done_callback`](crate::TaskHandle::add_done_callback).
    pub(crate) fn add_callback(&self, cb: Callback<T>) {
        let mut st = self.state.lock();
        if st.phase != Phase::Done || st.outcome_lent {
            // Not done: the winner runs it. Done, but the outcome is lent to
            // a thread running late callbacks (another thread, or a callback
            // on this one adding another): that thread runs it next. Either
            // way callbacks run one at a time, as `&T` must not be shared
            // between threads (`T` is only `Send`).
            st.callbacks.push(cb);
            return;
        }
        // Done: run it here and now. The outcome is lent out while the lock
        // is released; only the handle's owner could take it, and the owner
        // is this caller (or a thread borrowing the handle, which can't take
        // it either).
        let outcome = st
            .outcome
            .take()
            .expect("`add_done_callback` after the outcome was taken by polling the handle");
        st.outcome_lent = true;
        let mut batch = vec![cb];
        while !batch.is_empty() {
            MutexGuard::unlocked(&mut st, || {
                for cb in batch {
                    run_callback(cb, outcome.as_ref());
                }
            });
            batch = std::mem::take(&mut st.callbacks);
        }
        st.outcome = Some(outcome);
        st.outcome_lent = false;
    }

    /// Blocks until the task is done or `deadline` passes; returns whether it
    /// is done.
    pub(crate) fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if self.state.lock().phase == Phase::Done {
            return true;
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return false; // a poll, not a wait: nothing to lend
        }
        // A pool worker that blocks here lends its slot to the pool.
        let _lend = crate::thread_pool::enter_blocking();
        let mut st = self.state.lock();
        while st.phase != Phase::Done {
            match deadline {
                None => self.done.wait(&mut st),
                Some(deadline) => {
                    if self.done.wait_until(&mut st, deadline).timed_out() {
                        return st.phase == Phase::Done;
                    }
                }
            }
        }
        true
    }

    /// Takes the outcome of a `Done` task, or `None` if it is not done.
    ///
    /// # Panics
    ///
    /// If the outcome was already taken by polling.
    pub(crate) fn try_take(&self) -> Option<Result<T, TaskError>> {
        let mut st = self.state.lock();
        if st.phase != Phase::Done {
            return None;
        }
        Some(
            st.outcome
                .take()
                .expect("task outcome already taken by polling the handle"),
        )
    }

    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let mut st = self.state.lock();
        if st.phase == Phase::Done {
            return Poll::Ready(
                st.outcome
                    .take()
                    .expect("`TaskHandle` polled after completion"),
            );
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

fn run_callback<T>(cb: Callback<T>, outcome: Result<&T, &TaskError>) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| cb(outcome))) {
        // Reported, not propagated: the next callback still runs, and the
        // thread that completed the task (maybe a pool worker) carries on.
        // The panic hook has already printed where it happened.
        eprintln!(
            "futurepool: a done-callback panicked: {}",
            payload_message(payload.as_ref()).unwrap_or("(non-string payload)")
        );
    }
}

impl<T, J: ?Sized + JobSlot<T>> Task<T, J> {
    /// Ends a task that hasn't started with `err` (shutdown, broken pool).
    pub(crate) fn fail(&self, err: TaskError) {
        self.end_with(End::Error, err);
    }

    /// The deadline passed: ends the task as timed out.
    pub(crate) fn expire(&self) {
        self.end_with(End::Error, TaskError::timeout());
    }

    /// `Some(is_exception)` if the task is done, else `None`.
    pub(crate) fn done_status(&self) -> Option<bool> {
        let st = self.state.lock();
        (st.phase == Phase::Done).then(|| st.is_exception())
    }

    /// Registers `w`, or returns `Some(is_exception)` without registering
    /// if the task is already done.
    pub(crate) fn watch(&self, w: Watcher) -> Option<bool> {
        let mut st = self.state.lock();
        if st.phase == Phase::Done {
            return Some(st.is_exception());
        }
        st.watchers.push(w);
        None
    }

    /// Removes the watchers with this id, if still registered.
    pub(crate) fn unwatch(&self, id: u64) {
        self.state.lock().watchers.retain(|w| w.id != id);
    }
}

impl<T: Send + 'static, J: JobSlot<T> + 'static> Runnable for Task<T, J> {
    fn run(&self) {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            // Past its deadline before it started: it never runs, even if
            // the timer thread hasn't got to it yet.
            self.expire();
            return;
        }
        if !self.start() {
            return; // ended before it started
        }
        // The job lock is held while the closure runs; nothing else takes it
        // once the task has started (see `job`).
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.job.lock().call()))
            .map(|value| value.expect("a task that started has its job"))
            .map_err(TaskError::panic);
        self.complete(outcome);
    }

    fn fail(&self, err: TaskError) {
        Task::fail(self, err);
    }

    fn expire(&self) {
        Task::expire(self);
    }

    fn cancel_queued(&self) {
        self.cancel();
    }
}
