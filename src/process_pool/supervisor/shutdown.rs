//! How a pool shuts down: the queue drained or cancelled as asked, running
//! tasks cancelled (each kills its worker), the drivers waited for and
//! joined, and the deadline timer closed once no driver is left.

use std::collections::VecDeque;
use std::time::Instant;

use super::Shared;
use crate::executor::shutdown::ShutdownOptions;
use crate::loom::sync::Weak;

impl Shared {
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
    pub(super) fn close_timer_if_idle(&self, user_thread: bool) {
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
}
