//! [`TaskRef`], what `as_completed` and `wait` accept, and [`WatchSet`],
//! the registration both build on: a set of distinct tasks sharing one of
//! the core's ready-queues.

use crate::core::handle::TaskHandle;
use crate::core::watch::{Completion, Notify, Watcher};
use crate::loom::sync::Arc;

mod sealed {
    pub trait Sealed {}
}

/// Something that refers to one task: what [`as_completed`](crate::as_completed)
/// and [`wait`](crate::wait()) accept and give back.
///
/// It is implemented for:
/// - [`TaskHandle<T>`](crate::TaskHandle): owned handles, given back as they finish;
/// - `&TaskHandle<T>`: borrowed handles; the same handle given twice counts once;
/// - `(K, TaskHandle<T>)`: a handle with a key of yours (an input, a URL, an
///   index), so you know which task finished, as Python code does with a
///   `{future: key}` dict.
///
/// The trait is sealed: it can't be implemented outside this crate.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, as_completed};
///
/// let pool = ThreadPool::new();
/// let keyed = ["a", "bb", "ccc"].map(|s| (s, pool.submit(move || s.len()).unwrap()));
/// let mut seen: Vec<_> = as_completed(keyed)
///     .map(|(key, handle)| (key, handle.join().unwrap()))
///     .collect();
/// seen.sort();
/// assert_eq!(seen, [("a", 1), ("bb", 2), ("ccc", 3)]);
/// ```
// `Completion` is crate-private on purpose: the trait is sealed, and this
// method is how the crate reaches the task behind any `TaskRef`.
#[allow(private_interfaces)]
pub trait TaskRef: sealed::Sealed {
    #[doc(hidden)]
    fn completion(&self) -> &dyn Completion;
}

impl<T: Send + 'static> sealed::Sealed for TaskHandle<T> {}
#[allow(private_interfaces)]
impl<T: Send + 'static> TaskRef for TaskHandle<T> {
    fn completion(&self) -> &dyn Completion {
        self
    }
}

impl<T: Send + 'static> sealed::Sealed for &TaskHandle<T> {}
#[allow(private_interfaces)]
impl<T: Send + 'static> TaskRef for &TaskHandle<T> {
    fn completion(&self) -> &dyn Completion {
        *self
    }
}

impl<K, T: Send + 'static> sealed::Sealed for (K, TaskHandle<T>) {}
#[allow(private_interfaces)]
impl<K, T: Send + 'static> TaskRef for (K, TaskHandle<T>) {
    fn completion(&self) -> &dyn Completion {
        &self.1
    }
}

/// A set of distinct watched tasks sharing one [`Notify`]: the common core of
/// `as_completed` and `wait`. Unregisters itself on drop.
pub(crate) struct WatchSet<H: TaskRef> {
    pub(crate) slots: Vec<Option<H>>,
    pub(crate) notify: Arc<Notify>,
    id: u64,
    /// Tasks given, after dropping duplicates.
    pub(crate) total: usize,
}

// The tasks are never pinned: polling only moves handles in and out of
// `slots`, so the set can move freely whatever `H` is.
impl<H: TaskRef> Unpin for WatchSet<H> {}

impl<H: TaskRef> WatchSet<H> {
    /// Registers on every distinct task. The indices of tasks that were
    /// already done come out of the queue first, in the order given.
    pub(crate) fn new(items: impl IntoIterator<Item = H>) -> WatchSet<H> {
        let mut slots: Vec<Option<H>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for item in items {
            if seen.insert(item.completion().identity()) {
                slots.push(Some(item));
            }
        }
        let notify = Arc::new(Notify::default());
        let id = crate::loom::next_id();
        // First the ones finished before the call, then registration; a task
        // finishing in between is pushed by `watch` itself.
        let mut finished = vec![false; slots.len()];
        for (index, slot) in slots.iter().enumerate() {
            let h = slot.as_ref().expect("slots are full at the start");
            if h.completion().done_status().is_some() {
                finished[index] = true;
                notify.push(index);
            }
        }
        for (index, slot) in slots.iter().enumerate() {
            if finished[index] {
                continue;
            }
            let h = slot.as_ref().expect("slots are full at the start");
            let w = Watcher {
                id,
                notify: notify.clone(),
                index,
            };
            if h.completion().watch(w).is_some() {
                notify.push(index);
            }
        }
        let total = slots.len();
        WatchSet {
            slots,
            notify,
            id,
            total,
        }
    }
}

impl<H: TaskRef> WatchSet<H> {
    /// Unregisters and returns every task still held, in the order given.
    pub(crate) fn take_all(&mut self) -> Vec<H> {
        let id = self.id;
        self.slots
            .iter_mut()
            .filter_map(Option::take)
            .inspect(|h| h.completion().unwatch(id))
            .collect()
    }
}

impl<H: TaskRef> Drop for WatchSet<H> {
    fn drop(&mut self) {
        for h in self.slots.iter().flatten() {
            h.completion().unwatch(self.id);
        }
    }
}
