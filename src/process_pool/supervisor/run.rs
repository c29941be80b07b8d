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
use crate::process_pool::protocol::Reply;

/// How many workers a task may lose before it reaches one (killed during
/// start-up, found dead before the write) before it fails as "worker died".
const MAX_LOST: u32 = 3;

impl Shared {
    /// Counts a task that ended, if it did.
    pub(super) fn count(&self, end: Option<End>) {
        if let Some(end) = end {
            self.counters.count(end);
        }
    }

    /// Runs one task on this driver's worker, starting one if needed.
    pub(super) fn run(
        &self,
        id: usize,
        worker: &mut Option<WorkerProcess>,
        job: Box<dyn Dispatch>,
    ) {
        let Some(request) = job.start() else {
            // Ended while queued (cancelled, timed out).
            self.count(job.ended());
            return;
        };
        if job.deadline().is_some_and(|d| d <= Instant::now()) {
            // Passed before the timer could end it: it must not run.
            self.counters.count(job.expire());
            return;
        }
        self.state.lock().running.insert(id, job.canceller());
        let trip = Trip::new(job.as_ref());
        self.drive(id, worker, job, request, trip, None);
        self.state.lock().running.remove(&id);
    }

    /// The rest of [`run`](Self::run), once the task has started: from the
    /// start of a worker if need be to the task's end, or, given `sent`,
    /// from the outcome of a call already made (a task sent directly, whose
    /// reply or failure comes back to its driver: see `direct.rs`).
    pub(super) fn drive(
        &self,
        id: usize,
        worker: &mut Option<WorkerProcess>,
        job: Box<dyn Dispatch>,
        request: Arc<Vec<u8>>,
        mut trip: Trip,
        mut sent: Option<Sent>,
    ) {
        loop {
            let Sent { result, killed } = match sent.take() {
                Some(sent) => sent,
                None => match self.send(id, worker, job.as_ref(), &request, &mut trip) {
                    Ok(sent) => sent,
                    Err(failed) => {
                        let end = match failed {
                            Failed::Ended => job.ended(),
                            Failed::Error(err) => Some(job.fail(err)),
                        };
                        self.count(end);
                        return;
                    }
                },
            };
            let proc = worker.as_mut().expect("the call's worker");
            let pid = proc.pid;
            match result {
                Ok(reply) => {
                    proc.tasks += 1;
                    let quota = self
                        .config
                        .max_tasks_per_child
                        .is_some_and(|max| proc.tasks >= max);
                    // The thread that joins may submit its next task the
                    // moment the outcome is visible: the worker is parked
                    // before then (if nothing is queued), so that the
                    // submit finds it rather than starting a second driver
                    // and worker.
                    if !killed && !quota {
                        self.park_if_idle(id, worker);
                    }
                    job.complete(reply, pid, &self.counters);
                    // The task's copy of the request is gone with it.
                    self.recycle(request);
                    if killed || quota {
                        let proc = worker.take().expect("present");
                        self.end_worker(id, proc, killed);
                    }
                    return;
                }
                Err(err) => {
                    let proc = worker.take().expect("present");
                    let status = self.end_worker(id, proc, true);
                    if killed {
                        // The task already reports its cancel or timeout.
                        self.count(job.ended());
                        return;
                    }
                    let end = match err {
                        CallError::Protocol(msg) => job.fail(TaskError::protocol(pid, msg)),
                        CallError::Undelivered if trip.lost < MAX_LOST => {
                            trip.lost += 1;
                            continue; // it never reached a worker
                        }
                        CallError::Died | CallError::Undelivered | CallError::NotYet
                            if trip.retries > 0 =>
                        {
                            trip.retries -= 1;
                            continue;
                        }
                        CallError::Died | CallError::Undelivered | CallError::NotYet => {
                            let (code, signal) = child::describe(status);
                            job.fail(TaskError::worker_died(pid, code, signal))
                        }
                    };
                    self.counters.count(end);
                    return;
                }
            }
        }
    }

    /// Makes one call of the task on this driver's worker, starting one
    /// if need be.
    fn send(
        &self,
        id: usize,
        worker: &mut Option<WorkerProcess>,
        job: &dyn Dispatch,
        request: &[u8],
        trip: &mut Trip,
    ) -> Result<Sent, Failed> {
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
                        trip.lost += 1;
                        if trip.lost > MAX_LOST {
                            return Err(Failed::Error(TaskError::worker_died(pid, code, signal)));
                        }
                        continue;
                    }
                    Err(err) => return Err(Failed::Error(self.break_pool(err))),
                }
            }
            if worker.as_ref().is_some_and(WorkerProcess::is_gone) {
                // Died (or sent garbage) while idle, and not reaped yet:
                // the task goes to a fresh worker.
                let proc = worker.take().expect("present");
                let pid = proc.pid;
                let status = self.end_worker(id, proc, true);
                trip.lost += 1;
                if trip.lost > MAX_LOST {
                    let (code, signal) = child::describe(status);
                    return Err(Failed::Error(TaskError::worker_died(pid, code, signal)));
                }
                continue;
            }
            let proc = worker.as_mut().expect("started above");
            self.start_limit(job, trip);
            // From here until `clear_hook`, `cancel()` and a deadline kill
            // the worker. See README.md, "Killing a running task": the
            // worker is not reaped before `clear_hook` returns.
            if !job.set_hook(proc.kill_hook()) {
                // Cancelled or timed out before it was sent.
                return Err(Failed::Ended);
            }
            let result = proc.call(request);
            let killed = job.clear_hook();
            return Ok(Sent { result, killed });
        }
    }

    /// Starts the task's time limit, the first time it is sent to a ready
    /// worker (so a worker started for the task, on a cold pool or in
    /// place of a lost one, doesn't eat into it).
    pub(super) fn start_limit(&self, job: &dyn Dispatch, trip: &mut Trip) {
        if !std::mem::replace(&mut trip.limited, true) {
            if let Some(at) = job.time_limit().and_then(|l| Instant::now().checked_add(l)) {
                // The timer was started at the submit (it is closed
                // only once no driver is left).
                let _ = self.timer.schedule(at, job.expiry());
            }
        }
    }
}

/// What a task's trip has used up so far.
pub(super) struct Trip {
    /// Retries left on a worker's death.
    pub(super) retries: u32,
    /// Workers lost before the task reached them: killed during start-up,
    /// or found dead before the request was written. Retried whatever the
    /// retry setting (the task never ran), up to [`MAX_LOST`], so that a
    /// worker killed every time can't hold the driver for ever.
    pub(super) lost: u32,
    /// Whether the time limit is running (see [`Shared::start_limit`]).
    pub(super) limited: bool,
}

impl Trip {
    pub(super) fn new(job: &dyn Dispatch) -> Trip {
        Trip {
            retries: job.retries(),
            lost: 0,
            limited: false,
        }
    }
}

/// A call made: its outcome, and whether the kill hook fired meanwhile.
pub(super) struct Sent {
    pub(super) result: Result<Reply, CallError>,
    pub(super) killed: bool,
}

/// Why a task ends without a call.
enum Failed {
    /// Cancelled or timed out before it was sent.
    Ended,
    Error(TaskError),
}
