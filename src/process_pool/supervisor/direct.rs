//! The direct path: a submit that finds an idle worker writes its request
//! to the worker's pipe itself, and a thread that joins the task reads the
//! reply itself, so that a round trip wakes two threads (the worker, then
//! the joiner), as a plain pipe ping-pong does, instead of four (the
//! driver, the worker, the driver, the joiner). The driver only supervises
//! and reads what nobody else reads. See README.md beside this folder's
//! file, "The direct path".
//!
//! Who holds a worker, under the pool's lock:
//!
//! | where | who holds the worker | who moves it on |
//! |---|---|---|
//! | its driver's `worker` | the driver | the driver parks it when idle |
//! | [`PoolState::parked`] | nobody: idle | a submit lends it ([`Flight`]), its driver takes it back for queued work, a shutdown or a check |
//! | a [`Flight`], [`Reader::Held`] | a user's thread: the submit writing, or the joiner reading | that thread: parks it, or hands it back |
//! | a [`Flight`], [`Reader::Nobody`] | nobody: the request is sent | a joiner claims it; or its driver, if it is wanted (work queued, a shutdown) or after [`FALLBACK`] |
//! | a [`Flight`], [`Reader::Back`] | nobody: a call that failed or must end the worker | its driver, which takes it on as its own task's |
//!
//! A driver never exits, or takes a task off the queue, while its worker
//! is in a flight: it finishes the flight first (waiting for a user's
//! thread that holds the worker, which wakes it if it waits). No user code
//! runs on a driver here either: a reply is handed to the task undecoded.

use std::time::{Duration, Instant};

use super::run::{Sent, Trip};
use super::{Dispatch, PoolState, Shared};
use crate::core::cell::Cancel;
use crate::loom::sync::{Arc, MutexGuard, Weak};
use crate::process_pool::bulk;
use crate::process_pool::child::{CallError, WorkerProcess};

/// How long a reply to a task sent directly may wait for a joiner before
/// the worker's driver reads it (a task nobody joins: awaited, watched, or
/// its handle dropped). A driver whose worker was lent recently wakes this
/// often while idle; one whose worker wasn't sleeps `IDLE_CHECK`.
pub(super) const FALLBACK: Duration = Duration::from_millis(2);

/// A flight older than this is a long task: its driver sleeps long.
const LONG_FLIGHT: Duration = Duration::from_millis(50);

/// A worker parked by its idle driver.
pub(crate) struct Parked {
    /// Its driver's id.
    pub(super) id: usize,
    pub(super) proc: WorkerProcess,
    /// Whether its driver sleeps long (`IDLE_CHECK`): a submit that lends
    /// the worker then wakes it, to read the reply within [`FALLBACK`] if
    /// nobody joins.
    pub(super) long: bool,
}

impl Parked {
    pub(super) fn new(id: usize, proc: WorkerProcess) -> Parked {
        Parked {
            id,
            proc,
            long: false,
        }
    }
}

/// The flights of a pool, one at most per driver: a few, looked through
/// (no hashing on the round trip's path).
#[derive(Default)]
pub(crate) struct Flights(Vec<Flight>);

impl Flights {
    pub(super) fn contains(&self, id: usize) -> bool {
        self.0.iter().any(|f| f.id == id)
    }

    fn get_mut(&mut self, id: usize) -> Option<&mut Flight> {
        self.0.iter_mut().find(|f| f.id == id)
    }

    fn remove(&mut self, id: usize) -> Option<Flight> {
        let at = self.0.iter().position(|f| f.id == id)?;
        Some(self.0.swap_remove(at))
    }

    /// What a shutdown that cancels running work cancels.
    pub(super) fn cancellers(&self) -> impl Iterator<Item = Weak<dyn Cancel>> + '_ {
        self.0.iter().map(|f| f.canceller.clone())
    }
}

/// A task sent (or being sent) directly to a lent worker, in
/// [`PoolState::flights`].
pub(crate) struct Flight {
    /// Its worker's driver.
    id: usize,
    /// The task's id: how a joiner finds it.
    task: u64,
    /// What a shutdown that cancels running work holds to cancel it.
    canceller: Weak<dyn Cancel>,
    /// Present unless a user's thread holds them ([`Reader::Held`]).
    parts: Option<Parts>,
    reader: Reader,
    /// When the request was written.
    sent: Option<Instant>,
    /// Whether the driver waits for the worker (work is queued, or the pool
    /// shuts down): the thread that holds it wakes the drivers as it lets go.
    driver_waits: bool,
    /// See [`Parked::long`].
    long: bool,
    /// Whether something waits on the task that won't read the reply (a
    /// waker, a callback, a watcher): its driver reads it at once.
    asked: bool,
}

/// The worker, the task and its request.
struct Parts {
    job: Box<dyn Dispatch>,
    request: Arc<Vec<u8>>,
    proc: WorkerProcess,
    trip: Trip,
}

/// Who is to read a flight's reply.
enum Reader {
    /// A user's thread holds the worker: the submit writing the request, or
    /// a joiner reading the reply.
    Held,
    /// The request is written, and nobody reads yet.
    Nobody,
    /// The call is over but its driver must finish it (the write failed,
    /// the worker died or was killed, or reached its quota).
    Back(Sent),
}

/// What a driver does next about its worker's flight.
pub(super) enum Landing {
    /// Read the reply and finish the task.
    Read(Box<dyn Dispatch>, Arc<Vec<u8>>, WorkerProcess, Trip),
    /// Finish a call that came back.
    Back(Box<dyn Dispatch>, Arc<Vec<u8>>, WorkerProcess, Trip, Sent),
}

/// Takes this driver's worker back from the parked ones, if it is there.
pub(super) fn unpark(st: &mut PoolState, id: usize, worker: &mut Option<WorkerProcess>) {
    if let Some(at) = st.parked.iter().position(|p| p.id == id) {
        *worker = Some(st.parked.swap_remove(at).proc);
    }
}

impl Shared {
    /// The direct path of a submit: if nothing is queued, the request is
    /// small and a worker is parked, lends it and sends `job` to it on this
    /// thread. Otherwise gives the lock and the job back, to be queued.
    #[allow(clippy::type_complexity)]
    pub(super) fn try_direct<'a>(
        &'a self,
        mut st: MutexGuard<'a, PoolState>,
        job: Box<dyn Dispatch>,
    ) -> Result<(), (MutexGuard<'a, PoolState>, Box<dyn Dispatch>)> {
        // A large request would hold the submit while the worker reads it:
        // the driver writes those.
        if !st.queue.is_empty() || job.size() >= bulk::HAND_OVER {
            return Err((st, job));
        }
        let Some(parked) = st.parked.pop() else {
            return Err((st, job));
        };
        let id = parked.id;
        st.submitted += 1;
        st.lends += 1;
        st.flights.0.push(Flight {
            id,
            task: job.id(),
            canceller: job.canceller(),
            parts: None,
            reader: Reader::Held,
            sent: None,
            driver_waits: false,
            long: parked.long,
            asked: false,
        });
        drop(st);
        self.send_direct(id, parked.proc, job);
        Ok(())
    }

    /// Starts `job` and writes its request to the lent worker `proc`.
    fn send_direct(&self, id: usize, mut proc: WorkerProcess, job: Box<dyn Dispatch>) {
        let Some(request) = job.start() else {
            // Ended before it could start (cancelled, timed out).
            self.repark(id, proc);
            self.count(job.ended());
            return;
        };
        if job.deadline().is_some_and(|d| d <= Instant::now()) {
            self.repark(id, proc);
            self.counters.count(job.expire());
            return;
        }
        // No look at the worker's output first (`is_gone`, a system call on
        // every trip): one that died while parked fails the write below
        // with a broken pipe before the pipe takes a byte, and its driver
        // sends the task to a fresh worker, as it would have. (Bytes an
        // idle worker sends unasked are found by its driver's idle check,
        // or read as the next reply: a protocol error.)
        let mut trip = Trip::new(job.as_ref());
        self.start_limit(job.as_ref(), &mut trip);
        // From here until `clear_hook`, `cancel()` and a deadline kill the
        // worker (README.md, "Killing a running task"); whoever reads the
        // reply clears the hook before the worker can be reaped.
        if !job.set_hook(proc.kill_hook()) {
            self.repark(id, proc);
            self.count(job.ended());
            return;
        }
        let sent = Instant::now();
        match proc.send(&request) {
            Ok(()) => {
                let mut st = self.state.lock();
                let flight = st.flights.get_mut(id).expect("lent");
                flight.parts = Some(Parts {
                    job,
                    request,
                    proc,
                    trip,
                });
                flight.reader = Reader::Nobody;
                flight.sent = Some(sent);
                let wake = std::mem::take(&mut flight.driver_waits) || flight.long;
                drop(st);
                if wake {
                    // Its driver sleeps long, or waits for the worker.
                    self.work.notify_all();
                }
            }
            Err(err) => {
                let sent = Sent {
                    result: Err(err),
                    killed: job.clear_hook(),
                };
                self.hand_back(id, job, request, proc, trip, sent);
            }
        }
    }

    /// Parks a lent worker again, its flight over before it began.
    fn repark(&self, id: usize, proc: WorkerProcess) {
        let mut st = self.state.lock();
        let flight = st.flights.remove(id).expect("lent");
        st.parked.push(Parked {
            id,
            proc,
            long: flight.long,
        });
        drop(st);
        if flight.driver_waits {
            self.work.notify_all();
        }
    }

    /// Hands a flight's call back to its driver to finish.
    fn hand_back(
        &self,
        id: usize,
        job: Box<dyn Dispatch>,
        request: Arc<Vec<u8>>,
        proc: WorkerProcess,
        trip: Trip,
        sent: Sent,
    ) {
        let mut st = self.state.lock();
        let flight = st.flights.get_mut(id).expect("lent");
        flight.parts = Some(Parts {
            job,
            request,
            proc,
            trip,
        });
        flight.reader = Reader::Back(sent);
        drop(st);
        self.work.notify_all();
    }

    /// A thread about to wait for task `task` (until `deadline`, if
    /// given) reads its reply itself if the task was sent directly and
    /// nobody reads it yet, and finishes it. Returns whether it did
    /// anything (the task may then be done); `false` if the reply had not
    /// begun by `deadline` (nothing of it was read) or someone else reads.
    /// The reply's value is handed to the task undecoded: this thread
    /// decodes it as it takes the outcome, as any joiner does.
    pub(crate) fn join_here(&self, task: u64, deadline: Option<Instant>) -> bool {
        let mut st = self.state.lock();
        let Some(flight) = st.flights.0.iter_mut().find(|f| f.task == task) else {
            return false;
        };
        let id = flight.id;
        if !matches!(flight.reader, Reader::Nobody) {
            return false;
        }
        flight.reader = Reader::Held;
        let Parts {
            job,
            request,
            mut proc,
            trip,
        } = flight.parts.take().expect("kept while nobody reads");
        drop(st);
        let result = proc.receive(deadline);
        if let Err(CallError::NotYet) = result {
            let mut st = self.state.lock();
            let flight = st.flights.get_mut(id).expect("held");
            flight.parts = Some(Parts {
                job,
                request,
                proc,
                trip,
            });
            flight.reader = Reader::Nobody;
            let wake = std::mem::take(&mut flight.driver_waits);
            drop(st);
            if wake {
                self.work.notify_all();
            }
            return false;
        }
        let killed = job.clear_hook();
        let quota = self
            .config
            .max_tasks_per_child
            .is_some_and(|max| proc.tasks + 1 >= max);
        match result {
            Ok(reply) if !killed && !quota => {
                proc.tasks += 1;
                let pid = proc.pid;
                let mut st = self.state.lock();
                let flight = st.flights.remove(id).expect("held");
                // Parked before the task is done: a submit that follows
                // the join finds the worker idle.
                st.parked.push(Parked {
                    id,
                    proc,
                    long: flight.long,
                });
                drop(st);
                if flight.driver_waits {
                    self.work.notify_all();
                }
                job.complete(reply, pid, &self.counters);
                self.recycle(request);
            }
            result => {
                let sent = Sent { result, killed };
                self.hand_back(id, job, request, proc, trip, sent);
            }
        }
        true
    }

    /// Something waits on task `task` that won't read its reply (a waker,
    /// a callback, a watcher): if it is a flight's, its driver reads the
    /// reply as soon as it comes, rather than after [`FALLBACK`].
    pub(crate) fn wanted(&self, task: u64) {
        let mut st = self.state.lock();
        let Some(flight) = st.flights.0.iter_mut().find(|f| f.task == task) else {
            return;
        };
        if std::mem::replace(&mut flight.asked, true) {
            return;
        }
        drop(st);
        self.work.notify_all();
    }

    /// A driver whose worker is in a flight: what to do about it now, or
    /// how long to sleep before it looks again.
    pub(super) fn flight_turn(&self, st: &mut PoolState, id: usize) -> Result<Landing, Duration> {
        let wanted = !st.queue.is_empty() || st.shutdown || st.broken.is_some();
        let fallback = st.fallback;
        let flight = st.flights.get_mut(id).expect("in flight");
        let wanted = wanted || flight.asked;
        let sent = flight.sent.map_or(Duration::ZERO, |at| at.elapsed());
        let left = fallback.saturating_sub(sent);
        match flight.reader {
            Reader::Nobody if !wanted && !left.is_zero() => {
                flight.long = false;
                Err(left)
            }
            Reader::Held => {
                flight.driver_waits |= wanted;
                // Woken by the holder if it waits; otherwise it only looks
                // now and then: often while the worker is lent often (the
                // next flight may need it within `FALLBACK`), rarely
                // during a long task (the next lend wakes it then).
                let recent = sent < LONG_FLIGHT;
                flight.long = !recent;
                Err(if recent { fallback } else { super::IDLE_CHECK })
            }
            Reader::Nobody | Reader::Back(_) => {
                let flight = st.flights.remove(id).expect("in flight");
                // Its driver's task now, as far as a shutdown is concerned.
                st.running.insert(id, flight.canceller);
                let Parts {
                    job,
                    request,
                    proc,
                    trip,
                } = flight.parts.expect("kept");
                Ok(match flight.reader {
                    Reader::Back(sent) => Landing::Back(job, request, proc, trip, sent),
                    _ => Landing::Read(job, request, proc, trip),
                })
            }
        }
    }

    /// A driver finishes its worker's flight as its own task.
    pub(super) fn land(&self, id: usize, worker: &mut Option<WorkerProcess>, landing: Landing) {
        let (job, request, trip, sent) = match landing {
            Landing::Read(job, request, mut proc, trip) => {
                let result = proc.receive(None);
                let killed = job.clear_hook();
                *worker = Some(proc);
                (job, request, trip, Sent { result, killed })
            }
            Landing::Back(job, request, proc, trip, sent) => {
                *worker = Some(proc);
                (job, request, trip, sent)
            }
        };
        self.drive(id, worker, job, request, trip, Some(sent));
        self.state.lock().running.remove(&id);
    }

    /// Lengthens how long a flight's reply waits for a joiner before its
    /// driver reads it: a test that needs the joiner to read (on a loaded
    /// machine, a joiner may come later than [`FALLBACK`]).
    #[cfg(test)]
    pub(crate) fn set_fallback(&self, fallback: Duration) {
        self.state.lock().fallback = fallback;
    }

    /// Parks a driver's worker before its task is done, if nothing is
    /// queued: the thread that joins may submit again at once.
    pub(super) fn park_if_idle(&self, id: usize, worker: &mut Option<WorkerProcess>) {
        let mut st = self.state.lock();
        if st.queue.is_empty() && !st.shutdown && st.broken.is_none() {
            if let Some(proc) = worker.take() {
                st.parked.push(Parked::new(id, proc));
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests;
