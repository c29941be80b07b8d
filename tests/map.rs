//! `ThreadPool::map`: ordered, lazy, bounded, and what happens on a panic,
//! a timeout, a drop or a shutdown.
//!
//! Deliberate differences from CPython's `Executor.map`: it is lazy (nothing
//! is submitted before the first `next`, and at most `max_in_flight` tasks
//! run ahead: CPython's 3.14 `buffersize`, always on); it goes on after a
//! panic (CPython's newest behaviour); there is no `chunksize`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{DropCounter, Gate, LONG, busy_pool};
use futurepool::ThreadPool;

fn counting<I: Iterator>(inputs: I) -> (Arc<AtomicUsize>, impl Iterator<Item = I::Item>) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    (
        pulled,
        inputs.inspect(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        }),
    )
}

// CPython: executor.py ExecutorTest.test_map. Several iterables become one
// zipped iterator; `chunksize` has no counterpart.
#[test]
fn map_equals_the_sequential_map() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let expected: Vec<u64> = (0..10u64).map(|x| x.pow(x as u32)).collect();
    let got: Vec<u64> = pool
        .map(|(b, e): (u64, u64)| b.pow(e as u32), (0..10).zip(0..10))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, expected);
}

// CPython: executor.py ExecutorTest.test_map_exception (newest semantics:
// iteration goes on after the failing item).
#[test]
fn map_goes_on_after_a_panic() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let divmod = |(a, b): (i32, i32)| (a / b, a % b); // panics on b == 0
    let mut it = pool.map(divmod, [5, 5, 5, 5].into_iter().zip([2, 3, 0, 5]));
    assert_eq!(it.next().unwrap().unwrap(), (2, 1));
    assert_eq!(it.next().unwrap().unwrap(), (1, 2));
    assert!(it.next().unwrap().unwrap_err().is_panic());
    assert_eq!(it.next().unwrap().unwrap(), (1, 0));
    assert!(it.next().is_none());
    assert!(it.next().is_none());
}

#[test]
fn collecting_into_a_result_stops_at_the_first_panic() {
    let pool = ThreadPool::new();
    let err = pool
        .map(|x: u32| if x == 3 { panic!("three") } else { x }, 0..10)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_err();
    assert_eq!(err.panic_message(), Some("three"));
}

// CPython: executor.py ExecutorTest.test_map_timeout_from_callable: a task
// that itself reports a timeout is a value, not the map's timeout.
#[test]
fn a_task_reporting_its_own_timeout_is_not_the_maps_timeout() {
    #[derive(Debug, PartialEq)]
    struct MyTimeout;
    let pool = ThreadPool::new();
    let f = |x: u32| if x == 1 { Err(MyTimeout) } else { Ok(x) };
    for timeout in [None, Some(Duration::from_secs(3600))] {
        let map = pool.map(f, 0..4);
        let got: Vec<_> = match timeout {
            Some(t) => map.timeout(t).map(Result::unwrap).collect(),
            None => map.map(Result::unwrap).collect(),
        };
        assert_eq!(got, [Ok(0), Err(MyTimeout), Ok(2), Ok(3)]);
    }
}

// CPython: executor.py ExecutorTest.test_map_timeout (without the 6 s
// sleep: the stuck input is held by a gate). After the timeout the
// iterator ends and the unstarted tasks are cancelled.
#[test]
fn map_timeout_ends_the_iteration() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let started = Instant::now();
    let mut it = pool
        .map(
            move |x: u32| {
                if x == 2 {
                    waiter.wait();
                }
                r.fetch_add(1, Ordering::SeqCst);
                x
            },
            0..3,
        )
        .timeout(Duration::from_millis(50));
    assert_eq!(it.next().unwrap().unwrap(), 0);
    assert_eq!(it.next().unwrap().unwrap(), 1);
    let err = it.next().unwrap().unwrap_err();
    assert!(err.is_timeout());
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(it.next().is_none());
    assert!(it.next().is_none());
    assert_eq!(it.size_hint(), (0, Some(0)));
}

#[test]
fn map_deadline_ends_the_iteration() {
    let (pool, blocker) = busy_pool();
    let deadline = Instant::now() + Duration::from_millis(20);
    let mut it = pool.map(|x: u8| x, [1, 2]).deadline(deadline);
    assert!(it.next().unwrap().unwrap_err().is_timeout());
    assert!(Instant::now() >= deadline);
    assert!(it.next().is_none());
    drop(blocker);
}

// CPython: test_thread_pool.ThreadPoolExecutorTest
// .test_executor_map_current_future_cancel: a map timeout cancels the call
// it was waiting on and every call not started.
#[test]
fn map_timeout_cancels_what_has_not_started() {
    let (pool, blocker) = busy_pool(); // "first" holds the only worker
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let mut it = pool
        .map(
            move |s: &'static str| l.lock().unwrap().push(s),
            ["second", "third"],
        )
        .timeout(Duration::ZERO);
    assert!(it.next().unwrap().unwrap_err().is_timeout());
    drop(it);
    blocker.release().join().unwrap();
    pool.shutdown(); // the worker has been through the whole queue
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

// CPython: executor.py ExecutorTest.test_map_close: dropping the iterator
// (Python's `close()`) cancels the outstanding calls.
#[test]
fn dropping_the_map_cancels_what_has_not_started() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let drops = DropCounter::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (r, guard) = (ran.clone(), Arc::new(drops.guard()));
    let (started_tx, started_rx) = mpsc::channel();
    let mut it = pool
        .map(
            move |x: u32| {
                let _g = &guard;
                if x == 1 {
                    started_tx.send(()).unwrap();
                    waiter.wait();
                }
                r.lock().unwrap().push(x);
            },
            0..100,
        )
        .max_in_flight(4);
    it.next().unwrap().unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    // Input 1 is running (held), 2..=4 queued behind it.
    drop(it);
    gate.open();
    pool.shutdown();
    assert_eq!(*ran.lock().unwrap(), [0, 1]);
    assert_eq!(drops.count(), 1, "every copy of `f` is gone");
}

// CPython: executor.py ExecutorTest.test_map_buffersize (and
// test_map_buffersize_on_multiple_iterables): order is kept whatever the
// window.
#[test]
fn max_in_flight_keeps_order() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    for n in [1, 2, 4, 8] {
        let got: Vec<String> = pool
            .map(|x: u32| x.to_string(), 0..4)
            .max_in_flight(n)
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, ["0", "1", "2", "3"]);
        let sums: Vec<u32> = pool
            .map(|(a, b): (u32, u32)| a + b, (0..4).zip(0..4))
            .max_in_flight(n)
            .map(Result::unwrap)
            .collect();
        assert_eq!(sums, [0, 2, 4, 6]);
    }
}

// CPython: executor.py ExecutorTest.test_map_buffersize_value_validation.
// Deliberate difference: a window of 0 is not an error; it means 1.
#[test]
fn max_in_flight_zero_means_one() {
    let pool = ThreadPool::new();
    let (pulled, inputs) = counting(0..10);
    let mut it = pool.map(|x: u32| x, inputs).max_in_flight(0);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    assert!(pulled.load(Ordering::SeqCst) <= 2);
    assert_eq!(it.map(Result::unwrap).sum::<u32>(), 45);
}

// CPython: executor.py ExecutorTest.test_map_buffersize_on_infinite_iterable
// and test_map_buffersize_on_multiple_infinite_iterables.
#[test]
fn endless_inputs_are_pulled_on_demand() {
    let pool = ThreadPool::new();
    let first: Vec<String> = pool
        .map(|x: u64| x.to_string(), 0..)
        .max_in_flight(2)
        .take(3)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, ["0", "1", "2"]);
    let sums: Vec<u64> = pool
        .map(|(a, b): (u64, u64)| a + b, (0..).zip(0..))
        .max_in_flight(2)
        .take(3)
        .map(Result::unwrap)
        .collect();
    assert_eq!(sums, [0, 2, 4]);
    // The default window works on endless input too.
    assert_eq!(pool.map(|x: u64| x, 0..).nth(100).unwrap().unwrap(), 100);
}

// CPython: executor.py ExecutorTest.test_map_buffersize_on_empty_iterable
// (and test_map_buffersize_without_iterable: no inputs at all is the same
// here).
#[test]
fn an_empty_input_ends_at_once() {
    let pool = ThreadPool::new();
    let mut it = pool.map(|x: u8| x, std::iter::empty());
    assert!(it.next().is_none());
    assert!(it.next().is_none());
    assert_eq!(pool.worker_count(), 0, "nothing was submitted");
}

// CPython: test_thread_pool.ThreadPoolExecutorTest
// .test_map_submits_without_iteration. Deliberate difference: this map is
// lazy, so nothing runs until the first `next` (CPython's eager map runs
// every input; its 3.14 `buffersize` still submits the first window).
#[test]
fn nothing_is_submitted_before_the_first_next() {
    let pool = ThreadPool::new();
    let (pulled, inputs) = counting(0..10);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let it = pool.map(
        move |_: u32| {
            r.fetch_add(1, Ordering::SeqCst);
        },
        inputs,
    );
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    drop(it);
    pool.shutdown();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
}

// CPython: executor.py ExecutorTest.test_map_buffersize_when_buffer_is_full
// and test_pool.py's "one more per next()": the window bounds how far the
// input is pulled ahead of the consumer.
#[test]
fn the_window_bounds_how_far_inputs_are_pulled_ahead() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let (pulled, inputs) = counting(0..100u32);
    let window = 3;
    let mut it = pool.map(|x: u32| x, inputs).max_in_flight(window);
    for yielded in 1..=20usize {
        assert_eq!(it.next().unwrap().unwrap() as usize, yielded - 1);
        let p = pulled.load(Ordering::SeqCst);
        assert!(p <= yielded + window, "pulled {p} after {yielded} yielded");
        assert!(p >= yielded);
    }
}

// CPython: executor.py ExecutorTest.test_free_reference: values yielded
// are moved out; the map keeps no copy.
#[test]
fn yielded_values_are_not_retained() {
    let pool = ThreadPool::new();
    let drops = DropCounter::new();
    let d = drops.clone();
    let mut it = pool.map(move |_: u32| d.guard(), 0..10);
    for i in 1..=10 {
        drop(it.next().unwrap().unwrap());
        assert_eq!(drops.count(), i, "the value was dropped with ours");
    }
    assert!(it.next().is_none());
}

// CPython: executor.py ExecutorTest.test_shutdown_race_issue12456:
// abandoning a map and shutting down doesn't hang.
#[test]
fn abandon_a_map_then_shut_down() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let mut it = pool.map(|x: u32| x * x, 0..6);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    drop(it);
    pool.shutdown();
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn a_map_on_a_shut_down_pool_says_so_and_ends() {
    let pool = ThreadPool::new();
    pool.shutdown();
    let mut it = pool.map(|x: u32| x, 0..3);
    assert!(it.next().unwrap().unwrap_err().is_shutdown());
    assert!(it.next().is_none());
}

#[test]
fn a_map_timeout_counts_from_the_map_call_not_the_first_next() {
    // Python's `map(fn, xs, timeout=t)`: `t` counts from the call. Nothing
    // is submitted before the first `next`, which comes after the deadline:
    // the tasks are submitted past it, and the map times out at once.
    let pool = ThreadPool::new();
    let mut it = pool
        .map(|x: u32| x, 0..3)
        .timeout(Duration::from_millis(20));
    let called = Instant::now();
    while called.elapsed() < Duration::from_millis(40) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(it.next().unwrap().unwrap_err().is_timeout());
    assert!(it.next().is_none());
}

#[test]
fn shutting_down_while_mapping_yields_what_was_submitted_then_ends() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let mut it = pool.map(|x: u32| x, 0..100).max_in_flight(3);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    pool.shutdown_with(futurepool::ShutdownOptions::new().wait(false));
    // 1, 2 and 3 were submitted before the shutdown and still run.
    let rest: Vec<_> = it.collect();
    let (ok, err): (Vec<_>, Vec<_>) = rest.into_iter().partition(Result::is_ok);
    let ok: Vec<u32> = ok.into_iter().map(Result::unwrap).collect();
    assert_eq!(ok, [1, 2, 3]);
    assert_eq!(err.len(), 1);
    assert!(err.into_iter().next().unwrap().unwrap_err().is_shutdown());
}

#[test]
fn results_come_in_input_order_whatever_order_tasks_finish_in() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    // Input i finishes only after input i + 1 has: the reverse of the order
    // they are yielded in.
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..4).map(|_| mpsc::channel::<()>()).unzip();
    let rxs: Vec<_> = rxs.into_iter().map(Mutex::new).collect();
    let txs: Vec<_> = txs.into_iter().map(Mutex::new).collect();
    let shared = Arc::new((txs, rxs));
    let s = shared.clone();
    let it = pool
        .map(
            move |i: usize| {
                if i < 3 {
                    s.1[i].lock().unwrap().recv_timeout(LONG).unwrap();
                }
                if i > 0 {
                    s.0[i - 1].lock().unwrap().send(()).unwrap();
                }
                i
            },
            0..4,
        )
        .max_in_flight(4);
    let got: Vec<usize> = it.map(Result::unwrap).collect();
    assert_eq!(got, [0, 1, 2, 3]);
}

#[test]
fn map_on_a_broken_pool_reports_it() {
    let pool = ThreadPool::builder()
        .initializer(|| Err("no"))
        .build()
        .unwrap();
    let first = pool.map(|x: u8| x, [1]).next().unwrap().unwrap_err();
    assert!(first.is_broken());
    let again = pool.map(|x: u8| x, [1]).next().unwrap().unwrap_err();
    assert!(again.is_broken());
}

#[test]
fn size_hint_counts_in_flight_and_remaining_inputs() {
    let pool = ThreadPool::new();
    let mut it = pool.map(|x: u8| x, [1, 2, 3, 4]).max_in_flight(2);
    assert_eq!(it.size_hint(), (4, Some(4)));
    it.next().unwrap().unwrap();
    assert_eq!(it.size_hint(), (3, Some(3)));
    assert_eq!(it.count(), 3);
}
