//! Progress you can see: [`Progress`], a snapshot of how far a map, an
//! `as_completed` or a `wait` has got, and [`ProgressObserver`], what
//! receives it.
//!
//! Where the observer runs and what it costs: see [`ProgressObserver`].
//!
//! `src/progress/indicatif.rs` (feature `indicatif`) draws it with an
//! `indicatif::ProgressBar`.

#[cfg(feature = "indicatif")]
mod indicatif;
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) mod live;

pub use live::WorkerProgress;

use std::fmt;
use std::time::{Duration, Instant};

// The user's `Arc`, not the loom seam's: observers are the user's values.
use std::sync::Arc;

/// How far a map, an [`as_completed`](crate::as_completed) or a
/// [`wait`](crate::wait_with_progress) has got: what a
/// [`ProgressObserver`] receives.
///
/// `done` counts tasks (for a map: inputs) that have **finished**, with a
/// value, an error, or cancelled; `failed` counts those of them that ended
/// without a value. They advance as tasks finish, not only as an ordered map
/// yields them.
///
/// # Examples
///
/// ```
/// use futurepool::{Progress, ThreadPool};
/// use std::sync::{Arc, Mutex};
///
/// let pool = ThreadPool::new();
/// let last: Arc<Mutex<Option<Progress>>> = Arc::default();
/// let seen = last.clone();
/// let squares: Vec<_> = pool
///     .map(|x: u32| if x == 3 { panic!("three") } else { x * x }, 0..5)
///     .progress(move |p: &Progress| *seen.lock().unwrap() = Some(p.clone()))
///     .collect();
/// assert_eq!(squares.len(), 5);
/// let last = last.lock().unwrap().clone().unwrap();
/// assert_eq!((last.done(), last.failed(), last.total()), (5, 1, Some(5)));
/// assert_eq!(last.succeeded(), 4);
/// assert_eq!(last.eta(), Some(std::time::Duration::ZERO));
/// ```
#[derive(Clone, PartialEq)]
#[doc(alias = "tqdm")]
pub struct Progress {
    pub(crate) done: u64,
    pub(crate) failed: u64,
    pub(crate) total: Option<u64>,
    pub(crate) elapsed: Duration,
    pub(crate) running: Option<u64>,
    pub(crate) queued: Option<u64>,
    pub(crate) workers: Option<Arc<[WorkerProgress]>>,
}

impl Progress {
    /// Tasks (for a map: inputs) finished so far: with a value, an error,
    /// or cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool, as_completed};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let done = Arc::new(AtomicU64::new(0));
    /// let d = done.clone();
    /// let handles: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    /// let n = as_completed(handles)
    ///     .progress(move |p: &Progress| d.store(p.done(), Ordering::SeqCst))
    ///     .count();
    /// assert_eq!((n, done.load(Ordering::SeqCst)), (3, 3));
    /// ```
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Of the [`done`](Self::done) ones, those that ended without a value:
    /// an error (a panic, a timeout, a dead worker, ...) or cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ReturnWhen, ThreadPool, wait_with_progress};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let failed = Arc::new(AtomicU64::new(0));
    /// let f = failed.clone();
    /// let ok = pool.submit(|| ()).unwrap();
    /// let bad = pool.submit(|| panic!("no")).unwrap();
    /// wait_with_progress([ok, bad], ReturnWhen::AllCompleted, move |p: &Progress| {
    ///     f.store(p.failed(), Ordering::SeqCst)
    /// });
    /// assert_eq!(failed.load(Ordering::SeqCst), 1);
    /// ```
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Of the [`done`](Self::done) ones, those that ended with a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let ok = Arc::new(AtomicU64::new(0));
    /// let o = ok.clone();
    /// let _ = pool
    ///     .map(|x: u8| x, [1, 2])
    ///     .progress(move |p: &Progress| o.store(p.succeeded(), Ordering::SeqCst))
    ///     .count();
    /// assert_eq!(ok.load(Ordering::SeqCst), 2);
    /// ```
    pub fn succeeded(&self) -> u64 {
        self.done - self.failed
    }

    /// How many there are in all, if known: the number of tasks given to
    /// `as_completed` (growing as tasks are [added](crate::AsCompleted::add))
    /// or `wait`; for a map, the length of its input when the input knows it
    /// exactly (its `size_hint`), else `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::Mutex;
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let totals: Arc<Mutex<Vec<Option<u64>>>> = Arc::default();
    /// let (a, b) = (totals.clone(), totals.clone());
    /// let _ = pool.map(|x: u8| x, vec![1, 2, 3])
    ///     .progress(move |p: &Progress| a.lock().unwrap().push(p.total()))
    ///     .count();
    /// let _ = pool.map(|x: u8| x, (1..=3).filter(|x| x % 2 == 1)) // a filter's length isn't known
    ///     .progress(move |p: &Progress| b.lock().unwrap().push(p.total()))
    ///     .count();
    /// let totals = totals.lock().unwrap();
    /// assert_eq!(totals.first(), Some(&Some(3)));
    /// assert_eq!(totals.last(), Some(&None));
    /// ```
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Time since the map, `as_completed` or `wait` call.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let ok = Arc::new(AtomicBool::new(true));
    /// let o = ok.clone();
    /// let _ = pool
    ///     .map(|x: u8| x, [1])
    ///     .progress(move |p: &Progress| if p.elapsed() > std::time::Duration::from_secs(3600) { o.store(false, Ordering::SeqCst) })
    ///     .count();
    /// assert!(ok.load(Ordering::SeqCst));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Tasks done per second since the start (0 before any is done).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::Mutex;
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let rates: Arc<Mutex<Vec<f64>>> = Arc::default();
    /// let r = rates.clone();
    /// let _ = pool.map(|x: u8| x, [1, 2, 3])
    ///     .progress(move |p: &Progress| r.lock().unwrap().push(p.rate()))
    ///     .count();
    /// let rates = rates.lock().unwrap();
    /// assert_eq!(rates[0], 0.0); // the first report: nothing done yet
    /// assert!(*rates.last().unwrap() > 0.0);
    /// ```
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if self.done == 0 || secs <= 0.0 {
            0.0
        } else {
            self.done as f64 / secs
        }
    }

    /// Estimated time left at the [`rate`](Self::rate) so far: `None`
    /// while the total is unknown or nothing is done yet; zero once all
    /// are done.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::Mutex;
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let etas: Arc<Mutex<Vec<Option<std::time::Duration>>>> = Arc::default();
    /// let e = etas.clone();
    /// let _ = pool.map(|x: u8| x, [1, 2, 3])
    ///     .progress(move |p: &Progress| e.lock().unwrap().push(p.eta()))
    ///     .count();
    /// let etas = etas.lock().unwrap();
    /// assert_eq!(etas[0], None); // nothing done yet
    /// assert_eq!(*etas.last().unwrap(), Some(std::time::Duration::ZERO));
    /// ```
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        if self.done >= total {
            return Some(Duration::ZERO);
        }
        let rate = self.rate();
        if rate <= 0.0 {
            return None;
        }
        Duration::try_from_secs_f64((total - self.done) as f64 / rate).ok()
    }

    /// Tasks (for a map: inputs) running now, for a backend that says where
    /// its tasks are: a [cluster](crate::ClusterExecutor)'s (from its
    /// workers' notes: a task runs from the note that a worker started it
    /// until its reply). `None` from the thread and process pools, whose
    /// reports keep to what the handles say (a task counts once it ends).
    ///
    /// A cluster's counts are as fresh as the notes: a report is made when
    /// a worker starts a task, as when one ends. A task that was running
    /// when a worker died counts as running until a worker starts it again
    /// (after the ack wait) or the handle fails; one ended by its handle
    /// (cancelled, timed out by the client) leaves `running` or `queued` at
    /// the client's next sweep (within 250 ms).
    ///
    /// What it costs: nothing while no cluster client exists in the process
    /// (the report keeps `None`); with one, each report's tasks are looked
    /// up once in its client, and each note costs a lock per report
    /// watching. Without an observer, a note is one atomic load.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let known = Arc::new(AtomicBool::new(false));
    /// let k = known.clone();
    /// let _ = pool.map(|x: u8| x, [1])
    ///     .progress(move |p: &Progress| k.store(p.running().is_some() || p.queued().is_some(), Ordering::SeqCst))
    ///     .count();
    /// assert!(!known.load(Ordering::SeqCst));
    /// ```
    pub fn running(&self) -> Option<u64> {
        self.running
    }

    /// Tasks (for a map: inputs) submitted and waiting for a worker, for a
    /// backend that says; see [`running`](Self::running).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool, as_completed};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let known = Arc::new(AtomicBool::new(false));
    /// let k = known.clone();
    /// let h = pool.submit(|| 1).unwrap();
    /// let _ = as_completed([h]).progress(move |p: &Progress| k.store(p.queued().is_some(), Ordering::SeqCst)).count();
    /// assert!(!known.load(Ordering::SeqCst));
    /// ```
    pub fn queued(&self) -> Option<u64> {
        self.queued
    }

    /// Per worker, in the order first seen: what runs there now and what
    /// it has finished, of the tasks of this report, for a backend that
    /// says where its tasks are (see [`running`](Self::running)); empty
    /// from the thread and process pools. A task finished before the
    /// report began counting it (an `as_completed` over handles already
    /// done) counts in [`done`](Self::done) but on no worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let workers = Arc::new(AtomicUsize::new(usize::MAX));
    /// let w = workers.clone();
    /// let _ = pool.map(|x: u8| x, [1, 2])
    ///     .progress(move |p: &Progress| w.store(p.workers().len(), Ordering::SeqCst))
    ///     .count();
    /// assert_eq!(workers.load(Ordering::SeqCst), 0); // a thread pool doesn't say
    /// ```
    #[doc(alias = "scheduler_info")]
    pub fn workers(&self) -> &[WorkerProgress] {
        self.workers.as_deref().unwrap_or(&[])
    }
}

/// `Progress { done: 3, failed: 0, total: Some(10), elapsed: .., rate: .., eta: .. }`.
///
/// ```
/// use futurepool::{Progress, ThreadPool};
/// use std::sync::Mutex;
/// use std::sync::Arc;
///
/// let pool = ThreadPool::new();
/// let shown: Arc<Mutex<String>> = Arc::default();
/// let s = shown.clone();
/// let _ = pool.map(|x: u8| x, [1]).progress(move |p: &Progress| *s.lock().unwrap() = format!("{p:?}")).count();
/// assert!(shown.lock().unwrap().starts_with("Progress { done: 1, failed: 0, total: Some(1), "));
/// ```
impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Progress");
        s.field("done", &self.done)
            .field("failed", &self.failed)
            .field("total", &self.total)
            .field("elapsed", &self.elapsed)
            .field("rate", &self.rate())
            .field("eta", &self.eta());
        if let Some(running) = self.running {
            s.field("running", &running);
        }
        if let Some(queued) = self.queued {
            s.field("queued", &queued);
        }
        if let Some(workers) = &self.workers {
            s.field("workers", workers);
        }
        s.finish()
    }
}

/// What receives [`Progress`]: attach one with `.progress(observer)` on a
/// [`Map`](crate::Map), a [`FnMap`](crate::FnMap), an
/// [`AsCompleted`](crate::AsCompleted), or with
/// [`wait_with_progress`](crate::wait_with_progress).
///
/// Implemented for closures `Fn(&Progress) + Send + Sync`, for `Arc`s of
/// observers (one observer for several maps), and, with the feature
/// `indicatif`, for `indicatif::ProgressBar`.
///
/// [`update`](Self::update) is called as counts change (and once at the
/// start, with nothing done), and [`finish`](Self::finish) once at the end,
/// or when the map (the `as_completed`) is dropped before its end.
///
/// # Where it runs
///
/// On the **consuming thread**: the thread that iterates the map or the
/// `as_completed`, or that waits in `wait_with_progress` (for a stream, the
/// thread that polls it). It is called as tasks finish, also while that
/// thread waits: a thread blocked in `next` for the front item of an
/// ordered map wakes for every task that finishes behind it, counts it,
/// and reports. So the observer never runs on a pool worker or on one of
/// the crate's internal threads, and a panic in it is a panic of the
/// consuming thread: it comes out of `next` (or `wait_with_progress`), like
/// a panic in the loop's body, and loses no result (a caller that catches
/// it can go on iterating). It is not called again to finish while that
/// panic unwinds. Keep it quick all the same: the thread calling it is the
/// one collecting the results.
///
/// # What it costs
///
/// Nothing when none is attached: no watcher or callback is registered on
/// any task, nothing is allocated, and the map, `as_completed` and `wait`
/// take the paths they take without progress. With one attached: an
/// ordered map registers one watcher on each task in flight (an unordered
/// map, `as_completed` and `wait` have one already), and each change costs
/// a clock read and a call of the observer. For a cluster's tasks, each is
/// also looked up once in its client (where it is: queued, or on which
/// worker), and each of the workers' notes (a task started, ended) costs a
/// lock and a wake of the consuming thread; see [`Progress::running`].
///
/// # Examples
///
/// ```
/// use futurepool::{Progress, ProgressObserver, ThreadPool};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(Default)]
/// struct Counter {
///     updates: AtomicU64,
///     finished_at: AtomicU64,
/// }
///
/// impl ProgressObserver for Counter {
///     fn update(&self, _: &Progress) {
///         self.updates.fetch_add(1, Ordering::SeqCst);
///     }
///     fn finish(&self, progress: &Progress) {
///         self.finished_at.store(progress.done(), Ordering::SeqCst);
///     }
/// }
///
/// let pool = ThreadPool::new();
/// let counter = std::sync::Arc::new(Counter::default());
/// let n = pool.map(|x: u32| x, 0..10).progress(counter.clone()).count();
/// assert_eq!(n, 10);
/// assert_eq!(counter.finished_at.load(Ordering::SeqCst), 10);
/// assert!(counter.updates.load(Ordering::SeqCst) >= 1);
/// ```
pub trait ProgressObserver: Send + Sync {
    /// Progress changed (or the work started).
    fn update(&self, progress: &Progress);

    /// The work ended (or was dropped before its end): the last report. By
    /// default, an [`update`](Self::update).
    fn finish(&self, progress: &Progress) {
        self.update(progress);
    }
}

impl<F: Fn(&Progress) + Send + Sync> ProgressObserver for F {
    fn update(&self, progress: &Progress) {
        self(progress);
    }
}

impl<O: ProgressObserver + ?Sized> ProgressObserver for Arc<O> {
    fn update(&self, progress: &Progress) {
        (**self).update(progress);
    }

    fn finish(&self, progress: &Progress) {
        (**self).finish(progress);
    }
}

/// The counts behind a [`Progress`], kept by whatever consumes the tasks,
/// and the observer they are reported to.
pub(crate) struct Tracker {
    observer: Box<dyn ProgressObserver>,
    /// What the tasks' backend says of them (running, queued, per worker),
    /// if a backend that knows exists (see `live.rs`).
    live: Option<live::Board>,
    started: Instant,
    done: u64,
    failed: u64,
    total: Option<u64>,
    /// The counts changed since the last report (or nothing was reported yet).
    dirty: bool,
    finished: bool,
}

impl Tracker {
    pub(crate) fn new(
        observer: impl ProgressObserver + 'static,
        started: Instant,
        total: Option<u64>,
    ) -> Tracker {
        Tracker {
            observer: Box::new(observer),
            live: live::Board::new(),
            started,
            done: 0,
            failed: 0,
            total,
            dirty: true,
            finished: false,
        }
    }

    /// `n` more finished, `failed` of them without a value.
    pub(crate) fn record(&mut self, n: u64, failed: u64) {
        self.done += n;
        self.failed += failed;
        self.dirty |= n > 0 || failed > 0;
    }

    /// `n` more failed among those already counted done (a chunk's inputs
    /// whose failures are known only when it is split).
    pub(crate) fn record_failed(&mut self, failed: u64) {
        self.failed += failed;
        self.dirty |= failed > 0;
    }

    /// `n` more tasks in all (a growing `as_completed`).
    pub(crate) fn add_total(&mut self, n: u64) {
        if let Some(total) = &mut self.total {
            *total += n;
            self.dirty |= n > 0;
        }
        // Work that grows after its end has not ended.
        self.finished = false;
    }

    /// Counts the task numbered `task` (`units` of the work: for a map's
    /// chunk, its inputs) as running or queued, for a backend that says.
    pub(crate) fn watch(&mut self, task: u64, units: u64) {
        if let Some(live) = &self.live {
            self.dirty |= live.watch(task, units);
        }
    }

    /// Whether a backend's notes may come (a backend that sends them
    /// exists): then [`wake_through`](Self::wake_through) is worth a call.
    pub(crate) fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// A backend's note wakes the consumer through `notify` (pushing
    /// [`live::WAKE`], an index of no task) to report it.
    pub(crate) fn wake_through(&self, notify: &Arc<crate::core::watch::Notify>) {
        if let Some(live) = &self.live {
            live.wake_through(notify);
        }
    }

    fn snapshot(&self) -> Progress {
        let census = self.live.as_ref().and_then(live::Board::census);
        Progress {
            done: self.done,
            failed: self.failed,
            total: self.total,
            elapsed: self.started.elapsed(),
            running: census.as_ref().map(|c| c.running),
            queued: census.as_ref().map(|c| c.queued),
            workers: census.map(|c| c.workers),
        }
    }

    /// Reports to the observer if anything changed since the last report.
    pub(crate) fn flush(&mut self) {
        if let Some(live) = &self.live {
            self.dirty |= live.take_dirty();
        }
        if self.dirty {
            self.dirty = false;
            self.observer.update(&self.snapshot());
        }
    }

    /// The last report, once (again if the work grows after it).
    pub(crate) fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.dirty = false;
            self.observer.finish(&self.snapshot());
        }
    }
}

impl Drop for Tracker {
    /// Dropped before its end: the last report. Not while unwinding (from
    /// the observer's own panic, say): the observer isn't called again then.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.finish();
        }
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}
