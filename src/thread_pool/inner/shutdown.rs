//! How a thread pool closes: a shutdown ([`Inner::shutdown`]: close to
//! new tasks, wake everyone, cancel what the options say, wait for the
//! workers), a pool broken by a failed initializer
//! ([`Inner::break_pool`]), and the deadline timer closed once nothing can
//! need it. The protocol: `README.md` in `src/thread_pool/`.

use std::time::Instant;

use super::{Inner, PoolState};
use crate::core::blocking;
use crate::error::{BoxError, TaskError};
use crate::executor::shutdown::ShutdownOptions;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::{Arc, MutexGuard, Weak};
use crate::loom::thread;

impl Inner {
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

    /// Wakes every sleeping worker, every worker in reserve (they leave)
    /// and every submitter waiting for room.
    fn wake_all(&self) {
        let _st = self.state.lock();
        self.work.notify_all();
        self.reserve.notify_all();
        self.room.notify_all();
    }

    /// A worker initializer failed: refuse new work and fail the queued.
    pub(in crate::thread_pool) fn break_pool(&self, cause: BoxError) {
        let cause = {
            let mut st = self.state.lock();
            let cause = st.broken.get_or_insert_with(|| Arc::new(cause)).clone();
            self.close(&mut st);
            cause
        };
        self.wake_all();
        while let Some(job) = self.pop() {
            job.fail_queued(TaskError::broken(cause.clone()), Some(self));
        }
    }

    /// Shuts the pool down as `options` say; returns whether every worker
    /// has exited (but those waiting in a shutdown of their own pool).
    pub(crate) fn shutdown(&self, options: ShutdownOptions) -> bool {
        {
            let mut st = self.state.lock();
            st.shutdown = true;
            self.close(&mut st);
        }
        self.wake_all();
        if options.cancel_pending {
            // On the caller's thread: the cancelled tasks' callbacks run
            // here, and their closures are dropped here.
            while let Some(job) = self.pop() {
                job.cancel_queued(Some(self));
            }
        }
        if options.cancel_running {
            // Under the same lock as the tasks register: a task that starts
            // after this sees `stopped` (see `Running`), one that started
            // before is drained here.
            let running: Vec<_> = {
                let mut running = self.running.lock();
                let queued_too = running.stopped.unwrap_or(false) || options.cancel_pending;
                running.stopped = Some(queued_too);
                running.tasks.drain().map(|(_, task)| task).collect()
            };
            for task in running.iter().filter_map(Weak::upgrade) {
                task.cancel();
            }
        }
        let stopped = if options.wait {
            self.wait_for_workers(options.deadline())
        } else {
            self.state.lock().threads == 0
        };
        self.close_timer_if_idle();
        stopped
    }

    /// Closes the deadline timer for good once the pool is closed and no
    /// worker is left: nothing can need it any more. Called by a shutdown,
    /// and by the last worker to leave a closed pool (a pool dropped
    /// without waiting).
    pub(in crate::thread_pool) fn close_timer_if_idle(&self) {
        let idle = {
            let st = self.state.lock();
            // ORDERING: SeqCst, as everywhere in the protocol.
            self.closed.load(Ordering::SeqCst) && st.threads == 0
        };
        if idle {
            self.timer.close();
        }
    }

    /// Waits until every worker has exited, except those (this one
    /// included) that are themselves waiting in a `shutdown` of this pool,
    /// or until `deadline`; then joins the threads that exited. Returns
    /// whether the wait was complete. A worker waiting here lends its
    /// place, so the queue still drains.
    fn wait_for_workers(&self, deadline: Option<Instant>) -> bool {
        let me = self.is_current_worker();
        let _blocking = blocking::enter();
        let (stopped, exited) = {
            let mut st = self.state.lock();
            st.in_shutdown += usize::from(me);
            // Others in shutdown count as gone: two tasks that both shut
            // the pool down would otherwise wait for each other forever.
            let mut stopped = true;
            while st.threads > st.in_shutdown {
                match deadline {
                    None => self.exited.wait(&mut st),
                    Some(deadline) => {
                        if self.exited.wait_until(&mut st, deadline).timed_out() {
                            stopped = st.threads <= st.in_shutdown;
                            break;
                        }
                    }
                }
            }
            st.in_shutdown -= usize::from(me);
            (stopped, st.workers.take_exited())
        };
        for handle in exited {
            let _ = handle.join();
        }
        stopped
    }
}
