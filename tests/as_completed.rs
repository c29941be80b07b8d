//! `as_completed`: every task exactly once, finished ones first, then in the
//! order they finish; with a timeout, one error holding the unfinished.
//!
//! Deliberate difference from CPython: a cancelled task is always done (there
//! is no "cancelled but not yet notified" state that counts as pending).

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Fixtures, Gate, LONG, block_worker_with, busy_pool};
use futurepool::{TaskHandle, ThreadPool, as_completed};

fn same<T>(a: &TaskHandle<T>, b: &TaskHandle<T>) -> bool {
    std::ptr::eq(a, b)
}

// CPython: test_as_completed.AsCompletedTests.test_no_timeout
#[test]
fn yields_finished_failed_and_cancelled_tasks() {
    let fx = Fixtures::new();
    let pool = ThreadPool::new();
    let a = pool.submit(|| 21 * 2).unwrap();
    let b = pool.submit(|| 2 * 3).unwrap();
    let given = [&fx.cancelled, &fx.exception, &fx.success, &a, &b];
    let yielded: Vec<&TaskHandle<i32>> = as_completed(given).collect();
    assert_eq!(yielded.len(), 5);
    for h in given {
        assert_eq!(yielded.iter().filter(|y| same(y, h)).count(), 1);
    }
}

// CPython: test_as_completed.AsCompletedTests.test_future_times_out (the 1 s
// sleep is a gated task; timeouts 0 and 0.1 s).
#[test]
fn a_timeout_yields_the_finished_then_one_error() {
    let fx = Fixtures::new();
    for timeout in [Duration::ZERO, Duration::from_millis(100)] {
        let started = Instant::now();
        let mut it =
            as_completed([&fx.cancelled, &fx.exception, &fx.success, &fx.running]).timeout(timeout);
        let mut yielded = Vec::new();
        let err = loop {
            match it.next().expect("ends with the error") {
                Ok(h) => yielded.push(h),
                Err(e) => break e,
            }
        };
        assert!(it.next().is_none());
        assert!(started.elapsed() >= timeout);
        assert_eq!(yielded.len(), 3, "even a zero timeout yields the done ones");
        assert!(!yielded.iter().any(|h| same(h, &fx.running)));
        assert_eq!((err.unfinished_count(), err.total()), (1, 4));
        assert!(same(err.into_unfinished()[0], &fx.running));
    }
}

// CPython: test_as_completed.AsCompletedTests.test_duplicate_futures: any
// iterable, the same task many times, yielded once.
#[test]
fn a_task_given_twice_is_yielded_once() {
    let pool = ThreadPool::new();
    let h = pool.submit(|| 1).unwrap();
    let repeated = std::iter::repeat_n(&h, 3);
    let it = as_completed(repeated);
    assert_eq!(it.len(), 1);
    assert_eq!(it.count(), 1);
}

// CPython: test_as_completed.AsCompletedTests.test_free_reference_yielded_future
// (the weakref part is Python's; here handles are moved out as yielded):
// tasks that finish during the iteration are picked up.
#[test]
fn tasks_finishing_during_the_iteration_are_picked_up() {
    let pool = ThreadPool::builder().max_workers(8).build().unwrap();
    let gates: Vec<Gate> = (0..8).map(|_| Gate::new()).collect();
    let handles: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let w = g.waiter();
            (i, pool.submit(move || w.wait()).unwrap())
        })
        .collect();
    let mut it = as_completed(handles);
    // Each finishes only when the loop releases it, in reverse order.
    let mut order = Vec::new();
    for g in gates.iter().rev() {
        g.open();
        let (i, h) = it.next().unwrap();
        h.join().unwrap();
        order.push(i);
    }
    assert!(it.next().is_none());
    assert_eq!(order, [7, 6, 5, 4, 3, 2, 1, 0]);
}

// CPython: test_as_completed.AsCompletedTests.test_correct_timeout_exception_msg
#[test]
fn the_timeout_error_counts_the_unfinished() {
    let fx = Fixtures::new();
    let mut it = as_completed([&fx.cancelled, &fx.pending, &fx.running, &fx.success])
        .timeout(Duration::ZERO);
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "2 (of 4) tasks unfinished");
    assert_eq!(
        format!("{err:?}"),
        "TimeoutError { unfinished: 2, total: 4 }"
    );
}

#[test]
fn finished_first_in_the_order_given_then_in_finishing_order() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let a = block_worker_with(&pool, "a");
    let b = block_worker_with(&pool, "b");
    let c = pool.submit(|| "c").unwrap();
    let d = pool.submit(|| "d").unwrap();
    c.wait();
    d.wait();
    let mut it = as_completed([a.handle, d, b.handle, c]);
    assert_eq!(it.next().unwrap().join().unwrap(), "d");
    assert_eq!(it.next().unwrap().join().unwrap(), "c");
    b.gate.open();
    assert_eq!(it.next().unwrap().join().unwrap(), "b");
    a.gate.open();
    assert_eq!(it.next().unwrap().join().unwrap(), "a");
    assert!(it.next().is_none());
}

#[test]
fn a_cancel_while_waiting_wakes_the_iterator() {
    let (pool, blocker) = busy_pool();
    let queued = pool.submit(|| 1).unwrap();
    let mut it = as_completed([&queued]);
    thread::scope(|s| {
        s.spawn(|| assert!(queued.cancel()));
        let h = it.next().unwrap();
        assert!(h.is_cancelled());
    });
    drop(blocker);
}

#[test]
fn keyed_pairs_say_which_task_finished() {
    let pool = ThreadPool::new();
    let keyed = ["a", "bb", "ccc"].map(|s| (s, pool.submit(move || s.len()).unwrap()));
    let mut seen: Vec<(&str, usize)> = as_completed(keyed)
        .map(|(k, h)| (k, h.join().unwrap()))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, [("a", 1), ("bb", 2), ("ccc", 3)]);
}

#[test]
fn empty_input_ends_at_once() {
    let none: Vec<TaskHandle<()>> = Vec::new();
    assert!(as_completed(none).next().is_none());
    let none: Vec<TaskHandle<()>> = Vec::new();
    assert!(as_completed(none).timeout(Duration::ZERO).next().is_none());
}

#[test]
fn a_deadline_counts_like_a_timeout() {
    let fx = Fixtures::new();
    let deadline = Instant::now() + Duration::from_millis(20);
    let mut it = as_completed([&fx.running, &fx.success]).deadline(deadline);
    assert!(same(it.next().unwrap().unwrap(), &fx.success));
    assert!(it.next().unwrap().is_err());
    assert!(Instant::now() >= deadline);
    assert!(it.next().is_none());
}

#[test]
fn unfinished_handles_come_back_to_be_joined() {
    let pool = ThreadPool::new();
    let a = block_worker_with(&pool, 1);
    let b = block_worker_with(&pool, 2);
    let mut it = as_completed([a.handle, b.handle]).timeout(Duration::ZERO);
    let unfinished = it.next().unwrap().unwrap_err().into_unfinished();
    a.gate.open();
    b.gate.open();
    let sum: i32 = unfinished.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 3);
}

#[test]
fn iterating_many_tasks_while_they_finish_yields_each_once() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    for _ in 0..20 {
        let handles: Vec<_> = (0..50)
            .map(|i| (i, pool.submit(move || i).unwrap()))
            .collect();
        let mut seen: Vec<usize> = as_completed(handles)
            .map(|(i, h)| {
                assert_eq!(h.join().unwrap(), i);
                i
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
    }
}

#[test]
fn an_as_completed_in_another_thread_sees_every_completion() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let gate = Gate::new();
    let handles: Vec<_> = (0..30)
        .map(|i| {
            let w = gate.waiter();
            pool.submit(move || {
                w.wait();
                i
            })
            .unwrap()
        })
        .collect();
    let (tx, rx) = mpsc::channel();
    let collector = thread::spawn(move || {
        tx.send(()).unwrap();
        as_completed(handles)
            .map(|h| h.join().unwrap())
            .sum::<i32>()
    });
    rx.recv_timeout(LONG).unwrap();
    gate.open();
    assert_eq!(collector.join().unwrap(), (0..30).sum::<i32>());
}

// --- Growing: tasks added while iterating (Dask's `as_completed.add`) ---

/// The pages a crawl finds: page `n` at depth `d` links to 0, 1 or 2 pages
/// (by `n % 3`), down to depth 5.
fn links(n: u64, depth: u32) -> Vec<u64> {
    if depth >= 5 {
        return Vec::new();
    }
    (0..n % 3).map(|k| n * 3 + k + 1).collect()
}

#[test]
fn a_crawl_yields_every_added_task_once_and_ends_when_all_are_yielded() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let fetch = |n: u64, depth: u32| move || (n, depth, links(n, depth));
    // What the crawl must find, computed here.
    let mut expected = Vec::new();
    let mut stack = vec![(2_u64, 0_u32), (5, 0)];
    while let Some((n, d)) = stack.pop() {
        expected.push(n);
        stack.extend(links(n, d).into_iter().map(|m| (m, d + 1)));
    }
    expected.sort();
    assert!(
        expected.len() > 20,
        "a crawl worth the name: {}",
        expected.len()
    );

    let roots = [2, 5].map(|n| pool.submit(fetch(n, 0)).unwrap());
    let mut pages = as_completed(roots);
    let mut crawled = Vec::new();
    while let Some(handle) = pages.next() {
        let (n, depth, found) = handle.join().unwrap();
        crawled.push(n);
        let before = pages.len();
        for &m in &found {
            assert!(pages.add(pool.submit(fetch(m, depth + 1)).unwrap()));
        }
        assert_eq!(pages.len(), before + found.len()); // not yet yielded
    }
    crawled.sort();
    assert_eq!(crawled, expected);
}

#[test]
fn a_task_added_after_the_end_is_yielded_by_the_next_next() {
    let pool = ThreadPool::new();
    let mut it = as_completed([pool.submit(|| 1).unwrap()]);
    assert_eq!(it.next().unwrap().join().unwrap(), 1);
    assert!(it.next().is_none());
    assert!(it.next().is_none());
    it.add(pool.submit(|| 2).unwrap());
    assert_eq!(it.len(), 1);
    assert_eq!(it.next().unwrap().join().unwrap(), 2);
    assert!(it.next().is_none());
    assert_eq!(it.len(), 0);
}

#[test]
fn a_task_added_twice_is_yielded_once_until_yielded() {
    let pool = ThreadPool::new();
    let (tx, rx) = mpsc::channel::<()>();
    let a = pool.submit(|| 1).unwrap();
    let b = pool.submit(move || rx.recv().unwrap()).unwrap();
    let c = pool.submit(|| ()).unwrap();
    let mut it = as_completed([&a]);
    assert!(!it.add(&a), "already in the set");
    assert_eq!(it.len(), 1);
    assert!(std::ptr::eq(it.next().unwrap(), &a));
    assert!(it.next().is_none());
    // Yielded: adding it again yields it again.
    assert!(it.add(&a));
    assert!(std::ptr::eq(it.next().unwrap(), &a));
    drop(it);

    let mut it = as_completed([&b]);
    assert!(!it.add(&b));
    tx.send(()).unwrap();
    assert!(std::ptr::eq(it.next().unwrap(), &b));
    assert!(it.next().is_none());
    drop(it);
    // Owned handles: the same task can't be owned twice; a fresh task is new.
    let mut it = as_completed(Vec::<TaskHandle<()>>::new());
    assert!(it.add(c));
    assert_eq!(it.count(), 1);
}

/// Each round, this thread adds a task while another completes it, both
/// released by one barrier: registration and completion race, and the task
/// is yielded exactly once either way.
#[test]
fn adding_races_with_completion_and_each_task_is_yielded_once() {
    use futurepool::Promise;
    use std::sync::{Arc, Barrier};
    const ROUNDS: usize = 300;
    let barrier = Arc::new(Barrier::new(2));
    let (tx, rx) = mpsc::channel::<Promise<usize>>();
    let completer = {
        let barrier = barrier.clone();
        thread::spawn(move || {
            for (i, promise) in rx.iter().enumerate() {
                barrier.wait();
                promise.set(i).unwrap();
            }
        })
    };
    let mut it = as_completed(Vec::<TaskHandle<usize>>::new());
    let mut seen = vec![0; ROUNDS];
    for _ in 0..ROUNDS {
        let (promise, handle) = Promise::new();
        tx.send(promise).unwrap();
        barrier.wait();
        it.add(handle);
        // Sometimes take one, so adds also meet a set being drained.
        if let Some(h) = it.by_ref().next() {
            seen[h.join().unwrap()] += 1;
        }
    }
    drop(tx);
    completer.join().unwrap();
    for h in it {
        seen[h.join().unwrap()] += 1;
    }
    assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
}

#[test]
fn a_stream_grows_too_and_comes_back_after_its_end() {
    use futures::StreamExt;
    let pool = ThreadPool::new();
    let mut stream = as_completed([pool.submit(|| 0_u32).unwrap()]).into_stream();
    futures::executor::block_on(async {
        let mut seen = Vec::new();
        while let Some(handle) = stream.next().await {
            let n = handle.await.unwrap();
            seen.push(n);
            if n < 3 {
                stream.add(pool.submit(move || 2 * n + 1).unwrap());
                stream.add(pool.submit(move || 2 * n + 2).unwrap());
            }
        }
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6]);
        assert!(stream.next().await.is_none());
        stream.add(pool.submit(|| 7).unwrap());
        assert_eq!(stream.next().await.unwrap().await.unwrap(), 7);
        assert!(stream.next().await.is_none());
    });
}

#[test]
fn a_timed_iteration_grows_and_times_out_again_after_an_add() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let stuck = pool.submit(move || waiter.wait()).unwrap();
    let first = pool.submit(|| ()).unwrap();
    first.wait(); // finished ones come first, deadline or not
    let mut it = as_completed([first]).timeout(Duration::from_millis(20));
    it.next().unwrap().unwrap().join().unwrap();
    it.add(stuck);
    let err = it.next().unwrap().unwrap_err();
    assert!(it.next().is_none());
    let stuck = err.into_unfinished().pop().unwrap();
    // After the deadline: a finished task is yielded, an unfinished one
    // comes back in another timeout error.
    let done = pool.submit(|| ()).unwrap();
    done.wait();
    it.add(done);
    it.next().unwrap().unwrap().join().unwrap();
    assert!(it.next().is_none());
    it.add(stuck);
    let stuck = it
        .next()
        .unwrap()
        .unwrap_err()
        .into_unfinished()
        .pop()
        .unwrap();
    assert!(it.next().is_none());
    gate.open();
    stuck.join().unwrap();
}

// --- An adder: from a `for` loop's body, or from another thread ---

#[test]
fn an_adder_grows_a_for_loop_and_each_task_is_yielded_once() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let fetch = |n: u64, depth: u32| move || (n, depth, links(n, depth));
    let mut pages = as_completed([pool.submit(fetch(2, 0)).unwrap()]);
    let adder = pages.adder();
    let mut crawled = Vec::new();
    for handle in pages {
        let (n, depth, found) = handle.join().unwrap();
        crawled.push(n);
        for m in found {
            adder.add(pool.submit(fetch(m, depth + 1)).unwrap());
        }
    }
    let mut expected = Vec::new();
    let mut stack = vec![(2_u64, 0_u32)];
    while let Some((n, d)) = stack.pop() {
        expected.push(n);
        stack.extend(links(n, d).into_iter().map(|m| (m, d + 1)));
    }
    expected.sort();
    crawled.sort();
    assert_eq!(crawled, expected);
}

/// Another thread adds finished tasks while this one is blocked in `next`
/// on a held task, and releases the held task after its adds: the
/// iteration can't end before it has yielded every one of them.
#[test]
fn tasks_added_from_another_thread_wake_a_blocked_next() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let held = pool.submit(move || {
        waiter.wait();
        u32::MAX
    });
    let mut it = as_completed([held.unwrap()]);
    let adder = it.adder();
    let finished: Vec<_> = (0..20_u32)
        .map(|i| {
            let h = pool.submit(move || i).unwrap();
            h.wait();
            h
        })
        .collect();
    let adding = thread::spawn(move || {
        for h in finished {
            adder.add(h);
        }
        gate.open();
    });
    let mut seen: Vec<u32> = it.map(|h| h.join().unwrap()).collect();
    adding.join().unwrap();
    seen.sort();
    assert_eq!(seen.pop(), Some(u32::MAX));
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
}

#[test]
fn an_adder_works_on_the_timed_and_stream_forms_too() {
    use futures::StreamExt;
    let pool = ThreadPool::new();
    // Timed: an add after the timeout error is taken by the next `next`.
    let gate = Gate::new();
    let waiter = gate.waiter();
    let stuck = pool.submit(move || waiter.wait()).unwrap();
    let mut it = as_completed([stuck]);
    let adder = it.adder();
    let mut it = it.timeout(Duration::from_millis(10));
    let stuck = it
        .next()
        .unwrap()
        .unwrap_err()
        .into_unfinished()
        .pop()
        .unwrap();
    assert!(it.next().is_none());
    let done = pool.submit(|| ()).unwrap();
    done.wait();
    adder.add(done);
    it.next().unwrap().unwrap().join().unwrap();
    assert!(it.next().is_none());
    gate.open();
    stuck.join().unwrap();

    // A stream, woken by an add from another thread.
    let gate = Gate::new();
    let waiter = gate.waiter();
    let held = pool.submit(move || {
        waiter.wait();
        0
    });
    let mut stream = as_completed([held.unwrap()]);
    let adder = stream.adder();
    let mut stream = stream.into_stream();
    let pool2 = pool.clone();
    let adding = thread::spawn(move || adder.add(pool2.submit(|| 1).unwrap()));
    futures::executor::block_on(async {
        assert_eq!(stream.next().await.unwrap().await.unwrap(), 1);
        gate.open();
        assert_eq!(stream.next().await.unwrap().await.unwrap(), 0);
        assert!(stream.next().await.is_none());
    });
    adding.join().unwrap();
}
