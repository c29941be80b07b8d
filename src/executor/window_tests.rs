//! The window's progress: what it registers on its units, and that an
//! ordered map counts the units behind a slow front one. The units are
//! promises, completed by hand.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Mutex;

use super::{Chunk, Refused, Slot, Units, Window};
use crate::core::handle::TaskHandle;
use crate::core::promise::Promise;
use crate::error::TaskError;
use crate::executor::options::TaskOptions;
use crate::progress::Progress;
use std::sync::Arc;

/// Each unit is a promise, kept to be completed by the test.
#[derive(Default)]
struct Promised {
    promises: RefCell<Vec<Option<Promise<u32>>>>,
}

impl Units for Promised {
    type Input = u32;
    type Item = u32;
    type Out = u32;

    fn submit(
        &self,
        _inputs: Chunk<u32>,
        _options: &TaskOptions,
        _block: bool,
    ) -> Result<TaskHandle<u32>, Refused<u32>> {
        let (promise, handle) = Promise::new();
        self.promises.borrow_mut().push(Some(promise));
        Ok(handle)
    }

    fn split(
        outcome: Result<u32, TaskError>,
        _n: usize,
        ready: &mut VecDeque<Result<u32, TaskError>>,
    ) {
        ready.push_back(outcome);
    }
}

fn window() -> Window<Promised, std::ops::Range<u32>> {
    Window::new(Promised::default(), 0..4, 4)
}

fn waiters(w: &Window<Promised, std::ops::Range<u32>>) -> Vec<usize> {
    w.slots
        .iter()
        .flatten()
        .map(|slot| match slot {
            Slot::Task { handle, .. } => handle.waiter_count(),
            Slot::Refused(_) => 0,
        })
        .collect()
}

fn set(w: &Window<Promised, std::ops::Range<u32>>, i: usize) {
    let promise = w.units.promises.borrow_mut()[i].take().unwrap();
    promise.set(i as u32).unwrap();
}

/// Records every report.
fn recorder() -> (Arc<Mutex<Vec<Progress>>>, impl Fn(&Progress) + Send + Sync) {
    let log: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let l = log.clone();
    (log, move |p: &Progress| l.lock().unwrap().push(p.clone()))
}

#[test]
fn without_an_observer_an_ordered_map_registers_nothing_on_its_units() {
    let mut w = window();
    w.fill(true);
    assert_eq!(waiters(&w), [0, 0, 0, 0]);
    assert!(w.progress_notify.is_none());

    // With one: still nothing, until the consumer has to wait for the
    // front unit; then one watcher each, to count them as they finish.
    let mut w = window();
    w.set_progress(|_: &Progress| {});
    w.fill(true);
    assert_eq!(waiters(&w), [0, 0, 0, 0]);
    w.watch_in_flight();
    assert_eq!(waiters(&w), [1, 1, 1, 1]);
}

#[test]
fn an_observer_attached_late_counts_the_units_in_flight() {
    let mut w = window();
    w.fill(true);
    let (log, observer) = recorder();
    w.set_progress(observer);
    for i in 0..4 {
        set(&w, i);
    }
    assert_eq!(w.by_ref_count(), 4);
    let last = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.done(), last.total()), (4, Some(4)));
}

#[test]
fn an_ordered_map_counts_the_units_behind_a_slow_front_one() {
    let mut w = window();
    let (log, observer) = recorder();
    w.set_progress(observer);
    w.fill(true);
    set(&w, 2);
    w.watch_in_flight(); // as a consumer about to wait does
    set(&w, 3);
    w.count_all_finished(None);
    w.report();
    assert_eq!(log.lock().unwrap().last().unwrap().done(), 2); // not yielded yet
    let promise = w.units.promises.borrow_mut()[1].take().unwrap();
    promise.fail("no").unwrap();
    set(&w, 0);
    let items: Vec<_> = std::iter::from_fn(|| w.next_blocking()).collect();
    assert_eq!(items.len(), 4);
    assert!(items[1].is_err());
    let log = log.lock().unwrap();
    let last = log.last().unwrap();
    assert_eq!((last.done(), last.failed(), last.total()), (4, 1, Some(4)));
    // Counted once each: the counts never go past the total.
    assert!(log.iter().all(|p| p.done() <= 4 && p.failed() <= 1));
}

impl Window<Promised, std::ops::Range<u32>> {
    /// Items left, taken.
    fn by_ref_count(&mut self) -> usize {
        std::iter::from_fn(|| self.next_blocking()).count()
    }
}
