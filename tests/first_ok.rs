//! `first_ok`: the first task to succeed wins, failures don't count, every
//! failure is kept in the order given, the losers are cancelled as `cancel`
//! does; the bounded forms hand back the unfinished; the async form on
//! several runtimes.

mod common;

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Gate, LONG, block_worker, block_worker_with, busy_pool};
use futurepool::{
    FirstOkTimeoutError, TaskHandle, ThreadPool, first_ok, first_ok_async, first_ok_deadline,
    first_ok_timeout,
};

/// A task that panics with `message` when `gate` opens.
fn fail_when(pool: &ThreadPool, gate: &Gate, message: &'static str) -> TaskHandle<&'static str> {
    let w = gate.waiter();
    pool.submit(move || {
        w.wait();
        panic!("{message}")
    })
    .unwrap()
}

/// A receiver told, by a done-callback, whether `handle`'s task was
/// cancelled, and whether it had a value.
fn ending_of<T: Send + 'static>(handle: &TaskHandle<T>) -> mpsc::Receiver<(bool, bool)> {
    let (tx, rx) = mpsc::channel();
    handle.add_done_callback(move |outcome| {
        let cancelled = outcome.as_ref().is_err_and(|e| e.is_cancelled());
        let _ = tx.send((cancelled, outcome.is_ok()));
    });
    rx
}

#[test]
fn a_failure_does_not_count_the_first_success_wins() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let fail_gate = Gate::new();
    let failing = fail_when(&pool, &fail_gate, "first to finish, but failed");
    let failed = ending_of(&failing);
    let winner = block_worker_with(&pool, "second to finish, and fine");
    let third = block_worker_with(&pool, "never finished in time");
    let third_ended = ending_of(&third.handle);
    let (winner_gate, third_gate) = (winner.gate, third.gate);
    thread::scope(|s| {
        let racing = s.spawn(|| first_ok([failing, winner.handle, third.handle]));
        fail_gate.open();
        assert_eq!(failed.recv_timeout(LONG).unwrap(), (false, false));
        winner_gate.open();
        assert_eq!(
            racing.join().unwrap().unwrap(),
            "second to finish, and fine"
        );
    });
    // The third runs without a token: it couldn't be cancelled, and ends
    // with its value (dropped) once let go.
    assert!(third_ended.try_recv().is_err(), "not ended yet");
    third_gate.open();
    assert_eq!(third_ended.recv_timeout(LONG).unwrap(), (false, true));
}

#[test]
fn every_error_in_the_order_given_whatever_order_they_failed_in() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let gates: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
    let tasks: Vec<_> = ["a", "b", "c"]
        .iter()
        .zip(&gates)
        .map(|(m, g)| fail_when(&pool, g, m))
        .collect();
    let endings: Vec<_> = tasks.iter().map(ending_of).collect();
    thread::scope(|s| {
        let racing = s.spawn(|| first_ok(tasks));
        for i in [2, 0, 1] {
            gates[i].open();
            endings[i].recv_timeout(LONG).unwrap();
        }
        let err = racing.join().unwrap().unwrap_err();
        let messages: Vec<_> = err.errors().iter().map(|e| e.panic_message()).collect();
        assert_eq!(messages, [Some("a"), Some("b"), Some("c")]);
        assert_eq!(err.to_string(), "all 3 tasks failed");
        assert_eq!(err.source().unwrap().to_string(), "task panicked: a");
    });
}

#[test]
fn cancelled_and_timed_out_tasks_are_failures_too() {
    let pool = ThreadPool::new();
    let cancelled = pool
        .submit_cancellable(|t| {
            while !t.is_cancelled() {
                thread::yield_now()
            }
        })
        .unwrap();
    assert!(cancelled.cancel());
    let timed_out = pool
        .task()
        .timeout(Duration::from_millis(1))
        .submit_cancellable(|t| {
            while !t.is_cancelled() {
                thread::yield_now()
            }
        })
        .unwrap();
    let panicked = pool.submit(|| panic!("boom")).unwrap();
    let err = first_ok([cancelled, timed_out, panicked]).unwrap_err();
    let e = err.into_errors();
    assert!(e[0].is_cancelled() && e[1].is_timeout() && e[2].is_panic());
}

#[test]
fn finished_tasks_are_looked_at_first_in_the_order_given() {
    let pool = ThreadPool::new();
    for (first, second) in [("x", "y"), ("y", "x")] {
        let a = pool.submit(move || first).unwrap();
        let b = pool.submit(move || second).unwrap();
        a.wait();
        b.wait();
        assert_eq!(first_ok([a, b]).unwrap(), first);
    }
    // A failure given first, already finished, doesn't stop a later success.
    let bad = pool.submit(|| -> u8 { panic!("bad") }).unwrap();
    let good = pool.submit(|| 1).unwrap();
    bad.wait();
    good.wait();
    assert_eq!(first_ok([bad, good]).unwrap(), 1);
}

#[test]
fn queued_losers_never_run_and_are_dropped_in_the_call() {
    let (pool, blocker) = busy_pool();
    let dropped = DropCounter::new();
    let (ran_tx, ran_rx) = mpsc::channel::<()>();
    let losers: Vec<_> = (0..3)
        .map(|_| {
            let guard = dropped.guard();
            let ran = ran_tx.clone();
            pool.submit(move || {
                let _guard = guard;
                ran.send(()).unwrap();
                0
            })
            .unwrap()
        })
        .collect();
    drop(ran_tx);
    let endings: Vec<_> = losers.iter().map(ending_of).collect();
    let other = ThreadPool::new();
    let mut tasks = losers;
    tasks.insert(1, other.submit(|| 42).unwrap());
    assert_eq!(first_ok(tasks).unwrap(), 42);
    assert_eq!(
        dropped.count(),
        3,
        "every queued closure dropped, in the call"
    );
    for ending in endings {
        assert_eq!(
            ending.try_recv(),
            Ok((true, false)),
            "callbacks ran in the call"
        );
    }
    drop(blocker);
    pool.submit(|| ()).unwrap().join().unwrap(); // the queue is drained
    assert!(ran_rx.recv().is_err(), "no loser ever ran");
}

#[test]
fn a_running_cancellable_loser_has_its_token_signalled() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped_rx) = mpsc::channel();
    let loser = pool
        .submit_cancellable(move |token| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::yield_now();
            }
            stopped_tx.send(()).unwrap();
            "loser"
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    let ended = ending_of(&loser);
    let winner = pool.submit(|| "winner").unwrap();
    assert_eq!(first_ok([loser, winner]).unwrap(), "winner");
    assert_eq!(ended.try_recv(), Ok((true, false)), "cancelled at once");
    stopped_rx
        .recv_timeout(LONG)
        .expect("the closure saw its token");
}

#[test]
fn no_task_is_an_error_with_no_errors() {
    let err = first_ok(Vec::<TaskHandle<u8>>::new()).unwrap_err();
    assert!(err.errors().is_empty());
    assert_eq!(err.to_string(), "no task was given");
    assert!(err.source().is_none());
    let err = first_ok_timeout(Vec::<TaskHandle<u8>>::new(), Duration::ZERO).unwrap_err();
    assert!(!err.is_timeout(), "nothing was left unfinished");
    assert!(err.into_unfinished().is_empty());
}

#[test]
fn a_timeout_hands_back_the_unfinished_in_the_order_given_uncancelled() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let a = block_worker_with(&pool, 'a');
    let failed = pool.submit(|| -> char { panic!("failed") }).unwrap();
    failed.wait();
    let c = block_worker_with(&pool, 'c');
    let timeout = Duration::from_millis(20);
    let started = Instant::now();
    let err = first_ok_timeout([a.handle, failed, c.handle], timeout).unwrap_err();
    assert!(started.elapsed() >= timeout);
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "no task succeeded in time");
    assert_eq!(
        err.source().unwrap().to_string(),
        "2 (of 3) tasks unfinished"
    );
    let FirstOkTimeoutError::Timeout(timeout_err) = err else {
        panic!("not a timeout");
    };
    assert_eq!(
        (timeout_err.unfinished_count(), timeout_err.total()),
        (2, 3)
    );
    let unfinished = timeout_err.into_unfinished();
    assert!(unfinished.iter().all(|h| !h.is_cancelled()));
    a.gate.open();
    c.gate.open();
    let values: Vec<char> = unfinished.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, ['a', 'c']);
}

#[test]
fn a_passed_deadline_still_takes_a_finished_success() {
    let pool = ThreadPool::new();
    let stuck = block_worker_with(&pool, 0);
    let done = pool.submit(|| 5).unwrap();
    done.wait();
    assert_eq!(
        first_ok_deadline([stuck.handle, done], Instant::now()).unwrap(),
        5
    );
}

#[test]
fn every_failure_before_the_deadline_is_all_failed_not_a_timeout() {
    let pool = ThreadPool::new();
    let a = pool.submit(|| -> u8 { panic!("a") }).unwrap();
    let b = pool.submit(|| -> u8 { panic!("b") }).unwrap();
    let (id_a, id_b) = (a.id().as_u64(), b.id().as_u64());
    let err = first_ok_timeout([a, b], LONG).unwrap_err();
    assert!(!err.is_timeout());
    assert_eq!(err.to_string(), "all 2 tasks failed");
    assert_eq!(err.source().unwrap().to_string(), "task panicked: a");
    assert_eq!(
        format!("{err:?}"),
        format!(
            r#"FirstOkTimeoutError::AllFailed(AllFailedError {{ errors: [TaskError {{ kind: Panic("a"), task: TaskId({id_a}) }}, TaskError {{ kind: Panic("b"), task: TaskId({id_b}) }}] }})"#
        )
    );
    let one = pool.submit(|| -> u8 { panic!("one") }).unwrap();
    assert_eq!(
        first_ok([one]).unwrap_err().to_string(),
        "the only task failed"
    );
}

#[test]
fn in_a_task_of_a_full_pool_it_lends_the_worker_and_does_not_deadlock() {
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let p = pool.clone();
    let outer = pool
        .submit(move || {
            let failing = p.submit(|| -> u32 { panic!("no") }).unwrap();
            let fine = p.submit(|| 7).unwrap();
            first_ok([failing, fine]).unwrap()
        })
        .unwrap();
    match outer.join_timeout(LONG) {
        Ok(value) => assert_eq!(value, 7),
        Err(err) => panic!("deadlocked or failed: {err}"),
    }
}

#[test]
fn many_failures_and_one_success_racing_registration() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    for round in 0..10_usize {
        let winner = round * 7 % 30;
        let gate = Gate::new();
        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let w = gate.waiter();
                pool.submit(move || {
                    w.wait();
                    assert!(i == winner, "task {i} fails");
                    i
                })
                .unwrap()
            })
            .collect();
        let value = thread::scope(|s| {
            s.spawn(|| gate.open());
            first_ok(tasks).unwrap()
        });
        assert_eq!(value, winner);
    }
}

type Case = fn() -> Pin<Box<dyn Future<Output = ()>>>;

fn on_runtimes(case: Case) {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(case());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
        .block_on(case());
    smol::block_on(case());
    futures::executor::block_on(case());
}

#[test]
fn async_the_first_success_after_a_failure_wakes_the_awaiter() {
    on_runtimes(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(3).build().unwrap();
            let barrier = Arc::new(Barrier::new(2));
            let b = barrier.clone();
            let failing = pool.submit(|| -> &str { panic!("no") }).unwrap();
            let winner = pool
                .submit(move || {
                    b.wait();
                    "yes"
                })
                .unwrap();
            let stuck = block_worker_with(&pool, "stuck");
            let mut racing = first_ok_async([failing, winner, stuck.handle]);
            // Registered and pending: the success comes from a worker.
            assert!(futures::poll!(&mut racing).is_pending());
            barrier.wait();
            assert_eq!(racing.await.unwrap(), "yes");
            stuck.gate.open();
        })
    });
}

#[test]
fn async_all_failed_in_the_order_given() {
    on_runtimes(|| {
        Box::pin(async {
            let pool = ThreadPool::new();
            let tasks: Vec<_> = ["a", "b"]
                .map(|m| pool.submit(move || -> u8 { panic!("{m}") }).unwrap())
                .into();
            let err = first_ok_async(tasks).await.unwrap_err();
            let messages: Vec<_> = err.errors().iter().map(|e| e.panic_message()).collect();
            assert_eq!(messages, [Some("a"), Some("b")]);
        })
    });
}

#[test]
fn async_losers_are_cancelled_in_the_poll_that_wins() {
    let (pool, blocker) = busy_pool();
    let queued = pool.submit(|| 0).unwrap();
    let ended = ending_of(&queued);
    let other = ThreadPool::new();
    let winner = other.submit(|| 1).unwrap();
    let value = futures::executor::block_on(first_ok_async([queued, winner])).unwrap();
    assert_eq!(value, 1);
    assert_eq!(ended.try_recv(), Ok((true, false)));
    drop(blocker);
}

#[test]
fn dropping_the_future_cancels_only_when_asked() {
    let (pool, blocker) = busy_pool();
    let (ran_tx, ran_rx) = mpsc::channel();
    let submit = |n: u32| {
        let ran = ran_tx.clone();
        pool.submit(move || ran.send(n).unwrap()).unwrap()
    };
    let mut kept = first_ok_async([submit(1)]);
    let mut cancelling = first_ok_async([submit(2)]).cancel_on_drop();
    futures::executor::block_on(async {
        assert!(futures::poll!(&mut kept).is_pending());
        assert!(futures::poll!(&mut cancelling).is_pending());
    });
    drop(kept);
    drop(cancelling);
    drop(ran_tx);
    drop(blocker);
    let ran: Vec<u32> = ran_rx.iter().collect();
    assert_eq!(ran, [1], "the first ran after all; the second never did");
}

#[test]
fn the_blocking_form_from_another_thread_sees_a_late_success() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let blocker = block_worker(&pool);
    let late = block_worker_with(&pool, "late");
    let (tx, rx) = mpsc::channel();
    let handles = [late.handle];
    let racer = thread::spawn(move || {
        tx.send(()).unwrap();
        first_ok(handles)
    });
    rx.recv_timeout(LONG).unwrap();
    late.gate.open();
    assert_eq!(racer.join().unwrap().unwrap(), "late");
    drop(blocker);
}
