//! [`ProcessMap`]: a lazy, ordered, bounded, chunked `map` over a process
//! pool.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ProcessPool;
use super::protocol::Request;
use super::remote_task::{decode_chunk, encode_arg, request_frame};
use crate::core::handle::JoinTimeoutError;
use crate::core::handle::TaskHandle;
use crate::error::TaskError;
use crate::executor::options::TaskOptions;
use crate::remote::RemoteFn;

/// The iterator of [`ProcessPool::map`]: `f` applied to every input in the
/// worker processes, results yielded **in input order**.
///
/// # Chunks
///
/// Inputs are sent [`chunksize`](Self::chunksize) at a time (by default 1):
/// one request, one reply, one task per chunk. Large chunks amortise the
/// round trip when each call is short. A chunk is one task to the pool: it
/// counts once towards `max_tasks_per_child`, a timeout or cancel stops it
/// as a whole, and if its worker dies every input in it reports
/// [`TaskError::is_worker_died`]. A panic fails only its own input.
///
/// # Laziness and memory
///
/// As for the thread pool's [`Map`](crate::Map): nothing is submitted before
/// the first `next`; then at most [`max_in_flight`](Self::max_in_flight)
/// chunks (by default twice the pool's `max_workers`) are submitted and not
/// yet yielded.
///
/// # Failures, timeout, dropping
///
/// Each item is a `Result`, and the map goes on after an error. An input
/// that fails to serialize yields its own serialization error. With a
/// [`timeout`](Self::timeout), if the next result isn't ready in time the
/// map yields one timeout error, cancels the chunks in flight (**killing**
/// the workers running them) and ends. Dropping the iterator cancels the
/// chunks in flight the same way. After a shutdown the next item is an
/// error with [`TaskError::is_shutdown`], and the map ends.
///
/// # Examples
///
/// ```
/// # fn main() {
/// # futurepool::process::init();
/// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
/// use futurepool::{ProcessPool, remote};
///
/// fn is_prime(n: u64) -> bool {
///     n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
/// }
///
/// let pool = ProcessPool::builder().max_workers(2).build().unwrap();
/// let primes: Vec<u64> = pool
///     .map(remote!(is_prime), 1..=30)
///     .chunksize(8)
///     .zip(1..)
///     .filter_map(|(prime, n)| prime.unwrap().then_some(n))
///     .collect();
/// assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
/// # }
/// ```
#[must_use = "a map does nothing unless iterated"]
pub struct ProcessMap<'a, I, A, R> {
    pool: &'a ProcessPool,
    f: RemoteFn<A, R>,
    inputs: Option<I>,
    chunksize: usize,
    window: VecDeque<Chunk<R>>,
    ready: VecDeque<Result<R, TaskError>>,
    in_flight: usize,
    started: Instant,
    deadline: Option<Instant>,
    finished: bool,
}

type ChunkHandle<R> = TaskHandle<Vec<Result<R, TaskError>>>;

/// A submitted chunk. `plan` has one entry per input: `Some(err)` for an
/// input that failed before it was sent, `None` for one sent.
struct Chunk<R> {
    /// The chunk's task; `None` if no input in it could be sent, an error if
    /// the pool refused it.
    handle: Result<Option<ChunkHandle<R>>, TaskError>,
    plan: Vec<Option<TaskError>>,
}

impl<'a, I, A, R> ProcessMap<'a, I, A, R>
where
    I: Iterator<Item = A>,
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(pool: &'a ProcessPool, f: RemoteFn<A, R>, inputs: I) -> Self {
        ProcessMap {
            pool,
            f,
            inputs: Some(inputs),
            chunksize: 1,
            window: VecDeque::new(),
            ready: VecDeque::new(),
            in_flight: pool.max_workers().saturating_mul(2),
            started: Instant::now(),
            deadline: None,
            finished: false,
        }
    }

    /// Sends inputs `n` at a time (at least 1; 0 is taken as 1). Python's
    /// `chunksize`.
    ///
    /// # Examples
    ///
    /// A chunk is one task: with a fresh worker for every task, ten inputs
    /// in chunks of five run in two workers, five in each.
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(1).max_tasks_per_child(1).build().unwrap();
    /// let pids: Vec<u32> = pool
    ///     .map(remote!(|_: u32| std::process::id()), 0..10)
    ///     .chunksize(5)
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// assert!(pids[..5].iter().all(|&pid| pid == pids[0]));
    /// assert!(pids[5..].iter().all(|&pid| pid == pids[5]));
    /// assert_ne!(pids[0], pids[5]);
    /// assert_eq!(pool.workers_started(), 2);
    /// # }
    /// ```
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = n.max(1);
        self
    }

    /// Gives up waiting `timeout` after the `map` call; see [the type's
    /// docs](Self#failures-timeout-dropping).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    /// use std::time::Duration;
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let stuck_on_zero = remote!(|x: u8| -> u8 {
    ///     if x == 0 {
    ///         loop { std::thread::park() }
    ///     }
    ///     x
    /// });
    /// let results: Vec<_> = pool
    ///     .map(stuck_on_zero, [0, 1, 2])
    ///     .timeout(Duration::from_millis(100))
    ///     .collect();
    /// // The first result never came: one timeout error, and the map ended (its
    /// // workers killed).
    /// assert_eq!(results.len(), 1);
    /// assert!(results[0].as_ref().unwrap_err().is_timeout());
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = self.started.checked_add(timeout);
        self
    }

    /// Gives up waiting at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// let doubled: Vec<u8> = pool
    ///     .map(remote!(|x: u8| 2 * x), [1, 2, 3])
    ///     .deadline(deadline)
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// assert_eq!(doubled, [2, 4, 6]); // all in time
    /// # }
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// How many chunks may be submitted and not yet yielded (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// // Endless input is fine: at most 4 chunks are ever submitted ahead.
    /// let squares: Vec<u64> = pool
    ///     .map(remote!(|x: u64| x * x), 0..)
    ///     .max_in_flight(4)
    ///     .take(5)
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// assert_eq!(squares, [0, 1, 4, 9, 16]);
    /// # }
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.in_flight = n.max(1);
        self
    }

    /// Submits chunks until the window is full or the inputs run out.
    fn fill(&mut self) {
        while self.window.len() < self.in_flight {
            let Some(inputs) = self.inputs.as_mut() else {
                return;
            };
            let mut plan = Vec::new();
            let mut args = Vec::new();
            for input in inputs.by_ref().take(self.chunksize) {
                match encode_arg(&input) {
                    Ok(bytes) => {
                        args.push(bytes);
                        plan.push(None);
                    }
                    Err(err) => plan.push(Some(err)),
                }
            }
            if plan.is_empty() {
                self.inputs = None;
                return;
            }
            let handle = if args.is_empty() {
                Ok(None)
            } else {
                let frame = request_frame(&Request::Chunk {
                    name: self.f.name().to_owned(),
                    args,
                });
                self.pool
                    .spawn(frame, decode_chunk::<R>, &TaskOptions::default(), true)
                    .map(Some)
                    .map_err(|reason| crate::error::SubmitError::new((), reason).to_task_error())
            };
            let refused = handle.is_err();
            self.window.push_back(Chunk { handle, plan });
            if refused {
                self.inputs = None;
                return;
            }
        }
    }

    fn cancel_all(&mut self) {
        for chunk in self.window.drain(..) {
            if let Ok(Some(handle)) = chunk.handle {
                handle.cancel();
            }
        }
        self.inputs = None;
    }

    /// Waits for the next chunk and queues its items in `ready`.
    fn resolve(&mut self, chunk: Chunk<R>) -> Option<TaskError> {
        let handle = match chunk.handle {
            Err(refused) => return Some(refused),
            Ok(handle) => handle,
        };
        let results = match handle {
            None => Ok(Vec::new()),
            Some(handle) => match self.deadline {
                None => handle.join(),
                Some(deadline) => match handle.join_deadline(deadline) {
                    Ok(values) => Ok(values),
                    Err(JoinTimeoutError::Failed(err)) => Err(err),
                    Err(JoinTimeoutError::Timeout(handle)) => {
                        handle.cancel();
                        return Some(TaskError::timeout());
                    }
                },
            },
        };
        let sent = chunk.plan.iter().filter(|p| p.is_none()).count();
        let mut results = match results {
            Ok(values) if values.len() == sent => values.into_iter(),
            Ok(values) => {
                let err = TaskError::serialization(format!(
                    "a worker answered a chunk of {sent} with {} results",
                    values.len()
                ));
                let errs: Vec<_> = (0..sent).map(|_| Err(err.duplicate())).collect();
                errs.into_iter()
            }
            Err(err) => {
                let errs: Vec<_> = (0..sent).map(|_| Err(err.duplicate())).collect();
                errs.into_iter()
            }
        };
        for slot in chunk.plan {
            let item = match slot {
                Some(err) => Err(err),
                None => results.next().expect("one result per input sent"),
            };
            self.ready.push_back(item);
        }
        None
    }
}

impl<I, A, R> Iterator for ProcessMap<'_, I, A, R>
where
    I: Iterator<Item = A>,
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                self.fill();
                return Some(item);
            }
            if self.finished {
                return None;
            }
            self.fill();
            let Some(chunk) = self.window.pop_front() else {
                self.finished = true;
                return None;
            };
            if let Some(err) = self.resolve(chunk) {
                // Refused or timed out: this is the last item.
                self.cancel_all();
                self.finished = true;
                return Some(Err(err));
            }
        }
    }
}

impl<I, A, R> FusedIterator for ProcessMap<'_, I, A, R>
where
    I: Iterator<Item = A>,
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
}

impl<I, A, R> Drop for ProcessMap<'_, I, A, R> {
    fn drop(&mut self) {
        for chunk in self.window.drain(..) {
            if let Ok(Some(handle)) = chunk.handle {
                handle.cancel();
            }
        }
    }
}

impl<I, A, R> fmt::Debug for ProcessMap<'_, I, A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessMap")
            .field("function", &self.f.name())
            .field("chunksize", &self.chunksize)
            .field("in_flight", &self.window.len())
            .field("max_in_flight", &self.in_flight)
            .field("deadline", &self.deadline)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
