//! `TaskGroup`: outcomes in the order tasks end, `None` when empty, panics
//! as values, the bounded and non-blocking joins, the async join on several
//! runtimes, and the drop-cancels rule for queued, running-cancellable,
//! running-uncancellable and finished tasks.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, DropGuard, Gate, LONG, block_worker_with, busy_pool};
use futurepool::{TaskGroup, TaskHandle, ThreadPool};

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

/// A cancellable task that says when it starts and when it saw its token.
fn cancellable(pool: &ThreadPool) -> (TaskHandle<u8>, mpsc::Receiver<()>, mpsc::Receiver<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped_rx) = mpsc::channel();
    let handle = pool
        .submit_cancellable(move |token| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::yield_now();
            }
            stopped_tx.send(()).unwrap();
            0
        })
        .unwrap();
    (handle, started_rx, stopped_rx)
}

#[test]
fn outcomes_come_in_the_order_tasks_end_finished_ones_first() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let mut group = TaskGroup::new();
    let blockers: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|v| block_worker_with(&pool, v))
        .collect();
    let other = ThreadPool::new();
    let done_1 = other.submit(|| "done 1").unwrap();
    let done_2 = other.submit(|| "done 2").unwrap();
    done_1.wait();
    done_2.wait();
    let mut blockers = blockers.into_iter();
    let mut gates = Vec::new();
    let mut insert_blocker = |group: &mut TaskGroup<_>| {
        let b = blockers.next().unwrap();
        group.insert(b.handle);
        gates.push(b.gate);
    };
    insert_blocker(&mut group);
    insert_blocker(&mut group);
    group.insert(done_2);
    insert_blocker(&mut group);
    group.insert(done_1);
    assert_eq!(group.len(), 5);
    // The finished ones first, in the order inserted.
    assert_eq!(group.join_next().unwrap().unwrap(), "done 2");
    assert_eq!(group.join_next().unwrap().unwrap(), "done 1");
    for i in [1, 2, 0] {
        gates[i].open();
        assert_eq!(group.join_next().unwrap().unwrap(), ["a", "b", "c"][i]);
    }
    assert!(group.join_next().is_none());
    assert!(group.is_empty());
}

#[test]
fn an_empty_group_answers_none_at_once_every_way() {
    let mut group = TaskGroup::<u8>::default();
    assert!(group.is_empty());
    assert_eq!(group.len(), 0);
    assert!(group.join_next().is_none());
    assert!(group.try_join_next().is_none());
    assert_eq!(group.join_next_timeout(LONG).map(|o| o.is_none()), Ok(true));
    let far = Instant::now() + LONG;
    assert_eq!(group.join_next_deadline(far).map(|o| o.is_none()), Ok(true));
    assert!(group.join_all().is_empty());
    assert!(futures::executor::block_on(group.join_next_async()).is_none());
    group.cancel_all();
    group.detach_all();
    assert_eq!(format!("{group:?}"), "TaskGroup { len: 0 }");
}

#[test]
fn panics_are_outcomes_and_the_group_goes_on() {
    let pool = ThreadPool::new();
    let mut group = TaskGroup::new();
    group.insert(pool.submit(|| -> i32 { panic!("first bad") }).unwrap());
    group.insert(pool.submit(|| 2).unwrap());
    group.insert(
        pool.submit(|| -> i32 { std::panic::panic_any(17_u32) })
            .unwrap(),
    );
    let outcomes = group.join_all();
    assert_eq!(outcomes.len(), 3);
    let mut messages = Vec::new();
    let mut values = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(v) => values.push(v),
            Err(e) => {
                assert!(e.is_panic());
                if let Some(m) = e.panic_message() {
                    messages.push(m.to_owned());
                } else {
                    assert_eq!(e.into_panic().downcast_ref::<u32>(), Some(&17));
                }
            }
        }
    }
    assert_eq!((values, messages), (vec![2], vec!["first bad".to_owned()]));
}

#[test]
fn dropping_cancels_queued_tasks_they_never_run() {
    let (pool, blocker) = busy_pool();
    let dropped = DropCounter::new();
    let (ran_tx, ran_rx) = mpsc::channel::<()>();
    let mut group = TaskGroup::new();
    let mut endings = Vec::new();
    for _ in 0..3 {
        let guard = dropped.guard();
        let ran = ran_tx.clone();
        let handle = pool
            .submit(move || {
                let _guard = guard;
                ran.send(()).unwrap();
            })
            .unwrap();
        endings.push(ending_of(&handle));
        group.insert(handle);
    }
    drop(ran_tx);
    drop(group);
    assert_eq!(dropped.count(), 3, "closures dropped in the drop");
    for ending in endings {
        assert_eq!(
            ending.try_recv(),
            Ok((true, false)),
            "callbacks ran in the drop"
        );
    }
    drop(blocker);
    pool.submit(|| ()).unwrap().join().unwrap(); // the queue is drained
    assert!(ran_rx.recv().is_err(), "no task ever ran");
}

#[test]
fn dropping_signals_a_running_cancellable_task() {
    let pool = ThreadPool::new();
    let (handle, started, stopped) = cancellable(&pool);
    started.recv_timeout(LONG).unwrap();
    let ended = ending_of(&handle);
    let mut group = TaskGroup::new();
    group.insert(handle);
    drop(group);
    assert_eq!(ended.try_recv(), Ok((true, false)), "cancelled at once");
    stopped
        .recv_timeout(LONG)
        .expect("the closure saw its token");
}

#[test]
fn dropping_lets_a_running_task_without_a_token_run_to_its_end() {
    let pool = ThreadPool::new();
    let running = block_worker_with(&pool, 5);
    let ended = ending_of(&running.handle);
    let mut group = TaskGroup::new();
    group.insert(running.handle);
    drop(group);
    assert!(ended.try_recv().is_err(), "still running");
    running.gate.open();
    assert_eq!(ended.recv_timeout(LONG).unwrap(), (false, true));
}

#[test]
fn dropping_drops_the_outcomes_of_finished_tasks() {
    let pool = ThreadPool::new();
    let dropped = DropCounter::new();
    let guard = dropped.guard();
    let finished: TaskHandle<DropGuard> = pool.submit(move || guard).unwrap();
    finished.wait();
    let mut group = TaskGroup::new();
    group.insert(finished);
    assert_eq!(dropped.count(), 0);
    drop(group);
    // The worker that ran it may still hold the task's cell for a moment,
    // so the value is dropped by whichever lets go last.
    common::wait_until("the outcome is dropped", || dropped.count() == 1);
}

#[test]
fn cancel_all_keeps_the_tasks_to_be_joined() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let uncancellable = block_worker_with(&pool, 9_u8);
    let (cancellable, started, stopped) = cancellable(&pool);
    started.recv_timeout(LONG).unwrap();
    let queued = pool.submit(|| 1_u8).unwrap(); // both workers are busy
    let mut group = TaskGroup::new();
    group.insert(uncancellable.handle);
    group.insert(cancellable);
    group.insert(queued);
    group.cancel_all();
    assert_eq!(group.len(), 3);
    stopped.recv_timeout(LONG).unwrap();
    let mut cancelled = 0;
    for _ in 0..2 {
        let err = group.join_next().unwrap().unwrap_err();
        assert!(err.is_cancelled());
        cancelled += 1;
    }
    assert!(
        group.try_join_next().is_none(),
        "the uncancellable one runs on"
    );
    uncancellable.gate.open();
    assert_eq!(group.join_next().unwrap().unwrap(), 9);
    assert_eq!(cancelled, 2);
}

#[test]
fn detach_all_lets_tasks_run_and_starts_afresh() {
    let (pool, blocker) = busy_pool();
    let (ran_tx, ran_rx) = mpsc::channel();
    let mut group = TaskGroup::new();
    let other = ThreadPool::new();
    for _ in 0..3 {
        // Finished: their indices are queued already.
        let h = other.submit(|| ()).unwrap();
        h.wait();
        group.insert(h);
    }
    group.insert(pool.submit(move || ran_tx.send(3).unwrap()).unwrap()); // queued
    group.detach_all();
    assert!(group.is_empty());
    // The group is usable again, and nothing queued before comes out.
    let later = block_worker_with(&other, ());
    group.insert(pool.submit(|| ()).unwrap());
    group.insert(later.handle);
    assert!(group.try_join_next().is_none());
    drop(blocker);
    assert_eq!(
        ran_rx.recv_timeout(LONG).unwrap(),
        3,
        "the detached task ran"
    );
    group.join_next().unwrap().unwrap();
    later.gate.open();
    group.join_next().unwrap().unwrap();
    assert!(group.join_next().is_none());
}

#[test]
fn bounded_joins_give_up_and_keep_the_tasks() {
    let pool = ThreadPool::new();
    let slow = block_worker_with(&pool, "slow");
    let mut group = TaskGroup::new();
    group.insert(slow.handle);
    let timeout = Duration::from_millis(20);
    let started = Instant::now();
    let err = group.join_next_timeout(timeout).unwrap_err();
    assert!(started.elapsed() >= timeout);
    assert_eq!(err.to_string(), "no task of the group ended in time");
    assert!(group.join_next_deadline(Instant::now()).is_err());
    assert!(group.try_join_next().is_none());
    assert_eq!(group.len(), 1);
    slow.gate.open();
    let deadline = Instant::now() + LONG;
    assert_eq!(
        group
            .join_next_deadline(deadline)
            .unwrap()
            .unwrap()
            .unwrap(),
        "slow"
    );
    assert!(matches!(group.join_next_timeout(Duration::ZERO), Ok(None)));
}

#[test]
fn a_passed_deadline_still_takes_an_ended_task() {
    let pool = ThreadPool::new();
    let mut group = TaskGroup::new();
    let h = pool.submit(|| 1).unwrap();
    h.wait();
    group.insert(h);
    assert_eq!(
        group
            .join_next_deadline(Instant::now())
            .unwrap()
            .unwrap()
            .unwrap(),
        1
    );
}

#[test]
fn in_a_task_of_a_full_pool_join_all_lends_the_worker() {
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let p = pool.clone();
    let outer = pool
        .submit(move || {
            let mut group: TaskGroup<u32> = (1..=3).map(|i| p.submit(move || i).unwrap()).collect();
            group
                .join_all()
                .into_iter()
                .map(Result::unwrap)
                .sum::<u32>()
        })
        .unwrap();
    match outer.join_timeout(LONG) {
        Ok(sum) => assert_eq!(sum, 6),
        Err(err) => panic!("deadlocked or failed: {err}"),
    }
}

#[test]
fn many_tasks_inserted_while_others_end_come_out_once_each() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    for _ in 0..10 {
        let gate = Gate::new();
        let mut group = TaskGroup::new();
        let mut seen = thread::scope(|s| {
            s.spawn(|| gate.open());
            for i in 0..100 {
                let w = gate.waiter();
                group.insert(
                    pool.submit(move || {
                        w.wait();
                        i
                    })
                    .unwrap(),
                );
            }
            group.join_all()
        })
        .into_iter()
        .map(Result::unwrap)
        .collect::<Vec<_>>();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}

#[test]
fn a_group_waits_on_another_thread() {
    let pool = ThreadPool::new();
    let slow = block_worker_with(&pool, 3);
    let mut group: TaskGroup<i32> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    group.insert(slow.handle);
    let (tx, rx) = mpsc::channel();
    let joiner = thread::spawn(move || {
        tx.send(()).unwrap();
        group
            .join_all()
            .into_iter()
            .map(Result::unwrap)
            .sum::<i32>()
    });
    rx.recv_timeout(LONG).unwrap();
    slow.gate.open();
    assert_eq!(joiner.join().unwrap(), 6);
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
fn async_join_next_is_woken_by_the_worker() {
    on_runtimes(|| {
        Box::pin(async {
            let pool = ThreadPool::new();
            let barrier = Arc::new(Barrier::new(2));
            let b = barrier.clone();
            let mut group = TaskGroup::new();
            group.insert(
                pool.submit(move || {
                    b.wait();
                    "woken"
                })
                .unwrap(),
            );
            let mut next = group.join_next_async();
            assert!(futures::poll!(&mut next).is_pending());
            barrier.wait();
            assert_eq!(next.await.unwrap().unwrap(), "woken");
            assert!(group.join_next_async().await.is_none());
        })
    });
}

#[test]
fn async_join_next_in_ending_order_with_panics() {
    on_runtimes(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(2).build().unwrap();
            let first = block_worker_with(&pool, 1);
            let second = block_worker_with(&pool, 2);
            let mut group = TaskGroup::new();
            group.insert(first.handle);
            group.insert(second.handle);
            group.insert(
                pool.submit(|| -> i32 { panic!("queued, then bad") })
                    .unwrap(),
            );
            second.gate.open();
            assert_eq!(group.join_next_async().await.unwrap().unwrap(), 2);
            let err = group.join_next_async().await.unwrap().unwrap_err();
            assert_eq!(err.panic_message(), Some("queued, then bad"));
            first.gate.open();
            assert_eq!(group.join_next_async().await.unwrap().unwrap(), 1);
            assert!(group.join_next_async().await.is_none());
        })
    });
}

#[test]
fn a_dropped_async_join_loses_nothing() {
    let pool = ThreadPool::new();
    let slow = block_worker_with(&pool, "kept");
    let mut group = TaskGroup::new();
    group.insert(slow.handle);
    futures::executor::block_on(async {
        let mut next = group.join_next_async();
        assert!(futures::poll!(&mut next).is_pending());
    }); // a select! took another branch, say
    assert_eq!(group.len(), 1);
    slow.gate.open();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(group.join_next_async());
    assert_eq!(outcome.unwrap().unwrap(), "kept");
}
