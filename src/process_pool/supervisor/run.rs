//! How a driver runs one task on its worker: start a worker if it has
//! none, install the kill hook, send the request, read the reply, and
//! replace the worker when it is lost (see README.md beside this folder's
//! file: "A task's trip", "Killing a running task", "Crashes").

use std::time::Instant;

use super::{Dispatch, Shared};
use crate::core::state::End;
use crate::error::TaskError;
use crate::loom::sync::Arc;
use crate::process_pool::child::{self, CallError, StartError, WorkerProcess};

/// How many workers a task may lose before it reaches one (killed during
/// start-up, found dead before the write) before it fails as "worker died".
const MAX_LOST: u32 = 3;

impl Shared {
    /// Counts a task that ended, if it did.
    fn count(&self, end: Option<End>) {
        if let Some(end) = end {
            self.counters.count(end);
        }
    }

    /// Runs one task on this driver's worker, starting one if needed.
    /// Returns `true` if it counted this driver in `spinning` (see below),
    /// for the caller to undo.
    pub(super) fn run(
        &self,
        id: usize,
        worker: &mut Option<WorkerProcess>,
        job: Box<dyn Dispatch>,
    ) -> bool {
        let Some(request) = job.start() else {
            // Ended while queued (cancelled, timed out).
            self.count(job.ended());
            return false;
        };
        if job.deadline().is_some_and(|d| d <= Instant::now()) {
            // Passed before the timer could end it: it must not run.
            self.counters.count(job.expire());
            return false;
        }
        self.state.lock().running.insert(id, job.canceller());
        let counted = self.run_started(id, worker, job, request);
        self.state.lock().running.remove(&id);
        counted
    }

    /// The rest of [`run`](Self::run), once the task has started.
    fn run_started(
        &self,
        id: usize,
        worker: &mut Option<WorkerProcess>,
        job: Box<dyn Dispatch>,
        request: Arc<Vec<u8>>,
    ) -> bool {
        let mut retries = job.retries();
        // Workers lost before the task reached them: killed during start-up,
        // or found dead before the request was written. Retried whatever
        // the retry setting (the task never ran), up to a bound, so that a
        // worker killed every time can't hold the driver for ever.
        let mut lost = 0;
        // Whether the time limit is running: it starts when the task is
        // first sent to a ready worker, so a worker started for the task
        // (a cold pool, a replaced one) doesn't eat into it.
        let mut limited = false;
        loop {
            if worker.is_none() {
                match WorkerProcess::start(&self.config) {
                    Ok(proc) => {
                        let mut st = self.state.lock();
                        st.pids.insert(id, proc.pid);
                        st.started += 1;
                        *worker = Some(proc);
                    }
                    Err(StartError::Lost {
                        pid, code, signal, ..
                    }) => {
                        lost += 1;
                        if lost > MAX_LOST {
                            let died = TaskError::worker_died(pid, code, signal);
                            self.counters.count(job.fail(died));
                            return false;
                        }
                        continue;
                    }
                    Err(err) => {
                        let broken = self.break_pool(err);
                        self.counters.count(job.fail(broken));
                        return false;
                    }
                }
            }
            if worker.as_ref().is_some_and(WorkerProcess::is_gone) {
                // Died (or sent garbage) while idle, and not reaped yet:
                // the task goes to a fresh worker.
                let proc = worker.take().expect("present");
                let pid = proc.pid;
                let status = self.end_worker(id, proc, true);
                lost += 1;
                if lost > MAX_LOST {
                    let (code, signal) = child::describe(status);
                    let died = TaskError::worker_died(pid, code, signal);
                    self.counters.count(job.fail(died));
                    return false;
                }
                continue;
            }
            let proc = worker.as_mut().expect("started above");
            let pid = proc.pid;
            if !std::mem::replace(&mut limited, true) {
                if let Some(at) = job.time_limit().and_then(|l| Instant::now().checked_add(l)) {
                    // The timer was started at the submit (it is closed
                    // only once no driver is left).
                    let _ = self.timer.schedule(at, job.expiry());
                }
            }
            // From here until `clear_hook`, `cancel()` and a deadline kill
            // the worker. See README.md, "Killing a running task": the
            // worker is not reaped before `clear_hook` returns.
            if !job.set_hook(proc.kill_hook()) {
                // Cancelled or timed out before it was sent.
                self.count(job.ended());
                return false;
            }
            let result = proc.call(&request);
            let killed = job.clear_hook();
            match result {
                Ok(reply) => {
                    proc.tasks += 1;
                    let quota = self
                        .config
                        .max_tasks_per_child
                        .is_some_and(|max| proc.tasks >= max);
                    // The thread that joins may submit its next task the
                    // moment the outcome is visible, before this driver is
                    // back for it: count the driver as spinning (it will
                    // take a queued job without being woken) from before
                    // then, so that the submit doesn't start a second
                    // driver and worker. (No done-callback runs on this
                    // thread, so nothing can submit and wait here while it
                    // is counted.)
                    self.state.lock().spinning += 1;
                    self.counters.count(job.complete(reply, pid));
                    // The task's copy of the request is gone with it.
                    self.recycle(request);
                    if killed || quota {
                        let proc = worker.take().expect("present");
                        self.end_worker(id, proc, killed);
                    }
                    return true;
                }
                Err(err) => {
                    let proc = worker.take().expect("present");
                    let status = self.end_worker(id, proc, true);
                    if killed {
                        // The task already reports its cancel or timeout.
                        self.count(job.ended());
                        return false;
                    }
                    let end = match err {
                        CallError::Protocol(msg) => job.fail(TaskError::protocol(pid, msg)),
                        CallError::Undelivered if lost < MAX_LOST => {
                            lost += 1;
                            continue; // it never reached a worker
                        }
                        CallError::Died | CallError::Undelivered if retries > 0 => {
                            retries -= 1;
                            continue;
                        }
                        CallError::Died | CallError::Undelivered => {
                            let (code, signal) = child::describe(status);
                            job.fail(TaskError::worker_died(pid, code, signal))
                        }
                    };
                    self.counters.count(end);
                    return false;
                }
            }
        }
    }
}
