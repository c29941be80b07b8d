//! The handle: its states, and the ways to wait for and take the outcome.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier, mpsc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{Fixtures, Gate, LONG, block_worker_with, busy_pool};
use futurepool::{JoinTimeoutError, TaskHandle, ThreadPool, TryJoinError};

/// `(done, running, cancelled)` of a handle.
fn flags<T>(h: &TaskHandle<T>) -> (bool, bool, bool) {
    (h.is_done(), h.is_running(), h.is_cancelled())
}

// CPython: test_future.FutureTests.test_cancelled, test_done, test_running.
// The CANCELLED (not yet notified) fixture has no counterpart: a cancel
// completes the handle at once.
#[test]
fn state_predicates_in_every_state() {
    let fx = Fixtures::new();
    assert_eq!(flags(&fx.pending), (false, false, false));
    assert_eq!(flags(&fx.running), (false, true, false));
    assert_eq!(flags(&fx.cancelled), (true, false, true));
    assert_eq!(flags(&fx.exception), (true, false, false));
    assert_eq!(flags(&fx.success), (true, false, false));
}

// CPython: test_future.FutureTests.test_result_with_timeout: a zero timeout
// polls without blocking.
#[test]
fn join_timeout_zero_in_every_state() {
    let fx = Fixtures::new();
    let pending = match fx.pending.join_timeout(Duration::ZERO) {
        Err(JoinTimeoutError::Timeout(h)) => h,
        other => panic!("pending: {other:?}"),
    };
    let running = match fx.running.join_timeout(Duration::ZERO) {
        Err(JoinTimeoutError::Timeout(h)) => h,
        other => panic!("running: {other:?}"),
    };
    let err = fx.cancelled.join_timeout(Duration::ZERO).unwrap_err();
    assert!(!err.is_timeout());
    assert!(err.into_task_error().unwrap().is_cancelled());
    let err = fx.exception.join_timeout(Duration::ZERO).unwrap_err();
    assert_eq!(
        err.into_task_error().unwrap().panic_message(),
        Some("OSError")
    );
    assert_eq!(fx.success.join_timeout(Duration::ZERO).unwrap(), 42);
    // The handles handed back still work.
    fx.gate.open();
    assert_eq!(running.join().unwrap(), 7);
    assert_eq!(pending.join().unwrap(), 8);
}

// CPython: test_future.FutureTests.test_exception_with_timeout: `exception()`
// is the `Err` side of the outcome; a finished task's error is handed over
// without being raised.
#[test]
fn try_join_in_every_state() {
    let fx = Fixtures::new();
    assert!(fx.pending.try_join().unwrap_err().is_not_ready());
    let running = match fx.running.try_join() {
        Err(TryJoinError::NotReady(h)) => h,
        other => panic!("running: {other:?}"),
    };
    let err = fx.cancelled.try_join().unwrap_err();
    assert!(!err.is_not_ready());
    assert!(err.into_task_error().unwrap().is_cancelled());
    let err = fx.exception.try_join().unwrap_err();
    assert!(err.into_task_error().unwrap().is_panic());
    assert_eq!(fx.success.try_join().unwrap(), 42);
    fx.gate.open();
    assert_eq!(running.join().unwrap(), 7);
}

// CPython: test_future.FutureTests.test_result_with_success: a blocked
// `result()` wakes when the task finishes on another thread.
#[test]
fn blocked_join_wakes_when_the_task_finishes() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, 42);
    let barrier = Arc::new(Barrier::new(2));
    let b = barrier.clone();
    let Ok(handle) = std::thread::scope(|s| {
        let joiner = s.spawn(move || {
            b.wait();
            blocker.handle.join_timeout(LONG)
        });
        barrier.wait(); // the joiner is about to block (or already is)
        blocker.gate.open();
        joiner.join().unwrap()
    }) else {
        panic!("the join timed out");
    };
    assert_eq!(handle, 42);
}

// CPython: test_future.FutureTests.test_result_with_cancel: a cancel wakes
// up waiters.
#[test]
fn blocked_join_wakes_when_the_task_is_cancelled() {
    let (pool, blocker) = busy_pool();
    let queued = Arc::new(pool.submit(|| 1).unwrap());
    let barrier = Arc::new(Barrier::new(2));
    let (q, b) = (queued.clone(), barrier.clone());
    let waiter = std::thread::spawn(move || {
        b.wait();
        q.wait_timeout(LONG) && q.is_cancelled()
    });
    barrier.wait();
    assert!(queued.cancel());
    assert!(waiter.join().unwrap(), "the waiter saw the cancel");
    drop(blocker);
}

// CPython: test_future.FutureTests.test_exception_with_success: a blocked
// `exception()` wakes with the error.
#[test]
fn blocked_join_wakes_when_the_task_panics() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let handle = pool
        .submit(move || -> u8 {
            waiter.wait();
            panic!("OSError")
        })
        .unwrap();
    let joiner = std::thread::spawn(move || handle.join_timeout(LONG));
    gate.open();
    let err = joiner.join().unwrap().unwrap_err();
    assert_eq!(
        err.into_task_error().unwrap().panic_message(),
        Some("OSError")
    );
}

// CPython: test_future.FutureTests.test_get_snapshot: observations of a
// finished task agree from every thread.
#[test]
fn a_finished_task_looks_the_same_from_every_thread() {
    let pool = ThreadPool::new();
    let handle = pool.submit(|| 42).unwrap();
    handle.wait();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    assert_eq!(flags(&handle), (true, false, false));
                }
            });
        }
    });
    assert_eq!(handle.join().unwrap(), 42);
}

#[test]
fn wait_methods_do_not_take_the_outcome() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, "value");
    let handle = blocker.handle;
    assert!(!handle.wait_timeout(Duration::ZERO));
    assert!(!handle.wait_deadline(Instant::now()));
    blocker.gate.open();
    handle.wait();
    assert!(handle.wait_timeout(Duration::ZERO));
    assert!(handle.wait_deadline(Instant::now()));
    assert!(handle.wait_timeout(Duration::MAX));
    assert!(handle.is_done());
    assert_eq!(handle.join().unwrap(), "value");
}

#[test]
fn wait_timeout_waits_about_as_long_as_asked() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, ());
    let started = Instant::now();
    assert!(!blocker.handle.wait_timeout(Duration::from_millis(30)));
    assert!(started.elapsed() >= Duration::from_millis(30));
    let started = Instant::now();
    let deadline = started + Duration::from_millis(30);
    let handle = match blocker.handle.join_deadline(deadline) {
        Err(JoinTimeoutError::Timeout(h)) => h,
        other => panic!("{other:?}"),
    };
    assert!(Instant::now() >= deadline);
    blocker.gate.open();
    handle.join().unwrap();
}

#[test]
fn join_deadline_in_the_past_hands_the_handle_back() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, 5);
    let err = blocker
        .handle
        .join_deadline(Instant::now() - Duration::from_millis(1))
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "timed out waiting for the task");
    assert!(std::error::Error::source(&err).is_none());
    let JoinTimeoutError::Timeout(handle) = err else {
        unreachable!()
    };
    blocker.gate.open();
    assert_eq!(handle.join_timeout(Duration::MAX).unwrap(), 5);
}

// The join errors are transparent: `Failed` reads as the task's error and
// its source is that error's source, so a reporter that prints the chain
// prints the task's error once.
#[test]
fn join_errors_wrap_the_task_error() {
    let pool = ThreadPool::new();
    let handle = pool.submit(|| -> u8 { panic!("inner") }).unwrap();
    handle.wait();
    let err = handle.join_timeout(LONG).unwrap_err();
    assert_eq!(err.to_string(), "task panicked: inner");
    assert!(std::error::Error::source(&err).is_none());

    let handle = pool.submit(|| -> u8 { panic!("inner") }).unwrap();
    handle.wait();
    let err = handle.try_join().unwrap_err();
    assert_eq!(err.to_string(), "task panicked: inner");
    assert!(std::error::Error::source(&err).is_none());

    let broken = ThreadPool::builder()
        .initializer(|| Err("db down"))
        .build()
        .unwrap();
    let handle = broken.submit(|| 1u8).unwrap();
    handle.wait();
    let err = handle.join_timeout(LONG).unwrap_err();
    assert_eq!(err.to_string(), "pool is broken: worker initializer failed");
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "db down"
    );
}

#[test]
fn try_join_not_ready_then_ready() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, 'x');
    let err = blocker.handle.try_join().unwrap_err();
    assert_eq!(err.to_string(), "task is not finished");
    let TryJoinError::NotReady(handle) = err else {
        unreachable!()
    };
    blocker.gate.open();
    handle.wait();
    assert_eq!(handle.try_join().unwrap(), 'x');
}

#[test]
fn is_running_only_while_running() {
    let (pool, blocker) = busy_pool();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (started_tx, started_rx) = mpsc::channel();
    let handle = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            waiter.wait();
        })
        .unwrap();
    assert_eq!(flags(&handle), (false, false, false), "queued");
    blocker.release().join().unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    assert_eq!(flags(&handle), (false, true, false), "running");
    gate.open();
    handle.wait();
    assert_eq!(flags(&handle), (true, false, false), "done");
}

#[test]
fn debug_does_not_need_debug_outputs() {
    struct Opaque;
    let pool = ThreadPool::new();
    let handle = pool.submit(|| Opaque).unwrap();
    assert!(format!("{handle:?}").starts_with("TaskHandle"));
    let _ = handle.join();
}

#[test]
fn awaiting_a_handle_gives_its_outcome() {
    let pool = ThreadPool::new();
    let value = pool.submit(|| 6 * 7).unwrap();
    assert_eq!(futures::executor::block_on(value).unwrap(), 42);

    let panicked = pool.submit(|| -> i32 { panic!("async boom") }).unwrap();
    let err = futures::executor::block_on(panicked).unwrap_err();
    assert_eq!(err.panic_message(), Some("async boom"));

    let (pool1, blocker) = busy_pool();
    let queued = pool1.submit(|| 1).unwrap();
    assert!(queued.cancel());
    assert!(
        futures::executor::block_on(queued)
            .unwrap_err()
            .is_cancelled()
    );
    drop(blocker);
}

#[test]
fn awaiting_wakes_when_the_task_finishes_later() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, "late");
    let gate = blocker.gate;
    let handle = blocker.handle;
    // First poll with a waker that does nothing: the handle must take the
    // next poll's waker instead, or `block_on` would never wake.
    let mut handle = pin!(handle);
    let noop = futures::task::noop_waker();
    let mut cx = Context::from_waker(&noop);
    assert!(handle.as_mut().poll(&mut cx).is_pending());
    let opener = std::thread::spawn(move || {
        gate.open();
    });
    assert_eq!(futures::executor::block_on(handle).unwrap(), "late");
    opener.join().unwrap();
}

#[test]
fn an_awaited_handle_can_be_polled_again_only_until_ready() {
    let pool = ThreadPool::new();
    let handle = pool.submit(|| 1).unwrap();
    handle.wait();
    let mut handle = pin!(handle);
    let noop = futures::task::noop_waker();
    let mut cx = Context::from_waker(&noop);
    assert!(matches!(handle.as_mut().poll(&mut cx), Poll::Ready(Ok(1))));
    assert!(handle.is_done(), "still done after the outcome is taken");
}

// CPython: test_wait.ThreadPoolWaitTests.test_pending_calls_race, for one
// handle: a completion racing with join, a wait, or a poll is never lost.
#[test]
fn completion_racing_with_join_is_never_lost() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    for i in 0..300 {
        let handle = pool.submit(move || i).unwrap();
        match i % 3 {
            0 => assert_eq!(handle.join_timeout(LONG).unwrap(), i),
            1 => {
                assert!(handle.wait_timeout(LONG));
                assert_eq!(handle.try_join().unwrap(), i);
            }
            _ => {
                let joiner = std::thread::spawn(move || futures::executor::block_on(handle));
                assert_eq!(joiner.join().unwrap().unwrap(), i);
            }
        }
    }
}
