//! The one map window every map of every executor runs on: lazy, bounded,
//! in input order or in completion order, blocking (an iterator) or not (a
//! stream), with chunks where a backend wants them.
//!
//! A map pulls inputs only as room frees up: at most `max_in_flight`
//! *units* (one input, or a chunk of inputs sent as one task) are submitted
//! and not yet yielded. The backend's part is a [`Units`]: how to submit a
//! unit, and how to split a unit's outcome back into its inputs' outcomes.
//!
//! Ordered, the window yields the front unit's items when it is done (a
//! slow unit holds back the ones behind it, as Python's `map` does).
//! Unordered, every unit in flight registers with one of the core's
//! ready-queues ([`Notify`]), and the window yields the items of whichever
//! unit finishes first (multiprocessing's `imap_unordered`, futures'
//! `buffer_unordered`).
//!
//! Time limits: the map's own deadline (`timeout`/`deadline`, counted from
//! the `map` call) is every unit's deadline, and when it passes the map
//! yields one timeout error, cancels what is in flight, and ends. A
//! per-item `time_limit` is each unit's running-time limit: a unit that
//! passes it yields timeout errors for its inputs, and the map goes on.
//!
//! Progress (`.progress(observer)`, see `src/progress/`): counted in inputs
//! as units finish, and reported on the consuming thread. Unordered, a unit
//! is counted when the ready-queue yields it, which is as it finishes.
//! Ordered, a unit is counted when it is settled, unless the consumer had
//! to wait for the front unit first: then the units in flight register with
//! a second ready-queue (indexed by their sequence numbers), and the
//! consumer waits on that queue instead, counting the units behind the
//! front one as they finish. (Registering only then keeps a map of quick
//! tasks, whose front unit is mostly done when asked for, as cheap as
//! without progress.) Without an observer none of this is done.

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::options::TaskOptions;
use crate::core::handle::TaskHandle;
use crate::core::watch::{Completion, Notify, Watcher};
use crate::error::{Refusal, TaskError};
use crate::loom::sync::Arc;
use crate::progress::Tracker;

/// Inputs of one unit: one, or a chunk. (One needs no allocation.)
pub(crate) enum Chunk<X> {
    One(X),
    Many(Vec<X>),
}

impl<X> Chunk<X> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Chunk::One(_) => 1,
            Chunk::Many(xs) => xs.len(),
        }
    }
}

/// A refused unit: its inputs, handed back, and why.
pub(crate) type Refused<X> = (Chunk<X>, Refusal);

/// How a backend submits a map's units and reads them back.
pub(crate) trait Units {
    type Input;
    type Item;
    /// What a unit's task returns.
    type Out: Send + 'static;

    /// Submits `inputs` as one unit. A refused unit's inputs come back.
    fn submit(
        &self,
        inputs: Chunk<Self::Input>,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<Self::Out>, Refused<Self::Input>>;

    /// Splits a finished unit of `n` inputs into their outcomes, in input
    /// order, onto `ready`.
    fn split(
        outcome: Result<Self::Out, TaskError>,
        n: usize,
        ready: &mut VecDeque<Result<Self::Item, TaskError>>,
    );
}

/// A unit in flight, or what stands in its place.
enum Slot<O> {
    Task {
        handle: TaskHandle<O>,
        n: usize,
        /// Progress: counted as finished before it was settled, and
        /// whether it failed as a whole then.
        counted: Option<bool>,
    },
    /// The executor refused it: the map's last item.
    Refused(TaskError),
}

/// The window; see the [module docs](self).
pub(crate) struct Window<U: Units, I> {
    units: U,
    inputs: Option<I>,
    /// Inputs refused by a full bounded queue, to be submitted first.
    stalled: Option<Chunk<U::Input>>,
    /// Ordered: units in input order. Unordered: a slab, indexed by the
    /// ready-queue's indices.
    slots: VecDeque<Option<Slot<U::Out>>>,
    /// Unordered: free slab indices, and the ready-queue.
    free: Vec<usize>,
    notify: Option<Arc<Notify>>,
    /// Unordered: the slab index of a refused unit, settled (ending the
    /// map) once it is the last unit in flight, as it is when ordered: the
    /// units submitted before it yield their items first.
    refused: Option<usize>,
    watch_id: u64,
    in_flight: usize,
    ready: VecDeque<Result<U::Item, TaskError>>,
    pub(crate) chunk: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) started: Instant,
    pub(crate) deadline: Option<Instant>,
    pub(crate) time_limit: Option<Duration>,
    finished: bool,
    /// Progress, if an observer is attached.
    progress: Option<Tracker>,
    /// Ordered, with progress: the ready-queue of finished units' sequence
    /// numbers; the next unit's number, and the front unit's.
    progress_notify: Option<Arc<Notify>>,
    next_seq: usize,
    front_seq: usize,
    /// Units numbered below this are registered with the progress queue.
    watched_upto: usize,
}

impl<U, I> Window<U, I>
where
    U: Units,
    I: Iterator<Item = U::Input>,
{
    pub(crate) fn new(units: U, inputs: I, max_in_flight: usize) -> Window<U, I> {
        Window {
            units,
            inputs: Some(inputs),
            stalled: None,
            slots: VecDeque::new(),
            free: Vec::new(),
            notify: None,
            refused: None,
            watch_id: crate::loom::next_id(),
            in_flight: 0,
            ready: VecDeque::new(),
            chunk: 1,
            max_in_flight: max_in_flight.max(1),
            started: Instant::now(),
            deadline: None,
            time_limit: None,
            finished: false,
            progress: None,
            progress_notify: None,
            next_seq: 0,
            front_seq: 0,
            watched_upto: 0,
        }
    }

    /// The backend's part.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn units(&self) -> &U {
        &self.units
    }

    /// Yields in completion order from now on. Call before the first item.
    pub(crate) fn set_unordered(&mut self) {
        if self.notify.is_none() && self.in_flight == 0 {
            self.notify = Some(Arc::new(Notify::default()));
        }
    }

    pub(crate) fn is_ordered(&self) -> bool {
        self.notify.is_none()
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    fn options(&self) -> TaskOptions {
        let mut options = TaskOptions::default().with_deadline(self.deadline);
        options.time_limit = self.time_limit;
        options
    }

    /// The next unit's inputs, if any are left.
    fn next_inputs(&mut self) -> Option<Chunk<U::Input>> {
        if let Some(stalled) = self.stalled.take() {
            return Some(stalled);
        }
        let inputs = self.inputs.as_mut()?;
        let chunk = if self.chunk <= 1 {
            inputs.next().map(Chunk::One)
        } else {
            let many: Vec<_> = inputs.by_ref().take(self.chunk).collect();
            (!many.is_empty()).then_some(Chunk::Many(many))
        };
        if chunk.is_none() {
            self.inputs = None;
        }
        chunk
    }

    /// Submits units until the window is full or the inputs run out. With
    /// `block` false, stops at a full bounded queue while a unit is in
    /// flight (whose completion wakes the caller to try again).
    pub(crate) fn fill(&mut self, block: bool) {
        while !self.finished && self.in_flight < self.max_in_flight {
            let Some(inputs) = self.next_inputs() else {
                return;
            };
            let n = inputs.len();
            let options = self.options();
            let block = block || self.in_flight == 0;
            match self.units.submit(inputs, &options, block) {
                Ok(handle) => self.push(Slot::Task {
                    handle,
                    n,
                    counted: None,
                }),
                Err((inputs, Refusal::Full)) => {
                    self.stalled = Some(inputs);
                    return;
                }
                Err((_, reason)) => {
                    self.push(Slot::Refused(reason.to_task_error()));
                    self.inputs = None;
                    return;
                }
            }
        }
    }

    fn push(&mut self, slot: Slot<U::Out>) {
        self.in_flight += 1;
        if let (Some(tracker), Slot::Task { handle, n, .. }) = (&mut self.progress, &slot) {
            tracker.watch(handle.id().as_u64(), *n as u64);
        }
        let Some(notify) = &self.notify else {
            self.slots.push_back(Some(slot));
            self.next_seq += 1;
            return;
        };
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push_back(None);
                self.slots.len() - 1
            }
        };
        match &slot {
            Slot::Task { handle, .. } => {
                let w = Watcher {
                    id: self.watch_id,
                    notify: notify.clone(),
                    index,
                };
                if handle.watch(w).is_some() {
                    notify.push(index); // already done
                }
            }
            Slot::Refused(_) => self.refused = Some(index),
        }
        self.slots[index] = Some(slot);
    }

    /// Takes the unit in flight at `index` (unordered) or the front one
    /// (ordered).
    fn take(&mut self, index: Option<usize>) -> Option<Slot<U::Out>> {
        let slot = match index {
            Some(index) => {
                let slot = self.slots.get_mut(index)?.take();
                self.free.push(index);
                slot
            }
            None => {
                let slot = self.slots.pop_front();
                self.front_seq += usize::from(slot.is_some());
                slot.flatten()
            }
        };
        if slot.is_some() {
            self.in_flight -= 1;
        }
        slot
    }

    /// Settles a unit: a refusal ends the map; a finished unit's items go
    /// to `ready` (or, if it timed out because the map's deadline passed,
    /// the map ends).
    fn settle(&mut self, slot: Slot<U::Out>, outcome: Option<Result<U::Out, TaskError>>) {
        let (outcome, n, counted, id) = match slot {
            Slot::Refused(err) => return self.end(err),
            Slot::Task { handle, n, counted } => {
                let id = handle.id();
                let outcome = outcome.unwrap_or_else(|| {
                    handle
                        .try_join()
                        .map_err(|e| e.into_task_error().expect("the unit is done"))
                });
                (outcome, n, counted, id)
            }
        };
        let map_timed_out = outcome.as_ref().is_err_and(TaskError::is_timeout)
            && self.deadline.is_some_and(|d| Instant::now() >= d);
        if map_timed_out {
            self.end(TaskError::timeout());
        } else {
            let before = self.ready.len();
            U::split(outcome, n, &mut self.ready);
            // An input's own failure inside a unit (a chunk's panic, a
            // decode) was made inside the unit's task, not published by
            // it: it names the unit's task, as the unit's own error does.
            for err in self
                .ready
                .range_mut(before..)
                .filter_map(|r| r.as_mut().err())
            {
                if err.task_id().is_none() {
                    err.stamp(id, None);
                }
            }
            if let Some(tracker) = &mut self.progress {
                // Failures inside a unit (a chunk's inputs, a late decode)
                // are known only now.
                let errs = self.ready.range(before..).filter(|r| r.is_err()).count() as u64;
                match counted {
                    None => tracker.record(n as u64, errs),
                    Some(false) => tracker.record_failed(errs),
                    Some(true) => {} // counted failed as a whole
                }
            }
        }
    }

    /// Yields `err` as the map's last item: cancels what is in flight.
    fn end(&mut self, err: TaskError) {
        self.ready.push_back(Err(err));
        self.cancel_all();
        self.finished = true;
    }

    /// Cancels every unit in flight, and forgets the inputs.
    pub(crate) fn cancel_all(&mut self) {
        for slot in self.slots.drain(..).flatten() {
            if let Slot::Task { handle, .. } = slot {
                handle.unwatch(self.watch_id);
                handle.cancel();
            }
        }
        self.free.clear();
        self.refused = None;
        self.front_seq = self.next_seq;
        self.in_flight = 0;
        self.inputs = None;
        self.stalled = None;
    }

    /// Unordered: settles the refused unit if it is the last in flight
    /// (which ends the map); whether it did.
    fn settle_refusal(&mut self) -> bool {
        match self.refused {
            Some(index) if self.in_flight == 1 => {
                self.refused = None;
                if let Some(slot) = self.take(Some(index)) {
                    self.settle(slot, None);
                }
                true
            }
            _ => false,
        }
    }

    /// Help-while-waiting, unordered: on a pool worker, runs here one unit
    /// in flight that this thread may run itself (see `Cell::help`).
    /// Whether it ran one. (The window holds at most `max_in_flight`
    /// units, so a pass over them is short.)
    fn help_one(&self) -> bool {
        crate::core::watch::help_one(self.slots.iter().flatten().filter_map(|slot| match slot {
            Slot::Task { handle, .. } => Some(handle as &dyn Completion),
            Slot::Refused(_) => None,
        }))
    }

    /// The next item, blocking for it.
    pub(crate) fn next_blocking(&mut self) -> Option<Result<U::Item, TaskError>> {
        loop {
            if !self.ready.is_empty() {
                if !self.finished {
                    // Keep the workers busy while the caller looks at this.
                    self.fill(true);
                }
                // Before the item leaves: an observer that panics loses
                // nothing.
                self.report();
                return self.ready.pop_front();
            }
            if self.finished {
                self.finish_progress();
                return None;
            }
            self.fill(true);
            if self.in_flight == 0 {
                self.finished = true;
                self.finish_progress();
                return None;
            }
            self.report();
            if self.settle_refusal() {
                continue;
            }
            match self.notify.clone() {
                None => {
                    // Ordered: wait for the front unit (lending this
                    // thread's place if it is a pool worker), counting the
                    // ones behind it as they finish if progress is shown.
                    if self.progress.is_some() {
                        self.wait_front_counting();
                    }
                    let slot = self.take(None).expect("a unit is in flight");
                    if let Slot::Task { handle, .. } = &slot {
                        handle.wait();
                    }
                    self.settle(slot, None);
                }
                Some(notify) => {
                    // Unordered, no time limit: a pool worker runs a unit of
                    // its own pool that hasn't started itself, rather than
                    // block (each must finish for the map to end).
                    let index = match notify.try_pop() {
                        Some(index) => Some(index),
                        None if self.deadline.is_none() && self.help_one() => continue,
                        None => notify.pop_deadline(self.deadline),
                    };
                    match index {
                        Some(index) => {
                            if let Some(slot) = self.take(Some(index)) {
                                self.settle(slot, None);
                            }
                        }
                        // The map's deadline passed with nothing done.
                        None => self.end(TaskError::timeout()),
                    }
                }
            }
        }
    }

    /// The next item, without blocking on a task.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<U::Item, TaskError>>> {
        loop {
            if !self.ready.is_empty() {
                if !self.finished {
                    self.fill(false);
                }
                self.report();
                return Poll::Ready(self.ready.pop_front());
            }
            if self.finished {
                self.finish_progress();
                return Poll::Ready(None);
            }
            self.fill(false);
            if self.in_flight == 0 {
                self.finished = true;
                self.finish_progress();
                return Poll::Ready(None);
            }
            if self.progress.is_some() {
                // Ordered, and the front unit isn't done: count the units
                // behind it as they finish (each wakes this task).
                if self.is_ordered() && self.front_is_pending() {
                    self.watch_in_flight();
                    self.count_all_finished(Some(cx));
                }
                self.report();
            }
            if self.settle_refusal() {
                continue;
            }
            match &self.notify {
                None => {
                    let outcome = match self.slots.front_mut() {
                        Some(Some(Slot::Task { handle, .. })) => {
                            match std::pin::Pin::new(handle).poll(cx) {
                                Poll::Pending => return Poll::Pending,
                                Poll::Ready(outcome) => Some(outcome),
                            }
                        }
                        _ => None,
                    };
                    let slot = self.take(None).expect("a unit is in flight");
                    self.settle(slot, outcome);
                }
                Some(notify) => match notify.poll_pop(cx.waker()) {
                    Some(index) => {
                        if let Some(slot) = self.take(Some(index)) {
                            self.settle(slot, None);
                        }
                    }
                    None => return Poll::Pending,
                },
            }
        }
    }

    /// The window's state, for a map's `Debug`.
    pub(crate) fn fmt_fields<'a, 'b>(
        &self,
        mut f: std::fmt::DebugStruct<'a, 'b>,
    ) -> std::fmt::DebugStruct<'a, 'b> {
        f.field("ordered", &self.is_ordered())
            .field("in_flight", &self.in_flight)
            .field("max_in_flight", &self.max_in_flight)
            .field("chunksize", &self.chunk)
            .field("deadline", &self.deadline)
            .field("time_limit", &self.time_limit)
            .field("finished", &self.finished);
        if let Some(progress) = &self.progress {
            f.field("progress", progress);
        }
        f
    }

    /// Bounds on the items still to come.
    pub(crate) fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (self.ready.len(), Some(self.ready.len()));
        }
        let known = self.ready.len() + self.stalled.as_ref().map_or(0, Chunk::len);
        let in_flight: usize = self
            .slots
            .iter()
            .flatten()
            .map(|slot| match slot {
                Slot::Task { n, .. } => *n,
                Slot::Refused(_) => 1,
            })
            .sum();
        let lo = known + in_flight;
        match &self.inputs {
            None => (lo, Some(known + in_flight)),
            Some(inputs) => {
                let (ilo, ihi) = inputs.size_hint();
                (
                    lo.saturating_add(ilo),
                    ihi.and_then(|h| h.checked_add(known + in_flight)),
                )
            }
        }
    }
}

// Nothing in a window is ever pinned: a map's stream polls its handles by
// moving them out of the window or through `Pin::new` on a `&mut`, so the
// window can move freely whatever its items are.
impl<U: Units, I> Unpin for Window<U, I> {}

impl<U: Units, I> Drop for Window<U, I> {
    fn drop(&mut self) {
        // Dropping a map cancels what it submitted and hasn't yielded.
        for slot in self.slots.drain(..).flatten() {
            if let Slot::Task { handle, .. } = slot {
                handle.unwatch(self.watch_id);
                handle.cancel();
            }
        }
    }
}

// What the window does for progress, apart.
#[path = "window_progress.rs"]
mod progress;
#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
