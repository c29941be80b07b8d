//! The process pool: submitting, panics, cancel and timeout of running
//! tasks, map with chunks, max_tasks_per_child, initializers, shutdown, and
//! the cases of CPython's `test_process_pool.py` that apply (named after
//! them), with the corrected behaviour where Python's is the known fault.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::collections::HashSet;
use std::time::Duration;

use common::process::{Started, is_dead, notify};
use futurepool::{
    ProcessPool, ReturnWhen, ShutdownOptions, TaskHandle, as_completed, remote, wait,
};

fn square(x: u64) -> u64 {
    x * x
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn pow((base, exp): (u64, u32)) -> u64 {
    base.wrapping_pow(exp)
}

/// Tells the test it runs, then never returns.
fn block_forever(path: String) -> u32 {
    notify(&path);
    loop {
        std::thread::park();
    }
}

fn sleep_ms(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder().max_workers(workers).build().unwrap()
}

#[test]
fn submit_runs_in_another_process() {
    let pool = pool(2);
    assert_eq!(
        pool.submit(remote!(square), 12).unwrap().join().unwrap(),
        144
    );
    let worker = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(worker, std::process::id());
    assert!(pool.worker_pids().contains(&worker));
}

#[test]
fn closures_and_tuples() {
    let pool = pool(1);
    let add = remote!(|(a, b): (String, String)| a + &b);
    let h = pool.submit(add, ("fu".into(), "ture".into())).unwrap();
    assert_eq!(h.join().unwrap(), "future");
}

/// CPython `test_traceback`: the worker-side message comes back.
#[test]
fn panic_comes_back_with_its_message_and_the_worker_survives() {
    let pool = pool(1);
    let before = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    let err = pool
        .submit(remote!(|x: u32| -> u32 { panic!("bad input {x}") }), 123)
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("bad input 123"));
    let after = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_eq!(before, after, "a panic doesn't cost the worker");
}

#[test]
fn printing_to_stdout_does_not_corrupt_the_protocol() {
    let pool = pool(1);
    let chatty = remote!(|n: u32| {
        for i in 0..n {
            println!("noise {i}");
        }
        n
    });
    assert_eq!(pool.submit(chatty, 1000).unwrap().join().unwrap(), 1000);
}

#[test]
fn cancel_stops_a_running_task_and_the_next_runs_on_a_fresh_worker() {
    let pool = pool(1);
    let started = Started::new();
    let handle = pool.submit(remote!(block_forever), started.path()).unwrap();
    let worker = started.wait(); // it is running now
    assert!(handle.is_running());
    assert!(handle.cancel());
    assert!(handle.is_cancelled());
    assert!(handle.join().unwrap_err().is_cancelled());
    let next = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(next, worker);
    assert!(
        is_dead(worker),
        "the cancelled task's worker was killed and reaped"
    );
}

/// On a warm pool a task goes straight to the idle worker, and the thread
/// that waits for it reads the reply from the worker itself (the direct
/// path): a cancel or a timeout still ends the wait at once, kills the
/// worker, and the next task runs on a fresh one.
#[test]
fn cancel_and_timeout_end_a_wait_on_the_direct_path() {
    let pool = pool(1);
    for _ in 0..5 {
        let warm = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
        let started = Started::new();
        let handle = pool.submit(remote!(block_forever), started.path()).unwrap();
        assert_eq!(started.wait(), warm, "it went to the idle worker");
        std::thread::scope(|scope| {
            scope.spawn(|| handle.wait()); // reads the reply, or will
            assert!(handle.cancel());
        });
        assert!(handle.join().unwrap_err().is_cancelled());
        assert_ne!(pool.submit(remote!(pid), ()).unwrap().join().unwrap(), warm);
        assert!(is_dead(warm));

        let warm = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
        let handle = pool
            .task()
            .timeout(Duration::from_millis(100))
            .submit(remote!(block_forever), started.path())
            .unwrap();
        assert!(handle.join().unwrap_err().is_timeout());
        assert_ne!(pool.submit(remote!(pid), ()).unwrap().join().unwrap(), warm);
        assert!(is_dead(warm));
    }
}

/// A worker stopped by `SIGSTOP` (it stopped itself, or a debugger did)
/// answers nothing, but `SIGKILL` still ends it: a timeout kills it.
#[test]
fn a_timeout_kills_a_stopped_worker() {
    let pool = pool(1);
    let stop = remote!(|_: ()| -> u32 {
        // SAFETY: `raise` sends a signal to this worker; no memory is touched.
        unsafe { libc::raise(libc::SIGSTOP) };
        std::process::id()
    });
    let handle = pool
        .task()
        .timeout(Duration::from_millis(200))
        .submit(stop, ())
        .unwrap();
    assert!(handle.join().unwrap_err().is_timeout());
    assert_eq!(pool.submit(remote!(square), 3).unwrap().join().unwrap(), 9);
    assert!(pool.shutdown());
    assert!(pool.worker_pids().is_empty());
}

#[test]
fn timeout_kills_a_running_task() {
    let pool = pool(1);
    let started = Started::new();
    let handle = pool
        .task()
        .timeout(Duration::from_millis(300))
        .submit(remote!(block_forever), started.path())
        .unwrap();
    let worker = started.wait();
    let err = handle.join().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let next = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(next, worker);
    assert!(is_dead(worker));
}

#[test]
fn timeout_that_is_not_reached_changes_nothing() {
    let pool = pool(1);
    let h = pool
        .task()
        .timeout(Duration::from_secs(60))
        .submit(remote!(square), 3)
        .unwrap();
    assert_eq!(h.join().unwrap(), 9);
}

#[test]
fn cancel_a_queued_task() {
    let pool = pool(1);
    let started = Started::new();
    let blocker = pool.submit(remote!(block_forever), started.path()).unwrap();
    started.wait();
    let queued = pool.submit(remote!(square), 2).unwrap();
    assert!(queued.cancel());
    assert!(queued.join().unwrap_err().is_cancelled());
    assert!(blocker.cancel());
}

/// CPython `test_max_tasks_per_child`.
#[test]
fn max_tasks_per_child_replaces_the_worker() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(3)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..4)
        .map(|_| pool.submit(remote!(pid), ()).unwrap().join().unwrap())
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[1], pids[2]);
    assert_ne!(pids[2], pids[3]);
    assert_eq!(pool.worker_count(), 1);
    assert!(is_dead(pids[0]));
}

/// CPython `test_max_tasks_per_child_pending_tasks_gh115634`: no deadlock
/// when tasks are queued while workers are recycled.
#[test]
fn max_tasks_per_child_with_pending_tasks() {
    for (workers, jobs) in [(1, 6u64), (2, 8)] {
        let pool = ProcessPool::builder()
            .max_workers(workers)
            .max_tasks_per_child(2)
            .build()
            .unwrap();
        let handles: Vec<_> = (0..jobs)
            .map(|i| pool.submit(remote!(square), i).unwrap())
            .collect();
        let got: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got, (0..jobs).map(|i| i * i).collect::<Vec<_>>());
    }
}

/// CPython `test_max_tasks_early_shutdown`: shutdown waits for queued work
/// even though workers must be recycled during it.
#[test]
fn max_tasks_early_shutdown() {
    let pool = ProcessPool::builder()
        .max_workers(3)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..6)
        .map(|i| pool.submit(remote!(square), i).unwrap())
        .collect();
    pool.shutdown();
    let got: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, [0, 1, 4, 9, 16, 25]);
    assert_eq!(pool.worker_count(), 0);
}

/// CPython `test_shutdown_no_wait_max_tasks_gh119592` (first variant): after
/// `shutdown(wait=False)` the queued tasks still run on replacement workers.
#[test]
fn shutdown_no_wait_with_max_tasks() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..3)
        .map(|i| pool.submit(remote!(square), i).unwrap())
        .collect();
    pool.shutdown_with(ShutdownOptions::new().wait(false));
    let got: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, [0, 1, 4]);
}

/// CPython `test_saturation`: never more processes than `max_workers`.
#[test]
fn saturation() {
    let pool = pool(2);
    let handles: Vec<_> = (0..30)
        .map(|_| pool.submit(remote!(sleep_ms), 2).unwrap())
        .collect();
    let pids: HashSet<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(pids.len() <= 2);
    assert!(pool.workers_started() <= 2);
}

/// CPython `test_idle_process_reuse_one`.
#[test]
fn idle_process_reuse_one() {
    let pool = pool(5);
    for i in 0..3 {
        assert_eq!(
            pool.submit(remote!(square), i).unwrap().join().unwrap(),
            i * i
        );
    }
    assert_eq!(pool.workers_started(), 1);
}

/// CPython `test_idle_process_reuse_multiple`.
#[test]
fn idle_process_reuse_multiple() {
    let pool = pool(5);
    let mut fire_and_forget = Vec::new();
    for i in 0..3 {
        pool.submit(remote!(square), i).unwrap().join().unwrap();
        fire_and_forget.push(pool.submit(remote!(square), i).unwrap());
    }
    assert!(pool.workers_started() <= 3, "{}", pool.workers_started());
    for h in fire_and_forget {
        h.join().unwrap();
    }
}

/// CPython `test_map_chunksize`.
#[test]
fn map_chunksize() {
    let pool = pool(2);
    let expected: Vec<u64> = (0..40u64).map(|i| i.wrapping_pow(i as u32)).collect();
    for chunksize in [1, 6, 40, 50] {
        let got: Vec<u64> = pool
            .map(remote!(pow), (0..40u64).map(|i| (i, i as u32)))
            .chunksize(chunksize)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, expected, "chunksize {chunksize}");
    }
}

#[test]
fn map_panics_fail_only_their_item() {
    let pool = pool(2);
    let f = remote!(|x: u32| if x == 3 { panic!("three") } else { x });
    let got: Vec<_> = pool.map(f, 0..6).chunksize(4).collect();
    assert_eq!(got.len(), 6);
    for (i, r) in got.into_iter().enumerate() {
        match r {
            Ok(v) => assert_eq!(v as usize, i),
            Err(e) => {
                assert_eq!(i, 3);
                assert_eq!(e.panic_message(), Some("three"));
            }
        }
    }
}

#[test]
fn map_timeout_kills_and_ends() {
    let pool = pool(1);
    let mut map = pool
        .map(remote!(|ms: u64| sleep_ms(ms)), [0, 60_000, 0])
        .timeout(Duration::from_millis(300));
    assert!(map.next().unwrap().is_ok());
    assert!(map.next().unwrap().unwrap_err().is_timeout());
    assert!(map.next().is_none());
    drop(map);
    // The worker stuck in the long task was killed: the pool is free.
    assert_eq!(pool.submit(remote!(square), 5).unwrap().join().unwrap(), 25);
}

/// CPython `gh105829`: many submits never block on internal channels.
#[test]
fn map_of_many() {
    let pool = pool(2);
    let n = pool
        .map(remote!(square), 0..2000)
        .chunksize(16)
        .filter(Result::is_ok)
        .count();
    assert_eq!(n, 2000);
}

#[test]
fn as_completed_wait_and_await() {
    let pool = pool(2);
    let handles: Vec<TaskHandle<u64>> = (0..4)
        .map(|i| pool.submit(remote!(square), i).unwrap())
        .collect();
    let waited = wait(&handles, ReturnWhen::AllCompleted);
    assert_eq!(waited.done.len(), 4);
    let mut got: Vec<u64> = as_completed(handles).map(|h| h.join().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 4, 9]);
    let h = pool.submit(remote!(square), 9).unwrap();
    assert_eq!(futures::executor::block_on(h).unwrap(), 81);
}

#[test]
fn done_callbacks_run() {
    let pool = pool(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let h = pool.submit(remote!(square), 4).unwrap();
    h.add_done_callback(move |r| tx.send(*r.unwrap()).unwrap());
    assert_eq!(rx.recv().unwrap(), 16);
    assert_eq!(h.join().unwrap(), 16);
}

fn init_env(value: String) -> Result<(), String> {
    // SAFETY: the initializer runs in the worker before its first task,
    // while the worker has a single thread: nothing reads the environment
    // concurrently.
    unsafe { std::env::set_var("FUTUREPOOL_TEST_INIT", value) };
    Ok(())
}

fn read_env(_: ()) -> Option<String> {
    std::env::var("FUTUREPOOL_TEST_INIT").ok()
}

/// CPython `InitializerMixin.test_initializer`.
#[test]
fn initializer_runs_in_every_worker() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .initializer(remote!(init_env), "initialized".to_owned())
        .build()
        .unwrap();
    for h in (0..4)
        .map(|_| pool.submit(remote!(read_env), ()).unwrap())
        .collect::<Vec<_>>()
    {
        assert_eq!(h.join().unwrap().as_deref(), Some("initialized"));
    }
}

/// CPython `FailingInitializerMixin.test_initializer`.
#[test]
fn failing_initializer_breaks_the_pool() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .initializer(
            remote!(|_: ()| -> Result<(), String> { Err("error in initializer".into()) }),
            (),
        )
        .build()
        .unwrap();
    let err = pool.submit(remote!(square), 1).unwrap().join().unwrap_err();
    assert!(err.is_broken(), "{err}");
    assert_eq!(err.to_string(), "pool is broken: worker initializer failed");
    let cause = std::error::Error::source(&err).expect("the initializer's error");
    assert_eq!(cause.to_string(), "error in initializer");
    let refused = pool.submit(remote!(square), 2).unwrap_err();
    assert!(refused.is_broken());
    assert_eq!(refused.into_inner(), 2);
}

#[test]
fn bounded_queue_refuses_when_full() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .bounded(1)
        .build()
        .unwrap();
    let started = Started::new();
    let running = pool.submit(remote!(block_forever), started.path()).unwrap();
    started.wait();
    let queued = pool.submit(remote!(square), 1).unwrap();
    let err = pool.try_submit(remote!(square), 2).unwrap_err();
    assert!(err.is_full());
    assert!(running.cancel());
    assert_eq!(queued.join().unwrap(), 1);
}

/// CPython `test_processes_terminate` / `test_context_manager_shutdown`:
/// after shutdown every worker process has exited and been reaped.
#[test]
fn shutdown_reaps_every_worker() {
    let pool = pool(2);
    let handles: Vec<_> = (0..4)
        .map(|_| pool.submit(remote!(sleep_ms), 20).unwrap())
        .collect();
    let pids: HashSet<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    pool.shutdown();
    for pid in pids {
        assert!(is_dead(pid));
    }
    assert!(pool.submit(remote!(square), 1).unwrap_err().is_shutdown());
}

#[test]
fn shutdown_cancel_pending() {
    let pool = pool(1);
    let started = Started::new();
    let running = pool.submit(remote!(block_forever), started.path()).unwrap();
    started.wait();
    let queued = pool.submit(remote!(square), 1).unwrap();
    pool.shutdown_with(ShutdownOptions::new().wait(false).cancel_pending(true));
    assert!(queued.is_cancelled());
    assert!(running.cancel()); // kills it, so the drop below doesn't wait forever
}

/// CPython `test_del_shutdown`: dropping the pool mid-map.
#[test]
fn drop_waits_and_reaps() {
    let pids = {
        let pool = pool(2);
        let handles: Vec<_> = (0..6)
            .map(|_| pool.submit(remote!(sleep_ms), 5).unwrap())
            .collect();
        let pids = pool.worker_pids();
        drop(handles);
        pids
    };
    for pid in pids {
        assert!(is_dead(pid));
    }
}

#[test]
fn retry_on_worker_death() {
    let marker = std::env::temp_dir().join(format!("futurepool-retry-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    // Dies the first time, succeeds the second.
    let flaky = remote!(|path: String| {
        if std::fs::File::create_new(&path).is_ok() {
            std::process::abort();
        }
        7u8
    });
    let pool = pool(1);
    let path = marker.to_str().unwrap().to_owned();
    assert_eq!(
        pool.task()
            .retries(1)
            .submit(flaky, path.clone())
            .unwrap()
            .join()
            .unwrap(),
        7
    );
    std::fs::remove_file(&marker).unwrap();
    let err = pool.submit(flaky, path).unwrap().join().unwrap_err();
    assert!(err.is_worker_died());
    let _ = std::fs::remove_file(&marker);
}
