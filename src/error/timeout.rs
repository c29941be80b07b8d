//! [`TimeoutError`]: a deadline passed while waiting for many tasks.

use std::error::Error;
use std::fmt;

/// The error [`AsCompletedTimeout`](crate::AsCompletedTimeout) yields when its
/// deadline passes: how many tasks were unfinished, and their handles.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, as_completed};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let fast = pool.submit(|| ()).unwrap();
/// fast.wait();
/// let mut it = as_completed([slow, fast]).timeout(Duration::from_millis(20));
/// assert!(it.next().unwrap().is_ok()); // `fast` was already done
/// let err = it.next().unwrap().unwrap_err();
/// assert_eq!(err.to_string(), "1 (of 2) tasks unfinished");
/// let unfinished = err.into_unfinished();
/// tx.send(()).unwrap();
/// for handle in unfinished {
///     handle.join().unwrap();
/// }
/// ```
pub struct TimeoutError<H> {
    unfinished: Vec<H>,
    total: usize,
}

impl<H> TimeoutError<H> {
    pub(crate) fn new(unfinished: Vec<H>, total: usize) -> TimeoutError<H> {
        TimeoutError { unfinished, total }
    }

    /// How many tasks were unfinished when the deadline passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let err = as_completed([slow]).timeout(Duration::ZERO).next().unwrap().unwrap_err();
    /// assert_eq!((err.unfinished_count(), err.total()), (1, 1));
    /// tx.send(()).unwrap();
    /// ```
    pub fn unfinished_count(&self) -> usize {
        self.unfinished.len()
    }

    /// How many distinct tasks were given to wait for: a task given twice
    /// (two references to one handle) counts once.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let fast = pool.submit(|| ()).unwrap();
    /// fast.wait();
    /// let mut it = as_completed([&slow, &slow, &fast]).timeout(Duration::ZERO);
    /// assert!(it.next().unwrap().is_ok()); // `fast` was already done
    /// let err = it.next().unwrap().unwrap_err();
    /// assert_eq!((err.unfinished_count(), err.total()), (1, 2));
    /// tx.send(()).unwrap();
    /// ```
    pub fn total(&self) -> usize {
        self.total
    }

    /// The unfinished tasks' handles (or whatever was given in their place),
    /// in the order they were given. They are still live: join, wait for
    /// or cancel them as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<u32>();
    /// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let quick = pool.submit(|| 0).unwrap();
    /// quick.wait();
    /// let keyed = [("slow", slow), ("done", quick)];
    /// let err = as_completed(keyed)
    ///     .timeout(Duration::ZERO)
    ///     .find_map(Result::err)
    ///     .unwrap();
    /// let mut unfinished = err.into_unfinished();
    /// assert_eq!(unfinished.len(), 1);
    /// let (key, handle) = unfinished.pop().unwrap();
    /// assert_eq!(key, "slow");
    /// tx.send(7).unwrap();
    /// assert_eq!(handle.join().unwrap(), 7); // the handle still works
    /// ```
    pub fn into_unfinished(self) -> Vec<H> {
        self.unfinished
    }
}

impl<H> fmt::Debug for TimeoutError<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutError")
            .field("unfinished", &self.unfinished.len())
            .field("total", &self.total)
            .finish()
    }
}

impl<H> fmt::Display for TimeoutError<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (of {}) tasks unfinished",
            self.unfinished.len(),
            self.total
        )
    }
}

impl<H> Error for TimeoutError<H> {}
