//! A task that crashes its process: the program reports the error and keeps
//! using the pool.
//!
//! `cargo run -p futurepool-examples --example crash`

use futurepool::{ProcessPool, remote};

fn segfault(_: ()) -> u32 {
    // SAFETY: not safe at all: a write to an unmapped address, to crash
    // this (worker) process with a real SIGSEGV, which is the point.
    unsafe { std::ptr::without_provenance_mut::<u32>(8).write_volatile(1) };
    unreachable!()
}

fn abort(_: ()) -> u32 {
    std::process::abort()
}

fn panics(_: ()) -> u32 {
    panic!("a bug, caught in the worker")
}

fn fine(x: u32) -> u32 {
    x + 1
}

fn main() {
    futurepool::process::init();

    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    for (name, f) in [
        ("segfault", remote!(segfault)),
        ("abort", remote!(abort)),
        ("panic", remote!(panics)),
    ] {
        let err = pool.submit(f, ()).unwrap().join().unwrap_err();
        println!("{name:>8}: {err}");
        match (err.worker_pid(), err.exit_signal()) {
            (Some(pid), Some(sig)) => println!("          worker {pid} died of signal {sig}"),
            _ => println!("          the worker survived"),
        }
    }
    let results: Vec<u32> = pool
        .map(remote!(fine), 0..5)
        .collect::<Result<_, _>>()
        .unwrap();
    println!("the pool carries on: {results:?}");
    println!("worker processes started: {}", pool.workers_started());
}
