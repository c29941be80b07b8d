//! [`Map`]: a lazy, ordered, bounded `map` over a pool.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::time::{Duration, Instant};

use crate::error::{JoinTimeoutError, TaskError};
use crate::sync::Arc;
use crate::{TaskHandle, ThreadPool};

/// The iterator of [`ThreadPool::map`]: `f` applied to every input in the
/// pool, results yielded **in input order**.
///
/// # Laziness and memory
///
/// Nothing is submitted until the first call to `next`. From then on at most
/// [`max_in_flight`](Self::max_in_flight) tasks (by default twice the pool's
/// `max_workers`) are submitted and not yet yielded; inputs are pulled from
/// the input iterator only as room frees up. So an endless or huge input
/// neither hangs the call nor fills memory, and a slow consumer holds back
/// the producer.
///
/// # Failures
///
/// Each item is a `Result`. A task that panics yields `Err` (with
/// [`TaskError::is_panic`]) **and the map goes on** with the next input: stop
/// early by dropping the iterator, which `collect::<Result<Vec<_>, _>>()`
/// does at the first error.
///
/// # Timeout
///
/// With [`timeout`](Self::timeout), counted from the `map` call, or
/// [`deadline`](Self::deadline): if the next result isn't ready in time, the
/// map yields one `Err` with [`TaskError::is_timeout`], cancels what hasn't
/// started, and ends. Tasks already running go on to the end (use a process
/// pool to stop them), but their results are dropped.
///
/// # Dropping
///
/// Dropping the iterator cancels every submitted task that hasn't started.
/// It does not wait for the running ones.
///
/// If the pool is shut down while mapping, the next item is an `Err` with
/// [`TaskError::is_shutdown`] and the map ends.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::builder().max_workers(4).build().unwrap();
/// // An endless input is fine: only a few tasks are ever in flight.
/// let first: Vec<u64> = pool
///     .map(|n: u64| n * n, 1..)
///     .max_in_flight(8)
///     .take(5)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(first, [1, 4, 9, 16, 25]);
/// ```
#[must_use = "a map does nothing unless iterated"]
pub struct Map<'a, I, F, T> {
    pool: &'a ThreadPool,
    f: Arc<F>,
    inputs: Option<I>,
    window: VecDeque<Slot<T>>,
    in_flight: usize,
    started: Instant,
    deadline: Option<Instant>,
    finished: bool,
}

enum Slot<T> {
    Task(TaskHandle<T>),
    Refused(TaskError),
}

impl<'a, I, F, T> Map<'a, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(pool: &'a ThreadPool, f: F, inputs: I) -> Self {
        Map {
            pool,
            f: Arc::new(f),
            inputs: Some(inputs),
            window: VecDeque::new(),
            in_flight: pool.max_workers().saturating_mul(2),
            started: Instant::now(),
            deadline: None,
            finished: false,
        }
    }

    /// Gives up waiting `timeout` after the `map` call; see [the type's
    /// docs](Self#timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let rx = Arc::new(Mutex::new(rx));
    /// let mut map = pool
    ///     .map(move |i: u32| if i == 1 { rx.lock().unwrap().recv().unwrap(); } else {}, 0..3)
    ///     .timeout(Duration::from_millis(20));
    /// assert!(map.next().unwrap().is_ok());
    /// assert!(map.next().unwrap().unwrap_err().is_timeout()); // input 1 is stuck
    /// assert!(map.next().is_none());
    /// tx.send(()).unwrap();
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = self.started.checked_add(timeout);
        self
    }

    /// Gives up waiting at `deadline`; see [the type's docs](Self#timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// let v: Vec<_> = pool.map(|x: i32| -x, [1, 2]).deadline(deadline).map(Result::unwrap).collect();
    /// assert_eq!(v, [-1, -2]);
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// How many tasks may be submitted and not yet yielded (at least 1).
    /// The default is twice the pool's `max_workers`: enough to keep every
    /// worker busy while the consumer catches up.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let pulled = Arc::new(AtomicUsize::new(0));
    /// let counter = pulled.clone();
    /// let inputs = (0..100).inspect(move |_| { counter.fetch_add(1, Ordering::SeqCst); });
    /// let mut map = pool.map(|x: i32| x, inputs).max_in_flight(3);
    /// assert_eq!(map.next().unwrap().unwrap(), 0);
    /// assert!(pulled.load(Ordering::SeqCst) <= 4); // 3 in flight, 1 yielded
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.in_flight = n.max(1);
        self
    }

    /// Submits inputs until the window is full or the inputs run out.
    fn fill(&mut self) {
        while self.window.len() < self.in_flight {
            let Some(inputs) = self.inputs.as_mut() else {
                return;
            };
            let Some(input) = inputs.next() else {
                self.inputs = None;
                return;
            };
            let f = self.f.clone();
            match self.pool.submit(move || f(input)) {
                Ok(handle) => self.window.push_back(Slot::Task(handle)),
                Err(err) => {
                    self.window.push_back(Slot::Refused(err.to_task_error()));
                    self.inputs = None;
                    return;
                }
            }
        }
    }

    fn cancel_all(&mut self) {
        for slot in self.window.drain(..) {
            if let Slot::Task(handle) = slot {
                handle.cancel();
            }
        }
        self.inputs = None;
    }
}

impl<I, F, T> Iterator for Map<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        self.fill();
        let Some(slot) = self.window.pop_front() else {
            self.finished = true;
            return None;
        };
        let outcome = match slot {
            Slot::Refused(err) => {
                self.cancel_all();
                self.finished = true;
                Err(err)
            }
            Slot::Task(handle) => match self.deadline {
                None => handle.join(),
                Some(deadline) => match handle.join_deadline(deadline) {
                    Ok(value) => Ok(value),
                    Err(JoinTimeoutError::Failed(err)) => Err(err),
                    Err(JoinTimeoutError::Timeout(handle)) => {
                        handle.cancel();
                        self.cancel_all();
                        self.finished = true;
                        Err(TaskError::timeout())
                    }
                },
            },
        };
        // Keep the workers busy while the caller looks at this item.
        self.fill();
        Some(outcome)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        let queued = self.window.len();
        match &self.inputs {
            None => (queued, Some(queued)),
            Some(inputs) => {
                let (lo, hi) = inputs.size_hint();
                (
                    lo.saturating_add(queued),
                    hi.and_then(|h| h.checked_add(queued)),
                )
            }
        }
    }
}

impl<I, F, T> FusedIterator for Map<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
}

impl<I, F, T> Drop for Map<'_, I, F, T> {
    fn drop(&mut self) {
        for slot in self.window.drain(..) {
            if let Slot::Task(handle) = slot {
                handle.cancel();
            }
        }
    }
}

impl<I, F, T> fmt::Debug for Map<'_, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.window.len())
            .field("max_in_flight", &self.in_flight)
            .field("deadline", &self.deadline)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
