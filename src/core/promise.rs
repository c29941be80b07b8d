//! [`Promise`]: the producer's end of a task, in the user's hands.
//!
//! A promise is a task with nothing to run: its cell's payload is `()`, and
//! the code that keeps the promise ends it by hand. It is the core's
//! [`Producer`] made public, with the thread that keeps it as the thread
//! that runs user code ([`Caller::User`]): callbacks run where the promise
//! is kept, cancelled or dropped.

use std::error::Error;
use std::fmt;

use super::cell::{Caller, Start, TaskSpec};
use super::handle::TaskHandle;
use super::producer::{Producer, new_task};
use crate::error::{TaskError, TaskId, TaskName};

/// The producer's end of a task, kept by hand: make a [`TaskHandle`] now,
/// and give it its value (or its error) later, from any thread.
///
/// This is Python's `Future()` with `set_result` / `set_exception`, and
/// Java's `CompletableFuture`: a way to hand out a handle for work that no
/// pool runs, such as a reply that arrives on a socket, or a value computed
/// by a callback-based API. The handle is like any other: `join`, `wait`,
/// `.await`, callbacks, [`as_completed`](crate::as_completed()) and
/// [`wait`](crate::wait()) all work with it.
///
/// - [`set`](Self::set) ends the task with a value,
///   [`fail`](Self::fail) with an error of yours
///   ([`TaskError::is_custom`], the error as the `source()`). Both consume
///   the promise and hand back what they were given if the task had already
///   ended (cancelled by its handle).
/// - Dropping a promise without keeping it ends the task with
///   [`TaskError::is_abandoned`]: no handle waits forever.
/// - Done-callbacks run on the thread that keeps the promise (in `set`,
///   `fail`, or the drop), or on the thread that cancels the handle.
///
/// # Cancellation
///
/// The handle's [`cancel`](TaskHandle::cancel) ends a promise that is still
/// pending **and one that is running** (after [`set_running`](Self::set_running)):
/// the handle completes as cancelled at once, and the promise's
/// [`is_cancelled`](Self::is_cancelled) turns `true`, as a
/// [`CancelToken`](crate::CancelToken) would. Python refuses to cancel a
/// running future; here the promise is its own cancel token, as a
/// thread-pool task with a token is cancelled while it runs: a consumer
/// that cancels stops waiting now, and the keeper learns that its work is
/// unwanted and can stop at a point of its choosing (or finish: `set` then
/// hands the value back). [`set_running`](Self::set_running) still tells
/// the keeper whether the handle was cancelled before the work began, so it
/// can skip the work altogether.
///
/// # Examples
///
/// ```
/// use futurepool::Promise;
/// use std::thread;
///
/// let (promise, handle) = Promise::new();
/// thread::spawn(move || {
///     // ... an answer arrives ...
///     promise.set(String::from("pong")).unwrap();
/// });
/// assert_eq!(handle.join().unwrap(), "pong");
/// ```
#[doc(alias = "set_result")]
#[doc(alias = "set_exception")]
#[doc(alias = "CompletableFuture")]
#[must_use = "dropping a Promise ends its task as abandoned"]
pub struct Promise<T: Send + 'static> {
    producer: Producer<T, ()>,
}

impl<T: Send + 'static> Promise<T> {
    /// A new task, pending until its promise is kept: the promise, and the
    /// task's handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::Promise;
    ///
    /// let (promise, handle) = Promise::new();
    /// assert!(!handle.is_done());
    /// promise.set(5).unwrap();
    /// assert_eq!(handle.join().unwrap(), 5);
    /// ```
    pub fn new() -> (Promise<T>, TaskHandle<T>) {
        Promise::with_name(None)
    }

    /// Like [`new`](Self::new), with a name that the handle's `Debug` and
    /// the task's error show.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::Promise;
    ///
    /// let (promise, handle) = Promise::<u32>::named("fetch");
    /// assert_eq!(handle.name(), Some("fetch"));
    /// promise.fail("connection reset").unwrap();
    /// assert_eq!(handle.join().unwrap_err().to_string(), "task `fetch` failed");
    /// ```
    pub fn named(name: impl Into<String>) -> (Promise<T>, TaskHandle<T>) {
        Promise::with_name(Some(TaskName::new(name)))
    }

    fn with_name(name: Option<TaskName>) -> (Promise<T>, TaskHandle<T>) {
        let options = TaskSpec {
            token: None,
            // The promise is its own token: see "Cancellation".
            cancellable: true,
            name,
            ..TaskSpec::default()
        };
        let (producer, handle) = new_task((), options, Caller::User);
        (Promise { producer }, handle)
    }

    /// The task's id, the same as its handle's.
    ///
    /// # Examples
    ///
    /// ```
    /// let (promise, handle) = futurepool::Promise::<()>::new();
    /// assert_eq!(promise.id(), handle.id());
    /// ```
    pub fn id(&self) -> TaskId {
        self.producer.task_id()
    }

    /// The task's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// let (promise, _handle) = futurepool::Promise::<()>::named("reply");
    /// assert_eq!(promise.name(), Some("reply"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.producer.name()
    }

    /// Ends the task with `value`: its handle gets `Ok(value)`. The
    /// done-callbacks run here, before this returns.
    ///
    /// # Errors
    ///
    /// `Err(value)`, handed back, if the task had already ended: its handle
    /// cancelled it, so nobody wants the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::Promise;
    ///
    /// let (promise, handle) = Promise::new();
    /// assert_eq!(promise.set(1), Ok(()));
    /// assert_eq!(handle.join().unwrap(), 1);
    ///
    /// let (promise, handle) = Promise::new();
    /// handle.cancel();
    /// assert_eq!(promise.set(2), Err(2)); // too late: handed back
    /// ```
    #[doc(alias = "set_result")]
    pub fn set(self, value: T) -> Result<(), T> {
        self.producer
            .complete(Ok(value))
            .map_err(|lost| match lost {
                Ok(value) => value,
                Err(_) => unreachable!("a value comes back as given"),
            })
    }

    /// Ends the task with an error of yours: its handle gets a
    /// [`TaskError`] that [`is_custom`](TaskError::is_custom), with `err`
    /// as its [`source`](std::error::Error::source). The done-callbacks run
    /// here, before this returns.
    ///
    /// # Errors
    ///
    /// `Err(err)`, boxed, handed back, if the task had already ended (its
    /// handle cancelled it).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::Promise;
    /// use std::error::Error;
    ///
    /// let (promise, handle) = Promise::<u32>::new();
    /// promise.fail("no such user").unwrap();
    /// let err = handle.join().unwrap_err();
    /// assert!(err.is_custom());
    /// assert_eq!(err.source().unwrap().to_string(), "no such user");
    ///
    /// let (promise, handle) = Promise::<u32>::new();
    /// handle.cancel();
    /// let back = promise.fail("too late").unwrap_err();
    /// assert_eq!(back.to_string(), "too late");
    /// ```
    #[doc(alias = "set_exception")]
    pub fn fail<E>(self, err: E) -> Result<(), Box<dyn Error + Send + Sync + 'static>>
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        let err = TaskError::custom(err.into());
        self.producer.complete(Err(err)).map_err(|lost| match lost {
            Err(err) => err
                .into_custom()
                .expect("an error nobody saw comes back as given"),
            Ok(_) => unreachable!("an error comes back as given"),
        })
    }

    /// Marks the task as running (its handle's
    /// [`is_running`](TaskHandle::is_running) turns `true`), unless its
    /// handle cancelled it first: returns `false` then, and the work needn't
    /// be done. Calling it again while running returns `true`. Python's
    /// `set_running_or_notify_cancel`.
    ///
    /// Unlike Python's, a running promise can still be cancelled: see
    /// [Cancellation](Self#cancellation).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::Promise;
    ///
    /// let (promise, handle) = Promise::new();
    /// assert!(promise.set_running());
    /// assert!(handle.is_running());
    /// promise.set(()).unwrap();
    ///
    /// let (promise, handle) = Promise::<()>::new();
    /// handle.cancel();
    /// assert!(!promise.set_running()); // cancelled first: skip the work
    /// ```
    #[doc(alias = "set_running_or_notify_cancel")]
    pub fn set_running(&self) -> bool {
        self.producer.start() == Start::Run || self.producer.is_running()
    }

    /// Returns `true` once the task's handle has cancelled it, whether it
    /// was pending or running. Check it at points where the work can stop.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::Promise;
    ///
    /// let (promise, handle) = Promise::<u64>::new();
    /// promise.set_running();
    /// assert!(!promise.is_cancelled());
    /// assert!(handle.cancel()); // a running promise is cancelled too
    /// assert!(promise.is_cancelled());
    /// assert!(handle.join().unwrap_err().is_cancelled());
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.producer.is_cancelling()
    }
}

/// Shows the task as its handle's `Debug` does.
///
/// ```
/// let (promise, handle) = futurepool::Promise::<()>::named("reply");
/// let id = handle.id().as_u64();
/// assert_eq!(
///     format!("{promise:?}"),
///     format!("Promise {{ id: {id}, name: \"reply\", state: pending }}"),
/// );
/// ```
impl<T: Send + 'static> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.producer.debug_as(f, "Promise")
    }
}
