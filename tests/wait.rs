//! `wait`: block until the first, the first failing, or all tasks finish;
//! a timeout returns what is done, with no error.
//!
//! Deliberate difference from CPython: a cancelled task is always done. In
//! CPython a future cancelled but not yet seen by its executor counts as
//! not done (`test_first_completed`, `test_first_exception_some_already_complete`).

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Fixtures, Gate, block_worker_with};
use futurepool::{ReturnWhen, TaskHandle, ThreadPool, Waited, wait, wait_deadline, wait_timeout};

fn contains<T>(set: &[&TaskHandle<T>], h: &TaskHandle<T>) -> bool {
    set.iter().any(|x| std::ptr::eq(*x, h))
}

fn assert_split<T>(
    w: &Waited<&TaskHandle<T>>,
    done: &[&TaskHandle<T>],
    not_done: &[&TaskHandle<T>],
) {
    assert_eq!(w.done.len(), done.len(), "done");
    assert_eq!(w.not_done.len(), not_done.len(), "not done");
    assert!(done.iter().all(|h| contains(&w.done, h)));
    assert!(not_done.iter().all(|h| contains(&w.not_done, h)));
}

// CPython: test_wait.WaitTests.test_20369
#[test]
fn a_task_given_twice_counts_once() {
    let pool = ThreadPool::new();
    let f = pool.submit(|| 1).unwrap();
    let w = wait([&f, &f], ReturnWhen::AllCompleted);
    assert_split(&w, &[&f], &[]);
}

// CPython: test_wait.WaitTests.test_first_completed, without CPython's
// not-yet-notified cancelled future (see below for ours).
#[test]
fn first_completed() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let slow = block_worker_with(&pool, 0);
    let mul = pool.submit(|| 21 * 2).unwrap();
    let w = wait([&mul, &slow.handle], ReturnWhen::FirstCompleted);
    assert_split(&w, &[&mul], &[&slow.handle]);
}

// CPython: test_wait.WaitTests.test_first_completed, our behaviour for its
// cancelled future: it is done, so FIRST_COMPLETED returns at once.
#[test]
fn first_completed_counts_a_cancelled_task_as_done() {
    let fx = Fixtures::new();
    let w = wait([&fx.cancelled, &fx.running], ReturnWhen::FirstCompleted);
    assert_split(&w, &[&fx.cancelled], &[&fx.running]);
}

// CPython: test_wait.WaitTests.test_first_completed_some_already_completed
#[test]
fn first_completed_some_already_completed() {
    let fx = Fixtures::new();
    let w = wait(
        [&fx.cancelled, &fx.success, &fx.running],
        ReturnWhen::FirstCompleted,
    );
    assert_split(&w, &[&fx.cancelled, &fx.success], &[&fx.running]);
}

// CPython: test_wait.WaitTests.test_first_exception: returns when a task
// fails, with the tasks that already succeeded.
#[test]
fn first_exception() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let mul = pool.submit(|| 21 * 2).unwrap();
    mul.wait();
    let raise_gate = Gate::new();
    let w8 = raise_gate.waiter();
    let raiser = pool
        .submit(move || -> i32 {
            w8.wait();
            panic!("raiser")
        })
        .unwrap();
    let slow = block_worker_with(&pool, 0);
    thread::scope(|s| {
        let waiter = s.spawn(|| wait([&mul, &raiser, &slow.handle], ReturnWhen::FirstException));
        raise_gate.open();
        let w = waiter.join().unwrap();
        assert_split(&w, &[&mul, &raiser], &[&slow.handle]);
    });
}

// CPython: test_wait.WaitTests.test_first_exception_some_already_complete:
// a cancellation is not an exception.
#[test]
fn first_exception_some_already_complete() {
    let fx = Fixtures::new();
    let pool = ThreadPool::new();
    let divmod = pool
        .submit(|| -> i32 { panic!("division by zero") })
        .unwrap();
    let w = wait(
        [&fx.success, &fx.cancelled, &divmod, &fx.running],
        ReturnWhen::FirstException,
    );
    assert_split(&w, &[&fx.success, &fx.cancelled, &divmod], &[&fx.running]);
}

#[test]
fn first_exception_does_not_stop_at_a_cancellation() {
    let fx = Fixtures::new();
    let timeout = Duration::from_millis(30);
    let started = Instant::now();
    let w = wait_timeout(
        [&fx.cancelled, &fx.running],
        ReturnWhen::FirstException,
        timeout,
    );
    assert!(started.elapsed() >= timeout, "it waited for an exception");
    assert_split(&w, &[&fx.cancelled], &[&fx.running]);
}

#[test]
fn first_exception_stops_at_a_task_timeout() {
    let fx = Fixtures::new();
    let timed = fx
        .pool
        .task()
        .timeout(Duration::from_millis(10))
        .submit(|| 0)
        .unwrap();
    // `timed` is queued behind the running fixture: only its deadline ends it.
    let w = wait([&timed, &fx.pending], ReturnWhen::FirstException);
    assert_split(&w, &[&timed], &[&fx.pending]);
}

// CPython: test_wait.WaitTests.test_first_exception_one_already_failed
#[test]
fn first_exception_one_already_failed() {
    let fx = Fixtures::new();
    let w = wait([&fx.exception, &fx.running], ReturnWhen::FirstException);
    assert_split(&w, &[&fx.exception], &[&fx.running]);
}

// CPython: test_wait.WaitTests.test_all_completed: failures don't cut it
// short.
#[test]
fn all_completed() {
    let fx = Fixtures::new();
    let pool = ThreadPool::new();
    let divmod = pool
        .submit(|| -> i32 { panic!("division by zero") })
        .unwrap();
    let mul = pool.submit(|| 2 * 3).unwrap();
    let all = [&fx.success, &fx.cancelled, &fx.exception, &divmod, &mul];
    let w = wait(all, ReturnWhen::AllCompleted);
    assert_split(&w, &all, &[]);
    assert_eq!(ReturnWhen::default(), ReturnWhen::AllCompleted);
}

// CPython: test_wait.WaitTests.test_timeout: no error on timeout.
#[test]
fn a_timeout_returns_what_is_done() {
    let fx = Fixtures::new();
    let timeout = Duration::from_millis(50);
    let started = Instant::now();
    let w = wait_timeout(
        [&fx.success, &fx.cancelled, &fx.exception, &fx.running],
        ReturnWhen::AllCompleted,
        timeout,
    );
    assert!(started.elapsed() >= timeout);
    assert_split(
        &w,
        &[&fx.success, &fx.cancelled, &fx.exception],
        &[&fx.running],
    );
}

#[test]
fn a_deadline_returns_what_is_done() {
    let fx = Fixtures::new();
    let deadline = Instant::now() + Duration::from_millis(20);
    let w = wait_deadline(
        [&fx.running, &fx.success],
        ReturnWhen::AllCompleted,
        deadline,
    );
    assert!(Instant::now() >= deadline);
    assert_split(&w, &[&fx.success], &[&fx.running]);
    // A deadline already passed still sorts them.
    let w = wait_deadline(
        [&fx.running, &fx.success],
        ReturnWhen::AllCompleted,
        Instant::now(),
    );
    assert_split(&w, &[&fx.success], &[&fx.running]);
}

#[test]
fn results_keep_the_order_given() {
    let pool = ThreadPool::new();
    let handles: Vec<_> = (0..10)
        .map(|i| (i, pool.submit(move || i).unwrap()))
        .collect();
    let w = wait(handles, ReturnWhen::AllCompleted);
    let keys: Vec<i32> = w.done.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, (0..10).collect::<Vec<_>>());
    for (k, h) in w.done {
        assert_eq!(h.join().unwrap(), k);
    }
}

#[test]
fn empty_input_returns_at_once() {
    for rw in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let w = wait(Vec::<TaskHandle<()>>::new(), rw);
        assert!(w.done.is_empty() && w.not_done.is_empty());
    }
}

#[test]
fn a_cancel_while_waiting_wakes_first_completed() {
    let fx = Fixtures::new();
    thread::scope(|s| {
        let waiter = s.spawn(|| wait([&fx.pending, &fx.running], ReturnWhen::FirstCompleted));
        assert!(fx.pending.cancel());
        let w = waiter.join().unwrap();
        assert_split(&w, &[&fx.pending], &[&fx.running]);
    });
}

// CPython: test_wait.ThreadPoolWaitTests.test_pending_calls_race: many
// tasks released at once while `wait` registers; no wake-up is lost.
#[test]
fn completions_racing_with_wait_are_never_lost() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    for _ in 0..20 {
        let gate = Gate::new();
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let w = gate.waiter();
                pool.submit(move || w.wait()).unwrap()
            })
            .collect();
        let w = thread::scope(|s| {
            s.spawn(|| gate.open());
            wait(&handles, ReturnWhen::AllCompleted)
        });
        assert_eq!(w.done.len(), 100);
        assert!(w.not_done.is_empty());
    }
}
