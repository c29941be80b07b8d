//! The window's progress counting (see "Progress" in `window.rs`'s module
//! docs): the watchers of an ordered map's units, and its consumer's wait
//! for the front unit that counts the ones behind it.

use std::task::Context;

use super::{Slot, Units, Window};
use crate::core::watch::{Completion, Watcher};
use crate::progress::{ProgressObserver, Tracker};

impl<U, I> Window<U, I>
where
    U: Units,
    I: Iterator<Item = U::Input>,
{
    /// Reports progress to `observer` from now on. The total is the
    /// number of items still to come, if the inputs know it exactly.
    pub(crate) fn set_progress(&mut self, observer: impl ProgressObserver + 'static) {
        let total = match self.size_hint() {
            (lo, Some(hi)) if lo == hi => u64::try_from(lo).ok(),
            _ => None,
        };
        let mut tracker = Tracker::new(observer, self.started, total);
        // The units in flight already, and a backend's notes waking the
        // consumer where it waits (an index of no unit: ignored there).
        for slot in self.slots.iter().flatten() {
            if let Slot::Task { handle, n, .. } = slot {
                tracker.watch(handle.id().as_u64(), *n as u64);
            }
        }
        if tracker.is_live() {
            let notify = match &self.notify {
                Some(notify) => notify.clone(),
                None => self
                    .progress_notify
                    .get_or_insert_with(Default::default)
                    .clone(),
            };
            tracker.wake_through(&notify);
        }
        self.progress = Some(tracker);
    }

    /// Ordered, with progress: registers the units in flight not yet
    /// registered with the progress queue, each under its sequence number.
    pub(super) fn watch_in_flight(&mut self) {
        let notify = self
            .progress_notify
            .get_or_insert_with(Default::default)
            .clone();
        let from = self.watched_upto.max(self.front_seq);
        for seq in from..self.next_seq {
            if let Some(Some(Slot::Task { handle, .. })) = self.slots.get(seq - self.front_seq) {
                let w = Watcher {
                    id: self.watch_id,
                    notify: notify.clone(),
                    index: seq,
                };
                if handle.watch(w).is_some() {
                    notify.push(seq); // already done
                }
            }
        }
        self.watched_upto = self.next_seq;
    }

    /// Ordered, with progress: counts the unit numbered `seq` as finished,
    /// unless it was settled or counted already.
    pub(super) fn count_finished(&mut self, seq: usize) {
        let Some(pos) = seq.checked_sub(self.front_seq) else {
            return; // settled (and counted then)
        };
        if let (Some(Some(Slot::Task { handle, n, counted })), Some(tracker)) =
            (self.slots.get_mut(pos), self.progress.as_mut())
        {
            if counted.is_none() {
                let failed = handle.is_failed();
                *counted = Some(failed);
                let n = *n as u64;
                tracker.record(n, if failed { n } else { 0 });
            }
        }
    }

    /// Ordered, with progress: counts every unit the progress queue says
    /// finished; registers `cx`'s waker for the next one, if given.
    pub(super) fn count_all_finished(&mut self, cx: Option<&mut Context<'_>>) {
        let Some(notify) = self.progress_notify.clone() else {
            return;
        };
        match cx {
            None => {
                while let Some(seq) = notify.try_pop() {
                    self.count_finished(seq);
                }
            }
            Some(cx) => {
                while let Some(seq) = notify.poll_pop(cx.waker()) {
                    self.count_finished(seq);
                }
            }
        }
    }

    /// Ordered, with progress: blocks until the front unit is done,
    /// counting and reporting the units that finish meanwhile.
    pub(super) fn wait_front_counting(&mut self) {
        let mut helped = false;
        loop {
            self.count_all_finished(None);
            self.report();
            let Some(Some(Slot::Task { handle, .. })) = self.slots.front() else {
                return;
            };
            if handle.done_status().is_some() {
                return;
            }
            // About to wait: from now on, count the units behind the front
            // one as they finish.
            if self.watched_upto < self.next_seq {
                self.watch_in_flight();
                continue;
            }
            // As `TaskHandle::wait` does: a pool worker runs the front unit
            // itself if it may (once: a unit it may not run never becomes
            // one it may).
            if !helped {
                helped = true;
                if handle.help() {
                    continue;
                }
            }
            let Some(notify) = self.progress_notify.clone() else {
                return;
            };
            if let Some(seq) = notify.pop_deadline(None) {
                self.count_finished(seq);
            }
        }
    }

    /// Ordered: whether the front unit is a task not yet done.
    pub(super) fn front_is_pending(&self) -> bool {
        matches!(self.slots.front(), Some(Some(Slot::Task { handle, .. })) if handle.done_status().is_none())
    }

    /// Reports progress, if any changed.
    pub(super) fn report(&mut self) {
        if let Some(tracker) = &mut self.progress {
            tracker.flush();
        }
    }

    /// The last progress report: the map ended.
    pub(super) fn finish_progress(&mut self) {
        if let Some(tracker) = &mut self.progress {
            tracker.finish();
        }
    }
}
