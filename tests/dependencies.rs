//! Tasks that take other tasks' results (issue 14, Dask's
//! futures-as-arguments): `pool.task().after(deps).submit(f)`. Values,
//! failures and cancels of dependencies, cancel of the dependent, bounded
//! queues, several executors, shutdown. Races are arranged with promises
//! and channels. Process pools: `process_dependencies.rs`.

#![allow(missing_docs)]

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use futurepool::{Promise, TaskHandle, ThreadPool};

const LONG: Duration = Duration::from_secs(30);

/// A counter of runs, to show that a dependent never ran.
fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

#[test]
fn a_diamond_gets_every_value() {
    let pool = ThreadPool::new();
    let load = pool
        .task()
        .name("load")
        .submit(|| vec![1u64, 2, 3, 4])
        .unwrap()
        .shared();
    let sum = pool
        .task()
        .after(&load)
        .submit(|v: Vec<u64>| v.iter().sum::<u64>())
        .unwrap();
    let max = pool
        .task()
        .after(&load)
        .submit(|v: Vec<u64>| *v.iter().max().unwrap())
        .unwrap();
    let combine = pool
        .task()
        .name("combine")
        .after((sum, max))
        .submit(|(sum, max): (u64, u64)| format!("{sum}/{max}"))
        .unwrap();
    assert_eq!(combine.name(), Some("combine"));
    assert_eq!(combine.join().unwrap(), "10/4");
    assert_eq!(load.get().unwrap(), &[1, 2, 3, 4]); // the shared value is still there
}

#[test]
fn one_value_feeds_many_dependents() {
    let pool = ThreadPool::new();
    let (promise, handle) = Promise::new();
    let shared = handle.shared();
    let dependents: Vec<TaskHandle<u32>> = (0..20)
        .map(|i| {
            pool.task()
                .after(&shared)
                .submit(move |x: u32| x + i)
                .unwrap()
        })
        .collect();
    assert!(dependents.iter().all(|d| !d.is_done()));
    promise.set(100).unwrap();
    let got: Vec<u32> = dependents.into_iter().map(|d| d.join().unwrap()).collect();
    assert_eq!(got, (100..120).collect::<Vec<_>>());
}

#[test]
fn a_moved_handle_gives_its_value_without_clone() {
    struct NotClone(String);
    let pool = ThreadPool::new();
    let a = pool.submit(|| NotClone("moved".into())).unwrap();
    let b = pool.submit(|| 2).unwrap();
    let dep = pool
        .task()
        .after((a, b))
        .submit(|(a, b): (NotClone, i32)| a.0.len() as i32 * b)
        .unwrap();
    assert_eq!(dep.join().unwrap(), 10);
}

#[test]
fn a_failed_dependency_ends_the_dependent_unrun_and_names_it() {
    let pool = ThreadPool::new();
    let runs = counter();
    let (promise, handle) = Promise::<u32>::named("load");
    let load_id = handle.id();
    let shared = handle.shared();
    let other = pool.submit(|| 1u32).unwrap();
    let r = runs.clone();
    let combine = pool
        .task()
        .name("combine")
        .after((&shared, other))
        .submit(move |(a, b): (u32, u32)| {
            r.fetch_add(1, Ordering::SeqCst);
            a + b
        })
        .unwrap();
    promise.fail("disk on fire").unwrap();
    let err = combine.join().unwrap_err();
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the dependent ran");
    assert!(err.is_dependency_failed());
    assert!(!err.is_custom() && !err.is_cancelled());
    let dep = err.failed_dependency().unwrap();
    assert_eq!(dep.task_id(), Some(load_id));
    assert_eq!(dep.task_name(), Some("load"));
    assert!(dep.is_custom());
    assert_eq!(
        err.to_string(),
        format!(
            "task `combine`: dependency task {} `load` failed",
            load_id.as_u64()
        )
    );
    // The cause is the source, not repeated in the message.
    assert_eq!(err.source().unwrap().to_string(), "task `load` failed");
    assert_eq!(
        err.source().unwrap().source().unwrap().to_string(),
        "disk on fire"
    );
}

#[test]
fn a_panicking_dependency_reaches_every_link_of_a_chain() {
    let pool = ThreadPool::new();
    let a = pool
        .task()
        .name("a")
        .submit(|| -> u8 { panic!("bad row") })
        .unwrap();
    let a_id = a.id();
    let b = pool
        .task()
        .name("b")
        .after(a)
        .submit(|x: u8| x + 1)
        .unwrap();
    let b_id = b.id();
    let c = pool.after_chain_link(b);
    let err = c.join().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("dependency task {} `b` failed", b_id.as_u64())
    );
    let b_err = err.failed_dependency().unwrap();
    assert_eq!(
        b_err.to_string(),
        format!("task `b`: dependency task {} `a` failed", a_id.as_u64())
    );
    let a_err = b_err.failed_dependency().unwrap();
    assert_eq!(a_err.panic_message(), Some("bad row"));
    assert!(!err.is_panic()); // only the first link panicked
}

/// An unnamed link of a chain.
trait ChainLink {
    fn after_chain_link(&self, h: TaskHandle<u8>) -> TaskHandle<u8>;
}

impl ChainLink for ThreadPool {
    fn after_chain_link(&self, h: TaskHandle<u8>) -> TaskHandle<u8> {
        self.task().after(h).submit(|x: u8| x + 1).unwrap()
    }
}

#[test]
fn a_cancelled_dependency_reaches_the_dependent() {
    let pool = ThreadPool::new();
    let runs = counter();
    let (promise, handle) = Promise::<u8>::named("fetch");
    let shared = handle.shared();
    let r = runs.clone();
    let dep = pool
        .task()
        .after(&shared)
        .submit(move |x: u8| {
            r.fetch_add(1, Ordering::SeqCst);
            x
        })
        .unwrap();
    assert!(shared.cancel());
    let err = dep.join().unwrap_err();
    assert!(err.is_dependency_failed());
    assert!(err.failed_dependency().unwrap().is_cancelled());
    assert!(!err.is_cancelled()); // the dependent wasn't: its dependency was
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    drop(promise);
}

#[test]
fn cancelling_the_dependent_before_it_starts_leaves_the_dependencies_alone() {
    let pool = ThreadPool::new();
    let runs = counter();
    let (promise, handle) = Promise::<u32>::new();
    let shared = handle.shared();
    let r = runs.clone();
    let dep = pool
        .task()
        .after(&shared)
        .submit(move |x: u32| {
            r.fetch_add(1, Ordering::SeqCst);
            x
        })
        .unwrap();
    assert!(!dep.is_running()); // waiting: pending
    assert!(dep.cancel());
    assert!(dep.is_cancelled());
    assert!(!promise.is_cancelled(), "the cancel reached the dependency");
    promise.set(5).unwrap();
    assert_eq!(shared.join().unwrap(), 5);
    assert!(dep.join().unwrap_err().is_cancelled());
    pool.shutdown(); // every queued task has run: the dependent was never queued
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[test]
fn cancelling_the_dependent_after_hand_over_drops_the_queued_task() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let ready = pool.submit(|| 1).unwrap().shared();
    ready.wait();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let blocker = pool.submit(move || go_rx.recv().unwrap()).unwrap();
    let runs = counter();
    let r = runs.clone();
    // Its dependency is done: it is handed over in the submit, and queued
    // behind `blocker`.
    let dep = pool
        .task()
        .after(&ready)
        .submit(move |x: i32| {
            r.fetch_add(1, Ordering::SeqCst);
            x
        })
        .unwrap();
    assert!(
        dep.is_running(),
        "handed over: running as far as the handle says"
    );
    assert!(dep.cancel());
    go_tx.send(()).unwrap();
    blocker.join().unwrap();
    assert!(dep.join().unwrap_err().is_cancelled());
    pool.shutdown();
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the queued task ran");
    assert_eq!(ready.join().unwrap(), 1);
}

#[test]
fn cancelling_a_running_dependent_signals_its_token() {
    let pool = ThreadPool::new();
    let (started_tx, started_rx) = mpsc::channel();
    let (saw_tx, saw_rx) = mpsc::channel();
    let one = pool.submit(|| 1).unwrap();
    let dep = pool
        .task()
        .after(one)
        .submit_cancellable(move |token, x: i32| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::yield_now();
            }
            saw_tx.send(()).unwrap();
            x
        })
        .unwrap();
    started_rx.recv().unwrap();
    assert!(dep.is_running());
    assert!(dep.cancel());
    assert!(dep.join().unwrap_err().is_cancelled());
    assert_eq!(
        saw_rx.recv_timeout(LONG),
        Ok(()),
        "the token was not signalled"
    );
}

/// A cancel racing the end of the dependency: the dependent either gives
/// its value (the cancel came too late and said so) or ends cancelled (the
/// cancel said it did); never both, never neither, never a hang.
#[test]
fn a_cancel_racing_the_dependency_is_all_or_nothing() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    for i in 0..500u32 {
        let (promise, handle) = Promise::<u32>::new();
        let dep = pool.task().after(handle).submit(|x: u32| x + 1).unwrap();
        let keeper = thread::spawn(move || promise.set(i).unwrap());
        let cancelled = dep.cancel();
        keeper.join().unwrap();
        match dep.join_timeout(LONG) {
            Ok(value) => assert!(!cancelled && value == i + 1),
            Err(futurepool::JoinTimeoutError::Failed(err)) => {
                assert!(cancelled && err.is_cancelled(), "{err}");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[test]
fn dropping_the_dependent_handle_cancels_nothing() {
    let pool = ThreadPool::new();
    let (promise, handle) = Promise::<u32>::new();
    let (ran_tx, ran_rx) = mpsc::channel();
    drop(
        pool.task()
            .after(handle)
            .submit(move |x: u32| ran_tx.send(x).unwrap())
            .unwrap(),
    );
    promise.set(9).unwrap();
    assert_eq!(ran_rx.recv_timeout(LONG), Ok(9));
}

#[test]
fn dependencies_already_done_at_submit() {
    let pool = ThreadPool::new();
    let a = pool.submit(|| 2).unwrap();
    let b = pool.submit(|| 3).unwrap().shared();
    a.wait();
    b.wait();
    let dep = pool
        .task()
        .after([a.shared(), b])
        .submit(|[a, b]: [i32; 2]| a * b)
        .unwrap();
    assert_eq!(dep.join().unwrap(), 6);
}

#[test]
fn no_dependencies_run_at_once() {
    let pool = ThreadPool::new();
    let none: Vec<TaskHandle<u8>> = Vec::new();
    let dep = pool
        .task()
        .after(none)
        .submit(|v: Vec<u8>| v.len())
        .unwrap();
    assert_eq!(dep.join().unwrap(), 0);
    let unit = pool.task().after(()).submit(|()| "ran").unwrap();
    assert_eq!(unit.join().unwrap(), "ran");
}

#[test]
fn nested_shapes_arrive_in_order() {
    let pool = ThreadPool::new();
    let config = pool.submit(|| String::from("x")).unwrap().shared();
    let rows: Vec<_> = (0..5).map(|i| pool.submit(move || i).unwrap()).collect();
    let dep = pool
        .task()
        .after((&config, rows, ((),)))
        .submit(|(c, rows, ((),)): (String, Vec<i32>, ((),))| format!("{c}{rows:?}"))
        .unwrap();
    assert_eq!(dep.join().unwrap(), "x[0, 1, 2, 3, 4]");
}

/// A chain of 50 dependents on a pool of one worker with a queue of one:
/// each link is submitted by the worker that finishes the one before, and
/// none waits.
#[test]
fn a_chain_on_a_bounded_pool_of_one_worker_does_not_deadlock() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .bounded(1)
        .build()
        .unwrap();
    let mut link = pool.submit(|| 0u32).unwrap();
    for _ in 0..50 {
        link = pool.task().after(link).submit(|x: u32| x + 1).unwrap();
    }
    assert_eq!(link.join().unwrap(), 50);
}

/// How deep the long chains below go: far past what one stack frame per
/// link would allow.
const DEEP: usize = 10_000;

/// The source chain's length: one link per dependent.
fn sources(err: &futurepool::TaskError) -> usize {
    let mut n = 0;
    let mut at: &dyn Error = err;
    while let Some(source) = at.source() {
        at = source;
        n += 1;
    }
    n
}

/// A failure at the root of a long chain of waiting dependents ends them
/// all, link after link, on the thread that fails the root, even a small
/// one: not one call inside the other (a stack overflow, which aborts the
/// process). The error of the end names the whole chain, and is dropped
/// and printed (`Debug` stops nesting) without deep recursion either.
#[test]
fn a_failure_ends_a_chain_thousands_long_without_overflowing_the_stack() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let runs = counter();
    let (promise, root) = Promise::<u64>::new();
    let mut link = root;
    for _ in 0..DEEP {
        let r = runs.clone();
        link = pool
            .task()
            .after(link)
            .submit(move |x: u64| {
                r.fetch_add(1, Ordering::SeqCst);
                x + 1
            })
            .unwrap();
    }
    thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || drop(promise)) // abandoned: the root fails
        .unwrap()
        .join()
        .unwrap();
    let err = link.join().unwrap_err();
    assert!(err.is_dependency_failed());
    assert_eq!(sources(&err), DEEP);
    assert!(format!("{err:?}").len() < 2_000);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || drop(err))
        .unwrap()
        .join()
        .unwrap();
}

/// The same down a chain of shared handles, from a root that panics on a
/// pool worker: every link's error holds the chain before it, shared, not
/// copied (a copy per link would be quadratic).
#[test]
fn a_panic_ends_a_chain_of_shared_handles_thousands_long() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (go, wait) = mpsc::channel::<()>();
    let root = pool
        .submit(move || -> u64 {
            wait.recv().unwrap();
            panic!("root")
        })
        .unwrap();
    let mut link = root.shared();
    for _ in 0..DEEP {
        link = pool
            .task()
            .after(&link)
            .submit(|x: u64| x + 1)
            .unwrap()
            .shared();
    }
    go.send(()).unwrap();
    let err = link.join().unwrap_err();
    assert!(err.is_dependency_failed());
    assert_eq!(sources(&err), DEEP);
}

/// The thread that finishes a dependency never waits for room in a full
/// queue: the waiting submit goes to the callback runner.
#[test]
fn a_full_queue_does_not_block_the_thread_that_finishes_a_dependency() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .bounded(1)
        .build()
        .unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let blocker = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap()
        })
        .unwrap();
    started_rx.recv().unwrap();
    let filler = pool.submit(|| 1).unwrap(); // the queue is full now
    let (promise, handle) = Promise::<i32>::new();
    let dep = pool.task().after(handle).submit(|x: i32| x * 2).unwrap();
    let (set_tx, set_rx) = mpsc::channel();
    let setter = thread::spawn(move || {
        promise.set(21).unwrap(); // the dependent is started here
        set_tx.send(()).unwrap();
    });
    assert_eq!(
        set_rx.recv_timeout(LONG),
        Ok(()),
        "the thread that kept the promise waited for room in the queue"
    );
    setter.join().unwrap();
    assert!(!dep.is_done());
    go_tx.send(()).unwrap();
    blocker.join().unwrap();
    assert_eq!(filler.join().unwrap(), 1);
    assert_eq!(dep.join().unwrap(), 42);
}

#[test]
fn dependencies_from_two_pools_feed_a_third() {
    let (p1, p2, p3) = (ThreadPool::new(), ThreadPool::new(), ThreadPool::new());
    let a = p1
        .submit(|| thread::current().name().map(str::to_owned))
        .unwrap();
    let b = p2.submit(|| 40).unwrap();
    let dep = p3
        .task()
        .after((a, b))
        .submit(|(name, b): (Option<String>, i32)| (name.is_some(), b + 2))
        .unwrap();
    assert_eq!(dep.join().unwrap(), (true, 42));
}

#[test]
fn a_shutdown_while_the_dependent_waits_ends_it_with_a_clear_error() {
    let pool = ThreadPool::new();
    let runs = counter();
    let (promise, handle) = Promise::<u8>::new();
    let r = runs.clone();
    let dep = pool
        .task()
        .name("late")
        .after(handle)
        .submit(move |x: u8| {
            r.fetch_add(1, Ordering::SeqCst);
            x
        })
        .unwrap();
    assert!(pool.shutdown());
    promise.set(1).unwrap();
    let err = dep.join().unwrap_err();
    assert!(err.is_shutdown(), "{err:?}");
    assert_eq!(err.to_string(), "task `late`: pool is shut down");
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // Submitted after the shutdown: refused, everything handed back.
    let (promise, handle) = Promise::<u8>::new();
    let refused = pool.task().after(handle).submit(|x: u8| x).unwrap_err();
    assert!(refused.is_shutdown());
    let (handle, f) = refused.into_inner();
    promise.set(4).unwrap();
    assert_eq!(f(handle.join().unwrap()), 4);
}

#[test]
fn a_deadline_that_passes_while_waiting_ends_the_dependent_then() {
    let pool = ThreadPool::new();
    let runs = counter();
    let (promise, handle) = Promise::<u8>::new();
    let r = runs.clone();
    let dep = pool
        .task()
        .timeout(Duration::from_millis(20))
        .after(handle)
        .submit(move |x: u8| {
            r.fetch_add(1, Ordering::SeqCst);
            x
        })
        .unwrap();
    // Its dependency never finishes: the pool's timer ends it.
    assert!(dep.join().unwrap_err().is_timeout());
    assert!(
        !promise.is_cancelled(),
        "the timeout reached the dependency"
    );
    promise.set(1).unwrap();
    pool.shutdown();
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // Already passed at the submit: timed out at once.
    let pool = ThreadPool::new();
    let (_promise, handle) = Promise::<u8>::new();
    let dep = pool
        .task()
        .deadline(Instant::now())
        .after(handle)
        .submit(|x: u8| x)
        .unwrap();
    assert!(dep.is_done());
    assert!(dep.join().unwrap_err().is_timeout());
}

#[test]
fn after_a_shutdown_a_passed_deadline_is_checked_when_the_dependencies_finish() {
    let pool = ThreadPool::new();
    let (promise, handle) = Promise::<u8>::new();
    let deadline = Instant::now() + Duration::from_millis(20);
    let dep = pool
        .task()
        .deadline(deadline)
        .after(handle)
        .submit(|x: u8| x)
        .unwrap();
    pool.shutdown(); // stops the timer: its deadlines are dropped
    while Instant::now() <= deadline {
        thread::sleep(Duration::from_millis(5)); // past it, for sure
    }
    // (Not asserted here that it is still pending: under load, the timer
    // may have fired before the shutdown stopped it. Either way:)
    promise.set(1).unwrap();
    assert!(dep.join().unwrap_err().is_timeout());
}

/// A dependency that the pool's timer ends reaches its dependent on the
/// callback runner, never on the timer thread (which runs no user code).
#[test]
fn a_dependency_ended_by_the_timer_reaches_the_dependent_on_the_callback_runner() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let blocker = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap()
        })
        .unwrap();
    started_rx.recv().unwrap();
    // Queued behind `blocker` until the timer ends it.
    let late = pool
        .task()
        .timeout(Duration::from_millis(10))
        .submit(|| 1)
        .unwrap();
    let dep = pool.task().after(late).submit(|x: i32| x).unwrap();
    let (where_tx, where_rx) = mpsc::channel();
    dep.add_done_callback(move |_| {
        where_tx
            .send(thread::current().name().map(str::to_owned))
            .unwrap();
    });
    let err = dep.join().unwrap_err();
    assert!(err.failed_dependency().unwrap().is_timeout());
    let ended_on = where_rx.recv().unwrap();
    assert_eq!(ended_on.as_deref(), Some("futurepool-callbacks"));
    go_tx.send(()).unwrap();
    blocker.join().unwrap();
}

#[test]
fn a_panic_in_the_dependent_or_in_a_value_clone_is_the_dependents_panic() {
    struct Fragile;
    impl Clone for Fragile {
        fn clone(&self) -> Fragile {
            panic!("clone refused")
        }
    }
    let pool = ThreadPool::new();
    let one = pool.submit(|| 1).unwrap();
    let dep = pool
        .task()
        .after(one)
        .submit(|_: i32| -> u8 { panic!("mine") })
        .unwrap();
    assert_eq!(dep.join().unwrap_err().panic_message(), Some("mine"));

    let fragile = pool.submit(|| Fragile).unwrap().shared();
    let dep = pool.task().after(&fragile).submit(|_: Fragile| 1).unwrap();
    let err = dep.join().unwrap_err();
    assert_eq!(err.panic_message(), Some("clone refused"));
    assert!(fragile.get().is_ok()); // the dependency itself is fine
}

#[cfg(feature = "remote")]
#[test]
fn named_functions_take_values_on_any_executor() {
    use futurepool::{Executor, remote};
    fn add((a, b): (u64, u64)) -> u64 {
        a + b
    }
    fn run(executor: &impl Executor) -> u64 {
        let a = executor.submit_fn(remote!(|x: u64| x * x), 3).unwrap();
        let b = executor.submit_fn(remote!(|x: u64| x * x), 4).unwrap();
        executor
            .task()
            .after((a, b))
            .submit_fn(remote!(add))
            .unwrap()
            .join()
            .unwrap()
    }
    assert_eq!(run(&ThreadPool::new()), 25);
}
