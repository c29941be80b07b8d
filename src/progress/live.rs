//! The live seam: what a backend that knows more than a task's handle (where
//! each task runs, on which worker) tells a progress report. Backend-neutral:
//! a backend registers itself as a [`Source`] and sends [`started`] and
//! [`ended`] notes; a report's [`Board`] keeps, for the tasks it counts,
//! which are queued, which run where, and what each worker has finished.
//!
//! What it costs without an observer: a backend's note is one atomic load
//! ([`started`] and [`ended`] return at once while no board exists), and a
//! source is registered once per executor (not per task). The thread and
//! process pools send nothing: their reports keep `running`/`queued` `None`.
//!
//! Lock order: a backend sends its notes outside its own locks; a board
//! asks a source (under the board's lock) for the state of a task it starts
//! counting, so a note that races that question is never lost: either the
//! answer already says it, or the note, waiting for the board's lock,
//! follows it.
//
// Statics: the registry is process-wide (handles don't know their
// executor, and an `as_completed` may mix executors). `std::sync`, as
// `thread_pool/inner/tag.rs`'s tags: nothing here is model-checked, and it never
// runs user code.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::core::watch::Notify;

/// Where a task of a [`Source`] is, as the source knows it.
pub(crate) enum Place {
    /// Submitted, waiting for a worker.
    Queued,
    /// Running on the worker of this name.
    Running(Arc<str>),
}

/// A backend that knows where its tasks are (a cluster client).
pub(crate) trait Source: Send + Sync {
    /// Where the task of this id (its [`TaskId`](crate::TaskId)'s number)
    /// is; `None` if it isn't this source's, or has ended.
    fn place(&self, task: u64) -> Option<Place>;
}

/// The index a board pushes on a consumer's ready-queue to wake it for a
/// report: no task's (each consumer ignores an index it has no task for).
pub(crate) const WAKE: usize = usize::MAX;

#[derive(Default)]
struct Registry {
    sources: Vec<Weak<dyn Source>>,
    boards: Vec<Weak<Mutex<BoardState>>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    sources: Vec::new(),
    boards: Vec::new(),
});

/// How many boards are alive: the backends' notes look at it first.
static BOARDS: AtomicUsize = AtomicUsize::new(0);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock(state: &Mutex<BoardState>) -> MutexGuard<'_, BoardState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers a source for as long as it lives (once per executor).
pub(crate) fn register(source: Weak<dyn Source>) {
    let mut reg = registry();
    reg.sources.retain(|s| s.strong_count() > 0);
    reg.sources.push(source);
}

/// Whether any source is alive: whether a board may ever hear anything.
fn any_source() -> bool {
    registry().sources.iter().any(|s| s.strong_count() > 0)
}

/// The boards alive, if any (one atomic load when none).
fn boards() -> Vec<Arc<Mutex<BoardState>>> {
    // ORDERING: Relaxed: a board that starts counting a task asks its
    // source under the board's lock, so a note that misses a new board is
    // in the source's answer.
    if BOARDS.load(Ordering::Relaxed) == 0 {
        return Vec::new();
    }
    registry().boards.iter().filter_map(Weak::upgrade).collect()
}

/// A backend's note: `task` started on `worker`.
pub(crate) fn started(task: u64, worker: &str) {
    let boards = boards();
    if boards.is_empty() {
        return;
    }
    let worker: Arc<str> = Arc::from(worker);
    for board in boards {
        let mut st = lock(&board);
        let Some(place) = st.tasks.get_mut(&task) else {
            continue;
        };
        let units = place.units;
        // A redelivered task may start again, elsewhere.
        match place.worker.replace(worker.clone()) {
            None => st.queued -= units,
            Some(before) if before == worker => continue,
            Some(before) => st.worker(&before).running -= units,
        }
        st.worker(&worker).running += units;
        st.changed();
    }
}

/// A backend's note: `task` ended, `failed` of its units (for a map's
/// chunk: inputs; at most all) without a value. Sent before its handle
/// resolves, so a report made when it has resolved no longer counts it
/// running.
pub(crate) fn ended(task: u64, failed: u64) {
    for board in boards() {
        let mut st = lock(&board);
        if let Some(place) = st.tasks.remove(&task) {
            let units = place.units;
            match place.worker {
                None => st.queued -= units,
                Some(worker) => {
                    let w = st.worker(&worker);
                    w.running -= units;
                    w.done += units;
                    w.failed += failed.min(units);
                }
            }
            st.changed();
        }
    }
}

/// One worker's share of the tasks of a progress report: see
/// [`Progress::workers`](crate::Progress::workers).
///
/// # Examples
///
/// ```no_run
/// use futurepool::{ClusterExecutor, Executor, Progress, remote};
/// use std::sync::{Arc, Mutex};
///
/// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").build()?;
/// let last: Arc<Mutex<Option<Progress>>> = Arc::default();
/// let seen = last.clone();
/// let n = pool
///     .map_fn(remote!(|x: u32| x * 2), 0..8)
///     .progress(move |p: &Progress| *seen.lock().unwrap() = Some(p.clone()))
///     .count();
/// let last = last.lock().unwrap().clone().unwrap();
/// let done: u64 = last.workers().iter().map(|w| w.done()).sum();
/// assert_eq!((n as u64, done), (8, 8)); // every input, on some worker
/// # Ok::<(), futurepool::BuildError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerProgress {
    name: Arc<str>,
    running: u64,
    done: u64,
    failed: u64,
}

impl WorkerProgress {
    /// The worker's name (a cluster worker's
    /// [`name`](crate::cluster::Worker::name)).
    ///
    /// # Examples
    ///
    /// See [`WorkerProgress`].
    ///
    /// ```no_run
    /// # let p: futurepool::Progress = todo!();
    /// assert!(p.workers().iter().all(|w| !w.name().is_empty()));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tasks (for a map: inputs) running on it now.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let p: futurepool::Progress = todo!();
    /// let running: u64 = p.workers().iter().map(|w| w.running()).sum();
    /// assert_eq!(Some(running), p.running());
    /// ```
    pub fn running(&self) -> u64 {
        self.running
    }

    /// Tasks (for a map: inputs) it has finished, with a value or not.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let p: futurepool::Progress = todo!();
    /// assert!(p.workers().iter().map(|w| w.done()).sum::<u64>() <= p.done());
    /// ```
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Of its [`done`](Self::done) ones, those that ended without a value.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let p: futurepool::Progress = todo!();
    /// assert!(p.workers().iter().all(|w| w.failed() <= w.done()));
    /// ```
    pub fn failed(&self) -> u64 {
        self.failed
    }
}

/// The tasks a board counts, and the sums.
#[derive(Default)]
struct BoardState {
    /// The tasks of a source that the report counts and that haven't ended.
    tasks: HashMap<u64, Counted>,
    queued: u64,
    /// Running, done and failed per worker, in the order first seen.
    workers: Vec<WorkerProgress>,
    /// Whether any counted task is a source's.
    fed: bool,
    dirty: bool,
    wake: Option<Arc<Notify>>,
}

struct Counted {
    units: u64,
    worker: Option<Arc<str>>,
}

impl BoardState {
    fn worker(&mut self, name: &Arc<str>) -> &mut WorkerProgress {
        let at = match self.workers.iter().position(|w| *w.name == **name) {
            Some(at) => at,
            None => {
                self.workers.push(WorkerProgress {
                    name: name.clone(),
                    running: 0,
                    done: 0,
                    failed: 0,
                });
                self.workers.len() - 1
            }
        };
        &mut self.workers[at]
    }

    fn changed(&mut self) {
        self.dirty = true;
        if let Some(wake) = &self.wake {
            wake.push(WAKE);
        }
    }
}

/// What a progress report knows from its tasks' sources; made by the
/// report's tracker when a source exists.
pub(crate) struct Board {
    state: Arc<Mutex<BoardState>>,
}

/// What a board adds to a report: running, queued, per worker.
pub(crate) struct Census {
    pub(crate) running: u64,
    pub(crate) queued: u64,
    pub(crate) workers: Arc<[WorkerProgress]>,
}

impl Board {
    /// A board, if any source is alive to feed it.
    pub(crate) fn new() -> Option<Board> {
        if !any_source() {
            return None;
        }
        let state = Arc::new(Mutex::new(BoardState::default()));
        let mut reg = registry();
        reg.boards.retain(|b| b.strong_count() > 0);
        reg.boards.push(Arc::downgrade(&state));
        // ORDERING: Relaxed: see `boards`.
        BOARDS.fetch_add(1, Ordering::Relaxed);
        Some(Board { state })
    }

    /// Counts `task` (of `units` units) from now on, if a source knows it;
    /// whether one did.
    pub(crate) fn watch(&self, task: u64, units: u64) -> bool {
        let sources: Vec<Arc<dyn Source>> = registry()
            .sources
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut st = lock(&self.state);
        if st.tasks.contains_key(&task) {
            return false;
        }
        // Asked under the board's lock: see the module docs.
        let Some(place) = sources.iter().find_map(|s| s.place(task)) else {
            return false;
        };
        st.fed = true;
        let worker = match place {
            Place::Queued => {
                st.queued += units;
                None
            }
            Place::Running(worker) => {
                st.worker(&worker).running += units;
                Some(worker)
            }
        };
        st.tasks.insert(task, Counted { units, worker });
        st.dirty = true;
        true
    }

    /// Wakes the consumer through `notify` (pushing [`WAKE`]) when a note
    /// changes the counts.
    pub(crate) fn wake_through(&self, notify: &Arc<Notify>) {
        lock(&self.state).wake = Some(notify.clone());
    }

    /// Whether a note changed the counts since the last call.
    pub(crate) fn take_dirty(&self) -> bool {
        std::mem::take(&mut lock(&self.state).dirty)
    }

    /// The counts, if any counted task is a source's.
    pub(crate) fn census(&self) -> Option<Census> {
        let st = lock(&self.state);
        st.fed.then(|| Census {
            running: st.workers.iter().map(|w| w.running).sum(),
            queued: st.queued,
            workers: st.workers.as_slice().into(),
        })
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        // ORDERING: Relaxed: see `boards`.
        BOARDS.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that knows the tasks numbered from `FAKE` (far above any
    /// real task's number): queued, or running on a worker.
    struct Fake(Mutex<HashMap<u64, Option<&'static str>>>);

    const FAKE: u64 = u64::MAX - 1_000;

    impl Source for Fake {
        fn place(&self, task: u64) -> Option<Place> {
            let tasks = self.0.lock().unwrap();
            Some(match tasks.get(&task)? {
                None => Place::Queued,
                Some(worker) => Place::Running(Arc::from(*worker)),
            })
        }
    }

    /// A worker's name, running, done, failed.
    type Share = (String, u64, u64, u64);

    fn counts(board: &Board) -> (u64, u64, Vec<Share>) {
        let c = board.census().expect("fed");
        let workers = c
            .workers
            .iter()
            .map(|w| (w.name().to_owned(), w.running, w.done, w.failed))
            .collect();
        (c.running, c.queued, workers)
    }

    #[test]
    fn a_board_counts_queued_running_and_each_workers_share() {
        let fake = Arc::new(Fake(Mutex::new(HashMap::from([
            (FAKE, None),
            (FAKE + 1, Some("w1")),
            (FAKE + 2, None),
        ]))));
        let source: Arc<dyn Source> = fake.clone();
        register(Arc::downgrade(&source));
        let board = Board::new().expect("a source is alive");
        assert!(board.census().is_none()); // nothing counted yet
        assert!(board.watch(FAKE, 1));
        assert!(board.watch(FAKE + 1, 3)); // a chunk of 3, running already
        assert!(board.watch(FAKE + 2, 1));
        assert!(!board.watch(FAKE + 50, 1)); // no source knows it
        assert!(board.take_dirty());
        assert!(!board.take_dirty());
        let w = |n: &str, r, d, f| (n.to_owned(), r, d, f);
        assert_eq!(counts(&board), (3, 2, vec![w("w1", 3, 0, 0)]));

        let wake = Arc::new(Notify::default());
        board.wake_through(&wake);
        started(FAKE, "w2");
        assert_eq!(wake.try_pop(), Some(WAKE));
        assert!(board.take_dirty());
        assert_eq!(
            counts(&board),
            (4, 1, vec![w("w1", 3, 0, 0), w("w2", 1, 0, 0)])
        );
        // Redelivered: it starts again elsewhere.
        started(FAKE, "w1");
        assert_eq!(
            counts(&board),
            (4, 1, vec![w("w1", 4, 0, 0), w("w2", 0, 0, 0)])
        );
        started(FAKE, "w1"); // a duplicate note changes nothing
        assert_eq!(counts(&board).0, 4);
        ended(FAKE + 1, 1); // one of the chunk's 3 failed
        ended(FAKE, u64::MAX); // all failed
        ended(FAKE + 2, 0); // ended unstarted (cancelled)
        ended(FAKE + 2, 0); // again: nothing
        assert_eq!(
            counts(&board),
            (0, 0, vec![w("w1", 0, 4, 2), w("w2", 0, 0, 0)])
        );
        drop(source);
        drop(fake);
    }
}
