//! What a pool has done and is doing, in numbers: [`PoolMetrics`], the
//! snapshot every executor returns from
//! [`Executor::metrics`](super::Executor::metrics), and [`Counters`], the
//! few atomic counters behind it that a backend bumps as its tasks end.

use std::fmt;

use crate::core::state::End;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};

/// A snapshot of a pool's tasks and workers: how many are queued and
/// running now, and how many have ended, and how. Returned by
/// [`ThreadPool::metrics`](crate::ThreadPool::metrics),
/// [`ProcessPool::metrics`](crate::ProcessPool::metrics) and
/// [`Executor::metrics`](super::Executor::metrics); cheap to take, from
/// any thread, at any time (a few atomic loads; the process pool also
/// takes its lock once).
///
/// # What counts where
///
/// Each task the pool accepts counts once in `submitted` and, once it
/// ends, once in exactly one of `completed`, `failed` and `cancelled`;
/// until then it is `queued` or `running`. A task the pool refuses
/// (shut down, full, broken) counts nowhere: its submit returned an error.
///
/// | The task | Counts in |
/// |---|---|
/// | accepted by a submit (or a map, or a scope) | `submitted` |
/// | waiting for a worker | `queued` |
/// | taken by a worker, not yet finished | `running` |
/// | returned a value (a process task: its worker sent one back, whatever decoding it then says) | `completed` |
/// | panicked; or timed out (a deadline, a time limit); or its worker process died (after its retries); or the pool broke or shut down under it; or (process pool) an argument or result that failed to encode | `failed` |
/// | cancelled: by its handle or token, queued or running, or by a shutdown that cancels | `cancelled` |
/// | a deadline already past at the submit, or (process pool) an argument that failed to encode | `submitted` and `failed` at once, never `queued` |
/// | retried after its worker process died | once, when it finally ends |
/// | a chunk of a map (`chunksize`) | one task |
/// | waiting for its start (`start_after`, `start_at`) or its dependencies (`after`) | nowhere until it is queued, then as any task; if cancelled, or failed by a dependency, before that: nowhere at all (a thread or process pool; a cluster counts it `submitted` and `queued` at once) |
///
/// A queued task that ends without running (cancelled, or past its
/// deadline) counts in `queued` until a worker takes it off the queue, and
/// is counted as cancelled or failed then. A task that ends while it runs
/// (cancelled with a token, past its time limit) counts in `running`
/// until its closure returns (a thread pool) or its worker process is
/// killed (a process pool): its worker is busy until then.
///
/// # Consistency
///
/// The fields are read one after the other, not at one instant: under
/// load a snapshot may be off by the tasks that moved meanwhile, but never
/// by more, and it never counts a task twice or sees it go backwards
/// (`completed + failed + cancelled` only grows). On a quiet pool (nothing
/// submitted or running meanwhile) it is exact:
/// `submitted == queued + running + completed + failed + cancelled`.
/// A task that returns a value or panics is counted before anyone can see
/// it ended: its done-callbacks, and a thread whose `join` (or `.await`,
/// or [`wait`](crate::wait())) has returned, find it in `completed` or
/// `failed`.
/// A thread-pool worker waiting for a task of its own pool may run that
/// task itself (help-while-waiting): the task then counts as `queued`, not
/// `running`, while it runs, and as ended (and nothing else) once it does,
/// while the waiting worker's own task counts as `running` throughout.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let ok = pool.submit(|| 1).unwrap();
/// let panics = pool.submit(|| panic!("boom")).unwrap();
/// assert!(ok.join().is_ok() && panics.join().is_err());
/// pool.shutdown(); // every task has ended: the counts are final
///
/// let m = pool.metrics();
/// assert_eq!((m.submitted, m.completed, m.failed, m.cancelled), (2, 1, 1, 0));
/// assert_eq!((m.queued, m.running), (0, 0));
/// assert_eq!(
///     m.to_string(),
///     "0 queued, 0 running, 0 workers; 2 submitted: 1 completed, 1 failed, 0 cancelled"
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[doc(alias = "stats")]
#[doc(alias = "statistics")]
pub struct PoolMetrics {
    /// Tasks waiting for a worker now.
    pub queued: usize,
    /// Tasks a worker is running now.
    pub running: usize,
    /// Workers (threads, processes) alive now: busy, idle, or (a thread
    /// pool's) lent or held in reserve; a cluster's: the workers of the
    /// client's build that announced themselves within the last 3 s (see
    /// [`worker_count`](crate::Executor::worker_count)).
    pub workers: usize,
    /// Tasks accepted since the pool was built.
    pub submitted: u64,
    /// Tasks that ended with a value.
    pub completed: u64,
    /// Tasks that ended with an error other than a cancel: a panic, a
    /// timeout, a dead worker process, a broken or shut-down pool.
    pub failed: u64,
    /// Tasks that ended cancelled.
    pub cancelled: u64,
}

impl PoolMetrics {
    /// Tasks that have ended, however: `completed + failed + cancelled`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// pool.submit(|| ()).unwrap().join().unwrap();
    /// pool.shutdown();
    /// assert_eq!(pool.metrics().ended(), 1);
    /// ```
    pub fn ended(&self) -> u64 {
        self.completed + self.failed + self.cancelled
    }
}

/// One line, for a log: `"3 queued, 2 running, 2 workers; 10 submitted: 4
/// completed, 1 failed, 0 cancelled"`.
impl fmt::Display for PoolMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} queued, {} running, {} workers; {} submitted: {} completed, {} failed, {} cancelled",
            self.queued,
            self.running,
            self.workers,
            self.submitted,
            self.completed,
            self.failed,
            self.cancelled
        )
    }
}

/// How a pool's tasks ended, counted as they end: a backend calls
/// [`count`](Self::count) once per task, where it learns the task's end.
///
/// ORDERING (throughout): Relaxed. The counters are statistics: nothing
/// is published through them, and no decision reads them. Each counts
/// exactly (an atomic add never loses one); a reader sees each one's
/// latest value, but not the three at one instant.
pub(crate) struct Counters {
    completed: AtomicUsize,
    failed: AtomicUsize,
    cancelled: AtomicUsize,
    /// Tasks ended at their submit, never queued (also counted in their
    /// end's counter): a thread pool adds them to its queue's count to get
    /// `submitted`, and leaves them out of `running`.
    unqueued: AtomicUsize,
}

/// The counters, read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    pub(crate) unqueued: u64,
}

impl Counts {
    /// Tasks that ended after they were queued.
    pub(crate) fn ended_queued(&self) -> u64 {
        (self.completed + self.failed + self.cancelled).saturating_sub(self.unqueued)
    }
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.read(), f)
    }
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            completed: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            unqueued: AtomicUsize::new(0),
        }
    }

    /// A task ended as `end` says.
    #[inline]
    pub(crate) fn count(&self, end: End) {
        let counter = match end {
            End::Value => &self.completed,
            End::Error => &self.failed,
            End::Cancelled => &self.cancelled,
        };
        // ORDERING: Relaxed, see the type's docs.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A task ended at its submit, before it was queued.
    pub(crate) fn count_unqueued(&self, end: End) {
        // ORDERING: Relaxed, see the type's docs.
        self.unqueued.fetch_add(1, Ordering::Relaxed);
        self.count(end);
    }

    /// Reads the counters.
    pub(crate) fn read(&self) -> Counts {
        // ORDERING: Relaxed, see the type's docs.
        Counts {
            completed: self.completed.load(Ordering::Relaxed) as u64,
            failed: self.failed.load(Ordering::Relaxed) as u64,
            cancelled: self.cancelled.load(Ordering::Relaxed) as u64,
            unqueued: self.unqueued.load(Ordering::Relaxed) as u64,
        }
    }

    /// The snapshot, from the counters (read *before* what the backend
    /// read of its queue, so that a task ended meanwhile is seen queued or
    /// running rather than nowhere) and the backend's live figures.
    pub(crate) fn snapshot(
        counts: Counts,
        submitted: u64,
        queued: usize,
        running: usize,
        workers: usize,
    ) -> PoolMetrics {
        PoolMetrics {
            queued,
            running,
            workers,
            submitted,
            completed: counts.completed,
            failed: counts.failed,
            cancelled: counts.cancelled,
        }
    }
}
