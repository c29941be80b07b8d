//! The one map window on the process pool (issue 10): a per-item time limit
//! that kills only the slow items' workers, unordered maps, and the stream
//! the process pool's map now has.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use common::process::{Started, notify, wait_dead};
use futurepool::{Executor, ProcessPool, TaskError, remote};
use serde::{Deserialize, Serialize, Serializer};
use std::time::Duration;

/// Slow forever on every tenth input; quick otherwise.
fn sometimes_stuck(i: u32) -> u32 {
    if i % 10 == 3 {
        loop {
            std::thread::park();
        }
    }
    i
}

/// The case: a process map of many inputs, a few of which hang.
/// A map-wide timeout ended the whole map at the first slow one (4 results
/// of 200); a per-item time limit fails just the slow ones, killing their
/// workers, and the map goes on.
#[test]
fn a_per_item_time_limit_fails_only_the_slow_items() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let results: Vec<_> = pool
        .map(remote!(sometimes_stuck), 0..20)
        .time_limit(Duration::from_millis(300))
        .collect();
    assert_eq!(results.len(), 20);
    let timed_out: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_ref().is_err_and(|e| e.is_timeout()))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(timed_out, [3, 13]);
    for (i, r) in results.iter().enumerate() {
        if !timed_out.contains(&i) {
            assert_eq!(*r.as_ref().unwrap(), i as u32);
        }
    }
    // Each slow item killed a worker; the work after the first kill needed
    // a fresh one (after the last kill, a fresh one starts only when there
    // is work for it).
    assert!(
        pool.workers_started() >= 3,
        "the stuck workers were replaced"
    );
    assert_eq!(
        pool.submit(remote!(sometimes_stuck), 1)
            .unwrap()
            .join()
            .unwrap(),
        1
    );
}

#[test]
fn an_unordered_process_map_yields_every_item_once() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let mut v: Vec<u32> = pool
        .map_unordered(remote!(|x: u32| x * 2), 0..30)
        .chunksize(4)
        .map(Result::unwrap)
        .collect();
    v.sort_unstable();
    assert_eq!(v, (0..30).map(|x| x * 2).collect::<Vec<_>>());
}

#[test]
fn a_process_map_is_a_stream_too() {
    use futures::StreamExt;
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let stream = pool
        .map(remote!(|x: u64| x + 1), 0..5)
        .chunksize(2)
        .into_stream();
    let v: Vec<u64> = futures::executor::block_on(stream.map(Result::unwrap).collect());
    assert_eq!(v, [1, 2, 3, 4, 5]);
}

#[test]
fn map_fn_on_a_process_pool_is_the_same_map() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let v: Vec<u32> = Executor::map_fn(&pool, remote!(|x: u32| x * x), 1..=4)
        .map(Result::unwrap)
        .collect();
    assert_eq!(v, [1, 4, 9, 16]);
}

/// A number that refuses to be encoded when it is 4.
#[derive(Deserialize, Debug)]
struct NotFour(u32);

impl Serialize for NotFour {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == 4 {
            return Err(serde::ser::Error::custom("four"));
        }
        s.serialize_u32(self.0)
    }
}

fn tenfold_but_seven(n: NotFour) -> u32 {
    if n.0 == 7 {
        panic!("seven");
    }
    n.0 * 10
}

/// "An input that fails to serialize yields its own serialization error",
/// whatever chunk it is in: the chunk's other inputs run (and one of them
/// panics, failing only itself).
#[test]
fn an_input_that_fails_to_encode_fails_only_itself_in_any_chunk() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    for chunk in [1, 2, 3, 9] {
        let results: Vec<Result<u32, TaskError>> = pool
            .map(remote!(tenfold_but_seven), (0..9).map(NotFour))
            .chunksize(chunk)
            .collect();
        assert_eq!(results.len(), 9, "chunks of {chunk}");
        for (i, result) in results.iter().enumerate() {
            match (i, result) {
                (4, Err(err)) => assert!(!err.is_panic(), "chunks of {chunk}: {err}"),
                (7, Err(err)) => assert!(err.is_panic(), "chunks of {chunk}: {err}"),
                (_, Ok(value)) => assert_eq!(*value, i as u32 * 10, "chunks of {chunk}"),
                _ => panic!("chunks of {chunk}, input {i}: {result:?}"),
            }
        }
    }
}

fn notify_then_block(path: String) -> u32 {
    notify(&path);
    loop {
        std::thread::park();
    }
}

/// "Dropping the map cancels the chunks in flight the same way" as its
/// timeout does: it kills the worker running one, ordered or not.
#[test]
fn dropping_a_process_map_kills_the_worker_running_its_chunk() {
    use futures::Stream;
    for unordered in [false, true] {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let started = Started::new();
        let mut map = pool.map(remote!(notify_then_block), [started.path()]);
        if unordered {
            map = map.unordered();
        }
        // Polled once, the stream submits the chunk and doesn't block.
        let mut stream = map.into_stream();
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(
            std::pin::Pin::new(&mut stream)
                .poll_next(&mut cx)
                .is_pending()
        );
        let pid = started.wait();
        drop(stream);
        assert!(wait_dead(pid, 30), "unordered: {unordered}");
    }
}
