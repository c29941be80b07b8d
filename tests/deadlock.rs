//! A task blocking on other tasks of its own full pool must not deadlock:
//! the waiting worker runs what it waits for if that hasn't started (see
//! `help.rs`), and otherwise lends its place. In Python every one of these hangs
//! (CPython's docs show the `max_workers=1` example; CPython's test_deadlock
//! cases are all process-pool crashes, see the report).
//!
//! Each test bounds its wait: if the pool deadlocks, the test fails after
//! `LONG` instead of hanging (dropping a stuck pool doesn't wait for it).

mod common;

use std::time::Duration;

use common::LONG;
use futurepool::{ReturnWhen, TaskHandle, ThreadPool, as_completed, wait};

fn pool(max_workers: usize) -> ThreadPool {
    ThreadPool::builder()
        .max_workers(max_workers)
        .build()
        .unwrap()
}

/// Joins `handle` within [`LONG`], or fails.
#[track_caller]
fn join_or_fail<T>(_pool: &ThreadPool, handle: TaskHandle<T>) -> T {
    match handle.join_timeout(LONG) {
        Ok(value) => value,
        Err(err) => panic!("deadlocked or failed: {err}"),
    }
}

#[test]
fn a_task_joining_a_task_of_its_one_worker_pool() {
    let pool = pool(1);
    let p = pool.clone();
    let a = pool
        .submit(move || {
            let b = p.submit(|| 20).unwrap();
            b.join().unwrap() + 1
        })
        .unwrap();
    assert_eq!(join_or_fail(&pool, a), 21);
    // The waiter ran `b` itself, or (had `b` started elsewhere) lent its
    // place, and the extra worker retires after its task.
    common::wait_until("the pool is back to one worker", || {
        pool.worker_count() <= 1
    });
}

#[test]
fn a_chain_of_nested_joins_on_one_worker() {
    let pool = pool(1);
    let p = pool.clone();
    let top = pool.submit(move || common::chain(p, 8)).unwrap();
    assert_eq!(join_or_fail(&pool, top), 8);
}

#[test]
fn every_worker_waiting_on_children() {
    let pool = pool(2);
    let parents: Vec<_> = (0..4)
        .map(|i| {
            let p = pool.clone();
            pool.submit(move || {
                let kids: Vec<_> = (0..3)
                    .map(|k| p.submit(move || i * 10 + k).unwrap())
                    .collect();
                kids.into_iter().map(|k| k.join().unwrap()).sum::<i32>()
            })
            .unwrap()
        })
        .collect();
    let total: i32 = parents.into_iter().map(|h| join_or_fail(&pool, h)).sum();
    assert_eq!(total, (0..4).map(|i| 30 * i + 3).sum::<i32>());
}

#[test]
fn wait_and_join_timeout_inside_a_task() {
    let pool = pool(1);
    let p = pool.clone();
    let a = pool
        .submit(move || {
            let b = p.submit(|| 2).unwrap();
            b.wait();
            let c = p.submit(|| 3).unwrap();
            assert!(c.wait_timeout(LONG));
            let d = p.submit(|| 4).unwrap();
            b.join().unwrap() + c.join().unwrap() + d.join_timeout(LONG).unwrap()
        })
        .unwrap();
    assert_eq!(join_or_fail(&pool, a), 9);
}

#[test]
fn as_completed_inside_a_task() {
    let pool = pool(1);
    let p = pool.clone();
    let a = pool
        .submit(move || {
            let hs: Vec<_> = (1..=4).map(|i| p.submit(move || i).unwrap()).collect();
            as_completed(hs).map(|h| h.join().unwrap()).sum::<i32>()
        })
        .unwrap();
    assert_eq!(join_or_fail(&pool, a), 10);
}

#[test]
fn as_completed_with_a_timeout_inside_a_task() {
    let pool = pool(1);
    let p = pool.clone();
    let a = pool
        .submit(move || {
            let hs: Vec<_> = (1..=4).map(|i| p.submit(move || i).unwrap()).collect();
            as_completed(hs)
                .timeout(LONG)
                .map(|h| h.unwrap().join().unwrap())
                .sum::<i32>()
        })
        .unwrap();
    assert_eq!(join_or_fail(&pool, a), 10);
}

#[test]
fn wait_inside_a_task() {
    let pool = pool(1);
    let p = pool.clone();
    let a = pool
        .submit(move || {
            let hs: Vec<_> = (0..3).map(|i| p.submit(move || i).unwrap()).collect();
            let first = wait(&hs, ReturnWhen::FirstCompleted);
            assert!(!first.done.is_empty());
            let all = wait(&hs, ReturnWhen::AllCompleted);
            assert_eq!(all.done.len(), 3);
            hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
        })
        .unwrap();
    assert_eq!(join_or_fail(&pool, a), 3);
}

#[test]
fn map_inside_a_task() {
    let pool = pool(1);
    let p = pool.clone();
    let a = pool
        .submit(move || {
            p.map(|x: u32| x * 2, 0..10)
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(
        join_or_fail(&pool, a),
        (0..10).map(|x| x * 2).collect::<Vec<_>>()
    );
}

#[test]
fn map_with_a_timeout_inside_a_task() {
    let pool = pool(2);
    let p = pool.clone();
    let a = pool
        .submit(move || {
            p.map(|x: u32| x + 1, 0..20)
                .timeout(LONG)
                .map(Result::unwrap)
                .sum::<u32>()
        })
        .unwrap();
    assert_eq!(join_or_fail(&pool, a), (1..=20).sum::<u32>());
}

#[test]
fn submit_to_a_full_bounded_queue_from_a_worker() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .bounded(1)
        .build()
        .unwrap();
    let p = pool.clone();
    let a = pool
        .submit(move || {
            let b = p.submit(|| 1).unwrap(); // fills the queue
            let c = p.submit(|| 2).unwrap(); // waits for room
            let d = p.submit(|| 3).unwrap();
            b.join().unwrap() + c.join().unwrap() + d.join().unwrap()
        })
        .unwrap();
    assert_eq!(join_or_fail(&pool, a), 6);
}

#[test]
fn waiting_on_another_pool_inside_a_task() {
    // A worker of `outer` lends its place while waiting on `inner`: `outer`
    // stays usable meanwhile.
    let outer = pool(1);
    let inner = pool(1);
    let gate = common::Gate::new();
    let w = gate.waiter();
    let i2 = inner.clone();
    let waiting = outer
        .submit(move || i2.submit(move || w.wait()).unwrap().join().unwrap())
        .unwrap();
    let other = outer.submit(|| "outer still serves").unwrap();
    assert_eq!(join_or_fail(&outer, other), "outer still serves");
    gate.open();
    join_or_fail(&outer, waiting);
}

#[test]
fn a_task_waiting_with_a_deadline_that_passes() {
    let pool = pool(1);
    let p = pool.clone();
    let a = pool
        .submit(move || {
            let gate = common::Gate::new();
            let w = gate.waiter();
            let b = p.submit(move || w.wait()).unwrap();
            // Times out (the subject), then lets b finish.
            let timed_out = !b.wait_timeout(Duration::from_millis(10));
            gate.open();
            b.join().unwrap();
            timed_out
        })
        .unwrap();
    assert!(join_or_fail(&pool, a));
}

/// One level of a fan-out tree: three children, waited for by the wait
/// `kind` names (mixed along the tree), each of which runs a pending child
/// itself or joins the front one.
fn fan_out(pool: &ThreadPool, depth: u32, kind: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let child = |_| {
        let p = pool.clone();
        move || fan_out(&p, depth - 1, kind)
    };
    let p = pool.clone();
    let child_fn = move |_: u32| fan_out(&p, depth - 1, kind);
    let sum: u64 = match (kind + depth) % 4 {
        0 => {
            let mut group: futurepool::TaskGroup<u64> =
                (0..3).map(|i| pool.submit(child(i)).unwrap()).collect();
            group.join_all().into_iter().map(Result::unwrap).sum()
        }
        1 => pool.map(child_fn, 0..3).map(Result::unwrap).sum(),
        2 => pool.map_unordered(child_fn, 0..3).map(Result::unwrap).sum(),
        _ => pool
            .map(child_fn, 0..3)
            .progress(|_: &futurepool::Progress| {})
            .map(Result::unwrap)
            .sum(),
    };
    sum + 1
}

#[test]
fn task_groups_and_maps_nested_with_no_place_lent_finish() {
    // The crate docs' guarantee (a tree of untimed nested waits finishes
    // with no place ever lent), for the waits help.rs's random trees don't
    // use: a task group's join, and maps (ordered, unordered, and ordered
    // with progress, whose wait for the front item counts the others).
    let nodes: u64 = (0..=4).map(|d| 3u64.pow(d)).sum();
    for kind in 0..4 {
        for max_workers in [1, 2] {
            let pool = ThreadPool::builder()
                .max_workers(max_workers)
                .max_lent(0)
                .build()
                .unwrap();
            let root = pool.clone();
            let got = join_or_fail(&pool, pool.submit(move || fan_out(&root, 4, kind)).unwrap());
            assert_eq!(got, nodes, "kind {kind}, {max_workers} workers");
            assert!(pool.workers_started() <= max_workers);
        }
    }
}
