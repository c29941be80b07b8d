//! Progress on the process pool's map (a `FnMap`): counted in inputs as
//! chunks come back from worker processes, failures included.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

use std::sync::{Arc, Mutex};

use futurepool::{ProcessPool, Progress, remote};

/// Fails inputs divisible by 7, in the worker process.
fn square_unless_seven(x: u64) -> u64 {
    assert!(x % 7 != 0, "a multiple of seven (expected by the test)");
    x * x
}

#[test]
fn a_process_map_counts_inputs_and_their_failures() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    for (chunk, unordered) in [(1, false), (4, false), (4, true)] {
        let log: Arc<Mutex<Vec<Progress>>> = Arc::default();
        let l = log.clone();
        let mut map = pool
            .map(remote!(square_unless_seven), 1..=30)
            .chunksize(chunk)
            .progress(move |p: &Progress| l.lock().unwrap().push(p.clone()));
        if unordered {
            map = map.unordered();
        }
        let failed = map.filter(Result::is_err).count();
        assert_eq!(failed, 4);
        let log = log.lock().unwrap();
        let last = log.last().unwrap();
        assert_eq!(
            (last.done(), last.failed(), last.total()),
            (30, 4, Some(30))
        );
        assert!(log.windows(2).all(|w| w[0].done() <= w[1].done()));
    }
}
