//! The one map window (issue 10): unordered maps, per-item time limits,
//! chunks on the thread pool, streams that move into spawned async tasks,
//! and named-function maps generic over the executor.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Gate, LONG};
use futurepool::ThreadPool;

#[test]
fn an_unordered_map_yields_in_completion_order() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let gate = Gate::new();
    let w = gate.waiter();
    let mut map = pool
        .map(
            move |i: u32| {
                if i == 0 {
                    w.wait(); // held until the others are out
                }
                i
            },
            0..4,
        )
        .unordered();
    let mut first: Vec<u32> = (0..3).map(|_| map.next().unwrap().unwrap()).collect();
    first.sort_unstable();
    assert_eq!(first, [1, 2, 3]);
    gate.open();
    assert_eq!(map.next().unwrap().unwrap(), 0);
    assert!(map.next().is_none());
}

#[test]
fn map_unordered_is_lazy_and_bounded() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let pulled = Arc::new(Mutex::new(0usize));
    let counter = pulled.clone();
    let inputs = (0..).inspect(move |_| *counter.lock().unwrap() += 1);
    let mut map = pool.map_unordered(|x: u64| x, inputs).max_in_flight(3);
    map.next().unwrap().unwrap();
    assert!(*pulled.lock().unwrap() <= 4, "3 in flight, 1 yielded");
}

/// The case, in miniature: a per-item limit on running time ends
/// only the slow items, and the map goes on (a map-wide timeout would have
/// ended the map at the first slow item).
#[test]
fn a_per_item_time_limit_times_out_only_the_slow_items() {
    // A thread can't be stopped: a slow item's closure keeps its worker
    // after its time limit, so the pool has more workers than slow items.
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let gate = Gate::new();
    let w = gate.waiter();
    let results: Vec<_> = pool
        .map(
            move |i: u32| {
                if i % 5 == 2 {
                    w.wait(); // slow: held until the map is done
                }
                i
            },
            0..10,
        )
        .time_limit(Duration::from_millis(50))
        .collect();
    gate.open();
    assert_eq!(results.len(), 10, "the map went on");
    for (i, r) in results.iter().enumerate() {
        if i % 5 == 2 {
            assert!(r.as_ref().unwrap_err().is_timeout(), "item {i}");
        } else {
            assert_eq!(*r.as_ref().unwrap(), i as u32);
        }
    }
}

#[test]
fn a_map_wide_timeout_still_ends_the_map() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let w = gate.waiter();
    let results: Vec<_> = pool
        .map(
            move |i: u32| {
                if i == 1 {
                    w.wait();
                }
                i
            },
            0..5,
        )
        .timeout(Duration::from_millis(50))
        .collect();
    gate.open();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert!(results[1].as_ref().unwrap_err().is_timeout());
}

#[test]
fn chunks_on_a_thread_pool_keep_order_and_per_item_panics() {
    let pool = ThreadPool::new();
    let results: Vec<_> = pool
        .map(
            |x: u32| {
                assert!(x != 5, "five");
                x * 2
            },
            0..12,
        )
        .chunksize(4)
        .collect();
    assert_eq!(results.len(), 12);
    for (i, r) in results.iter().enumerate() {
        if i == 5 {
            assert_eq!(r.as_ref().unwrap_err().panic_message(), Some("five"));
        } else {
            assert_eq!(*r.as_ref().unwrap(), 2 * i as u32);
        }
    }
}

#[test]
fn an_unordered_chunked_map_yields_every_item_once() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let mut v: Vec<u32> = pool
        .map(|x: u32| x, 0..100)
        .chunksize(7)
        .unordered()
        .map(Result::unwrap)
        .collect();
    v.sort_unstable();
    assert_eq!(v, (0..100).collect::<Vec<_>>());
}

/// A map's stream holds a handle to its pool, not a borrow: it moves into
/// a spawned async task.
#[test]
fn a_map_stream_moves_into_a_spawned_task() {
    use futures::StreamExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let pool = ThreadPool::new();
    let stream = pool.map(|x: u64| x * x, 1..=5).into_stream();
    drop(pool); // the stream keeps the pool alive
    let spawned = rt.spawn(stream.map(Result::unwrap).collect::<Vec<_>>());
    let squares = rt.block_on(spawned).unwrap();
    assert_eq!(squares, [1, 4, 9, 16, 25]);
}

#[test]
fn an_unordered_stream_wakes_on_any_completion() {
    use futures::StreamExt;
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let mut stream = pool
        .map_unordered(
            move |i: u32| {
                if i == 0 {
                    let _ = rx.lock().unwrap().recv_timeout(LONG);
                }
                i
            },
            0..3,
        )
        .into_stream();
    futures::executor::block_on(async {
        let mut got = vec![
            stream.next().await.unwrap().unwrap(),
            stream.next().await.unwrap().unwrap(),
        ];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        tx.send(()).unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), 0);
        assert!(stream.next().await.is_none());
    });
}

#[cfg(feature = "remote")]
mod named {
    use futurepool::{Executor, ThreadPool, remote};

    fn double(x: u64) -> u64 {
        2 * x
    }

    /// Generic over the executor: the same map on any of them.
    pub fn doubled<E: Executor>(executor: &E, n: u64) -> Vec<u64> {
        executor
            .map_fn(remote!(double), 0..n)
            .chunksize(3)
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_named_map_runs_on_a_thread_pool() {
        let pool = ThreadPool::new();
        assert_eq!(
            doubled(&pool, 10),
            (0..10).map(|x| 2 * x).collect::<Vec<_>>()
        );
        let mut v: Vec<u64> = pool
            .map_unordered_fn(remote!(double), 0..5)
            .map(Result::unwrap)
            .collect();
        v.sort_unstable();
        assert_eq!(v, [0, 2, 4, 6, 8]);
    }

    #[test]
    fn a_named_map_after_shutdown_yields_one_error() {
        let pool = ThreadPool::new();
        pool.shutdown();
        let items: Vec<_> = pool.map_fn(remote!(double), 0..5).collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].as_ref().unwrap_err().is_shutdown());
    }
}

#[test]
fn an_unordered_map_shut_down_while_mapping_yields_what_was_submitted_then_ends() {
    // As an ordered map does: the units submitted before the shutdown still
    // run and yield their items, and the refusal comes last. (It came as
    // soon as it was made, and its end cancelled the units still running,
    // dropping their values.)
    for stream in [false, true] {
        let pool = ThreadPool::builder().max_workers(3).build().unwrap();
        let (first, rest) = (Gate::new(), Gate::new());
        let (w1, w2) = (first.waiter(), rest.waiter());
        let mut map = pool
            .map_unordered(
                move |x: u32| {
                    match x {
                        0 => {}
                        1 => w1.wait(),
                        _ => w2.wait(),
                    }
                    x
                },
                0..100,
            )
            .max_in_flight(3);
        assert_eq!(map.next().unwrap().unwrap(), 0); // 1, 2 and 3 submitted
        pool.shutdown_with(futurepool::ShutdownOptions::new().wait(false));
        first.open();
        // Input 4 is refused as 1 comes out.
        assert_eq!(map.next().unwrap().unwrap(), 1);
        rest.open();
        let rest: Vec<_> = if stream {
            use futures::StreamExt;
            futures::executor::block_on(map.into_stream().collect())
        } else {
            map.collect()
        };
        assert_eq!(rest.len(), 3, "stream: {stream}");
        let mut ok: Vec<u32> = rest[..2].iter().map(|r| *r.as_ref().unwrap()).collect();
        ok.sort();
        assert_eq!(ok, [2, 3], "stream: {stream}");
        assert!(rest[2].as_ref().unwrap_err().is_shutdown());
    }
}

#[test]
fn an_unordered_map_on_a_shut_down_pool_says_so_and_ends() {
    let pool = ThreadPool::new();
    pool.shutdown();
    let mut it = pool.map_unordered(|x: u32| x, 0..3);
    assert!(it.next().unwrap().unwrap_err().is_shutdown());
    assert!(it.next().is_none());
    let mut stream = pool.map_unordered(|x: u32| x, 0..3).into_stream();
    futures::executor::block_on(async {
        use futures::StreamExt;
        assert!(stream.next().await.unwrap().unwrap_err().is_shutdown());
        assert!(stream.next().await.is_none());
    });
}
