//! Run blocking work on a pool and get a handle back: Python's
//! [`concurrent.futures`](https://docs.python.org/3/library/concurrent.futures.html),
//! done the Rust way.
//!
//! # Quick start
//!
//! ```
//! use futurepool::ThreadPool;
//!
//! let pool = ThreadPool::new();
//! let handle = pool.submit(|| (1..=10u64).product::<u64>()).unwrap();
//! // ... do other things while it runs ...
//! assert_eq!(handle.join().unwrap(), 3_628_800);
//! ```
//!
//! [`ThreadPool::submit`] queues a closure and returns a [`TaskHandle`] at
//! once. The handle says whether the task is done, waits for it (with or
//! without a time limit), hands over its value, cancels it, runs callbacks when
//! it ends, and can be `.await`ed from any async runtime.
//!
//! # Coming from Python
//!
//! | Python `concurrent.futures`                         | futurepool |
//! |-----------------------------------------------------|------------|
//! | `ThreadPoolExecutor(max_workers=4)`                 | [`ThreadPool::builder()`](ThreadPool::builder)`.max_workers(4).build()?` |
//! | `ThreadPoolExecutor(thread_name_prefix="io", initializer=f)` | [`.thread_name("io")`](ThreadPoolBuilder::thread_name)`.`[`initializer(f)`](ThreadPoolBuilder::initializer) |
//! | `fut = ex.submit(fn, *args)`                        | `let h = pool.`[`submit`](ThreadPool::submit)`(move \|\| f(args))?` |
//! | `fut.result()`                                      | [`h.join()`](TaskHandle::join) (or `h.await`) |
//! | `fut.result(timeout=5)`                             | [`h.join_timeout(Duration::from_secs(5))`](TaskHandle::join_timeout) |
//! | `fut.done()` / `fut.running()` / `fut.cancelled()`  | [`is_done`](TaskHandle::is_done) / [`is_running`](TaskHandle::is_running) / [`is_cancelled`](TaskHandle::is_cancelled) |
//! | `fut.cancel()`                                      | [`h.cancel()`](TaskHandle::cancel) (also stops a *running* task that takes a [`CancelToken`]) |
//! | `fut.add_done_callback(fn)`                         | [`h.add_done_callback(\|outcome\| ...)`](TaskHandle::add_done_callback) |
//! | `fut.exception()`                                   | the `Err(`[`TaskError`]`)` of `join` |
//! | `ex.map(fn, items, timeout=5)`                      | [`pool.map(f, items)`](ThreadPool::map)`.`[`timeout(..)`](Map::timeout) (lazy, bounded) |
//! | `as_completed(fs, timeout=5)`                       | [`as_completed(hs)`](as_completed())`.`[`timeout(..)`](AsCompleted::timeout) |
//! | `wait(fs, timeout, return_when=FIRST_COMPLETED)`    | [`wait_timeout(hs, ReturnWhen::FirstCompleted, d)`](wait_timeout) |
//! | `ex.shutdown(wait=True, cancel_futures=False)`      | [`pool.shutdown()`](ThreadPool::shutdown) / [`shutdown_with`](ThreadPool::shutdown_with) |
//! | `with ThreadPoolExecutor() as ex:`                  | a `ThreadPool`, then [`pool.shutdown()`](ThreadPool::shutdown) (dropping the last handle shuts down without waiting) |
//! | `CancelledError`, `TimeoutError`, `BrokenExecutor`  | [`TaskError::is_cancelled`], [`is_timeout`](TaskError::is_timeout), [`is_broken`](TaskError::is_broken) |
//! | `asyncio.wrap_future(fut)`                          | `handle.await`, on any runtime |
//! | `ProcessPoolExecutor(max_workers, max_tasks_per_child=n)` | `ProcessPool::builder().max_workers(..).max_tasks_per_child(n).build()?` (feature `process`) |
//! | `pex.submit(fn, arg)` / `pex.map(fn, it, chunksize=8)` | `pool.submit(remote!(f), arg)?` / `pool.map(remote!(f), it).chunksize(8)` |
//! | `BrokenProcessPool` after a worker dies             | only that task fails: `TaskError::is_worker_died` |
//! | pebble's `schedule(f, timeout=2)`, Celery's `time_limit=2` | [`pool.task()`](ThreadPool::task)`.`[`time_limit(d)`](TaskBuilder::time_limit)`.submit(f)` (counts from the *start*; [`timeout(d)`](TaskBuilder::timeout) counts from the submit) |
//! | `multiprocessing`'s `imap_unordered(fn, items)`     | [`pool.map_unordered(f, items)`](ThreadPool::map_unordered), or `pool.map(..).`[`unordered()`](Map::unordered) |
//! | `ex.map(fn, items)` with one limit per item         | `pool.map(f, items).`[`time_limit(d)`](Map::time_limit) (a slow item fails alone; the map goes on) |
//! | `ex.shutdown(cancel_futures=True)`; 3.14's `terminate_workers()` | [`pool.shutdown_with(ShutdownOptions::new().cancel_pending(true).cancel_running(true))`](ShutdownOptions) |
//! | `f = Future()`; `f.set_result(x)` / `f.set_exception(e)` | `let (p, h) = `[`Promise::new()`](Promise::new)`;` [`p.set(x)`](Promise::set) / [`p.fail(e)`](Promise::fail) |
//! | `f.set_running_or_notify_cancel()`                  | [`p.set_running()`](Promise::set_running) (`false`: cancelled first) |
//! | `fut.result()` again, from many threads             | `let s = h.`[`shared()`](TaskHandle::shared)`;` [`s.get()`](SharedHandle::get) (borrowed) / [`s.join()`](SharedHandle::join) (a clone) |
//! | `wait([f_int, f_str])`: futures of different types  | [`wait([&a as &dyn TaskRef, &b], ..)`](TaskRef), or [`AnyHandle`] |
//! | a future's `repr`, a task's name in the logs        | [`pool.task().name("resize")`](TaskBuilder::name), [`h.id()`](TaskHandle::id), [`err.task_name()`](TaskError::task_name) |
//! | code taking any `Executor`; Dask's `client.submit(f, x)` | `fn run<E: `[`Executor`]`>(ex: &E)`, [`ex.submit_fn(remote!(f), x)`](Executor::submit_fn) (feature `remote`) |
//! | Dask's `client.submit(f, fut)`: a future as an argument | [`pool.task().after(h).submit(f)`](TaskBuilder::after) ([`After`]; `.after(&h.shared())` feeds several; a failed dependency fails its dependents: [`is_dependency_failed`](TaskError::is_dependency_failed)) |
//! | Dask's `ac = as_completed(fs)`; `ac.add(f)`         | `let mut ac = as_completed(hs);` [`ac.add(h)`](AsCompleted::add) (or [`ac.adder()`](AsCompleted::adder) from a `for` body or another thread) |
//! | Dask's `progress(fs)`; tqdm over `ex.map`           | [`wait_with_progress(hs, ReturnWhen::AllCompleted, bar)`](wait_with_progress()); `pool.map(f, xs).`[`progress(bar)`](Map::progress) ([`ProgressObserver`]; feature `indicatif` for a bar) |
//! | Dask's dashboard: tasks queued, running, done       | [`pool.metrics()`](ThreadPool::metrics) ([`PoolMetrics`]), and `tracing` spans per task (feature `tracing`) |
//! | `threading.Timer(5, f)`; `sched.enter(5, 1, f)`     | [`pool.task().start_after(d)`](TaskBuilder::start_after)`.submit(f)` ([`start_at(t)`](TaskBuilder::start_at) for `sched.enterabs`) |
//! | a `Timer` that re-arms itself every period          | [`pool.task().every(p)`](TaskBuilder::every)`.submit(f)` ([`Every`]: one handle, `cancel()` stops the series) |
//!
//! Coming from Java, tokio, rayon:
//!
//! | Java, tokio, rayon                                   | futurepool |
//! |-----------------------------------------------------|------------|
//! | tokio's `spawn_blocking(f).await`, `rayon::spawn(f)` | [`futurepool::submit(f)`](submit())`?.await` (the [`default_pool`]) |
//! | `std::thread::scope`, `rayon::scope`                 | [`pool.scope(\|s\| s.submit(..))`](ThreadPool::scope), [`s.map(f, &paths)`](Scope::map): closures that borrow |
//! | Java's `invokeAny`                                   | [`first_ok(hs)`](first_ok()) |
//! | Java's `invokeAll`                                   | [`wait(hs, ReturnWhen::AllCompleted)`](wait()) |
//! | Java's `CompletableFuture` + `complete(x)`           | [`Promise`] + [`set(x)`](Promise::set) |
//! | Java's `shutdown(); awaitTermination(t)`; tokio's `shutdown_timeout(t)` | [`pool.shutdown_with(ShutdownOptions::new().timeout(t))`](ShutdownOptions::timeout) |
//! | Java's `shutdownNow()`                               | [`ShutdownOptions::new().cancel_pending(true).cancel_running(true)`](ShutdownOptions::cancel_running) |
//! | tokio's `JoinSet` (`spawn`, `join_next`, abort on drop) | [`TaskGroup`] ([`insert`](TaskGroup::insert), [`join_next`](TaskGroup::join_next), cancels on drop) |
//! | futures' `stream.map(..).buffer_unordered(n)`        | `pool.map(f, xs).unordered().`[`max_in_flight(n)`](Map::max_in_flight)`.`[`into_stream()`](Map::into_stream) |
//! | Java's `schedule(task, delay)`                       | [`pool.task().start_after(d)`](TaskBuilder::start_after)`.submit(f)` |
//! | Java's `scheduleAtFixedRate`; tokio's `interval`     | [`pool.task().every(p)`](TaskBuilder::every)`.start_after(initial).submit(f)` (missed ticks skipped, as tokio's `MissedTickBehavior::Skip`) |
//! | Java's `scheduleWithFixedDelay`                      | `pool.task().every(d).`[`fixed_delay()`](Every::fixed_delay)`.submit(f)` |
//! | Java's `CompletableFuture.thenCombine(a, b, f)`      | [`pool.task().after((a, b)).submit(f)`](After::submit) |
//! | `Arc<ThreadPool>` / `Weak<..>`                       | `pool.clone()` (a cheap handle) / [`pool.downgrade()`](ThreadPool::downgrade) ([`WeakThreadPool`]) |
//!
//! And what Python gets wrong, fixed: a task waiting on another task of the
//! same full pool doesn't deadlock; running work can be cancelled and timed
//! out (cooperatively); `map` doesn't submit the whole input up front.
//!
//! # The handle
//!
//! A [`TaskHandle<T>`] ends in one of two ways: the closure's value `T`, or a
//! [`TaskError`] saying why there is none. Getting the outcome consumes the
//! handle, because the value is moved out to you:
//!
//! ```
//! use futurepool::{JoinTimeoutError, ThreadPool};
//! use std::time::Duration;
//!
//! let pool = ThreadPool::new();
//! let mut handle = pool.submit(|| "done").unwrap();
//! // Poll for progress without taking the outcome ...
//! while !handle.wait_timeout(Duration::from_millis(10)) {
//!     println!("still working");
//! }
//! // ... or wait with a limit, getting the handle back on a timeout.
//! let value = match handle.join_timeout(Duration::from_secs(60)) {
//!     Ok(value) => value,
//!     Err(JoinTimeoutError::Timeout(_handle)) => unreachable!("it is done"),
//!     Err(JoinTimeoutError::Failed(err)) => panic!("{err}"),
//! };
//! assert_eq!(value, "done");
//! ```
//!
//! Blocking waits come in threes: `x()`, `x_timeout(Duration)`,
//! `x_deadline(Instant)`, plus a non-blocking `try_x()`.
//!
//! # Cancellation and timeouts
//!
//! [`TaskHandle::cancel`] always stops a task that is still queued: it will
//! never run. A task that is already running on a thread can't be killed:
//! no safe way to stop a thread from outside exists. So cancellation of
//! running work is **cooperative**: submit with
//! [`submit_cancellable`](ThreadPool::submit_cancellable), and the closure
//! receives a [`CancelToken`] to check. `cancel()` signals the token and
//! completes the handle as cancelled at once.
//!
//! A per-task **time limit** ([`ThreadPool::task`]`().`[`time_limit(d)`](TaskBuilder::time_limit))
//! works the same way: `d` counts from the moment the task *starts running*
//! (queued time doesn't count, as Celery's `time_limit` and pebble's
//! `timeout` mean), and when it passes, the token is signalled and the
//! handle reports a timeout. A [`timeout(d)`](TaskBuilder::timeout) or
//! [`deadline(at)`](TaskBuilder::deadline) counts from the *submit* instead:
//! a task still queued then never runs.
//!
//! ```
//! use futurepool::ThreadPool;
//! use std::time::Duration;
//!
//! let pool = ThreadPool::new();
//! let handle = pool
//!     .task()
//!     .time_limit(Duration::from_millis(50))
//!     .submit_cancellable(|token| {
//!         let mut n = 0u64;
//!         while !token.is_cancelled() {
//!             n = n.wrapping_add(1); // a long computation, checking in
//!         }
//!         n
//!     })
//!     .unwrap();
//! assert!(handle.join().unwrap_err().is_timeout());
//! ```
//!
//! A closure that never checks a token runs to its end even after a timeout
//! or cancellation (its value is then dropped). Work that must be stoppable
//! from outside, without its cooperation, needs a separate process.
//!
//! # Done-callbacks, and where user code runs
//!
//! [`TaskHandle::add_done_callback`] runs a closure when the task ends,
//! exactly once, before the task is seen as done: once `join` returns, the
//! callbacks added before the task ended have run. They run where user code
//! may run: on the worker that ran the task, on the thread that cancelled
//! it, or, when the task ended on one of the crate's internal threads (a
//! pool's deadline timer; a process pool's driver threads), on the
//! *callback runner*, a small set of threads kept for that. Internal threads
//! never run user code: no callback, no drop of a closure or a value, no
//! decoding of a result. So a callback that blocks or panics can't stop a
//! timeout, another callback, or a shutdown.
//!
//! ```
//! use futurepool::ThreadPool;
//! use std::sync::mpsc;
//! use std::time::Duration;
//!
//! let pool = ThreadPool::new();
//! let (tx, rx) = mpsc::channel();
//! let handle = pool
//!     .task()
//!     .timeout(Duration::from_millis(10))
//!     .submit_cancellable(|token| while !token.is_cancelled() { std::thread::yield_now() })
//!     .unwrap();
//! handle.add_done_callback(move |outcome| tx.send(outcome.unwrap_err().is_timeout()).unwrap());
//! assert!(handle.join().unwrap_err().is_timeout());
//! assert_eq!(rx.try_recv(), Ok(true)); // it ran before `join` returned
//! ```
//!
//! # Panics
//!
//! A panic in a task is caught at the task boundary: it never kills a worker
//! or the program. It becomes the task's error, with the payload kept:
//!
//! ```
//! use futurepool::ThreadPool;
//!
//! let pool = ThreadPool::new();
//! let err = pool.submit(|| -> i32 { panic!("bad input") }).unwrap().join().unwrap_err();
//! assert!(err.is_panic());
//! assert_eq!(err.panic_message(), Some("bad input"));
//! // Re-raise it here if you like: std::panic::resume_unwind(err.into_panic());
//! assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1); // the pool is fine
//! ```
//!
//! # Many tasks: map, as_completed, wait
//!
//! [`ThreadPool::map`] runs a function over an input iterator and yields
//! results **in input order**. It is lazy and keeps only a bounded number of
//! tasks in flight, so it works on endless input:
//!
//! ```
//! use futurepool::ThreadPool;
//!
//! let pool = ThreadPool::new();
//! let squares: Vec<u64> = pool.map(|x: u64| x * x, 1..=5).collect::<Result<_, _>>().unwrap();
//! assert_eq!(squares, [1, 4, 9, 16, 25]);
//! ```
//!
//! [`as_completed`](as_completed()) yields handles **as they finish**, and
//! [`wait`](wait()) blocks until the first, the first failing, or all of them
//! finish. Both accept handles, references to handles, or `(key, handle)`
//! pairs:
//!
//! ```
//! use futurepool::{ReturnWhen, ThreadPool, as_completed, wait};
//!
//! let pool = ThreadPool::new();
//! let jobs = ["alpha", "beta", "gamma"].map(|name| (name, pool.submit(move || name.len()).unwrap()));
//! for (name, handle) in as_completed(jobs) {
//!     println!("{name}: {}", handle.join().unwrap());
//! }
//!
//! let handles: Vec<_> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
//! let waited = wait(&handles, ReturnWhen::AllCompleted);
//! assert_eq!(waited.done.len(), 4);
//! ```
//!
//! # Borrowing: scoped tasks
//!
//! A task usually owns what it uses (`'static`). Inside
//! [`ThreadPool::scope`], tasks and maps may borrow from the caller's stack,
//! because the scope doesn't end before every one of them has:
//!
//! ```
//! use futurepool::ThreadPool;
//! use std::path::PathBuf;
//!
//! let pool = ThreadPool::new();
//! let paths: Vec<PathBuf> = vec!["a/b.txt".into(), "c.rs".into()];
//! let lengths: Vec<usize> = pool.scope(|s| {
//!     s.map(|p: &PathBuf| p.as_os_str().len(), &paths).map(Result::unwrap).collect()
//! });
//! assert_eq!(lengths, [7, 4]);
//! ```
//!
//! # One outcome, many readers; a task you complete yourself
//!
//! [`TaskHandle::shared`] turns a handle into a [`SharedHandle`]: cloned,
//! sent to many threads or async tasks, read by reference any number of
//! times. A [`Promise`] is a task with no closure: its handle is ended by
//! whoever holds the promise, and is waited for, `.await`ed and passed to
//! `wait` like any other.
//!
//! ```
//! use futurepool::{Promise, ThreadPool};
//!
//! let pool = ThreadPool::new();
//! let config = pool.submit(|| String::from("loaded")).unwrap().shared();
//! let readers: Vec<_> = (0..3)
//!     .map(|_| { let c = config.clone(); pool.submit(move || c.get().unwrap().len()).unwrap() })
//!     .collect();
//! assert!(readers.into_iter().all(|r| r.join().unwrap() == 6));
//!
//! let (promise, handle) = Promise::new();
//! std::thread::spawn(move || promise.set(42).unwrap());
//! assert_eq!(handle.join().unwrap(), 42);
//! ```
//!
//! # One seam: code that runs on any executor
//!
//! Every pool implements [`Executor`]: a task builder, shutdown, counts,
//! and (feature `remote`) named functions and their maps. Code written
//! against it moves from threads to processes (and to a cluster, feature `cluster`)
//! by changing the one line that builds the pool:
//!
//! ```
//! use futurepool::{Executor, ShutdownOptions, ThreadPool};
//! use std::time::Duration;
//!
//! fn drain<E: Executor>(executor: &E) -> bool {
//!     executor.shutdown_with(ShutdownOptions::new().timeout(Duration::from_secs(60)))
//! }
//!
//! let pool = ThreadPool::new(); // or ProcessPool::new()
//! assert!(drain(&pool));
//! ```
//!
#![doc = include_str!("workflows.md")]
//!
//! # Waiting inside a task: help, lend, and what can't deadlock
//!
//! In Python, a task that waits for another task of its own full pool
//! deadlocks. Here a pool worker that waits in a futurepool wait does one
//! of two things:
//!
//! - **It runs what it waits for** (help-while-waiting, as rayon's `join`
//!   does). A wait *without a time limit* for a task of the *same pool*
//!   that *hasn't started* takes that task and runs it inline, on the
//!   waiting thread: [`join`](TaskHandle::join), [`wait`](TaskHandle::wait),
//!   [`wait`](wait()) for all, and [`as_completed`] or an unordered
//!   [`map`](ThreadPool::map) iterated without a time limit (an ordered
//!   map joins its next item). The task is started through the same state
//!   machine as on a worker, so its cancellation, callbacks and panic
//!   behave exactly as there; only plain tasks are run so (a task with a
//!   token, a time limit or a deadline can end while it runs, and its
//!   waiter must be able to return then).
//! - **Otherwise it lends its place**: what it waits for runs elsewhere,
//!   or the wait is timed ([`join_timeout`](TaskHandle::join_timeout)) or
//!   first-completed ([`ReturnWhen::FirstCompleted`], [`first_ok`](first_ok())):
//!   running a task inline there would outlast the limit. A lent place
//!   lets the pool start one more thread while queued work waits, up to
//!   [`max_lent`](ThreadPoolBuilder::max_lent) places at once (by default
//!   `max_workers`); past that, a waiter blocks holding its place. The pool
//!   never runs more than `max_workers + max_lent` threads, and a lender
//!   that comes back one too many waits in reserve for the next lend
//!   rather than exit, so it doesn't start more than that either while it
//!   keeps lending.
//!
//! What is guaranteed to finish: **a tree of untimed nested waits whose
//! tasks are plain tasks all queued on one pool finishes on a pool of any
//! size, even with `max_lent(0)`** (each waiter runs what hasn't started,
//! and what has started is running on another worker, deeper in the tree,
//! where the same holds). The waits are those listed above, a
//! [`TaskGroup`]'s [`join_next`](TaskGroup::join_next), and the end of a
//! [`scope`](ThreadPool::scope) (it runs the scope's tasks that haven't
//! started). One limit: a task
//! run inline runs on the waiter's stack, so past three quarters of a
//! worker's stack ([`stack_size`](ThreadPoolBuilder::stack_size)) a waiter
//! lends its place instead of helping, and a chain of waits deeper than
//! that needs lent places to go on (it never overflows the stack). Recursive
//! fan-out runs on `max_workers` threads:
//!
//! ```
//! use futurepool::ThreadPool;
//!
//! fn sum(pool: &ThreadPool, lo: u64, hi: u64) -> u64 {
//!     if hi - lo <= 4 {
//!         return (lo..hi).sum();
//!     }
//!     let mid = (lo + hi) / 2;
//!     let (p1, p2) = (pool.clone(), pool.clone());
//!     let left = pool.submit(move || sum(&p1, lo, mid)).unwrap();
//!     let right = pool.submit(move || sum(&p2, mid, hi)).unwrap();
//!     left.join().unwrap() + right.join().unwrap()
//! }
//!
//! let pool = ThreadPool::builder().max_workers(1).max_lent(0).build().unwrap();
//! let p = pool.clone();
//! assert_eq!(pool.submit(move || sum(&p, 0, 1000)).unwrap().join().unwrap(), 499_500);
//! assert_eq!(pool.workers_started(), 1);
//! ```
//!
//! What is not: waits the pool can't help with need a lent place, and with
//! the bound reached they can deadlock as in Python. Timed waits (they end
//! at their limit), waits for tasks of *another* pool that is itself full,
//! tasks with tokens or time limits waited for by every worker at once
//! beyond `max_lent`, a `submit` blocked on a full bounded queue, and any
//! wait the pool can't see (a channel `recv`, or an async `block_on` of a
//! handle's `.await` inside a task: the pool sees neither).
//!
//! # Shutdown
//!
//! [`ThreadPool::shutdown`] refuses new work, lets queued tasks run, and
//! waits for every worker thread to exit; [`ShutdownOptions`] can skip the
//! wait, wait at most a while, cancel what is queued, and cancel what runs
//! (kill it, on a process pool). A submit after shutdown is refused and the
//! closure handed back in the [`SubmitError`], so nothing is lost.
//!
//! A pool is a cheap handle: clone it to share it (no `Arc` needed); a
//! [`WeakThreadPool`] refers to it without keeping it alive. **Dropping the
//! last handle shuts the pool down without waiting**: queued work still
//! runs, and the workers leave on their own when it is done. The drop
//! never blocks, so it can't deadlock inside one of the pool's own tasks,
//! nor stall an async runtime. To wait, call `shutdown()` (Python's
//! `with ThreadPoolExecutor() as ex:` is a pool, then `ex.shutdown()`).
//!
//! ```
//! use futurepool::ThreadPool;
//!
//! let pool = ThreadPool::new();
//! let handle = pool.submit(|| "done").unwrap();
//! assert!(pool.shutdown()); // every worker exited
//! assert_eq!(handle.join().unwrap(), "done");
//! ```
//!
//! For code that just wants to run something blocking, [`submit`]
//! sends it to the [`default_pool`], built on first use.
//!
//! # Async
//!
//! A [`TaskHandle`] is a [`Future`]: `.await` it from
//! any runtime (tokio, smol, `futures::executor`, your own). futurepool
//! depends on none: a handle stores the waker of its last poll and wakes it
//! when the task ends, whichever thread ends it. This is how an async
//! program hands blocking or CPU-heavy work to a pool without stalling its
//! event loop: the `.await` yields, and other requests are served meanwhile.
//!
//! ```
//! use futurepool::ThreadPool;
//!
//! fn fib(n: u32) -> u64 { if n < 2 { n as u64 } else { fib(n - 1) + fib(n - 2) } }
//!
//! let pool = ThreadPool::new();
//! let answer = futures::executor::block_on(async {
//!     // In a web handler: the event loop is free while fib runs on the pool.
//!     pool.submit(|| fib(25)).unwrap().await
//! });
//! assert_eq!(answer.unwrap(), 75_025);
//! ```
//!
//! The rest of the API has async forms too:
//!
//! | blocking                            | async |
//! |-------------------------------------|-------|
//! | [`handle.join()`](TaskHandle::join) | `handle.await` |
//! | [`as_completed(hs)`](as_completed()) (an `Iterator`) | [`as_completed(hs).into_stream()`](AsCompleted::into_stream) (a `Stream`) |
//! | [`pool.map(f, xs)`](ThreadPool::map) (an `Iterator`) | [`pool.map(f, xs).into_stream()`](Map::into_stream) (a `Stream`, input order) |
//! | [`wait(hs, when)`](wait())          | [`wait_async(hs, when).await`](wait_async) |
//!
//! **Dropping an awaiting future does not cancel the task**, by default:
//! the work goes on and its outcome is dropped, as with
//! `std::thread::JoinHandle` (work with side effects finishes). Python's
//! `asyncio.wrap_future` does the opposite, and so does
//! [`handle.cancel_on_drop()`](TaskHandle::cancel_on_drop): dropping that
//! future (a client went away, a `select!` took another branch, a runtime's
//! timeout fired) cancels the task if it hasn't started, or signals its
//! [`CancelToken`] if it has one.
//!
//! Submitting from async code: [`ThreadPool::submit`] never blocks on an
//! unbounded pool (the default). On a [bounded](ThreadPoolBuilder::bounded)
//! one it waits for room, which would stall the event loop: use
//! [`ThreadPool::try_submit`] there, and answer "busy" (an HTTP 503, say)
//! when the queue is full.
//!
//! Time limits: a [`Map`]'s timeout and a task's own deadline are enforced by
//! the pool's timer and wake an async consumer without any runtime timer. To
//! bound a plain `.await`, use your runtime's timeout.
//!
#![cfg_attr(feature = "process", doc = include_str!("process_pool/chapter.md"))]
#![cfg_attr(
    not(feature = "process"),
    doc = "# Processes\n\nThe `process` feature adds a pool of worker *processes*, \
           whose running tasks can be killed and whose crashes fail only their own task.\n"
)]
#![cfg_attr(feature = "cluster", doc = include_str!("cluster/chapter.md"))]
#![doc = include_str!("executor/seeing_inside.md")]
//! # Features
//!
//! - `tracing` (off by default): a [`tracing`](https://docs.rs/tracing)
//!   span for each task, a child of the span that submitted it, with
//!   events when it starts and ends (see "Seeing inside" above). Adds
//!   `tracing` (without its default features).
//! - `remote` (off by default): named functions, [`remote!`] and `RemoteFn`,
//!   which every executor runs: the thread pool calls them directly, the
//!   process pool sends them to a worker process by name; and `Scattered`,
//!   an input many tasks share (sent once to a cluster). Adds `serde`,
//!   `postcard` 1 (the wire format), `serde_bytes` and `linkme`.
//! - `process` (off by default; implies `remote`): the process pool
//!   (`ProcessPool`, `ProcessPoolBuilder`, `process::init`,
//!   `process_init_before_main!`; see "Processes" above when it is
//!   enabled). Adds, on Linux, `libc`.
//! - `cluster` (off by default; implies `process`): a cluster of workers
//!   over NATS JetStream (`ClusterExecutor`, `cluster::Worker`; see "Beyond
//!   one machine: a cluster" when it is enabled). Adds `async-nats` 0.51
//!   (without its default features; with `ring`, the crypto provider of its
//!   TLS and of its object store's checksums), `tokio` (its runtime,
//!   internal to the feature) and `futures-util`. Needs **Rust 1.89+**;
//!   the crate without it keeps its `rust-version` (1.85).
//! - `indicatif` (off by default): progress bars.
//!   [`ProgressObserver`] for `indicatif::ProgressBar`, so
//!   `.progress(bar.clone())` on a map, an `as_completed` or
//!   `wait_with_progress` draws one (on stderr, and only when stderr is a
//!   terminal). Adds `indicatif` 0.18 without its default features
//!   (`console`, `portable-atomic`, `unit-prefix`).
//!
//! The `process` feature compiles on every platform, so a crate that
//! enables it builds everywhere; worker processes run on **Linux** only:
//!
//! |                                   | Linux | macOS, Windows, FreeBSD, others |
//! |-----------------------------------|-------|---------------------------------|
//! | `ProcessPool::builder().build()`  | a pool | an error that `is_unsupported()` and names the platform: use a `ThreadPool` |
//! | `ProcessPool::new()`              | a pool | panics with that error |
//! | `process::init()`                 | serves in a worker process, returns at once in any other | returns at once |
//! | `process_init_before_main!()`     | an ELF `.init_array` constructor that calls `init` | expands to nothing |
//! | `remote!`, `RemoteFn::name`, `RemoteFn::call` | yes | yes (`call` runs in this process) |
//! | workers die with their parent, even by `kill -9` | yes (`PR_SET_PDEATHSIG`) | no workers |
//!
//! The thread pool, and everything else in the crate, runs everywhere. (The
//! `cluster` feature's client builds everywhere `ring` does; its workers
//! run their tasks on a process pool, so on Linux. The crate's CI checks
//! macOS and Windows builds without `cluster`: `ring`'s C doesn't
//! cross-compile on the CI machine.)
//!
//! Without features, futurepool depends on `parking_lot` (locks),
//! `crossbeam-queue` (the lock-free job queue) and `futures-core` (the
//! `Stream` trait), and on no async runtime.
//!
//! For the crate's own tests, `RUSTFLAGS="--cfg futurepool_loom"` swaps
//! every synchronisation primitive for [loom](https://docs.rs/loom)'s, to
//! model-check the interleavings of the core and the thread pool
//! (`scripts/loom.sh`; see `src/loom/mod.rs`). It is not a feature: nothing
//! a user builds ever sees it.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
pub mod cluster;
#[cfg(doctest)]
mod compile_fail;
mod core;
mod error;
mod executor;
mod loom;
#[cfg(feature = "process")]
mod process_pool;
mod progress;
#[cfg(feature = "remote")]
mod remote;
mod thread_pool;
mod threads;
mod wait;

pub use crate::core::handle::{CancelOnDrop, TaskHandle};
pub use crate::core::handle::{JoinTimeoutError, TryJoinError};
pub use crate::core::handle::{SharedGet, SharedHandle};
pub use crate::core::promise::Promise;
pub use crate::core::token::CancelToken;
pub use crate::error::{BuildError, SubmitError, TaskError, TaskId, TimeoutError};
pub use crate::executor::Executor;
pub use crate::executor::after::After;
pub use crate::executor::deps::Dependencies;
pub use crate::executor::metrics::PoolMetrics;
pub use crate::executor::options::TaskBuilder;
pub use crate::executor::schedule::Every;
pub use crate::executor::shutdown::ShutdownOptions;
pub use crate::progress::{Progress, ProgressObserver, WorkerProgress};
pub use crate::thread_pool::{
    Map, MapStream, Scope, ScopedMap, ThreadPool, ThreadPoolBuilder, WeakThreadPool, default_pool,
    submit,
};
pub use crate::wait::{
    AllFailedError, AnyHandle, AsCompleted, AsCompletedStream, AsCompletedTimeout, FirstOkAsync,
    FirstOkTimeoutError, JoinNextAsync, JoinNextTimeoutError, ReturnWhen, TaskGroup, TaskRef,
    WaitAsync, Waited, as_completed, first_ok, first_ok_async, first_ok_deadline, first_ok_timeout,
    wait, wait_async, wait_deadline, wait_timeout,
};
pub use crate::wait::{
    AsCompletedAdder, wait_with_progress, wait_with_progress_deadline, wait_with_progress_timeout,
};

#[cfg(feature = "cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
pub use crate::cluster::{ClusterBuilder, ClusterExecutor};
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub use crate::executor::fn_map::{FnMap, FnMapStream};
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub use crate::process_pool::{
    ProcessMap, ProcessPool, ProcessPoolBuilder, ProcessTaskBuilder, WeakProcessPool,
};
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub use crate::remote::{RemoteFn, Scattered};

/// Worker-process set-up for [`ProcessPool`]: [`process::init`], the one
/// line a program calls first in `main`. It exists on every platform, and
/// returns at once where no worker runs (everywhere but Linux).
///
/// # Examples
///
/// ```
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
/// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
///     // In a worker process this serves tasks and never returns; in the
///     // program itself it returns at once.
///     futurepool::process::init();
///     let pool = futurepool::ProcessPool::new();
///     let pid = pool.submit(futurepool::remote!(|(): ()| std::process::id()), ()).unwrap();
///     assert_ne!(pid.join().unwrap(), std::process::id()); // it ran elsewhere
/// }
/// ```
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub mod process {
    pub use crate::process_pool::init;
    /// What [`process_init_before_main!`](crate::process_init_before_main)
    /// expands to call. Not public API.
    #[doc(hidden)]
    pub use crate::process_pool::init_before_main as __init_before_main;
}

/// What the `remote!` macro expands to. Not public API.
#[cfg(feature = "remote")]
#[doc(hidden)]
pub mod __private {
    pub use crate::remote::registry::{
        Arg, Out, Outcome, REGISTRY, Registration, call,
        remote_takes_a_function_or_a_closure_that_captures_nothing,
    };
    pub use linkme;
}

// The library's own unit tests start workers from the test binary.
#[cfg(all(test, feature = "process"))]
process_init_before_main!();
