//! What progress costs: a map of 100,000 trivial tasks with and without an
//! observer, side by side in one process, in alternating rounds; prints the
//! median times and their ratio. Not a benchmark to quote alone (absolute
//! times depend on the machine): the ratio is the claim.
//!
//! ```text
//! cargo run --release -p futurepool-examples --example progress_cost
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use futurepool::{Progress, ThreadPool, as_completed};

const TASKS: u64 = 100_000;
const ROUNDS: usize = 7;

#[derive(Clone, Copy, PartialEq)]
enum With {
    Nothing,
    Closure,
    Bar,
}

fn run_map(pool: &ThreadPool, unordered: bool, with: With) -> Duration {
    let start = Instant::now();
    let mut map = pool.map(|x: u64| black_box(x) + 1, 0..TASKS);
    if unordered {
        map = map.unordered();
    }
    let map = match with {
        With::Nothing => map,
        With::Closure => map.progress(|p: &Progress| {
            black_box(p.done());
        }),
        With::Bar => map.progress(indicatif::ProgressBar::hidden()),
    };
    let sum: u64 = map.map(Result::unwrap).sum();
    assert_eq!(sum, TASKS * (TASKS + 1) / 2);
    start.elapsed()
}

fn run_as_completed(pool: &ThreadPool, with: With) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..TASKS)
        .map(|x| pool.submit(move || black_box(x) + 1).unwrap())
        .collect();
    let it = as_completed(handles);
    let it = match with {
        With::Nothing => it,
        With::Closure => it.progress(|p: &Progress| {
            black_box(p.done());
        }),
        With::Bar => it.progress(indicatif::ProgressBar::hidden()),
    };
    let sum: u64 = it.map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, TASKS * (TASKS + 1) / 2);
    start.elapsed()
}

/// One case: how to run it with each kind of observer.
type Case<'a> = (&'a str, Box<dyn Fn(With) -> Duration + 'a>);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let pool = ThreadPool::new();
    let cases: [Case; 3] = [
        ("map (ordered)", Box::new(|w| run_map(&pool, false, w))),
        ("map (unordered)", Box::new(|w| run_map(&pool, true, w))),
        ("as_completed", Box::new(|w| run_as_completed(&pool, w))),
    ];
    println!(
        "{TASKS} trivial tasks, {} workers, median of {ROUNDS} alternating rounds",
        pool.max_workers()
    );
    for (name, run) in &cases {
        let withs = [With::Nothing, With::Closure, With::Bar];
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        run(With::Nothing); // warm up
        for _ in 0..ROUNDS {
            for (i, &w) in withs.iter().enumerate() {
                times[i].push(run(w));
            }
        }
        let [none, closure, bar] = times.map(median);
        println!(
            "{name:<16} none {:>7.1} ms | closure {:>7.1} ms ({:.2}x) | hidden indicatif bar {:>7.1} ms ({:.2}x)",
            none.as_secs_f64() * 1e3,
            closure.as_secs_f64() * 1e3,
            closure.as_secs_f64() / none.as_secs_f64(),
            bar.as_secs_f64() * 1e3,
            bar.as_secs_f64() / none.as_secs_f64(),
        );
    }
}
