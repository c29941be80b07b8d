//! Cancellation at every stage, and per-task timeouts and deadlines.
//!
//! Deliberate difference from CPython: a running task that took a
//! `CancelToken` *can* be cancelled (the token is signalled and the handle
//! completes at once); without a token, as in CPython, it can't.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Fixtures, Gate, LONG, block_worker, busy_pool};
use futurepool::{ThreadPool, TryJoinError};

// CPython: test_future.FutureTests.test_cancel. CPython's two cancelled
// fixtures (notified or not) are one state here.
#[test]
fn cancel_in_every_state() {
    let fx = Fixtures::new();
    assert!(fx.pending.cancel(), "a queued task is cancelled");
    assert!(fx.pending.is_cancelled());
    assert!(
        !fx.running.cancel(),
        "a running task without a token is not"
    );
    assert!(fx.running.is_running() && !fx.running.is_cancelled());
    assert!(
        fx.cancelled.cancel(),
        "cancelling again is harmless and true"
    );
    assert!(fx.cancelled.is_cancelled());
    assert!(!fx.exception.cancel(), "too late: it failed");
    assert!(!fx.exception.is_cancelled());
    assert!(!fx.success.cancel(), "too late: it finished");
    assert_eq!(fx.success.join().unwrap(), 42);
    fx.gate.open();
    assert_eq!(fx.running.join().unwrap(), 7);
}

#[test]
fn a_cancelled_queued_task_never_runs_and_its_closure_drops_at_once() {
    let (pool, blocker) = busy_pool();
    let drops = DropCounter::new();
    let ran = Arc::new(AtomicBool::new(false));
    let (guard, r) = (drops.guard(), ran.clone());
    let handle = pool
        .submit(move || {
            let _guard = guard;
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
    assert!(handle.cancel());
    assert_eq!(drops.count(), 1, "dropped by cancel, not when dequeued");
    assert!(handle.is_done() && handle.is_cancelled());
    assert!(handle.join().unwrap_err().is_cancelled());
    blocker.release().join().unwrap();
    pool.shutdown(); // the worker has been through the whole queue
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn a_cancelled_queued_cancellable_task_never_runs() {
    let (pool, blocker) = busy_pool();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let handle = pool
        .submit_cancellable(move |_token| r.store(true, Ordering::SeqCst))
        .unwrap();
    assert!(handle.cancel());
    blocker.release().join().unwrap();
    pool.shutdown();
    assert!(!ran.load(Ordering::SeqCst));
    assert!(handle.join().unwrap_err().is_cancelled());
}

#[test]
fn a_running_task_without_a_token_cannot_be_cancelled() {
    let pool = ThreadPool::new();
    let blocker = common::block_worker_with(&pool, "finished");
    assert!(!blocker.handle.cancel());
    assert!(!blocker.handle.is_cancelled());
    assert!(blocker.handle.is_running());
    assert_eq!(blocker.release().join().unwrap(), "finished");
}

#[test]
fn a_running_task_with_a_token_is_cancelled_at_once_and_signalled() {
    let pool = ThreadPool::new();
    let (started_tx, started_rx) = mpsc::channel();
    let (saw_tx, saw_rx) = mpsc::channel();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let drops = DropCounter::new();
    let guard = drops.guard();
    let handle = pool
        .submit_cancellable(move |token| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::yield_now();
            }
            saw_tx.send(()).unwrap();
            waiter.wait();
            guard // the value nobody will see
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    assert!(handle.cancel());
    // Complete at once, while the closure is still running (held by `gate`).
    assert!(handle.is_done() && handle.is_cancelled() && !handle.is_running());
    saw_rx.recv_timeout(LONG).expect("the token was signalled");
    assert!(handle.cancel(), "cancelling again still says cancelled");
    assert!(handle.join().unwrap_err().is_cancelled());
    assert_eq!(drops.count(), 0, "the closure is still running");
    gate.open();
    // Its late value is dropped; the worker is free again.
    assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
    pool.shutdown();
    assert_eq!(drops.count(), 1);
}

#[test]
fn cancel_after_the_end_reports_how_it_ended() {
    let pool = ThreadPool::new();
    let done = pool.submit_cancellable(|_| 1).unwrap();
    done.wait();
    assert!(!done.cancel());
    assert_eq!(done.join().unwrap(), 1);

    let panicked = pool.submit_cancellable(|_| -> u8 { panic!("x") }).unwrap();
    panicked.wait();
    assert!(!panicked.cancel());
    assert!(panicked.join().unwrap_err().is_panic());
}

#[test]
fn cancel_while_done_callbacks_run_is_too_late() {
    let pool = ThreadPool::new();
    let blocker = common::block_worker_with(&pool, 11);
    let (in_cb_tx, in_cb_rx) = mpsc::channel();
    let hold = Gate::new();
    let hold_w = hold.waiter();
    blocker.handle.add_done_callback(move |_| {
        in_cb_tx.send(()).unwrap();
        hold_w.wait();
    });
    blocker.gate.open();
    in_cb_rx.recv_timeout(LONG).unwrap();
    // Ending with a value: callbacks running, outcome decided.
    assert!(!blocker.handle.cancel());
    assert!(!blocker.handle.is_done());
    assert!(
        blocker.handle.is_running(),
        "running while its callbacks run"
    );
    hold.open();
    assert_eq!(blocker.handle.join().unwrap(), 11);
}

#[test]
fn cancel_while_cancel_callbacks_run_says_cancelled() {
    let (pool, blocker) = busy_pool();
    let queued = Arc::new(pool.submit(|| 1).unwrap());
    let (in_cb_tx, in_cb_rx) = mpsc::channel();
    let hold = Gate::new();
    let hold_w = hold.waiter();
    queued.add_done_callback(move |_| {
        in_cb_tx.send(()).unwrap();
        hold_w.wait();
    });
    let q = queued.clone();
    let first = thread::spawn(move || q.cancel());
    in_cb_rx.recv_timeout(LONG).unwrap();
    assert!(queued.cancel(), "the cancel that is ending it wins");
    hold.open();
    assert!(first.join().unwrap());
    assert!(queued.is_cancelled());
    drop(blocker);
}

#[test]
fn cancel_racing_with_start_is_all_or_nothing() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    for _ in 0..300 {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let handle = pool
            .submit(move || {
                r.store(true, Ordering::SeqCst);
                5
            })
            .unwrap();
        let cancelled = handle.cancel();
        match handle.join() {
            Ok(5) => assert!(!cancelled && ran.load(Ordering::SeqCst)),
            Err(e) => {
                assert!(cancelled && e.is_cancelled());
                // A cancelled task without a token never started.
                assert!(!ran.load(Ordering::SeqCst));
            }
            Ok(other) => panic!("{other}"),
        }
    }
}

#[test]
fn a_timeout_on_a_queued_task_ends_it_unrun() {
    let (pool, blocker) = busy_pool();
    let drops = DropCounter::new();
    let ran = Arc::new(AtomicBool::new(false));
    let (guard, r) = (drops.guard(), ran.clone());
    let started = Instant::now();
    let handle = pool
        .task()
        .timeout(Duration::from_millis(20))
        .submit(move || {
            let _guard = guard;
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
    // The worker is held by `blocker` all along: only the timer ends this.
    handle.wait();
    // The timer thread runs no user code: the closure is still there...
    assert_eq!(drops.count(), 0, "not dropped by the timer thread");
    // ...until the thread that takes the outcome (a user's) drops it,
    // unrun, without waiting for a worker to reach it in the queue.
    let err = handle.join().unwrap_err();
    assert_eq!(drops.count(), 1, "dropped by the joining thread");
    assert!(err.is_timeout() && !err.is_cancelled());
    assert_eq!(err.to_string(), "task timed out");
    assert!(started.elapsed() >= Duration::from_millis(20));
    blocker.release().join().unwrap();
    pool.shutdown();
    assert_eq!(drops.count(), 1);
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn a_deadline_on_a_queued_task_ends_it_unrun() {
    let (pool, blocker) = busy_pool();
    let deadline = Instant::now() + Duration::from_millis(20);
    let handle = pool.task().deadline(deadline).submit(|| 1).unwrap();
    assert!(handle.join().unwrap_err().is_timeout());
    assert!(Instant::now() >= deadline);
    drop(blocker);
}

#[test]
fn a_deadline_already_passed_ends_the_task_before_it_runs() {
    // Even with an idle worker ready to take it at once, before the timer
    // thread has seen the deadline (this used to run most such tasks).
    let pool = ThreadPool::new();
    let ran = Arc::new(AtomicBool::new(false));
    for _ in 0..200 {
        let r = ran.clone();
        let handle = pool
            .task()
            .deadline(Instant::now() - Duration::from_secs(1))
            .submit(move || r.store(true, Ordering::SeqCst))
            .unwrap();
        assert!(handle.join().unwrap_err().is_timeout());
    }
    pool.shutdown();
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn a_timeout_on_a_running_task_signals_its_token() {
    let pool = ThreadPool::new();
    let (started_tx, started_rx) = mpsc::channel();
    let handle = pool
        .task()
        .timeout(Duration::from_millis(20))
        .submit_cancellable(move |token| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::yield_now();
            }
            "stopped"
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    let err = handle.join().unwrap_err();
    assert!(err.is_timeout());
    // The worker got its closure back, so it is free.
    assert_eq!(pool.submit(|| 2).unwrap().join().unwrap(), 2);
}

#[test]
fn a_timeout_on_a_running_task_without_a_token_ends_the_handle_only() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    // On a busy machine the task may not start within its timeout (then it
    // never runs, and the closure is dropped with its sender): try again
    // with a longer one.
    let mut timeout = Duration::from_millis(20);
    let (gate, drops, handle) = loop {
        let gate = Gate::new();
        let waiter = gate.waiter();
        let (started_tx, started_rx) = mpsc::channel();
        let drops = DropCounter::new();
        let guard = drops.guard();
        let handle = pool
            .task()
            .timeout(timeout)
            .submit(move || {
                started_tx.send(()).unwrap();
                waiter.wait();
                guard
            })
            .unwrap();
        match started_rx.recv_timeout(LONG) {
            Ok(()) => break (gate, drops, handle),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                assert!(handle.join().unwrap_err().is_timeout());
                timeout *= 4;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the task never started"),
        }
    };
    // The closure is held by the gate, yet the handle times out.
    assert!(handle.join().unwrap_err().is_timeout());
    assert_eq!(drops.count(), 0);
    gate.open();
    // The closure runs to its end on the worker; its value is dropped.
    assert_eq!(pool.submit(|| 3).unwrap().join().unwrap(), 3);
    assert_eq!(drops.count(), 1);
}

#[test]
fn a_deadline_that_passes_after_the_end_changes_nothing() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let early = Instant::now() + Duration::from_millis(20);
    let done = pool.task().deadline(early).submit(|| 1).unwrap();
    done.wait();
    // How it ended: with its value unless the machine was so slow that the
    // deadline came first. Either way, that must not change afterwards.
    let (tx, rx) = mpsc::channel();
    done.add_done_callback(move |o| tx.send(o.is_ok()).unwrap());
    let ended_ok = rx.try_recv().unwrap();
    let blocker = block_worker(&pool);
    let blocker2 = block_worker(&pool);
    // `witness` waits behind the blockers and times out after `done`'s
    // deadline. The pool's timer handles deadlines in order, so once
    // `witness` has timed out, `done`'s deadline has been dealt with.
    let witness = pool
        .task()
        .deadline(early + Duration::from_millis(10))
        .submit(|| ())
        .unwrap();
    assert!(witness.join().unwrap_err().is_timeout());
    assert!(!done.is_cancelled());
    assert_eq!(done.join().is_ok(), ended_ok);
    drop((blocker, blocker2));
}

#[test]
fn a_timeout_racing_with_the_end_is_one_or_the_other() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    for i in 0..100u64 {
        let handle = pool
            .task()
            .timeout(Duration::from_micros(i * 7 % 300))
            .submit_cancellable(|_| 1)
            .unwrap();
        let (tx, rx) = mpsc::channel();
        handle.add_done_callback(move |o| tx.send(o.is_ok()).unwrap());
        let outcome = handle.join();
        match &outcome {
            Ok(v) => assert_eq!(*v, 1),
            Err(e) => assert!(e.is_timeout(), "{e}"),
        }
        // The callbacks saw the same single ending.
        assert_eq!(rx.try_recv(), Ok(outcome.is_ok()));
        assert!(rx.try_recv().is_err());
    }
}

#[test]
fn join_timeout_is_not_a_task_timeout() {
    let (pool, blocker) = busy_pool();
    let queued = pool.submit(|| 1).unwrap();
    let queued = match queued.try_join() {
        Err(TryJoinError::NotReady(h)) => h,
        other => panic!("{other:?}"),
    };
    let err = queued.join_timeout(Duration::from_millis(1)).unwrap_err();
    assert!(err.is_timeout());
    assert!(err.into_task_error().is_none(), "the task itself is fine");
    drop(blocker);
}
