//! The producer's end of a task: what a backend holds to drive it.
//!
//! [`new_task`] makes a task's cell and hands back its two ends: the
//! [`TaskHandle`] for the caller, and a [`Producer`] for the backend. A
//! backend drives its tasks only through the producer: it [starts](Producer::start)
//! one, installs a [stop hook](Producer::set_hook) while it runs if it can
//! stop it from outside, and ends it with an [outcome](Producer::complete),
//! a [deferred value](Producer::complete_deferred) or an
//! [error](Producer::fail). Dropping a producer that hasn't ended its task
//! ends it as [abandoned](crate::TaskError::is_abandoned): no handle waits
//! forever on a task its executor lost. (Models: async-task's `Runnable`,
//! tokio's task harness, oneshot's `Sender`.)
//!
//! A producer knows which kind of thread drives it ([`Caller`]): a thread
//! pool's producers end tasks on workers, which run user code, so
//! callbacks run there; a process pool's end them on driver threads, which
//! must not, so callbacks go to the callback runner and a last reference is
//! [released](super::cell::release).
//!
//! A backend that queues tasks type-erased (the thread pool's queue holds
//! `Arc<dyn Run>`) turns the producer into its cell with
//! [`into_cell`](Producer::into_cell) and back with
//! [`from_cell`](Producer::from_cell) when it takes the task off the queue.
//!
//! A task may have two producers: its queue's, and that of a thread that
//! waits for it and runs it itself ([`Payload::help`]). Both go through
//! [`start`](Producer::start) (or [`claim_queued`](Producer::claim_queued)),
//! which lets exactly one of them run or end it; the other
//! [lets go](Producer::let_go) without ending the task.

use super::cell::{
    Caller, Cancel, Cell, Deferred, Hook, Outcome, Payload, Request, Start, TaskSpec, release,
};
use super::handle::TaskHandle;
use super::state::{End, Ending, Phase};
use super::timer::Expire;
use crate::error::{TaskError, TaskId};
use crate::loom::sync::{Arc, Weak};

/// Makes a task: its cell (holding `payload`, set up as `options` say: how
/// it stops, its name), the producer for the backend that will run it, and
/// the handle for the caller.
pub(crate) fn new_task<T, P>(
    payload: P,
    options: TaskSpec,
    caller: Caller,
) -> (Producer<T, P>, TaskHandle<T>)
where
    T: Send + 'static,
    P: Payload,
{
    let cell = Arc::new(Cell::new(payload, options));
    let handle = TaskHandle::new(cell.clone());
    (Producer::from_cell(cell, caller), handle)
}

/// The producer's end of one task; see the [module docs](self).
pub(crate) struct Producer<T: Send + 'static, P: Payload> {
    /// `None` once the producer has ended the task (or learned that it had
    /// ended), so that dropping it does nothing more.
    cell: Option<Arc<Cell<T, P>>>,
    caller: Caller,
}

impl<T: Send + 'static, P: Payload> Producer<T, P> {
    /// Takes back a producer from the cell that [`into_cell`](Self::into_cell)
    /// gave (a backend's type-erased queue held it meanwhile). Each cell
    /// from `into_cell` must come back through here exactly once; a thread
    /// that helps (see [`Payload::help`]) makes a second producer from a
    /// cell it holds, which runs the task only if its `start` says so.
    pub(crate) fn from_cell(cell: Arc<Cell<T, P>>, caller: Caller) -> Producer<T, P> {
        Producer {
            cell: Some(cell),
            caller,
        }
    }

    /// The cell, for a backend's type-erased queue; see [`from_cell`](Self::from_cell).
    pub(crate) fn into_cell(mut self) -> Arc<Cell<T, P>> {
        self.cell
            .take()
            .expect("a producer holds its cell until it ends")
    }

    fn cell(&self) -> &Arc<Cell<T, P>> {
        self.cell
            .as_ref()
            .expect("a producer holds its cell until it ends")
    }

    /// The backend's payload in the task's cell.
    pub(crate) fn payload(&self) -> &P {
        &self.cell().payload
    }

    /// The task's id.
    pub(crate) fn id(&self) -> u64 {
        self.cell().id()
    }

    /// Whether `cancel` can end the task while it runs (it has a token, or
    /// a stop hook).
    pub(crate) fn cancellable(&self) -> bool {
        self.cell().cancellable()
    }

    /// Past this, the task must not start: a backend checks before it
    /// starts a task, as the timer may lag behind.
    pub(crate) fn deadline(&self) -> Option<std::time::Instant> {
        self.cell().deadline()
    }

    /// How long the task may run, counted from its start; the backend
    /// enforces it.
    pub(crate) fn time_limit(&self) -> Option<std::time::Duration> {
        self.cell().time_limit()
    }

    /// What a backend keeps (weakly) to cancel the task while it runs.
    pub(crate) fn canceller(&self) -> Weak<dyn Cancel> {
        let cell: Arc<dyn Cancel> = self.cell().clone();
        Arc::downgrade(&cell)
    }

    /// The task's id, as the public API shows it.
    pub(crate) fn task_id(&self) -> TaskId {
        self.cell().task_id()
    }

    /// The task's name, if it was given one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.cell().name()
    }

    /// Whether the task was cancelled (its handle's `cancel` won), even if
    /// the canceller is still running its callbacks.
    pub(crate) fn is_cancelling(&self) -> bool {
        self.cell().is_cancelling()
    }

    /// Whether the task is running: started, not ended.
    pub(crate) fn is_running(&self) -> bool {
        self.cell().phase() == Phase::Running
    }

    /// `Debug` as `what`, the way the handles show their task.
    pub(crate) fn debug_as(&self, f: &mut std::fmt::Formatter<'_>, what: &str) -> std::fmt::Result {
        super::handle::debug_task(f, what, self.cell())
    }

    /// Whether the task has ended (cancelled by its handle, timed out), its
    /// outcome published or not.
    pub(crate) fn is_ended(&self) -> bool {
        self.cell().has_ended()
    }

    /// What the deadline timer holds to expire the task.
    pub(crate) fn expiry(&self) -> Weak<dyn Expire> {
        let cell: Arc<dyn Expire> = self.cell().clone();
        Arc::downgrade(&cell)
    }

    /// `Pending -> Running`, claiming the payload to run it; see
    /// [`Start`] for a task that already ended (cancelled, timed out).
    pub(crate) fn start(&self) -> Start {
        self.cell().start()
    }

    /// See [`Cell::claim_queued`]: `None` if another thread started the
    /// task, and this producer must [let go](Self::let_go).
    pub(crate) fn claim_queued(&self) -> Option<bool> {
        self.cell().claim_queued()
    }

    /// Lets the cell go without ending the task: another producer of the
    /// same task runs or ends it (see [`start`](Self::start) and
    /// [`claim_queued`](Self::claim_queued)), or it has ended.
    pub(crate) fn let_go(mut self) {
        if let Some(cell) = self.cell.take() {
            self.let_cell_go(cell);
        }
    }

    /// See [`Cell::set_hook`]: installs the stop hook of a running task;
    /// `false` if it is not running any more.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn set_hook(&self, hook: Hook) -> bool {
        self.cell().set_hook(hook)
    }

    /// See [`Cell::set_request`]: what a handle's `cancel` of the running
    /// task sends, where the backend can only ask for it to stop (the
    /// cluster); the task then runs on until this producer ends it.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn set_request(&self, request: Request) -> bool {
        self.cell().set_request(request)
    }

    /// See [`Cell::clear_hook`]: removes it; whether it ran.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn clear_hook(&self) -> bool {
        self.cell().clear_hook()
    }

    /// Ends the task with its outcome. If another event ended it first, the
    /// outcome is handed back: nobody wants it, and the caller drops it on
    /// its own thread.
    pub(crate) fn complete(
        mut self,
        outcome: Result<T, TaskError>,
    ) -> Result<(), Result<T, TaskError>> {
        let cell = self.cell.take().expect("a producer ends its task once");
        let result = cell.complete(Outcome::Ready(outcome), self.caller, |_| ());
        self.let_cell_go(cell);
        result.map_err(|lost| match lost {
            Outcome::Ready(outcome) => outcome,
            Outcome::Deferred(_) => unreachable!("a ready outcome comes back ready"),
        })
    }

    /// Ends the task, pending or running, with `err`: a shutdown, a broken
    /// pool, a dead worker. Returns whether this ended it.
    pub(crate) fn fail(mut self, err: TaskError) -> bool {
        let cell = self.cell.take().expect("a producer ends its task once");
        let ended = cell.end_with(Ending::Fail, err, self.caller);
        self.let_cell_go(cell);
        ended
    }

    /// Cancels the task, as its handle would (a shutdown that cancels
    /// pending work, a task whose start was still to come). Returns whether
    /// this ended it.
    pub(crate) fn cancel(mut self) -> bool {
        let cell = self.cell.take().expect("a producer ends its task once");
        let ended = cell.end_with(Ending::Cancel, TaskError::cancelled(), self.caller);
        self.let_cell_go(cell);
        ended
    }

    /// Ends the task as timed out: a worker found its deadline passed
    /// before the timer did. Returns whether this ended it.
    pub(crate) fn expire(mut self) -> bool {
        let cell = self.cell.take().expect("a producer ends its task once");
        let ended = cell.end_with(Ending::Expire, TaskError::timeout(), self.caller);
        self.let_cell_go(cell);
        ended
    }

    /// How the task ended, once it has (whoever ended it).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn end(&self) -> Option<End> {
        self.cell().end()
    }

    /// How the task ended, if it ended without ever starting: what a
    /// backend that counts its tasks' outcomes reads of a queued task that
    /// was cancelled or timed out (whoever then dropped its payload).
    pub(crate) fn end_unstarted(&self) -> Option<End> {
        self.cell().end_unstarted()
    }

    /// [`complete`](Self::complete), and how the task ended: as `outcome`
    /// says, or as the event that ended it first did (then the outcome comes
    /// back, as from `complete`). Costs nothing more than `complete` when
    /// the outcome wins.
    ///
    /// `count` is told how it ended, once: if the outcome wins, before the
    /// task is seen ended by anyone (so a thread that has joined the task
    /// finds it counted), under the cell's lock (a few atomics, no lock, no
    /// user code); if it lost, after.
    pub(crate) fn complete_noting(
        self,
        outcome: Result<T, TaskError>,
        count: impl FnOnce(End),
    ) -> (End, Result<(), Result<T, TaskError>>) {
        let (end, result) = self.complete_counted(Outcome::Ready(outcome), count);
        let result = result.map_err(|lost| match lost {
            Outcome::Ready(outcome) => outcome,
            Outcome::Deferred(_) => unreachable!("a ready outcome comes back ready"),
        });
        (end, result)
    }

    /// Ends the task with a value still to be decoded, by the thread that
    /// takes it (or the callback runner), never this one. Returns how the
    /// task ended: with a value (whatever its decoding will say), or as the
    /// event that ended it first did (then `decode` is dropped unrun).
    /// `count` is told that, once, as in
    /// [`complete_noting`](Self::complete_noting).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn complete_deferred(self, decode: Deferred<T>, count: impl FnOnce(End)) -> End {
        self.complete_counted(Outcome::Deferred(Box::new(decode)), count)
            .0
    }

    /// Ends the task with `outcome` and tells `count` how it ended, once:
    /// on a win from inside [`Cell::complete`] (before anyone sees the task
    /// ended), on a loss after, as the earlier event ended it. A lost
    /// outcome comes back.
    fn complete_counted(
        mut self,
        outcome: Outcome<T>,
        count: impl FnOnce(End),
    ) -> (End, Result<(), Outcome<T>>) {
        let cell = self.cell.take().expect("a producer ends its task once");
        let mut count = Some(count);
        let mut won = None;
        let result = cell.complete(outcome, self.caller, |end| {
            won = Some(end);
            if let Some(count) = count.take() {
                count(end);
            }
        });
        let end = match won {
            Some(end) => end,
            None => cell.end().unwrap_or(End::Error),
        };
        if let Some(count) = count.take() {
            count(end);
        }
        self.let_cell_go(cell);
        (end, result)
    }

    /// Ends the task by `ending` ([`Fail`](Ending::Fail),
    /// [`Cancel`](Ending::Cancel) or [`Expire`](Ending::Expire)) with `err`,
    /// as [`fail`](Self::fail) and [`expire`](Self::expire) do (and a
    /// handle's cancel). Returns how the task ended (by this call, or by
    /// the event that ended it first), and whether this call ended it.
    pub(crate) fn end_noting(mut self, ending: Ending, err: TaskError) -> (End, bool) {
        let cell = self.cell.take().expect("a producer ends its task once");
        let won = cell.end_with(ending, err, self.caller);
        let end = cell.end().unwrap_or(End::Error);
        self.let_cell_go(cell);
        (end, won)
    }

    fn let_cell_go(&self, cell: Arc<Cell<T, P>>) {
        match self.caller {
            // The last reference may hold a value nobody wants (its handle
            // is gone): its drop is user code, and one that panics must
            // not unwind through the producer's caller, a worker that
            // still has to count the task. Caught; the panic hook has
            // reported it.
            Caller::User => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(cell)));
            }
            // The payload of an internal thread's task holds no user value
            // (a process pool's is encoded bytes): only the cell's own
            // contents need checking.
            Caller::Internal => release(cell, false),
        }
    }
}

impl<T: Send + 'static, P: Payload> Drop for Producer<T, P> {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            cell.end_with(Ending::Fail, TaskError::abandoned(), self.caller);
            self.let_cell_go(cell);
        }
    }
}

impl<T: Send + 'static, P: Payload> std::fmt::Debug for Producer<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Producer");
        if let Some(cell) = &self.cell {
            s.field("id", &cell.id()).field("state", &cell.describe());
        }
        s.finish_non_exhaustive()
    }
}

#[cfg(all(test, not(futurepool_loom)))]
mod tests {
    use super::*;
    use crate::loom::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_cancel_of_a_running_task_that_only_a_request_can_stop_sends_it_once() {
        let (producer, handle) = new_task::<u8, ()>((), TaskSpec::default(), Caller::Internal);
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        assert!(producer.set_request(Box::new(move || {
            // ORDERING: Relaxed: a count, read after `cancel` returns.
            counter.fetch_add(1, Ordering::Relaxed);
        })));
        assert_eq!(producer.start(), Start::Run);
        // A request, not a cancellation: the task runs on.
        assert!(!handle.cancel());
        assert!(!handle.cancel());
        assert_eq!(sent.load(Ordering::Relaxed), 1, "sent once");
        assert!(!handle.is_done());
        // The backend learns that the stop took effect: cancelled.
        let (end, _) = producer.complete_noting(Err(TaskError::cancelled()), |_| ());
        assert_eq!(end, End::Cancelled);
        assert!(handle.is_cancelled());
        assert!(handle.cancel(), "it ended by cancellation");
    }

    #[test]
    fn a_queued_task_is_cancelled_at_once_and_its_request_never_sent() {
        let (producer, handle) = new_task::<u8, ()>((), TaskSpec::default(), Caller::Internal);
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        producer.set_request(Box::new(move || {
            // ORDERING: Relaxed: a count.
            counter.fetch_add(1, Ordering::Relaxed);
        }));
        assert!(handle.cancel());
        assert_eq!(sent.load(Ordering::Relaxed), 0);
        assert_eq!(producer.start(), Start::Gone);
        assert!(!producer.set_request(Box::new(|| {})), "it has ended");
    }
}
