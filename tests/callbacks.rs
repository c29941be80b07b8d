//! Done-callbacks: exactly once, in order, on every kind of ending; at once
//! in the caller when added late; a panicking one doesn't stop the others.
//!
//! Deliberate difference from CPython: callbacks run *before* the outcome is
//! visible (CPython runs them after `result()` would already return), so
//! `join` returning means every callback added before the end has run.

mod common;

use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;

use common::{Gate, LONG, block_worker_with, busy_pool};
use futurepool::{TaskError, ThreadPool};

/// Records what each callback saw, in the order they ran.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn describe(outcome: Result<&i32, &TaskError>) -> String {
    match outcome {
        Ok(v) => format!("value {v}"),
        Err(e) if e.is_cancelled() => "cancelled".to_owned(),
        Err(e) if e.is_timeout() => "timeout".to_owned(),
        Err(e) => format!("error {e}"),
    }
}

// CPython: test_future.FutureTests.test_done_callback_with_result
#[test]
fn callback_with_result() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, 5);
    let log = Log::default();
    let l = log.clone();
    blocker
        .handle
        .add_done_callback(move |o| l.push(describe(o)));
    assert!(log.take().is_empty(), "not before the task ends");
    let handle = blocker.release();
    assert_eq!(handle.join().unwrap(), 5);
    assert_eq!(log.take(), ["value 5"]);
}

// CPython: test_future.FutureTests.test_done_callback_with_exception
#[test]
fn callback_with_panic() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let handle = pool
        .submit(move || -> i32 {
            waiter.wait();
            panic!("test")
        })
        .unwrap();
    let log = Log::default();
    let l = log.clone();
    handle.add_done_callback(move |o| l.push(describe(o)));
    gate.open();
    assert!(handle.join().unwrap_err().is_panic());
    assert_eq!(log.take(), ["error task panicked: test"]);
}

// CPython: test_future.FutureTests.test_done_callback_with_cancel. Here the
// callback runs in the cancelling thread, before `cancel` returns.
#[test]
fn callback_with_cancel_runs_in_the_cancelling_thread() {
    let (pool, blocker) = busy_pool();
    let queued = pool.submit(|| 1).unwrap();
    let (tx, rx) = mpsc::channel();
    queued.add_done_callback(move |o| {
        tx.send((describe(o), thread::current().id())).unwrap();
    });
    assert!(queued.cancel());
    assert_eq!(
        rx.try_recv().expect("ran before cancel returned"),
        ("cancelled".to_owned(), thread::current().id())
    );
    assert!(rx.try_recv().is_err(), "exactly once");
    drop(blocker);
}

// CPython: test_future.FutureTests.test_done_callback_raises. The panic is
// reported on stderr and goes no further.
#[test]
fn a_panicking_callback_does_not_stop_the_next_ones() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker_with(&pool, 5);
    let log = Log::default();
    let l = log.clone();
    blocker.handle.add_done_callback(|_| panic!("doh!"));
    blocker
        .handle
        .add_done_callback(move |o| l.push(describe(o)));
    let handle = blocker.release();
    assert_eq!(handle.join().unwrap(), 5);
    assert_eq!(log.take(), ["value 5"]);
    // The worker that ran the panicking callback is still serving.
    assert_eq!(pool.submit(|| 6).unwrap().join().unwrap(), 6);
    assert_eq!(pool.worker_count(), 1);
}

// CPython: test_future.FutureTests.test_done_callback_already_successful,
// test_done_callback_already_failed, test_done_callback_already_cancelled:
// added after the end, a callback runs at once, in the caller's thread.
#[test]
fn callbacks_added_after_the_end_run_at_once_in_the_caller() {
    let fx = common::Fixtures::new();
    for (handle, expected) in [
        (&fx.success, "value 42"),
        (&fx.exception, "error task panicked: OSError"),
        (&fx.cancelled, "cancelled"),
    ] {
        let (tx, rx) = mpsc::channel();
        handle.add_done_callback(move |o| tx.send((describe(o), thread::current().id())).unwrap());
        assert_eq!(
            rx.try_recv()
                .expect("ran before add_done_callback returned"),
            (expected.to_owned(), thread::current().id())
        );
    }
    // The outcome was only lent to the callbacks.
    assert_eq!(fx.success.join().unwrap(), 42);
}

// CPython: test_future.FutureTests.test_done_callback_raises_already_succeeded
#[test]
fn a_late_panicking_callback_does_not_panic_the_caller() {
    let pool = ThreadPool::new();
    let handle = pool.submit(|| 5).unwrap();
    handle.wait();
    handle.add_done_callback(|_| panic!("doh!"));
    let (tx, rx) = mpsc::channel();
    handle.add_done_callback(move |o| tx.send(*o.unwrap()).unwrap());
    assert_eq!(rx.try_recv(), Ok(5));
    assert_eq!(handle.join().unwrap(), 5);
}

#[test]
fn callbacks_run_exactly_once_in_the_order_added() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, 0);
    let log = Log::default();
    for i in 0..10 {
        let l = log.clone();
        blocker
            .handle
            .add_done_callback(move |_| l.push(i.to_string()));
    }
    let handle = blocker.release();
    handle.wait();
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(log.take(), expected);
    handle.join().unwrap();
    assert!(log.take().is_empty(), "nothing ran twice");
}

#[test]
fn value_callbacks_run_on_the_worker_before_join_returns() {
    let pool = ThreadPool::builder().thread_name("cbw").build().unwrap();
    let blocker = block_worker_with(&pool, 1);
    let (tx, rx) = mpsc::channel();
    blocker.handle.add_done_callback(move |_| {
        tx.send(thread::current().name().map(str::to_owned))
            .unwrap()
    });
    let handle = blocker.release();
    handle.join().unwrap();
    // Already sent: `join` returning implies the callback has run.
    let name = rx
        .try_recv()
        .expect("the callback ran before join returned");
    assert_eq!(name.as_deref(), Some("cbw-0"));
}

#[test]
fn callbacks_run_on_a_per_task_timeout() {
    let (pool, blocker) = busy_pool();
    let handle = pool
        .task()
        .timeout(std::time::Duration::from_millis(10))
        .submit(|| 1)
        .unwrap();
    let log = Log::default();
    let l = log.clone();
    handle.add_done_callback(move |o| l.push(describe(o)));
    assert!(handle.join().unwrap_err().is_timeout());
    assert_eq!(log.take(), ["timeout"]);
    drop(blocker);
}

#[test]
fn a_callback_added_while_callbacks_run_also_runs_once() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, 3);
    let handle = Arc::new(blocker.handle);
    let log = Log::default();
    let (in_first_tx, in_first_rx) = mpsc::channel();
    let hold = Gate::new();
    let hold_w = hold.waiter();
    let l = log.clone();
    handle.add_done_callback(move |_| {
        in_first_tx.send(()).unwrap();
        hold_w.wait();
        l.push("first");
    });
    blocker.gate.open();
    in_first_rx.recv_timeout(LONG).unwrap();
    // The task is ending: its callbacks are running, it is not done yet.
    assert!(!handle.is_done());
    let l = log.clone();
    handle.add_done_callback(move |o| l.push(format!("second {}", describe(o))));
    hold.open();
    handle.wait();
    assert_eq!(log.take(), ["first", "second value 3"]);
}

#[test]
fn a_callback_may_add_a_callback_to_its_own_finished_task() {
    let pool = ThreadPool::new();
    let handle = Arc::new(pool.submit(|| 4).unwrap());
    handle.wait();
    let log = Log::default();
    let (h, l) = (handle.clone(), log.clone());
    handle.add_done_callback(move |o| {
        l.push(format!("outer {}", describe(o)));
        let l2 = l.clone();
        h.add_done_callback(move |o| l2.push(format!("inner {}", describe(o))));
    });
    assert_eq!(log.take(), ["outer value 4", "inner value 4"]);
    let handle = Arc::try_unwrap(handle).unwrap();
    assert_eq!(handle.join().unwrap(), 4);
}

#[test]
fn callbacks_added_concurrently_to_a_finished_task_each_run_once() {
    let pool = ThreadPool::new();
    let handle = pool.submit(|| 9).unwrap();
    handle.wait();
    let log = Log::default();
    for _ in 0..50 {
        let barrier = Barrier::new(4);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    barrier.wait();
                    let l = log.clone();
                    handle.add_done_callback(move |o| l.push(describe(o)));
                });
            }
        });
    }
    let seen = log.take();
    assert_eq!(seen.len(), 200);
    assert!(seen.iter().all(|s| s == "value 9"));
    assert_eq!(handle.join().unwrap(), 9);
}

#[test]
fn callbacks_run_exactly_once_when_cancel_races_with_the_end() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    for _ in 0..200 {
        let handle = Arc::new(pool.submit_cancellable(|_token| 1).unwrap());
        let log = Log::default();
        let l = log.clone();
        handle.add_done_callback(move |o| l.push(describe(o)));
        let h = handle.clone();
        let canceller = thread::spawn(move || h.cancel());
        let cancelled = canceller.join().unwrap();
        handle.wait();
        let seen = log.take();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0] == "cancelled", cancelled, "{seen:?}");
        assert_eq!(handle.is_cancelled(), cancelled);
    }
}
