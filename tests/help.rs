//! Help-while-waiting and the bound on lent places (issue 12).
//!
//! A pool worker that waits without a time limit for a task of its own pool
//! that hasn't started runs it itself; a worker that waits for a task
//! running elsewhere, or waits with a time limit, lends its place, up to
//! the builder's `max_lent`. Each test bounds its waits by `LONG`, so a
//! deadlock fails instead of hanging.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::{Gate, LONG};
use futurepool::{
    ReturnWhen, ShutdownOptions, TaskError, TaskHandle, ThreadPool, as_completed, wait,
};

fn pool(max_workers: usize, max_lent: usize) -> ThreadPool {
    ThreadPool::builder()
        .max_workers(max_workers)
        .max_lent(max_lent)
        .build()
        .unwrap()
}

/// Joins `handle` within [`LONG`], or fails.
#[track_caller]
fn join_or_fail<T>(handle: TaskHandle<T>) -> Result<T, TaskError> {
    match handle.join_timeout(LONG) {
        Ok(value) => Ok(value),
        Err(err) if err.is_timeout() => panic!("deadlocked: {err}"),
        Err(err) => Err(err.into_task_error().expect("not a timeout")),
    }
}

fn fib(pool: &ThreadPool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (p1, p2) = (pool.clone(), pool.clone());
    let a = pool.submit(move || fib(&p1, n - 1)).unwrap();
    let b = pool.submit(move || fib(&p2, n - 2)).unwrap();
    a.join().unwrap() + b.join().unwrap()
}

fn fib_on(max_workers: usize, max_lent: usize) -> (u64, ThreadPool) {
    let pool = pool(max_workers, max_lent);
    let root = pool.clone();
    let got = join_or_fail(pool.submit(move || fib(&root, 25)).unwrap()).unwrap();
    (got, pool)
}

#[test]
fn fib_25_by_nested_joins_on_one_worker() {
    for max_lent in [0, 1] {
        let (got, pool) = fib_on(1, max_lent);
        assert_eq!(got, 75_025);
        assert!(
            pool.workers_started() <= 1 + max_lent,
            "{} threads started, bound {}",
            pool.workers_started(),
            1 + max_lent
        );
    }
}

#[test]
fn fib_25_by_nested_joins_on_two_workers() {
    for max_lent in [0, 1, 2, 8] {
        let (got, pool) = fib_on(2, max_lent);
        assert_eq!(got, 75_025);
        // Ever started, not only at once: a lender that comes back is held
        // in reserve and taken back by the next lend, not replaced.
        assert!(
            pool.workers_started() <= 2 + max_lent,
            "{} threads started, bound {}",
            pool.workers_started(),
            2 + max_lent
        );
    }
}

#[test]
fn a_waiting_worker_runs_a_pending_task_of_its_pool_itself() {
    let pool = pool(1, 1);
    let p = pool.clone();
    let outer = pool
        .submit(move || {
            let waiter = thread::current().id();
            let inner = p.submit(|| thread::current().id()).unwrap();
            (waiter, inner.join().unwrap())
        })
        .unwrap();
    let (waiter, ran_on) = join_or_fail(outer).unwrap();
    assert_eq!(waiter, ran_on, "run inline by the waiting worker");
    assert_eq!(
        pool.workers_started(),
        1,
        "no place lent, no thread started"
    );
    common::wait_until("the queue's entry is let go", || pool.queued() == 0);
}

/// A way to wait for a task, giving back the thread it ran on.
type WaitBy = fn(TaskHandle<ThreadId>) -> ThreadId;

/// A way to submit a task that says which thread it ran on.
type SubmitBy = fn(&ThreadPool) -> TaskHandle<ThreadId>;

/// Runs `inner`, submitted by a task on a one-worker pool, and waits for it
/// by `how`; returns the thread it ran on and the waiter's.
fn where_it_runs(
    inner: impl FnOnce(&ThreadPool) -> TaskHandle<ThreadId> + Send + 'static,
    how: impl FnOnce(TaskHandle<ThreadId>) -> ThreadId + Send + 'static,
) -> (ThreadId, ThreadId) {
    let pool = pool(1, 1);
    let p = pool.clone();
    let outer = pool
        .submit(move || (thread::current().id(), how(inner(&p))))
        .unwrap();
    join_or_fail(outer).unwrap()
}

#[test]
fn each_untimed_wait_for_all_helps() {
    let plain = |p: &ThreadPool| p.submit(|| thread::current().id()).unwrap();
    let ways: [(&str, WaitBy); 5] = [
        ("join", |h| h.join().unwrap()),
        ("wait then join", |h| {
            h.wait();
            h.join().unwrap()
        }),
        ("wait for all", |h| {
            let waited = wait([&h], ReturnWhen::AllCompleted);
            assert_eq!(waited.done.len(), 1);
            drop(waited);
            h.join().unwrap()
        }),
        ("as_completed to the end", |h| {
            let all: Vec<_> = as_completed([h]).collect();
            all.into_iter().next().unwrap().join().unwrap()
        }),
        ("shared", |h| *h.shared().get().unwrap()),
    ];
    for (name, how) in ways {
        let (waiter, ran_on) = where_it_runs(plain, how);
        assert_eq!(waiter, ran_on, "{name}: run by the waiter");
    }
}

#[test]
fn timed_and_first_completed_waits_only_lend() {
    let plain = |p: &ThreadPool| p.submit(|| thread::current().id()).unwrap();
    let ways: [(&str, WaitBy); 3] = [
        ("join_timeout", |h| h.join_timeout(LONG).unwrap()),
        ("wait for the first", |h| {
            let waited = wait([&h], ReturnWhen::FirstCompleted);
            assert_eq!(waited.done.len(), 1);
            drop(waited);
            h.join().unwrap()
        }),
        ("as_completed with a timeout", |h| {
            let first = as_completed([h]).timeout(LONG).next().unwrap();
            first.unwrap().join().unwrap()
        }),
    ];
    for (name, how) in ways {
        let (waiter, ran_on) = where_it_runs(plain, how);
        assert_ne!(
            waiter, ran_on,
            "{name}: run by a worker started in its place"
        );
    }
}

#[test]
fn tasks_that_can_end_while_they_run_are_not_run_inline() {
    let ways: [(&str, SubmitBy); 3] = [
        ("a token", |p| {
            p.submit_cancellable(|_token| thread::current().id())
                .unwrap()
        }),
        ("a time limit", |p| {
            p.task()
                .time_limit(LONG)
                .submit(|| thread::current().id())
                .unwrap()
        }),
        ("a deadline", |p| {
            p.task()
                .timeout(LONG)
                .submit(|| thread::current().id())
                .unwrap()
        }),
    ];
    for (name, inner) in ways {
        let (waiter, ran_on) = where_it_runs(inner, |h| h.join().unwrap());
        assert_ne!(
            waiter, ran_on,
            "{name}: run on a worker, the waiter lent its place"
        );
    }
}

#[test]
fn a_task_of_another_pool_is_not_run_inline() {
    let here = pool(1, 1);
    let there = ThreadPool::builder()
        .max_workers(1)
        .thread_name("there")
        .build()
        .unwrap();
    let gate = Gate::new();
    let blocked = {
        let waiter = gate.waiter();
        there.submit(move || waiter.wait()).unwrap()
    };
    let queued = there
        .submit(|| thread::current().name().map(str::to_owned))
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let outer = here
        .submit(move || {
            tx.send(()).unwrap();
            queued.join().unwrap()
        })
        .unwrap();
    rx.recv_timeout(LONG).unwrap();
    gate.open();
    assert_eq!(join_or_fail(outer).unwrap().as_deref(), Some("there-0"));
    join_or_fail(blocked).unwrap();
}

#[test]
fn a_helped_task_behaves_as_on_any_worker() {
    let pool = pool(1, 0);
    let p = pool.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let outer = pool
        .submit(move || {
            let waiter = thread::current().id();
            // A panic is its outcome; the waiter carries on.
            let panicked = p.submit(|| -> u32 { panic!("inner boom") }).unwrap();
            let err = panicked.join().unwrap_err();
            assert!(err.is_panic());
            assert_eq!(err.panic_message(), Some("inner boom"));
            // Its callbacks run, on the thread that ran it.
            let with_callback = p.submit(|| 5).unwrap();
            with_callback.add_done_callback(move |outcome| {
                assert_eq!(outcome.ok(), Some(&5));
                assert_eq!(thread::current().id(), waiter);
                counted.fetch_add(1, Ordering::SeqCst);
            });
            assert_eq!(with_callback.join().unwrap(), 5);
            // Cancelled before it starts: never runs.
            let ran = Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            let cancelled = p.submit(move || r.fetch_add(1, Ordering::SeqCst)).unwrap();
            assert!(cancelled.cancel());
            assert!(cancelled.join().unwrap_err().is_cancelled());
            ran.load(Ordering::SeqCst)
        })
        .unwrap();
    assert_eq!(
        join_or_fail(outer).unwrap(),
        0,
        "the cancelled task never ran"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(pool.workers_started(), 1);
    common::wait_until("the queue's entries are let go", || pool.queued() == 0);
}

#[test]
fn with_the_bound_reached_a_waiter_blocks_without_lending() {
    // One worker, nothing may be lent: a task waiting with a time limit for
    // a task queued behind it can't be helped (timed) nor lend: it times out.
    let pool = pool(1, 0);
    let p = pool.clone();
    let outer = pool
        .submit(move || {
            let inner = p.submit(|| 7).unwrap();
            let timed_out = inner.join_timeout(Duration::from_millis(50)).is_err();
            (timed_out, p.worker_count())
        })
        .unwrap();
    assert_eq!(join_or_fail(outer).unwrap(), (true, 1));
    assert_eq!(pool.peak_worker_count(), 1);

    // With one place to lend, the same wait lends it: a second thread runs
    // the inner task.
    let pool = pool_with_lent(1);
    let p = pool.clone();
    let outer = pool
        .submit(move || p.submit(|| 7).unwrap().join_timeout(LONG).unwrap())
        .unwrap();
    assert_eq!(join_or_fail(outer).unwrap(), 7);
    assert_eq!(pool.peak_worker_count(), 2);
}

fn pool_with_lent(max_lent: usize) -> ThreadPool {
    pool(1, max_lent)
}

#[test]
fn the_default_bound_is_max_workers() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    // Six tasks, each waiting for a promise (a futurepool wait no worker
    // can help with): two workers wait and lend their places, the two
    // threads started in their stead wait too and can't lend (the bound,
    // two, is reached), and the last two tasks stay queued.
    let (promise, handle) = futurepool::Promise::new();
    let answer = handle.shared();
    let (tx, rx) = mpsc::channel();
    let waiters: Vec<_> = (0..6)
        .map(|_| {
            let answer = answer.clone();
            let tx = tx.clone();
            pool.submit(move || {
                tx.send(()).unwrap();
                answer.wait();
                *answer.get().unwrap()
            })
            .unwrap()
        })
        .collect();
    for _ in 0..4 {
        rx.recv_timeout(LONG).unwrap();
    }
    assert_eq!(pool.worker_count(), 4, "two workers and two lent places");
    assert_eq!(pool.queued(), 2);
    assert!(rx.try_recv().is_err(), "nobody runs the last two yet");
    promise.set(5).unwrap();
    for w in waiters {
        assert_eq!(join_or_fail(w).unwrap(), 5);
    }
    assert_eq!(pool.peak_worker_count(), 4);
}

#[test]
fn a_shutdown_that_cancels_pending_work_leaves_a_helped_task_running() {
    let pool = pool(1, 0);
    let p = pool.clone();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (started_tx, started_rx) = mpsc::channel();
    let outer = pool
        .submit(move || {
            let inner = p
                .submit(move || {
                    started_tx.send(()).unwrap();
                    waiter.wait();
                    9
                })
                .unwrap();
            inner.join()
        })
        .unwrap();
    // The inner task runs inline; its queue entry is still queued.
    started_rx.recv_timeout(LONG).unwrap();
    let shutdown = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown_with(ShutdownOptions::new().cancel_pending(true)))
    };
    common::wait_until("the shutdown drained the queue", || pool.queued() == 0);
    gate.open();
    let inner = join_or_fail(outer).unwrap();
    assert_eq!(
        inner.unwrap(),
        9,
        "ran to the end, not cancelled nor abandoned"
    );
    assert!(shutdown.join().unwrap());
}

/// A random tree of nested waits: each node submits its children (some
/// cancelled at once, some panicking), waits for them by a random kind of
/// untimed wait, and returns its id plus the sum of what they returned (a
/// child that panicked or was cancelled adds 1000).
#[derive(Debug)]
struct Node {
    id: u64,
    panics: bool,
    cancel: bool,
    wait_by: u8,
    children: Vec<Node>,
}

/// A small xorshift: the tree is the same for a seed on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn tree(rng: &mut Rng, depth: u32, next_id: &mut u64) -> Node {
    *next_id += 1;
    let fan_out = if depth == 0 { 0 } else { rng.below(4) };
    Node {
        id: *next_id,
        panics: rng.below(10) == 0,
        cancel: rng.below(8) == 0,
        wait_by: rng.below(4) as u8,
        children: (0..fan_out)
            .map(|_| tree(rng, depth - 1, next_id))
            .collect(),
    }
}

/// What a node returns if it runs.
fn expected(node: &Node) -> u64 {
    node.id
        + node
            .children
            .iter()
            .map(|c| if c.panics { 1000 } else { expected(c) })
            .sum::<u64>()
}

fn run_node(pool: &ThreadPool, node: Arc<Node>, outcomes: &Arc<Mutex<Vec<u64>>>) -> u64 {
    let handles: Vec<(usize, bool, TaskHandle<u64>)> = (0..node.children.len())
        .map(|i| {
            let (p, n, o) = (pool.clone(), node.clone(), outcomes.clone());
            let handle = pool
                .submit(move || {
                    let child = &n.children[i];
                    if child.panics {
                        panic!("node {} panics", child.id);
                    }
                    run_node(&p, Arc::new(clone_node(child)), &o)
                })
                .unwrap();
            let cancelled = node.children[i].cancel && handle.cancel();
            (i, cancelled, handle)
        })
        .collect();
    let mut sum = node.id;
    let mut settle = |i: usize, cancelled: bool, outcome: Result<u64, TaskError>| {
        let child = &node.children[i];
        match outcome {
            Ok(value) => {
                assert!(!cancelled && !child.panics, "node {}", child.id);
                assert_eq!(value, expected(child), "node {}", child.id);
                sum += value;
            }
            Err(err) if cancelled => {
                assert!(err.is_cancelled(), "node {}: {err}", child.id);
                sum += if child.panics { 1000 } else { expected(child) };
            }
            Err(err) => {
                assert!(child.panics && err.is_panic(), "node {}: {err}", child.id);
                sum += 1000;
            }
        }
        outcomes.lock().unwrap().push(child.id);
    };
    match node.wait_by {
        0 => {
            for (i, cancelled, h) in handles {
                settle(i, cancelled, h.join());
            }
        }
        1 => {
            let refs: Vec<&TaskHandle<u64>> = handles.iter().map(|(_, _, h)| h).collect();
            let waited = wait(refs, ReturnWhen::AllCompleted);
            assert!(waited.not_done.is_empty());
            drop(waited);
            for (i, cancelled, h) in handles {
                settle(i, cancelled, h.join());
            }
        }
        2 => {
            let keyed: Vec<_> = handles.into_iter().map(|(i, c, h)| ((i, c), h)).collect();
            for ((i, cancelled), h) in as_completed(keyed) {
                settle(i, cancelled, h.join());
            }
        }
        _ => {
            for (i, cancelled, h) in handles {
                h.wait();
                settle(i, cancelled, h.join());
            }
        }
    }
    sum
}

fn clone_node(node: &Node) -> Node {
    Node {
        id: node.id,
        panics: node.panics,
        cancel: node.cancel,
        wait_by: node.wait_by,
        children: node.children.iter().map(clone_node).collect(),
    }
}

fn count(node: &Node) -> usize {
    1 + node.children.iter().map(count).sum::<usize>()
}

#[test]
fn random_trees_of_nested_waits() {
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut ids = 0;
        let mut root = tree(&mut rng, 5, &mut ids);
        root.panics = false;
        root.cancel = false;
        let (max_workers, max_lent) = (1 + (seed % 3) as usize, (seed % 2) as usize);
        let pool = pool(max_workers, max_lent);
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let want = expected(&root);
        let nodes = count(&root);
        let (p, o) = (pool.clone(), outcomes.clone());
        let root = Arc::new(root);
        let got = join_or_fail(pool.submit(move || run_node(&p, root, &o)).unwrap());
        assert_eq!(got.unwrap(), want, "seed {seed}");
        // Each child was settled once by its parent (a cancelled or
        // panicking child's own children were never submitted).
        let mut settled = outcomes.lock().unwrap().clone();
        let before = settled.len();
        settled.sort_unstable();
        settled.dedup();
        assert_eq!(settled.len(), before, "seed {seed}: a child settled twice");
        assert!(before < nodes, "seed {seed}");
        assert!(
            pool.workers_started() <= max_workers + max_lent,
            "seed {seed}: {} threads started, bound {}",
            pool.workers_started(),
            max_workers + max_lent
        );
    }
}

#[test]
fn a_chain_of_waits_deeper_than_a_stack_moves_to_other_threads() {
    // Small stacks: a few dozen levels of inline help fit in each. Past
    // three quarters of a stack a waiter lends its place instead, and the
    // chain goes on on a new thread, where it doesn't overflow.
    let pool = ThreadPool::builder()
        .max_workers(1)
        .max_lent(200)
        .stack_size(256 << 10)
        .build()
        .unwrap();
    let p = pool.clone();
    let top = pool.submit(move || common::chain(p, 2_000)).unwrap();
    assert_eq!(join_or_fail(top).unwrap(), 2_000);
    let started = pool.workers_started();
    assert!(
        (2..=201).contains(&started),
        "{started} threads: the chain moved on when a stack filled, within the bound"
    );
}

#[test]
fn a_lender_that_comes_back_is_reused_not_replaced() {
    // One worker, one place to lend. Round after round, a task waits
    // (timed: it lends) for a task that a started thread runs; the lender
    // comes back one too many and is held in reserve; the next round's
    // lend takes it back instead of starting a thread.
    let pool = pool(1, 1);
    for round in 0..20 {
        let p = pool.clone();
        let outer = pool
            .submit(move || p.submit(move || round).unwrap().join_timeout(LONG).unwrap())
            .unwrap();
        assert_eq!(join_or_fail(outer).unwrap(), round);
    }
    assert!(
        pool.workers_started() <= 2,
        "{} threads started over 20 lends, bound 2",
        pool.workers_started()
    );
}

#[test]
fn maps_and_task_groups_help_too() {
    // One worker, nothing lent: each wait below finishes only if the
    // waiting worker runs the tasks itself.
    let pool = pool(1, 0);
    let p = pool.clone();
    let outer = pool
        .submit(move || {
            let me = thread::current().id();
            let ordered: Vec<ThreadId> = p
                .map(|_| thread::current().id(), 0..6)
                .collect::<Result<_, _>>()
                .unwrap();
            let unordered: Vec<ThreadId> = p
                .map(|_| thread::current().id(), 0..6)
                .unordered()
                .collect::<Result<_, _>>()
                .unwrap();
            let mut group = futurepool::TaskGroup::new();
            for _ in 0..6 {
                group.insert(p.submit(|| thread::current().id()).unwrap());
            }
            let mut grouped = Vec::new();
            while let Some(id) = group.join_next() {
                grouped.push(id.unwrap());
            }
            [ordered, unordered, grouped]
                .iter()
                .all(|ids| ids.len() == 6 && ids.iter().all(|&id| id == me))
        })
        .unwrap();
    assert!(join_or_fail(outer).unwrap(), "every task ran on the waiter");
    assert_eq!(pool.workers_started(), 1);
}
