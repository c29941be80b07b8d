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
