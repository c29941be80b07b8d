//! Loom models of the thread pool: the real pool (`inner/`, `worker.rs`,
//! `job.rs`) over loom's primitives (`src/loom/`), its workers loom threads.
//! Run by `scripts/loom.sh`; `src/core/models/mod.rs` says how to run one,
//! and what loom can't reach and what stands in for it.
//!
//! Each model keeps to 1-3 threads of its own plus the workers it starts
//! (loom allows 5 in all), to pools of 1-3 workers, and to preemption
//! bound 3 (2 for the two largest). Some run twice: with timed waits that
//! time out at once (an idle worker retires as soon as it has slept), and
//! with timed waits that never do (an idle worker sleeps until notified,
//! so a lost wake-up is a deadlock that loom reports).
//!
//! Every model was seen to fail: the last column is a bug injected locally
//! (never committed) that it caught.
//!
//! | model | proves | a bug it caught |
//! |-------|--------|-----------------|
//! | [`submit_racing_shutdown`] | a submit racing `shutdown` is refused with its closure handed back, or its task has run when `shutdown` returns; no worker is left; nothing hangs (both ways of timed waits) | `close` not waiting for submits in flight; workers leaving with tasks queued; a submit's second look at `closed` removed |
//! | [`submit_racing_shutdown_that_cancels`] | the same with `cancel_pending`: an accepted task ran or was cancelled, and is done when `shutdown` returns | a cancelled queued task dropped without being ended |
//! | [`submit_racing_retire`] | a submit arriving as the pool's only worker retires (its keep-alive over) is run | the crate's own bug, found by this model and fixed (README.md, "No lost retirement"): a deadlock on the old code |
//! | [`submits_from_two_threads`] | two submitters, two workers that start, spin, sleep, wake and retire: every task runs; never more than `max_workers` threads | with timed waits that never end: the sleeper's re-check of `queued` removed; `wake_or_spawn` counting a wake-up it doesn't send |
//! | [`lost_start`] | issue 9, fault 1, smallest form: two tasks that wait for each other on a pool of two both start | the step-1 fix reverted (a new worker's first look before `spinning -= 1`): a deadlock, found from bound 2 up |
//! | [`lost_start_of_three`] | the scenario of `tests.rs`'s `lost_start`: three tasks, `max_workers(3)` | the step-1 fix reverted |
//! | [`submits_waiting_for_room`] | a submit blocked on a full bounded queue is woken when a worker makes room | `room_freed` not notifying; a waiter not counted in `room_waiters` (deadlocks) |
//! | [`submit_waiting_for_room_racing_shutdown`] | a submit blocked on a full queue, racing `shutdown`: refused with its closure, or run before `shutdown` returns | a submit's second look at `closed` (after `submitting += 1`) removed (also caught by the two above) |
//! | [`join_inside_a_task_lends`] | a task joining another task of its own one-worker pool that it can't run itself lends its place: a second worker runs the other task; the lender leaves after its task | `Lend::begin` not calling `wake_or_spawn` (a deadlock) |
//! | [`a_lender_held_in_reserve_is_taken_back`] | a lender that comes back one too many waits in reserve; the next lend takes it back (no third thread); shutdown wakes it | the reserve not woken at shutdown (a deadlock); `wake_or_spawn` starting a thread with one in reserve (a third thread) |
//! | [`join_inside_a_task_helps`] | issue 12: a task joining a plain task of its own one-worker pool runs it itself; no second worker starts | `Cell::help` not called before lending (a second worker started, iteration 1) |
//! | [`help_racing_a_worker`] | a waiter helping races a second worker popping the same task: it runs once, nobody abandons it | the queue's entry dropping (not letting go of) a task a waiter started: "abandoned" (found at iteration 33,465) |
//! | [`help_racing_shutdown_that_cancels`] | a waiter helping races a shutdown that cancels pending work: the task ran, or was cancelled before it started; never abandoned | the same bug (found at iteration 254) |

use std::time::Duration;

use loom::sync::{Condvar, Mutex};

use super::ThreadPool;
use crate::executor::shutdown::ShutdownOptions;
use crate::loom::model::model;
use crate::loom::sync::Arc;

/// A pool of `max_workers`. Its keep-alive's length doesn't matter: under
/// loom an idle worker's timed wait times out at once, or never, as the
/// model says (`src/loom/mocked.rs`).
fn pool(max_workers: usize) -> ThreadPool {
    ThreadPool::builder()
        .max_workers(max_workers)
        .keep_alive(Duration::from_secs(1))
        .build()
        .unwrap()
}

/// A meeting point for tasks that wait for each other without telling the
/// pool (a channel, a barrier: not a futurepool wait, so nobody lends a
/// place): each returns only once all `of` have arrived.
struct Meeting {
    arrived: Mutex<usize>,
    all_here: Condvar,
    of: usize,
}

impl Meeting {
    fn new(of: usize) -> Arc<Meeting> {
        Arc::new(Meeting {
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
            of,
        })
    }

    fn meet(&self) {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        if *arrived == self.of {
            self.all_here.notify_all();
        }
        while *arrived < self.of {
            arrived = self.all_here.wait(arrived).unwrap();
        }
    }
}

/// Shutdown racing a submit from another thread, with a task already
/// submitted: the racing submit is refused (its closure handed back,
/// untouched) or accepted, and an accepted task has run by the time
/// `shutdown` returns. No worker is left. Checked twice: with idle workers
/// that retire at once, and with idle workers that sleep until the
/// shutdown wakes them.
#[test]
fn submit_racing_shutdown() {
    model("submit_racing_shutdown").check(shutdown_racing_submit);
    model("submit_racing_shutdown")
        .timed_waits_never_time_out()
        .check(shutdown_racing_submit);
}

fn shutdown_racing_submit() {
    let pool = pool(1);
    let first = pool.submit(|| 1).unwrap();
    let submitter = {
        let pool = pool.clone();
        loom::thread::spawn(move || pool.submit(|| 2))
    };
    assert!(pool.shutdown(), "every worker left");
    assert_eq!(pool.worker_count(), 0);
    match submitter.join().unwrap() {
        Ok(second) => {
            assert!(second.is_done(), "accepted before the shutdown: run by it");
            assert_eq!(second.join().unwrap(), 2);
        }
        Err(refused) => {
            assert!(refused.is_shutdown());
            assert_eq!(refused.into_inner()(), 2, "the closure comes back");
        }
    }
    assert_eq!(first.join().unwrap(), 1);
}

/// As [`submit_racing_shutdown`], with a shutdown that cancels pending
/// work: each accepted task either ran or was cancelled unrun, and is done
/// when `shutdown` returns.
#[test]
fn submit_racing_shutdown_that_cancels() {
    model("submit_racing_shutdown_that_cancels").check(|| {
        let pool = pool(1);
        let first = pool.submit(|| 1).unwrap();
        let submitter = {
            let pool = pool.clone();
            loom::thread::spawn(move || pool.submit(|| 2))
        };
        assert!(pool.shutdown_with(ShutdownOptions::new().cancel_pending(true)));
        assert_eq!(pool.worker_count(), 0);
        let check = |handle: crate::TaskHandle<u32>, value: u32| {
            assert!(handle.is_done(), "done when the shutdown returns");
            match handle.join() {
                Ok(got) => assert_eq!(got, value),
                Err(err) => assert!(err.is_cancelled(), "{err}"),
            }
        };
        match submitter.join().unwrap() {
            Ok(second) => check(second, 2),
            Err(refused) => assert_eq!(refused.into_inner()(), 2),
        }
        check(first, 1);
    });
}

/// A submit arriving while the pool's one worker, idle, retires: the task
/// is run (by that worker, which looks again, or by a new one). Under loom
/// every keep-alive is over at once, so the worker retires as soon as it
/// has slept.
#[test]
fn submit_racing_retire() {
    model("submit_racing_retire").check(|| {
        let pool = pool(1);
        assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
        // The worker is going idle: spinning, sleeping, retiring.
        assert_eq!(pool.submit(|| 2).unwrap().join().unwrap(), 2);
        assert!(pool.shutdown());
    });
}

/// Two threads submitting to a pool of two while its workers start, spin,
/// sleep, wake and retire: every task runs, and the pool never holds more
/// than `max_workers` threads. Checked twice: with idle workers that retire
/// at once, and with idle workers that sleep until woken (so a lost
/// wake-up is a deadlock, not a keep-alive's delay).
#[test]
fn submits_from_two_threads() {
    model("submits_from_two_threads")
        .max_preemptions(2)
        .check(two_submitters);
    model("submits_from_two_threads")
        .max_preemptions(2)
        .timed_waits_never_time_out()
        .check(two_submitters);
}

fn two_submitters() {
    let pool = pool(2);
    let other = {
        let pool = pool.clone();
        loom::thread::spawn(move || pool.submit(|| 2).unwrap().join().unwrap())
    };
    assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
    assert!(pool.worker_count() <= 2);
    assert_eq!(other.join().unwrap(), 2);
    assert!(pool.shutdown());
}

/// Submits `tasks` tasks that wait for each other to a pool of as many
/// workers, then joins them: only if every task starts does any finish.
fn tasks_that_meet(tasks: usize) {
    let pool = pool(tasks);
    let meeting = Meeting::new(tasks);
    let handles: Vec<_> = (0..tasks)
        .map(|n| {
            let meeting = meeting.clone();
            pool.submit(move || {
                meeting.meet();
                n
            })
            .unwrap()
        })
        .collect();
    for (n, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), n);
    }
    assert!(pool.shutdown());
}

/// Issue 9, fault 1, in its smallest form: a pool of two and two tasks
/// that wait for each other. The first submit starts a worker, counted as
/// spinning until its first look at the queue; the second submit sees one
/// queued task and one spinner. Had the worker taken the first task before
/// it stopped counting as spinning, the second submit would start nobody,
/// and the two tasks would wait for each other forever (loom: deadlock).
#[test]
fn lost_start() {
    model("lost_start").check(|| tasks_that_meet(2));
}

/// The scenario of `tests.rs`'s `lost_start`: a pool of three and three
/// tasks that wait for each other; a third submit arrives while the second
/// worker has just started.
#[test]
fn lost_start_of_three() {
    model("lost_start_of_three")
        .max_preemptions(2)
        .check(|| tasks_that_meet(3));
}

/// A task that submits another task to its own one-worker pool and joins
/// it, where the worker can't run the inner task itself (it has a token,
/// so it runs on a worker: see `job.rs`, help): the worker lends its place
/// while it waits, a second worker runs the inner task, and once the loan
/// ends the pool is back to one worker (the one that came back leaves
/// after its task). Without the loan: deadlock.
#[test]
fn join_inside_a_task_lends() {
    model("join_inside_a_task_lends").check(|| {
        let pool = pool(1);
        let outer = {
            let inner_pool = pool.clone();
            pool.submit(move || {
                let inner = inner_pool.submit_cancellable(|_token| 2).unwrap();
                inner.join().unwrap() + 1
            })
            .unwrap()
        };
        assert_eq!(outer.join().unwrap(), 3);
        assert!(pool.shutdown());
        assert_eq!(pool.worker_count(), 0);
    });
}

/// Two rounds of lending on a one-worker pool: the first lender comes back
/// one too many and is held in reserve; the second round's lend takes it
/// back instead of starting a thread (with timed waits that never time out,
/// so the reserve is left only when taken back or at shutdown, which
/// must wake it).
#[test]
fn a_lender_held_in_reserve_is_taken_back() {
    model("a_lender_held_in_reserve_is_taken_back")
        .timed_waits_never_time_out()
        .max_preemptions(2)
        .check(|| {
            let pool = pool(1);
            for round in 0..2 {
                let inner_pool = pool.clone();
                let outer = pool
                    .submit(move || {
                        let inner = inner_pool.submit_cancellable(move |_token| round).unwrap();
                        inner.join().unwrap()
                    })
                    .unwrap();
                assert_eq!(outer.join().unwrap(), round);
            }
            assert!(pool.shutdown());
            assert_eq!(pool.worker_count(), 0);
            assert!(pool.workers_started() <= 2, "{}", pool.workers_started());
        });
}

/// The same with a plain inner task: the waiting worker runs it itself
/// (help-while-waiting), and the pool never starts a second worker; the
/// queue's entry for the inner task, found started, is let go.
#[test]
fn join_inside_a_task_helps() {
    model("join_inside_a_task_helps").check(|| {
        let pool = pool(1);
        let outer = {
            let inner_pool = pool.clone();
            pool.submit(move || inner_pool.submit(|| 2).unwrap().join().unwrap() + 1)
                .unwrap()
        };
        assert_eq!(outer.join().unwrap(), 3);
        assert!(pool.shutdown());
        assert_eq!(pool.workers_started(), 1, "no place was lent");
    });
}

/// A waiting worker helping with a task while a second worker takes the
/// same task off the queue (a pool of two): exactly one of them runs it,
/// once, and the other lets go without ending it (no "abandoned").
#[test]
fn help_racing_a_worker() {
    model("help_racing_a_worker").check(|| {
        let pool = pool(2);
        let runs = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let outer = {
            let inner_pool = pool.clone();
            let runs = runs.clone();
            pool.submit(move || {
                let inner = inner_pool
                    .submit(move || runs.fetch_add(1, loom::sync::atomic::Ordering::Relaxed) + 2)
                    .unwrap();
                inner.join().unwrap() + 1
            })
            .unwrap()
        };
        assert_eq!(outer.join().unwrap(), 3);
        assert!(pool.shutdown());
        assert_eq!(runs.load(loom::sync::atomic::Ordering::Relaxed), 1);
    });
}

/// A waiting worker helping with a task while a shutdown that cancels
/// pending work drains the queue: the task runs (helped, then the queue's
/// entry lets go) or is cancelled before it starts; never abandoned, and
/// the waiter sees which.
#[test]
fn help_racing_shutdown_that_cancels() {
    model("help_racing_shutdown_that_cancels").check(|| {
        let pool = pool(1);
        let outer = {
            let inner_pool = pool.clone();
            pool.submit(move || match inner_pool.submit(|| 2) {
                Ok(inner) => match inner.join() {
                    Ok(value) => value + 1,
                    Err(err) => {
                        assert!(err.is_cancelled(), "{err}");
                        0
                    }
                },
                Err(_refused) => 0,
            })
            .unwrap()
        };
        assert!(pool.shutdown_with(ShutdownOptions::new().cancel_pending(true)));
        match outer.join() {
            Ok(got) => assert!(got == 3 || got == 0, "{got}"),
            Err(err) => assert!(err.is_cancelled(), "{err}"),
        }
    });
}

/// A pool of one worker and a queue of one: two threads submitting, one
/// of them waiting for room (a `submit` on a full bounded queue blocks
/// until a worker takes a task off it). Both tasks run.
#[test]
fn submits_waiting_for_room() {
    model("submits_waiting_for_room").check(|| {
        let pool = bounded_pool();
        let other = {
            let pool = pool.clone();
            loom::thread::spawn(move || pool.submit(|| 2).unwrap().join().unwrap())
        };
        assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
        assert_eq!(other.join().unwrap(), 2);
        assert!(pool.shutdown());
    });
}

/// A submit waiting for room racing a shutdown: it is refused (its closure
/// handed back) or its task runs before `shutdown` returns; it never waits
/// forever for room that a closed pool will never make.
#[test]
fn submit_waiting_for_room_racing_shutdown() {
    model("submit_waiting_for_room_racing_shutdown").check(|| {
        let pool = bounded_pool();
        let first = pool.submit(|| 1).unwrap();
        let submitter = {
            let pool = pool.clone();
            loom::thread::spawn(move || pool.submit(|| 2))
        };
        assert!(pool.shutdown());
        match submitter.join().unwrap() {
            Ok(second) => {
                assert!(second.is_done(), "accepted before the shutdown: run by it");
                assert_eq!(second.join().unwrap(), 2);
            }
            Err(refused) => assert_eq!(refused.into_inner()(), 2),
        }
        assert_eq!(first.join().unwrap(), 1);
    });
}

/// A pool of one worker whose queue holds one task.
fn bounded_pool() -> ThreadPool {
    ThreadPool::builder()
        .max_workers(1)
        .bounded(1)
        .keep_alive(Duration::from_secs(1))
        .build()
        .unwrap()
}
