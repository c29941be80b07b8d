//! What the `process` feature gives on every platform, as a cross-platform
//! crate that enables it sees it: `remote!`, `RemoteFn`, `process::init`
//! and `process_init_before_main!` compile and work everywhere; building a
//! pool works on Linux and is refused elsewhere with an error that says
//! where pools run and what to use instead. Not Linux-only, on purpose.

#![cfg(feature = "process")]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

use futurepool::{ProcessPool, RemoteFn, ThreadPool, remote};

fn double(x: u32) -> u32 {
    2 * x
}

#[test]
fn remote_and_init_work_everywhere() {
    futurepool::process::init(); // returns at once: this is no worker
    let f: RemoteFn<u32, u32> = remote!(double);
    assert_eq!(f.call(21), 42);
    assert!(f.name().ends_with("::double"), "{}", f.name());
    let g = remote!(|s: String| s.len());
    assert_eq!(g.call("four".to_owned()), 4);
}

#[test]
fn build_says_where_pools_run() {
    let built = ProcessPool::builder().max_workers(1).build();
    assert_eq!(built.is_ok(), cfg!(target_os = "linux"));
    match built {
        Ok(pool) => {
            assert_eq!(pool.submit(remote!(double), 4).unwrap().join().unwrap(), 8);
        }
        Err(err) => {
            assert!(err.is_unsupported());
            assert_eq!(
                err.to_string(),
                format!(
                    "process pools run on Linux only, not on {}: \
                     use a ThreadPool, which runs everywhere",
                    std::env::consts::OS
                )
            );
            // The alternative it names.
            let pool = ThreadPool::new();
            assert_eq!(pool.submit(|| double(4)).unwrap().join().unwrap(), 8);
        }
    }
}

#[test]
#[cfg(not(target_os = "linux"))]
#[should_panic(expected = "cannot build a process pool: process pools run on Linux only")]
fn new_panics_off_linux() {
    let _ = ProcessPool::new();
}
