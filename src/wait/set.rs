//! [`TaskRef`], what `as_completed` and `wait` accept, and [`WatchSet`],
//! the registration both build on (and `first_ok`): a set of distinct tasks
//! sharing one of the core's ready-queues.

use super::any::AnyHandle;
use crate::core::handle::{SharedHandle, TaskHandle};
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
/// - [`AnyHandle`](crate::AnyHandle): an owned handle whose output type is
///   erased, so that handles of different types go in one call; turn it back
///   into a `TaskHandle<T>` with [`downcast`](crate::AnyHandle::downcast);
/// - `&H` for any `H: TaskRef`, `dyn TaskRef` included: borrowed handles
///   (`&TaskHandle<T>`, `&dyn TaskRef`, ...); the same task given twice
///   counts once;
/// - `Box<H>` for any `H: TaskRef`, `dyn TaskRef` included;
/// - `(K, H)` for any `H: TaskRef`: a task with a key of yours (an input, a
///   URL, an index), so you know which task finished, as Python code does
///   with a `{future: key}` dict: `(K, TaskHandle<T>)`, `(K, &TaskHandle<T>)`,
///   `(K, AnyHandle)`, ...
///
/// # Handles of different output types
///
/// One call takes one item type, so to mix `TaskHandle<i32>` and
/// `TaskHandle<String>` (Python's `wait([f_int, f_str])`), erase the types:
/// borrow them as `&dyn TaskRef` and keep the handles to join afterwards, or
/// hand them over as [`AnyHandle`](crate::AnyHandle)s and downcast what comes
/// back. To use a borrowed `dyn TaskRef` on another thread, name it
/// `&(dyn TaskRef + Sync)`.
///
/// Tasks given twice count once: the first one given is kept.
///
/// The trait is sealed: it can't be implemented outside this crate.
///
/// # Examples
///
/// Keyed handles:
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
///
/// Handles of different output types, borrowed:
///
/// ```
/// use futurepool::{ReturnWhen, TaskRef, ThreadPool, wait};
///
/// let pool = ThreadPool::new();
/// let count = pool.submit(|| 3_usize).unwrap();
/// let name = pool.submit(|| String::from("three")).unwrap();
/// let mixed: [&dyn TaskRef; 3] = [&count, &name, &count]; // `count` twice
/// let waited = wait(mixed, ReturnWhen::AllCompleted);
/// assert_eq!(waited.done.len(), 2); // counted once
/// drop(waited); // it borrows the handles
/// assert_eq!(count.join().unwrap(), 3);
/// assert_eq!(name.join().unwrap(), "three");
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

impl<T: Send + 'static> sealed::Sealed for SharedHandle<T> {}
#[allow(private_interfaces)]
impl<T: Send + 'static> TaskRef for SharedHandle<T> {
    fn completion(&self) -> &dyn Completion {
        self.as_completion()
    }
}

impl<H: TaskRef + ?Sized> sealed::Sealed for &H {}
#[allow(private_interfaces)]
impl<H: TaskRef + ?Sized> TaskRef for &H {
    fn completion(&self) -> &dyn Completion {
        (**self).completion()
    }
}

impl<H: TaskRef + ?Sized> sealed::Sealed for Box<H> {}
#[allow(private_interfaces)]
impl<H: TaskRef + ?Sized> TaskRef for Box<H> {
    fn completion(&self) -> &dyn Completion {
        (**self).completion()
    }
}

impl<K, H: TaskRef> sealed::Sealed for (K, H) {}
#[allow(private_interfaces)]
impl<K, H: TaskRef> TaskRef for (K, H) {
    fn completion(&self) -> &dyn Completion {
        self.1.completion()
    }
}

impl sealed::Sealed for AnyHandle {}
#[allow(private_interfaces)]
impl TaskRef for AnyHandle {
    fn completion(&self) -> &dyn Completion {
        self.inner_completion()
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
    /// The next task [`help_next`](Self::help_next) offers to run.
    help_cursor: usize,
    /// The identities of the tasks held, once a task is [added](Self::add)
    /// (kept only then: a set that never grows needs none).
    /// Addresses as integers: compared, never dereferenced.
    held: Option<std::collections::HashSet<usize>>,
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
            help_cursor: 0,
            held: None,
        }
    }

    /// Adds a task to the set, unless a task still held is the same task.
    /// Returns its index (its finishing pushes it on the ready-queue, or it
    /// is pushed at once if already finished), or `None` if it was a
    /// duplicate (and is dropped).
    pub(crate) fn add(&mut self, item: H) -> Option<usize> {
        let identity = item.completion().identity().addr();
        let held = self.held.get_or_insert_with(|| {
            self.slots
                .iter()
                .flatten()
                .map(|h| h.completion().identity().addr())
                .collect()
        });
        if !held.insert(identity) {
            return None;
        }
        let index = self.slots.len();
        let w = Watcher {
            id: self.id,
            notify: self.notify.clone(),
            index,
        };
        let done = item.completion().watch(w).is_some();
        self.slots.push(Some(item));
        self.total += 1;
        if done {
            self.notify.push(index);
        }
        Some(index)
    }

    /// Takes the task at `index` out of the set (it was yielded).
    pub(crate) fn take(&mut self, index: usize) -> Option<H> {
        let task = self.slots.get_mut(index)?.take()?;
        if let Some(held) = &mut self.held {
            held.remove(&(task.completion().identity().addr()));
        }
        Some(task)
    }

    /// Help-while-waiting, for a wait without a time limit that needs every
    /// task (`wait` for all, `as_completed` consumed to the end): on a pool
    /// worker, runs here the next task, in the order given, that this
    /// thread may run itself (a task of its own pool that hasn't started).
    /// Returns whether it ran one; `false` once there is none left (each
    /// task is offered once: one started elsewhere never becomes one this
    /// thread may run, so the offers cost one pass in all).
    pub(crate) fn help_next(&mut self) -> bool {
        if !crate::core::blocking::may_help() {
            return false;
        }
        while let Some(slot) = self.slots.get(self.help_cursor) {
            self.help_cursor += 1;
            if let Some(task) = slot {
                let task = task.completion();
                if task.done_status().is_none() && task.help() {
                    return true;
                }
            }
        }
        false
    }
}

impl<H: TaskRef> WatchSet<H> {
    /// Unregisters and returns every task still held, in the order given.
    pub(crate) fn take_all(&mut self) -> Vec<H> {
        let id = self.id;
        if let Some(held) = &mut self.held {
            held.clear();
        }
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
