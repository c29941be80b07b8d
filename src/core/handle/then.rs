//! [`Then`]: a task's outcome, handed to a function once the task is done,
//! without a thread that waits for it.
//!
//! The executor layer's dependent tasks (`TaskBuilder::after`) need a
//! dependency's value *moved out* of its handle (no `Clone`), and a
//! dependent's own value forwarded from the task that computed it. A
//! done-callback can't do either: it runs before the task is done, with a
//! borrow. A [`Then`] is woken after the task is done (it is the waker of
//! the one poll of the handle) and takes the outcome then.
//!
//! # Where the function runs
//!
//! A waker is woken by whichever thread publishes the outcome, and that may
//! be an internal thread (the timer, a process pool's driver), which must
//! run no user code: taking the outcome may decode a user type, and the
//! function submits user work. So a `Then` first adds an empty done-callback
//! to the task: a task with callbacks is published by the thread that runs
//! its callbacks, and the cell runs callbacks only where user code may run
//! (the worker that ran the task, the thread that cancelled it, or the
//! callback runner for a task ended by an internal thread). The waker is
//! woken there. A task already done when the `Then` is made runs the
//! function at once, on the calling thread.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::TaskHandle;
use crate::error::TaskError;
use crate::loom::sync::Mutex;

/// The function a [`Then`] calls with the outcome.
type Continuation<T> = Box<dyn FnOnce(Result<T, TaskError>) + Send + 'static>;

/// A task's handle, and what to do with its outcome once it is done; see
/// the [module docs](self). (`Arc` is std's in every build: a `Waker` is
/// made from it. See `crate::loom`.)
pub(crate) struct Then<T> {
    handle: TaskHandle<T>,
    then: Mutex<Option<Continuation<T>>>,
}

impl<T: Send + 'static> Then<T> {
    /// Calls `then` with the outcome of `handle`'s task once it is done, on
    /// a thread that may run user code (this one, if it is done already).
    /// The returned `Then` can cancel the task meanwhile.
    pub(crate) fn new<F>(handle: TaskHandle<T>, then: F) -> Arc<Then<T>>
    where
        F: FnOnce(Result<T, TaskError>) + Send + 'static,
    {
        // Before the poll: see "Where the function runs".
        handle.add_done_callback(|_| {});
        let this = Arc::new(Then {
            handle,
            then: Mutex::new(Some(Box::new(then))),
        });
        let waker = Waker::from(Arc::clone(&this));
        if let Poll::Ready(outcome) = this.handle.cell.poll(&mut Context::from_waker(&waker)) {
            this.call(outcome);
        }
        this
    }

    /// Cancels the task, as its handle's `cancel` does; the function still
    /// gets the outcome.
    pub(crate) fn cancel(&self) -> bool {
        self.handle.cancel()
    }

    fn call(&self, outcome: Result<T, TaskError>) {
        let then = self.then.lock().take();
        if let Some(then) = then {
            then(outcome);
        }
    }
}

impl<T: Send + 'static> Wake for Then<T> {
    fn wake(self: Arc<Self>) {
        // Woken once, by the publish: the task is done.
        if let Some(outcome) = self.handle.cell.try_take() {
            self.call(outcome);
        }
    }
}

#[cfg(all(test, not(futurepool_loom)))]
mod tests {
    use std::sync::mpsc;

    use super::Then;
    use crate::core::promise::Promise;

    #[test]
    fn the_function_gets_the_value_moved_out() {
        struct NotClone(u32);
        let (promise, handle) = Promise::new();
        let (tx, rx) = mpsc::channel();
        let _then = Then::new(handle, move |outcome: Result<NotClone, _>| {
            tx.send(outcome.unwrap().0).unwrap();
        });
        assert!(rx.try_recv().is_err(), "called before the task was done");
        promise.set(NotClone(7)).map_err(|_| ()).unwrap();
        assert_eq!(rx.try_recv(), Ok(7)); // on the thread that kept the promise
    }

    #[test]
    fn a_task_already_done_calls_it_at_once() {
        let (promise, handle) = Promise::new();
        promise.set(3).unwrap();
        let (tx, rx) = mpsc::channel();
        let _then = Then::new(handle, move |outcome| tx.send(outcome.unwrap()).unwrap());
        assert_eq!(rx.try_recv(), Ok(3));
    }

    #[test]
    fn cancel_reaches_the_task_and_the_function_sees_it() {
        let (promise, handle) = Promise::<u8>::new();
        let (tx, rx) = mpsc::channel();
        let then = Then::new(handle, move |outcome| {
            tx.send(outcome.unwrap_err().is_cancelled()).unwrap();
        });
        assert!(then.cancel());
        assert_eq!(rx.try_recv(), Ok(true));
        assert!(promise.is_cancelled());
    }
}
