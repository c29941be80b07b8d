//! Submitting tasks: values come back, refused closures come back, and a
//! task's closure and values are dropped as soon as nobody needs them.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::{DropCounter, Gate, LONG, busy_pool};
use futurepool::ThreadPool;

// CPython: executor.py ExecutorTest.test_submit
#[test]
fn submit_returns_the_value() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let handle = pool.submit(|| 2_u32.pow(8)).unwrap();
    assert_eq!(handle.join().unwrap(), 256);
}

// CPython: executor.py ExecutorTest.test_submit_keyword. Python forwards
// positional and keyword arguments; a Rust closure captures them instead, so
// only "the arguments reach the task" is left to test.
#[test]
fn captured_arguments_reach_the_task() {
    let pool = ThreadPool::new();
    let (x, y) = (2, 8);
    let owned = String::from("moved in");
    let handle = pool.submit(move || (x * y, owned)).unwrap();
    assert_eq!(handle.join().unwrap(), (16, "moved in".to_owned()));
}

#[test]
fn submit_does_not_wait_for_the_task() {
    let (pool, blocker) = busy_pool();
    // The only worker is busy: these are queued, and submit returns at once.
    let handles: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    assert_eq!(pool.queued(), 3);
    assert!(handles.iter().all(|h| !h.is_done()));
    blocker.release().join().unwrap();
    let values: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, [0, 1, 2]);
}

#[test]
fn submit_from_many_threads_runs_each_task_once() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let sum: usize = std::thread::scope(|s| {
        let submitters: Vec<_> = (0..4)
            .map(|t| {
                let (pool, runs) = (&pool, &runs);
                s.spawn(move || {
                    let handles: Vec<_> = (0..50)
                        .map(|i| {
                            let runs = runs.clone();
                            pool.submit(move || {
                                runs.fetch_add(1, Ordering::SeqCst);
                                t * 50 + i
                            })
                            .unwrap()
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap())
                        .sum::<usize>()
                })
            })
            .collect();
        submitters.into_iter().map(|t| t.join().unwrap()).sum()
    });
    assert_eq!(runs.load(Ordering::SeqCst), 200);
    assert_eq!(sum, (0..200).sum::<usize>());
}

#[test]
fn a_task_can_submit_to_its_own_pool() {
    let pool = Arc::new(ThreadPool::builder().max_workers(2).build().unwrap());
    let inner_pool = pool.clone();
    let outer = pool
        .submit(move || inner_pool.submit(|| 5).unwrap().join().unwrap() + 1)
        .unwrap();
    assert_eq!(outer.join().unwrap(), 6);
}

#[test]
fn try_submit_on_an_unbounded_queue_never_refuses() {
    let (pool, blocker) = busy_pool();
    let handles: Vec<_> = (0..100)
        .map(|i| pool.try_submit(move || i).unwrap())
        .collect();
    blocker.release().join().unwrap();
    let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 4950);
}

#[test]
fn submit_after_shutdown_returns_the_closure() {
    let pool = ThreadPool::new();
    pool.shutdown();
    let drops = DropCounter::new();
    let guard = drops.guard();
    let err = pool
        .submit(move || {
            let _guard = guard;
            "ran here instead"
        })
        .unwrap_err();
    assert!(err.is_shutdown());
    assert!(!err.is_broken() && !err.is_full() && !err.is_spawn_failure());
    assert_eq!(drops.count(), 0, "the refused closure is kept, not dropped");
    assert_eq!(err.to_string(), "pool is shut down");
    assert!(std::error::Error::source(&err).is_none());
    let f = err.into_inner();
    assert_eq!(f(), "ran here instead");
    assert_eq!(drops.count(), 1);
}

#[test]
fn submit_cancellable_and_try_submit_after_shutdown_return_the_closure() {
    let pool = ThreadPool::new();
    pool.shutdown();
    let drops = DropCounter::new();
    let guard = drops.guard();
    let err = pool
        .submit_cancellable(move |_token| drop(guard))
        .unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(drops.count(), 0);
    drop(err);
    assert_eq!(drops.count(), 1, "dropping the error drops the closure");

    let err = pool.try_submit(|| 1).unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.into_inner()(), 1);
    let err = pool.task().timeout(LONG).submit(|| 2).unwrap_err();
    assert_eq!(err.into_inner()(), 2);
}

#[test]
fn submit_error_debug_does_not_need_or_show_the_closure() {
    struct Opaque; // not Debug
    let pool = ThreadPool::new();
    pool.shutdown();
    let opaque = Opaque;
    let err = pool
        .submit(move || {
            let _o = &opaque;
        })
        .unwrap_err();
    let debug = format!("{err:?}");
    assert!(debug.starts_with("SubmitError"), "{debug}");
    assert!(debug.contains("pool is shut down"), "{debug}");
}

#[test]
fn task_builder_with_a_distant_deadline_runs_normally() {
    let pool = ThreadPool::new();
    let far = Instant::now() + Duration::from_secs(3600);
    let a = pool.task().deadline(far).submit(|| 1).unwrap();
    let b = pool
        .task()
        .timeout(Duration::from_secs(3600))
        .submit(|| 2)
        .unwrap();
    let c = pool
        .task()
        .timeout(Duration::MAX) // overflowing the clock means "no deadline"
        .submit_cancellable(|token| token.is_cancelled())
        .unwrap();
    assert_eq!(a.join().unwrap(), 1);
    assert_eq!(b.join().unwrap(), 2);
    assert!(!c.join().unwrap());
}

// CPython: executor.py ExecutorTest.test_no_stale_references: the pool must
// not keep a task's closure (or what it captured) once the task has run.
#[test]
fn captured_values_are_dropped_before_the_task_is_seen_done() {
    let pool = ThreadPool::new();
    let shared = Arc::new(());
    let drops = DropCounter::new();
    let (captured, guard) = (shared.clone(), drops.guard());
    let handle = pool
        .submit(move || {
            let _keep = (&captured, &guard);
            3
        })
        .unwrap();
    handle.wait();
    assert_eq!(drops.count(), 1, "the closure was dropped when it returned");
    assert_eq!(Arc::strong_count(&shared), 1, "the pool keeps no reference");
    assert_eq!(handle.join().unwrap(), 3);
}

/// Sends on its channel when dropped: lets a test wait for a drop that
/// happens on another thread, with nobody left to ask.
struct NotifyOnDrop(mpsc::Sender<&'static str>, &'static str);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

#[test]
fn closure_and_value_are_dropped_even_if_nobody_holds_the_handle() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (tx, rx) = mpsc::channel();
    let captured = NotifyOnDrop(tx.clone(), "captured");
    let handle = pool
        .submit(move || {
            let _captured = captured;
            waiter.wait();
            NotifyOnDrop(tx, "value")
        })
        .unwrap();
    drop(handle); // nobody will ever join it
    gate.open();
    let mut dropped = vec![
        rx.recv_timeout(LONG).expect("a drop"),
        rx.recv_timeout(LONG).expect("another drop"),
    ];
    dropped.sort_unstable();
    assert_eq!(dropped, ["captured", "value"]);
}

#[test]
fn dropping_a_handle_does_not_cancel_the_task() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (tx, rx) = mpsc::channel();
    let handle = pool
        .submit(move || {
            waiter.wait();
            tx.send("ran").unwrap();
        })
        .unwrap();
    drop(handle);
    gate.open();
    assert_eq!(rx.recv_timeout(LONG), Ok("ran"));
}

#[test]
fn outputs_and_closures_need_not_be_clone_debug_or_sync() {
    use std::cell::Cell;
    let pool = ThreadPool::new();
    let cell = Cell::new(1); // Send but not Sync
    let handle = pool
        .submit(move || {
            cell.set(cell.get() + 1);
            cell
        })
        .unwrap();
    assert_eq!(handle.join().unwrap().get(), 2);
}
