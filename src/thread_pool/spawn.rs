//! How a task gets onto the pool: [`ThreadPool::spawn`], behind every
//! submit, map and scope. It resolves the task's deadline, ends a task
//! whose deadline has already passed without queueing it, registers the
//! deadline (or starts the timer for a time limit) before the task is
//! queued, and hands a refused closure back to the caller untouched. A task
//! that starts later goes to the timer (`submit.rs`, `push_at`).

use std::time::Instant;

use super::ThreadPool;
use super::job::{self, Job, ThreadJob, new_thread_task};
use crate::core::cell::{Caller, TaskSpec};
use crate::core::handle::TaskHandle;
use crate::core::timer::ScheduleError;
use crate::core::token::CancelToken;
use crate::error::Refusal;
use crate::executor::options::TaskOptions;
use crate::loom::sync::Arc;

impl ThreadPool {
    /// Queues a job with `options` (its deadline resolved now, its time
    /// limit started when it runs). A refused job comes back with the
    /// reason, untouched.
    pub(crate) fn spawn<J, T>(
        &self,
        job: J,
        token: Option<CancelToken>,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<T>, (J, Refusal)>
    where
        J: Job<T> + 'static,
        T: Send + 'static,
    {
        let inner = self.inner();
        let deadline = options.deadline();
        // The task's span (feature `tracing`; `()` without it).
        #[cfg_attr(not(feature = "tracing"), allow(clippy::let_unit_value))]
        let span = job::task_trace(&inner.config.name_prefix, options);
        let start = options.start();
        let stopping = TaskSpec {
            token,
            cancellable: false,
            name: options.name.clone(),
            deadline,
            time_limit: options.time_limit,
            // A task that starts later is never run early by a waiter.
            owner: if start.is_some() { 0 } else { inner.tag.get() },
        };
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Already passed: the task must not run at all, so it is ended
            // here rather than raced against a worker. A pool that would
            // refuse it still does, handing the closure back.
            if let Some(reason) = inner.refusal() {
                return Err((job, reason));
            }
            let (producer, handle) = new_thread_task::<T, J>(None, stopping, span);
            #[cfg(feature = "tracing")]
            job::trace_id(&producer, options);
            #[cfg(feature = "tracing")]
            let span = producer.payload().listened_span();
            producer.expire();
            inner
                .counters
                .count_unqueued(crate::core::state::End::Error);
            #[cfg(feature = "tracing")]
            if let Some(span) = &span {
                crate::executor::trace::ended(
                    span,
                    crate::executor::trace::Outcome::TimedOut,
                    None,
                );
            }
            // Dropped here, on the caller's thread; a drop that panics must
            // not make the submit panic.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(job)));
            return Ok(handle);
        }
        let (producer, handle) = new_thread_task(Some(job), stopping, span);
        #[cfg(feature = "tracing")]
        job::trace_id(&producer, options);
        // The deadline is registered (and for a time limit, the timer
        // started) before the task is queued, so that a timer that can't
        // start refuses a task nobody has seen yet.
        let timed = deadline.or(options.time_limit.map(|_| Instant::now()));
        let refusal = |err| match err {
            ScheduleError::Closed => Refusal::Shutdown,
            ScheduleError::Spawn(err) => Refusal::spawn(err),
        };
        let scheduled = match (deadline, timed) {
            // Refused anyway: don't start a timer thread for a task that
            // will never be queued.
            (_, Some(_)) if inner.is_shutdown() => Err(Refusal::Shutdown),
            (Some(deadline), _) => inner
                .timer
                .schedule(deadline, producer.expiry())
                .map_err(refusal),
            (None, Some(_)) => inner.timer.start().map_err(refusal),
            (None, None) => Ok(()),
        };
        let cell = producer.into_cell();
        let pushed = match (scheduled, start) {
            (Ok(()), None) => inner.push(cell, block),
            (Ok(()), Some(at)) => self.push_at(at, cell),
            (Err(reason), _) => Err((cell, reason)),
        };
        match pushed {
            Ok(()) => Ok(handle),
            Err((cell, reason)) => {
                // Nothing but this thread (and maybe the timer, which
                // doesn't touch the closure) has seen the task: the closure
                // is still in it, and goes back to the caller.
                // SAFETY: taken once claimed; nobody else can have claimed
                // it (the handle isn't out, the queue never held it).
                let job = cell
                    .claim()
                    .then(|| unsafe { cell.payload.take() })
                    .flatten()
                    .expect("a refused task's job is still there");
                drop(handle);
                producer_of(cell).fail(reason.to_task_error());
                Err((job, reason))
            }
        }
    }
}

/// The producer of a task that was refused before it was queued.
fn producer_of<T: Send + 'static, J: Job<T> + 'static>(
    cell: Arc<crate::core::cell::Cell<T, ThreadJob<T, J>>>,
) -> crate::core::producer::Producer<T, ThreadJob<T, J>> {
    crate::core::producer::Producer::from_cell(cell, Caller::User)
}
