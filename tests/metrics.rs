//! Pool metrics: what counts where after a known mix of outcomes (a value,
//! a panic, a cancel while queued, a cancel while running, a time limit, a
//! deadline already past, a shutdown that cancels), on both pools; queued
//! and running seen while a task is held by a channel; workers.

#![allow(missing_docs)]

#[cfg(all(feature = "process", target_os = "linux"))]
futurepool::process_init_before_main!();

#[cfg(all(feature = "process", target_os = "linux"))]
mod common {
    pub mod process;
}

use std::sync::mpsc;
use std::time::{Duration, Instant};

use futurepool::{PoolMetrics, ShutdownOptions, ThreadPool};

/// A one-worker thread pool whose worker is held by a task until `release`
/// is dropped or sent to; returns once the blocker runs.
fn held_pool() -> (ThreadPool, mpsc::Sender<()>, futurepool::TaskHandle<()>) {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let blocker = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv();
        })
        .unwrap();
    started.recv().unwrap();
    (pool, release, blocker)
}

fn assert_balanced(m: &PoolMetrics) {
    assert_eq!(
        m.submitted,
        m.queued as u64 + m.running as u64 + m.ended(),
        "{m}"
    );
}

#[test]
fn a_fresh_pool_counts_nothing() {
    let m = ThreadPool::new().metrics();
    assert_eq!(m, PoolMetrics::default());
    assert_eq!(
        m.to_string(),
        "0 queued, 0 running, 0 workers; 0 submitted: 0 completed, 0 failed, 0 cancelled"
    );
}

#[test]
fn thread_pool_queued_running_and_workers_while_a_task_is_held() {
    let (pool, release, blocker) = held_pool();
    let queued: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    let m = pool.metrics();
    assert_eq!((m.running, m.queued, m.workers), (1, 3, 1), "{m}");
    assert_eq!((m.submitted, m.ended()), (4, 0), "{m}");
    assert_balanced(&m);

    release.send(()).unwrap();
    blocker.join().unwrap();
    for h in queued {
        h.join().unwrap();
    }
    pool.shutdown();
    let m = pool.metrics();
    assert_eq!((m.running, m.queued, m.workers), (0, 0, 0), "{m}");
    assert_eq!((m.submitted, m.completed), (4, 4), "{m}");
    assert_balanced(&m);
}

#[test]
fn thread_pool_counts_each_outcome_once() {
    let (pool, release, blocker) = held_pool();
    // Cancelled while queued: counted once a worker takes it off the queue.
    let cancelled = pool.submit(|| 1).unwrap();
    assert!(cancelled.cancel());
    let m = pool.metrics();
    assert_eq!((m.queued, m.cancelled), (1, 0), "{m}");
    // Past its deadline at the submit: failed at once, never queued.
    let past = pool
        .task()
        .deadline(Instant::now() - Duration::from_secs(1))
        .submit(|| 2)
        .unwrap();
    assert!(past.join().unwrap_err().is_timeout());
    let m = pool.metrics();
    assert_eq!((m.queued, m.failed, m.submitted), (1, 1, 3), "{m}");
    assert_balanced(&m);
    release.send(()).unwrap();
    blocker.join().unwrap();
    assert!(cancelled.join().unwrap_err().is_cancelled());

    // A value, a panic, a time limit, a cancel while running.
    assert_eq!(pool.submit(|| 3).unwrap().join().unwrap(), 3);
    assert!(
        pool.submit(|| panic!("boom"))
            .unwrap()
            .join()
            .unwrap_err()
            .is_panic()
    );
    let limited = pool
        .task()
        .time_limit(Duration::from_millis(1))
        .submit_cancellable(|token| {
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
        })
        .unwrap();
    assert!(limited.join().unwrap_err().is_timeout());
    let (started_tx, started) = mpsc::channel();
    let running = pool
        .submit_cancellable(move |token| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
        })
        .unwrap();
    started.recv().unwrap();
    assert!(running.cancel());
    assert!(running.join().unwrap_err().is_cancelled());

    pool.shutdown(); // every closure has returned: the counts are final
    let m = pool.metrics();
    // completed: the blocker, 3; failed: past, panic, time limit;
    // cancelled: queued, running.
    assert_eq!(
        (m.submitted, m.completed, m.failed, m.cancelled),
        (7, 2, 3, 2),
        "{m}"
    );
    assert_eq!((m.queued, m.running), (0, 0), "{m}");
    assert_balanced(&m);
}

#[test]
fn thread_pool_shutdown_that_cancels_pending_counts_them_cancelled() {
    let (pool, release, blocker) = held_pool();
    let pending: Vec<_> = (0..5).map(|i| pool.submit(move || i).unwrap()).collect();
    pool.shutdown_with(ShutdownOptions::new().cancel_pending(true).wait(false));
    let m = pool.metrics();
    assert_eq!((m.queued, m.running, m.cancelled), (0, 1, 5), "{m}");
    assert_balanced(&m);
    release.send(()).unwrap();
    blocker.join().unwrap();
    for h in pending {
        assert!(h.join().unwrap_err().is_cancelled());
    }
    pool.shutdown();
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.cancelled), (6, 1, 5), "{m}");
}

#[test]
fn thread_pool_map_counts_each_item() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let sum: u64 = pool.map(|x: u64| x, 1..=20).map(Result::unwrap).sum();
    assert_eq!(sum, 210);
    pool.shutdown();
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed), (20, 20), "{m}");
}

#[test]
fn metrics_are_readable_from_another_thread_while_tasks_run() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let reader = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let mut last = 0;
            for _ in 0..2_000 {
                let m = pool.metrics();
                assert!(m.ended() >= last, "ended went backwards: {m}");
                last = m.ended();
                // Never more ended than submitted, nor more running than workers can run.
                assert!(m.ended() <= m.submitted, "{m}");
            }
        })
    };
    let handles: Vec<_> = (0..2_000)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    reader.join().unwrap();
    pool.shutdown();
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed), (2_000, 2_000), "{m}");
}

/// A task whose handle was dropped ends with a value nobody wants, which
/// its worker drops; a drop that panics is caught there. The task is still
/// counted, once: it used to stay "running" forever (the panic unwound past
/// the worker's count).
#[test]
fn a_task_whose_unwanted_value_panics_when_dropped_is_still_counted() {
    struct PanicsWhenDropped;
    impl Drop for PanicsWhenDropped {
        fn drop(&mut self) {
            panic!("a drop that panics");
        }
    }
    let (pool, release, blocker) = held_pool();
    let unwanted = pool.submit(|| PanicsWhenDropped).unwrap();
    drop(unwanted); // queued behind the blocker: nobody wants its value
    release.send(()).unwrap();
    blocker.join().unwrap();
    assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1); // the worker goes on
    pool.shutdown();
    let m = pool.metrics();
    assert_eq!((m.queued, m.running), (0, 0), "{m}");
    assert_eq!((m.submitted, m.completed), (3, 3), "{m}");
    assert_balanced(&m);
}

#[test]
fn a_task_a_waiting_worker_runs_itself_counts_once() {
    // One worker: the outer task waits for the inner one, which nobody else
    // can run, so the waiting worker runs it itself (help-while-waiting),
    // and its queue entry, found started, counts nothing.
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let inner_pool = pool.clone();
    let outer = pool
        .submit(move || inner_pool.submit(|| 2).unwrap().join().unwrap() + 1)
        .unwrap();
    assert_eq!(outer.join().unwrap(), 3);
    assert_eq!(
        pool.workers_started(),
        1,
        "the waiting worker ran the inner task"
    );
    pool.shutdown();
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed), (2, 2), "{m}");
    assert_eq!((m.queued, m.running), (0, 0), "{m}");
    assert_balanced(&m);
}

#[test]
fn a_task_a_waiting_worker_ran_itself_counts_as_ended_not_queued() {
    // One worker: the outer task waits for the inner one, which it runs
    // itself. While the inner one runs it counts as queued (as its queue
    // entry is); once it ended, it counts as ended only, and the outer one,
    // still running, as running, though the inner one's queue entry is
    // left for the worker to find later.
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let inner_pool = pool.clone();
    let (inner_started_tx, inner_started) = mpsc::channel();
    let (inner_go, inner_go_rx) = mpsc::channel::<()>();
    let (joined_tx, joined) = mpsc::channel();
    let (outer_go, outer_go_rx) = mpsc::channel::<()>();
    let outer = pool
        .submit(move || {
            let inner = inner_pool
                .submit(move || {
                    inner_started_tx.send(()).unwrap();
                    inner_go_rx.recv().unwrap();
                    2
                })
                .unwrap();
            let value = inner.join().unwrap();
            joined_tx.send(()).unwrap();
            outer_go_rx.recv().unwrap();
            value + 1
        })
        .unwrap();
    inner_started.recv().unwrap();
    assert_eq!(
        pool.workers_started(),
        1,
        "the waiting worker runs the inner task"
    );
    let m = pool.metrics();
    assert_eq!((m.queued, m.running, m.completed), (1, 1, 0), "{m}");
    assert_balanced(&m);
    inner_go.send(()).unwrap();
    joined.recv().unwrap();
    let m = pool.metrics();
    assert_eq!((m.queued, m.running, m.completed), (0, 1, 1), "{m}");
    assert_balanced(&m);
    outer_go.send(()).unwrap();
    assert_eq!(outer.join().unwrap(), 3);
    pool.shutdown();
    let m = pool.metrics();
    assert_eq!((m.queued, m.running, m.completed), (0, 0, 2), "{m}");
    assert_balanced(&m);
}

/// A task is counted before anyone can see it ended: its done-callbacks
/// (which run before a join returns) already find it in `completed`, and
/// so does a thread that has joined it.
#[test]
fn a_task_is_counted_before_it_is_seen_ended() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (release, wait) = mpsc::channel::<()>();
    let h = pool.submit(move || wait.recv().unwrap()).unwrap();
    let (tx, seen) = mpsc::channel();
    let watcher = pool.clone();
    // Added while the task is held: it runs on the worker as the task ends.
    h.add_done_callback(move |_| tx.send(watcher.metrics().completed).unwrap());
    release.send(()).unwrap();
    h.join().unwrap();
    assert_eq!(seen.recv().unwrap(), 1, "the callback saw it counted");
    for i in 0..2_000u64 {
        assert_eq!(pool.submit(move || i).unwrap().join().unwrap(), i);
        let m = pool.metrics();
        assert_eq!(m.completed, i + 2, "joined, so counted: {m}");
    }
}

fn fib(pool: &ThreadPool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (p1, p2) = (pool.clone(), pool.clone());
    let a = pool.submit(move || fib(&p1, n - 1)).unwrap();
    let b = pool.submit(move || fib(&p2, n - 2)).unwrap();
    a.join().unwrap() + b.join().unwrap()
}

#[test]
fn tasks_waiters_ran_themselves_leave_no_phantom_queued_tasks() {
    // Recursive fan-out with no place lent: the waiting workers run most
    // tasks themselves, each leaving a queue entry behind for a worker to
    // find later. Those entries are no tasks: every snapshot balances
    // (they used to count as queued, with the ended tasks, thousands of
    // them on one worker), and the last one is exact.
    for workers in [1, 2, 3] {
        let pool = ThreadPool::builder()
            .max_workers(workers)
            .max_lent(0)
            .build()
            .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (watched, stopped) = (pool.clone(), stop.clone());
        let reader = std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                assert_balanced(&watched.metrics());
            }
        });
        let root = pool.clone();
        let sum = pool.submit(move || fib(&root, 16)).unwrap().join();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        reader.join().unwrap();
        assert_eq!(sum.unwrap(), 987);
        pool.shutdown();
        let m = pool.metrics();
        assert_eq!((m.queued, m.running), (0, 0), "{m}");
        assert_eq!(m.submitted, m.completed, "{m}");
    }
}

#[cfg(all(feature = "process", target_os = "linux"))]
mod process {
    use super::assert_balanced;
    use super::common::process::{Started, notify};
    use futurepool::{Executor, ProcessPool, ShutdownOptions, remote};
    use std::time::{Duration, Instant};

    fn block_forever(path: String) -> u32 {
        notify(&path);
        loop {
            std::thread::park();
        }
    }

    fn double(x: u32) -> u32 {
        x * 2
    }

    fn boom(_: u32) -> u32 {
        panic!("boom")
    }

    #[test]
    fn process_pool_counts_each_outcome_once() {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        assert_eq!(
            pool.submit_fn(remote!(double), 2).unwrap().join().unwrap(),
            4
        );
        assert!(
            pool.submit_fn(remote!(boom), 0)
                .unwrap()
                .join()
                .unwrap_err()
                .is_panic()
        );

        // Held: one running, one queued then cancelled, one time-limited.
        let started = Started::new();
        let blocker = pool
            .submit_fn(remote!(block_forever), started.path())
            .unwrap();
        started.wait();
        let queued = pool.submit_fn(remote!(double), 1).unwrap();
        let m = pool.metrics();
        assert_eq!((m.running, m.queued, m.workers), (1, 1, 1), "{m}");
        assert_balanced(&m);
        assert!(queued.cancel());
        assert!(blocker.cancel()); // kills the worker
        assert!(blocker.join().unwrap_err().is_cancelled());

        let past = pool
            .task()
            .deadline(Instant::now() - Duration::from_secs(1))
            .submit_fn(remote!(double), 1)
            .unwrap();
        assert!(past.join().unwrap_err().is_timeout());
        let started = Started::new();
        let limited = pool
            .task()
            .time_limit(Duration::from_millis(200))
            .submit_fn(remote!(block_forever), started.path())
            .unwrap();
        started.wait();
        assert!(limited.join().unwrap_err().is_timeout());

        pool.shutdown();
        let m = pool.metrics();
        // completed: double; failed: boom, past, limited; cancelled:
        // blocker, queued.
        assert_eq!(
            (m.submitted, m.completed, m.failed, m.cancelled),
            (6, 1, 3, 2),
            "{m}"
        );
        assert_eq!((m.queued, m.running, m.workers), (0, 0, 0), "{m}");
        assert_balanced(&m);
    }

    /// Returns once `path` exists.
    fn wait_for_file(path: String) -> u32 {
        while std::fs::metadata(&path).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
        7
    }

    /// As on the thread pool: counted before its callbacks run and before
    /// a join returns.
    #[test]
    fn a_process_task_is_counted_before_it_is_seen_ended() {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let gate = std::env::temp_dir().join(format!(
            "futurepool-metrics-gate-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&gate);
        let h = pool
            .submit_fn(remote!(wait_for_file), gate.to_str().unwrap().to_owned())
            .unwrap();
        let (tx, seen) = std::sync::mpsc::channel();
        let watcher = pool.clone();
        h.add_done_callback(move |_| tx.send(watcher.metrics().completed).unwrap());
        std::fs::write(&gate, b"go").unwrap();
        assert_eq!(h.join().unwrap(), 7);
        let _ = std::fs::remove_file(&gate);
        assert_eq!(seen.recv().unwrap(), 1, "the callback saw it counted");
        for i in 0..300u32 {
            assert_eq!(
                pool.submit_fn(remote!(double), i).unwrap().join().unwrap(),
                i * 2
            );
            let m = pool.metrics();
            assert_eq!(m.completed, u64::from(i) + 2, "joined, so counted: {m}");
        }
    }

    /// Dies (aborts its worker) the first time it is called with `marker`,
    /// and returns 1 the next.
    fn die_once(marker: String) -> u32 {
        if std::fs::metadata(&marker).is_err() {
            std::fs::write(&marker, b"died").unwrap();
            std::process::abort();
        }
        1
    }

    #[test]
    fn process_pool_counts_a_retried_task_once() {
        let marker =
            std::env::temp_dir().join(format!("futurepool-metrics-retry-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let marker_arg = marker.to_str().unwrap().to_owned();
        let h = pool
            .task()
            .retries(1)
            .submit_fn(remote!(die_once), marker_arg)
            .unwrap();
        assert_eq!(h.join().unwrap(), 1);
        let _ = std::fs::remove_file(&marker);
        // Without retries, a worker's death fails the task.
        let marker_arg = marker.to_str().unwrap().to_owned();
        let died = pool.submit_fn(remote!(die_once), marker_arg).unwrap();
        assert!(died.join().unwrap_err().is_worker_died());
        let _ = std::fs::remove_file(&marker);
        pool.shutdown();
        let m = pool.metrics();
        assert_eq!((m.submitted, m.completed, m.failed), (2, 1, 1), "{m}");
        assert_balanced(&m);
    }

    #[test]
    fn process_pool_shutdown_that_cancels_pending_counts_them_cancelled() {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let started = Started::new();
        let blocker = pool
            .submit_fn(remote!(block_forever), started.path())
            .unwrap();
        started.wait();
        let pending: Vec<_> = (0..3)
            .map(|i| pool.submit_fn(remote!(double), i).unwrap())
            .collect();
        pool.shutdown_with(
            ShutdownOptions::new()
                .cancel_pending(true)
                .cancel_running(true),
        );
        assert!(blocker.join().unwrap_err().is_cancelled());
        for h in pending {
            assert!(h.join().unwrap_err().is_cancelled());
        }
        let m = pool.metrics();
        assert_eq!(
            (m.submitted, m.cancelled, m.queued, m.running),
            (4, 4, 0, 0),
            "{m}"
        );
        // Through the trait, too.
        assert_eq!(Executor::metrics(&pool), m);
    }
}
