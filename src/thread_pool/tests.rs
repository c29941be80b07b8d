//! Unit tests that force an interleaving of the wake protocol at a
//! test-only point ([`Point`]), instead of looping and hoping to hit it.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::time::Duration;

use super::ThreadPool;
use super::inner::{Config, Inner, Point};
use crate::loom::sync::Arc;

/// Far longer than anything here takes, even on a loaded machine; a broken
/// pool fails the test instead of hanging it.
const LONG: Duration = Duration::from_secs(10);

/// A pool whose workers call `hook` at each [`Point`].
fn pool_with_hook(max_workers: usize, hook: impl Fn(Point) + Send + Sync + 'static) -> ThreadPool {
    let config = Config {
        max_workers,
        name_prefix: "hooked".to_owned(),
        stack_size: None,
        initializer: None,
        keep_alive: Duration::from_secs(10),
        capacity: None,
        max_lent: max_workers,
    };
    let mut inner = Inner::new(config);
    inner.hook = Some(Arc::new(hook));
    ThreadPool::from_inner(inner)
}

/// A gate the tasks wait on; dropping it lets them go.
fn gate() -> (mpsc::Sender<()>, StdArc<StdMutex<Receiver<()>>>) {
    let (tx, rx) = mpsc::channel();
    (tx, StdArc::new(StdMutex::new(rx)))
}

/// Issue 9, fault 1: `max_workers(3)` and three tasks that meet at a
/// barrier, and sometimes only two workers started: the third task stayed
/// queued forever.
///
/// A worker just started counts as "spinning" (sure to look at the queue),
/// and a submit that sees as many spinners as queued tasks wakes nobody.
/// The second worker took the second task off the queue *before* it stopped
/// counting as spinning; a third submit in that moment saw one queued task
/// and one spinner, started no worker, and the spinner ran the second task
/// instead. Here the second worker is held at exactly that moment
/// ([`Point::FirstTaskTaken`]) while the third task is submitted. Now a
/// worker stops counting as spinning before it looks at the queue, so the
/// third submit starts a third worker.
#[test]
fn lost_start() {
    let (at_point_tx, at_point_rx) = mpsc::channel();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let resume_rx = StdMutex::new(resume_rx);
    let first_tasks = std::sync::atomic::AtomicUsize::new(0);
    let pool = pool_with_hook(3, move |point| {
        if point == Point::FirstTaskTaken
            && first_tasks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1
        {
            // The second worker: hold it here until the third submit is done.
            at_point_tx.send(()).unwrap();
            let _ = resume_rx.lock().unwrap().recv_timeout(LONG);
        }
    });
    let (arrived_tx, arrived_rx) = mpsc::channel();
    let (release, waiting) = gate();
    let task = |n: u32| {
        let arrived = arrived_tx.clone();
        let waiting = waiting.clone();
        move || {
            arrived.send(n).unwrap();
            let _ = waiting.lock().unwrap().recv_timeout(LONG);
        }
    };
    let first = pool.submit(task(1)).unwrap();
    assert_eq!(arrived_rx.recv_timeout(LONG), Ok(1));
    let second = pool.submit(task(2)).unwrap();
    at_point_rx
        .recv_timeout(LONG)
        .expect("the second worker took task 2");
    let third = pool.submit(task(3)).unwrap();
    resume_tx.send(()).unwrap();
    let mut arrived = vec![
        arrived_rx
            .recv_timeout(LONG)
            .expect("a second task started"),
        arrived_rx
            .recv_timeout(LONG)
            .unwrap_or_else(|_| panic!("the third task never started: {pool:?}")),
    ];
    arrived.sort_unstable();
    assert_eq!(arrived, [2, 3]);
    assert_eq!(pool.worker_count(), 3);
    drop(release);
    for handle in [first, second, third] {
        handle.join().unwrap();
    }
}

/// Live pools never share a tag: a worker helps only with its own pool's
/// tasks (issue 12), and tags are reused only once a pool is gone.
#[test]
fn live_pools_have_distinct_tags() {
    let pools: Vec<ThreadPool> = (0..200).map(|_| ThreadPool::new()).collect();
    let mut tags: Vec<u16> = pools.iter().map(|p| p.inner().tag.get()).collect();
    assert!(tags.iter().all(|&t| t != 0));
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), pools.len());
}

/// A cancellable task that a worker took off the queue before a shutdown
/// that cancels running tasks, and that it starts only after that shutdown
/// looked for running tasks: it was in the worker's hands, not queued, so
/// it is stopped like a running one (it used to escape both the queue's
/// cancel and the running tasks' cancel, and run on with its token never
/// signalled: a task that waits for its token ran forever, and a waiting
/// shutdown with it).
#[test]
fn a_task_taken_before_a_shutdown_that_cancels_running_tasks_is_cancelled() {
    let (at_point_tx, at_point_rx) = mpsc::channel();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let resume_rx = StdMutex::new(resume_rx);
    let pool = pool_with_hook(1, move |point| {
        if point == Point::FirstTaskTaken {
            at_point_tx.send(()).unwrap();
            let _ = resume_rx.lock().unwrap().recv_timeout(LONG);
        }
    });
    let handle = pool
        .submit_cancellable(|token| {
            let until = std::time::Instant::now() + LONG;
            while !token.is_cancelled() && std::time::Instant::now() < until {
                std::thread::yield_now();
            }
            token.is_cancelled()
        })
        .unwrap();
    at_point_rx
        .recv_timeout(LONG)
        .expect("the worker took the task");
    let options = crate::ShutdownOptions::new()
        .wait(false)
        .cancel_running(true);
    pool.shutdown_with(options);
    resume_tx.send(()).unwrap();
    let err = handle.join().expect_err("the task was stopped");
    assert!(err.is_cancelled(), "{err}");
    assert!(pool.shutdown_with(crate::ShutdownOptions::new().timeout(LONG)));
}

/// The other side of the test above: a cancellable task still *queued* at a
/// shutdown that cancels only running tasks runs (queued tasks run unless
/// the shutdown cancels pending work), with its token unsignalled.
#[test]
fn a_task_queued_at_a_shutdown_that_cancels_only_running_tasks_still_runs() {
    let pool = pool_with_hook(1, |_| {});
    let (started_tx, started_rx) = mpsc::channel();
    let (release, waiting) = gate();
    let blocker = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = waiting.lock().unwrap().recv_timeout(LONG);
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    let queued = pool
        .submit_cancellable(|token| token.is_cancelled())
        .unwrap();
    let options = crate::ShutdownOptions::new()
        .wait(false)
        .cancel_running(true);
    pool.shutdown_with(options);
    drop(release);
    blocker.join().unwrap();
    assert!(!queued.join().unwrap(), "its token was not signalled");
    assert!(pool.shutdown_with(crate::ShutdownOptions::new().timeout(LONG)));
}
