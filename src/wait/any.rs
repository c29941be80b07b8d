//! [`AnyHandle`]: a [`TaskHandle`] whose output type is erased, so that
//! handles of different types can go into one `wait` or `as_completed`
//! call, and come back out as the typed handle they were.

use std::any::{Any, type_name};
use std::fmt;

use crate::core::handle::TaskHandle;
use crate::core::watch::Completion;

/// A [`TaskHandle<T>`] of any output type `T`: what to hand to
/// [`wait`](crate::wait()) or [`as_completed`](crate::as_completed()) when
/// the tasks return different types, as Python's
/// `wait([f_int, f_str])` does.
///
/// It keeps the handle whole: [`downcast`](Self::downcast) gives the
/// `TaskHandle<T>` back, to join or await. Meanwhile it can say whether the
/// task is done, and cancel it. Keys tell which task came back: pass
/// `(key, AnyHandle)` pairs.
///
/// Borrowing is the other way to mix types, when you keep the handles:
/// pass `&dyn TaskRef` (see [`TaskRef`](crate::TaskRef)).
///
/// # Examples
///
/// ```
/// use futurepool::{AnyHandle, ThreadPool, as_completed};
///
/// let pool = ThreadPool::new();
/// let jobs = [
///     ("count", AnyHandle::new(pool.submit(|| 3_usize).unwrap())),
///     ("name", AnyHandle::new(pool.submit(|| String::from("three")).unwrap())),
/// ];
/// let mut seen = Vec::new();
/// for (key, handle) in as_completed(jobs) {
///     match key {
///         "count" => seen.push(handle.downcast::<usize>().unwrap().join().unwrap().to_string()),
///         _ => seen.push(handle.downcast::<String>().unwrap().join().unwrap()),
///     }
/// }
/// seen.sort();
/// assert_eq!(seen, ["3", "three"]);
/// ```
#[doc(alias = "Future")]
#[must_use = "dropping an AnyHandle does not cancel the task; its outcome is lost"]
pub struct AnyHandle {
    inner: Box<dyn Erased>,
}

/// What an [`AnyHandle`] needs of the handle inside, whatever its type.
trait Erased: Send + Sync {
    fn completion(&self) -> &dyn Completion;
    fn cancel(&self) -> bool;
    fn is_cancelled(&self) -> bool;
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn output_type(&self) -> &'static str;
    fn fmt_handle(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: Send + 'static> Erased for TaskHandle<T> {
    fn completion(&self) -> &dyn Completion {
        self
    }

    fn cancel(&self) -> bool {
        TaskHandle::cancel(self)
    }

    fn is_cancelled(&self) -> bool {
        TaskHandle::is_cancelled(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn output_type(&self) -> &'static str {
        type_name::<T>()
    }

    fn fmt_handle(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl AnyHandle {
    /// Erases the output type of `handle`.
    ///
    /// `AnyHandle::from(handle)` and `handle.into()` do the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{AnyHandle, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let any = AnyHandle::new(pool.submit(|| 7_u8).unwrap());
    /// assert!(any.is::<u8>());
    /// let also: AnyHandle = pool.submit(|| "seven").unwrap().into();
    /// assert!(also.is::<&str>());
    /// ```
    pub fn new<T: Send + 'static>(handle: TaskHandle<T>) -> AnyHandle {
        AnyHandle {
            inner: Box::new(handle),
        }
    }

    pub(crate) fn inner_completion(&self) -> &dyn Completion {
        self.inner.completion()
    }

    /// Returns `true` if the task's output type is `T`: if
    /// [`downcast::<T>`](Self::downcast) would succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{AnyHandle, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let any = AnyHandle::new(pool.submit(|| 1_i64).unwrap());
    /// assert!(any.is::<i64>());
    /// assert!(!any.is::<i32>());
    /// ```
    pub fn is<T: Send + 'static>(&self) -> bool {
        self.inner.as_any().is::<TaskHandle<T>>()
    }

    /// Gives back the typed handle, if the task's output type is `T`; else
    /// this `AnyHandle`, unchanged.
    ///
    /// # Errors
    ///
    /// `self`, if the output type is not `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{AnyHandle, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let any = AnyHandle::new(pool.submit(|| String::from("hi")).unwrap());
    /// let any = any.downcast::<i32>().unwrap_err(); // wrong type: handed back
    /// let handle = any.downcast::<String>().unwrap();
    /// assert_eq!(handle.join().unwrap(), "hi");
    /// ```
    pub fn downcast<T: Send + 'static>(self) -> Result<TaskHandle<T>, AnyHandle> {
        if !self.is::<T>() {
            return Err(self);
        }
        let handle = self
            .inner
            .into_any()
            .downcast::<TaskHandle<T>>()
            .expect("the type was just checked");
        Ok(*handle)
    }

    /// Borrows the typed handle, if the task's output type is `T`: to ask
    /// it what only a typed handle can say, or to add a done-callback.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{AnyHandle, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let any = AnyHandle::new(pool.submit(|| 2_u32).unwrap());
    /// assert!(any.downcast_ref::<u64>().is_none());
    /// let handle = any.downcast_ref::<u32>().unwrap();
    /// handle.wait();
    /// assert!(!handle.is_running());
    /// ```
    pub fn downcast_ref<T: Send + 'static>(&self) -> Option<&TaskHandle<T>> {
        self.inner.as_any().downcast_ref::<TaskHandle<T>>()
    }

    /// Returns `true` if the task has ended, as [`TaskHandle::is_done`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{AnyHandle, ThreadPool, as_completed};
    ///
    /// let pool = ThreadPool::new();
    /// let handles = [
    ///     AnyHandle::new(pool.submit(|| 1).unwrap()),
    ///     AnyHandle::new(pool.submit(|| 'a').unwrap()),
    /// ];
    /// for handle in as_completed(handles) {
    ///     assert!(handle.is_done());
    /// }
    /// ```
    #[doc(alias = "done")]
    pub fn is_done(&self) -> bool {
        self.inner.completion().done_status().is_some()
    }

    /// Returns `true` if the task ended by being cancelled, as
    /// [`TaskHandle::is_cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{AnyHandle, ThreadPool};
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let busy = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let queued = AnyHandle::new(pool.submit(|| 1).unwrap());
    /// assert!(queued.cancel());
    /// assert!(queued.is_cancelled());
    /// tx.send(()).unwrap();
    /// busy.join().unwrap();
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// Cancels the task if it can still be stopped, and returns whether it
    /// is cancelled: exactly [`TaskHandle::cancel`] (a queued task never
    /// runs; a running one is stopped only if it takes a
    /// [`CancelToken`](crate::CancelToken) or runs in a process pool).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{AnyHandle, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let any = AnyHandle::new(pool.submit(|| 1).unwrap());
    /// any.downcast_ref::<i32>().unwrap().wait();
    /// assert!(!any.cancel()); // too late: it finished
    /// ```
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// The name of the task's output type, as [`std::any::type_name`] gives
    /// it: for messages, not to compare (use [`is`](Self::is)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{AnyHandle, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let any = AnyHandle::new(pool.submit(|| 1_u16).unwrap());
    /// assert_eq!(any.output_type(), "u16");
    /// ```
    pub fn output_type(&self) -> &'static str {
        self.inner.output_type()
    }
}

/// The same as [`AnyHandle::new`].
///
/// # Examples
///
/// ```
/// use futurepool::{AnyHandle, ReturnWhen, ThreadPool, wait};
///
/// let pool = ThreadPool::new();
/// let mixed: [AnyHandle; 2] = [pool.submit(|| 1).unwrap().into(), pool.submit(|| "b").unwrap().into()];
/// assert_eq!(wait(mixed, ReturnWhen::AllCompleted).done.len(), 2);
/// ```
impl<T: Send + 'static> From<TaskHandle<T>> for AnyHandle {
    fn from(handle: TaskHandle<T>) -> AnyHandle {
        AnyHandle::new(handle)
    }
}

/// Shows the output type and the handle: its id and state.
///
/// ```
/// use futurepool::{AnyHandle, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let any = AnyHandle::new(pool.submit(|| 1_i32).unwrap());
/// any.downcast_ref::<i32>().unwrap().wait();
/// let shown = format!("{any:?}");
/// assert!(shown.starts_with("AnyHandle { output: \"i32\", handle: TaskHandle { id: "), "{shown}");
/// assert!(shown.ends_with("state: finished } }"), "{shown}");
/// ```
impl fmt::Debug for AnyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Handle<'a>(&'a dyn Erased);
        impl fmt::Debug for Handle<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_handle(f)
            }
        }
        f.debug_struct("AnyHandle")
            .field("output", &self.inner.output_type())
            .field("handle", &Handle(&*self.inner))
            .finish()
    }
}
