//! Task ids and names: unique and stable ids, names in `Debug`, in errors'
//! `Display` and `Debug`, and through every way a task ends.

mod common;

use std::collections::HashSet;
use std::error::Error;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::{Gate, LONG};
use futurepool::{ShutdownOptions, TaskError, TaskId, ThreadPool};

#[test]
fn ids_are_unique_across_threads_and_pools() {
    // Two pools, two submitting threads each: the ids are the process's,
    // not a pool's.
    let pools: Vec<Arc<ThreadPool>> = (0..2).map(|_| Arc::new(ThreadPool::new())).collect();
    let start = Arc::new(Barrier::new(4));
    let submitters: Vec<_> = (0..4)
        .map(|i| {
            let start = start.clone();
            let pool = pools[i % 2].clone();
            thread::spawn(move || {
                start.wait();
                (0..200)
                    .map(|_| pool.submit(|| ()).unwrap().id())
                    .collect::<Vec<TaskId>>()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for submitter in submitters {
        for id in submitter.join().unwrap() {
            assert!(seen.insert(id), "{id} given twice");
        }
    }
    assert_eq!(seen.len(), 800);
}

#[test]
fn an_id_is_stable_through_the_life_of_a_task_and_into_its_error() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (started_tx, started_rx) = mpsc::channel();
    let handle = pool
        .submit(move || -> u8 {
            started_tx.send(()).unwrap();
            waiter.wait();
            panic!("late")
        })
        .unwrap();
    let pending_id = handle.id();
    started_rx.recv_timeout(LONG).unwrap();
    assert_eq!(handle.id(), pending_id, "running");
    gate.open();
    handle.wait();
    assert_eq!(handle.id(), pending_id, "done");
    let (tx, rx) = mpsc::channel();
    handle.add_done_callback(move |outcome| tx.send(outcome.unwrap_err().task_id()).unwrap());
    assert_eq!(
        rx.recv_timeout(LONG).unwrap(),
        Some(pending_id),
        "in a callback"
    );
    assert_eq!(handle.join().unwrap_err().task_id(), Some(pending_id));
}

#[test]
fn task_id_reads_as_a_task() {
    let pool = ThreadPool::new();
    let id = pool.submit(|| ()).unwrap().id();
    assert_eq!(id.to_string(), format!("task {}", id.as_u64()));
    assert_eq!(format!("{id:?}"), format!("TaskId({})", id.as_u64()));
    let later = pool.submit(|| ()).unwrap().id();
    assert!(later > id, "ids grow");
}

#[test]
fn an_unnamed_task_shows_no_name_and_its_errors_read_as_before() {
    let pool = ThreadPool::new();
    let handle = pool.submit(|| -> u8 { panic!("boom") }).unwrap();
    assert_eq!(handle.name(), None);
    handle.wait();
    assert!(!format!("{handle:?}").contains("name"));
    let err = handle.join().unwrap_err();
    assert_eq!(err.task_name(), None);
    assert_eq!(err.to_string(), "task panicked: boom");
    assert!(!format!("{err:?}").contains("name"));
}

#[test]
fn a_name_shows_in_the_handle_and_in_every_kind_of_error() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (started_tx, started_rx) = mpsc::channel();
    let blocker = pool
        .task()
        .name("blocker")
        .submit(move || {
            started_tx.send(()).unwrap();
            waiter.wait();
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    assert_eq!(blocker.name(), Some("blocker"));
    let id = blocker.id().as_u64();
    assert_eq!(
        format!("{blocker:?}"),
        format!("TaskHandle {{ id: {id}, name: \"blocker\", state: running }}")
    );

    // Cancelled while queued.
    let queued = pool.task().name("resize").submit(|| 1).unwrap();
    assert!(queued.cancel());
    let err = queued.join().unwrap_err();
    assert_eq!(err.to_string(), "task `resize` was cancelled");
    assert_eq!(err.task_name(), Some("resize"));

    // Timed out while queued (the deadline already passed).
    let late = pool
        .task()
        .name("late")
        .timeout(Duration::ZERO)
        .submit(|| 1)
        .unwrap();
    let err = late.join().unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "task `late` timed out");

    // Timed out while queued, by the timer.
    let timed = pool
        .task()
        .name("timed")
        .timeout(Duration::from_millis(1))
        .submit(|| 1)
        .unwrap();
    let err = timed.join().unwrap_err();
    assert_eq!(err.to_string(), "task `timed` timed out");
    assert_eq!(
        format!("{err:?}"),
        format!(
            "TaskError {{ kind: Timeout, task: {:?}, name: \"timed\" }}",
            err.task_id().unwrap()
        )
    );

    gate.open();
    blocker.join().unwrap();

    // Panicked.
    let err = pool
        .task()
        .name("parse")
        .submit(|| -> u8 { panic!("bad digit") })
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(err.to_string(), "task `parse` panicked: bad digit");
    assert_eq!(err.panic_message(), Some("bad digit"));

    // Cancelled while running, through its token.
    let (started_tx, started_rx) = mpsc::channel();
    let spinning = pool
        .task()
        .name("spin")
        .submit_cancellable(move |token| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::yield_now();
            }
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    assert!(spinning.cancel());
    assert_eq!(
        spinning.join().unwrap_err().to_string(),
        "task `spin` was cancelled"
    );
}

#[test]
fn a_pool_error_names_the_task_in_front() {
    let pool = ThreadPool::builder()
        .initializer(|| Err("no database"))
        .build()
        .unwrap();
    let err = pool
        .task()
        .name("query")
        .submit(|| 1)
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_broken());
    assert_eq!(
        err.to_string(),
        "task `query`: pool is broken: worker initializer failed"
    );
    // The cause is still only the source, not in the message.
    assert_eq!(err.source().unwrap().to_string(), "no database");
    assert_eq!(err.task_name(), Some("query"));
}

#[test]
fn a_shutdown_that_cancels_queued_work_stamps_each_task() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (started_tx, started_rx) = mpsc::channel();
    let blocker = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            waiter.wait();
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    let queued: Vec<_> = (0..3)
        .map(|i| pool.task().name(format!("job-{i}")).submit(|| ()).unwrap())
        .collect();
    let ids: Vec<_> = queued.iter().map(|h| h.id()).collect();
    pool.shutdown_with(ShutdownOptions::new().wait(false).cancel_pending(true));
    for (i, (handle, id)) in queued.into_iter().zip(ids).enumerate() {
        let err = handle.join().unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.task_id(), Some(id));
        assert_eq!(err.to_string(), format!("task `job-{i}` was cancelled"));
    }
    gate.open();
    blocker.join().unwrap();
}

#[test]
fn a_refused_map_item_belongs_to_no_task() {
    let pool = ThreadPool::new();
    pool.shutdown();
    let err: TaskError = pool.map(|x: u8| x, [1]).next().unwrap().unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.task_id(), None);
    assert_eq!(err.to_string(), "pool is shut down");
    assert_eq!(format!("{err:?}"), "TaskError { kind: Shutdown }");
}

#[test]
fn a_name_is_any_string() {
    let pool = ThreadPool::new();
    let name = String::from("naïve résumé ✓");
    let handle = pool.task().name(name.clone()).submit(|| ()).unwrap();
    assert_eq!(handle.name(), Some(name.as_str()));
    handle.join().unwrap();
    let empty = pool
        .task()
        .name("")
        .submit(|| -> () { panic!("x") })
        .unwrap();
    assert_eq!(empty.name(), Some(""));
    assert_eq!(empty.join().unwrap_err().to_string(), "task `` panicked: x");
}

/// A panic in one input of a named function's map (one input of a chunk)
/// ended with no task id, though the closure `Map`'s item and the chunk's
/// own errors (a time limit) named the task.
#[cfg(feature = "remote")]
#[test]
fn a_map_item_that_panics_names_the_task_that_ran_it() {
    fn check(x: u8) -> u8 {
        assert!(x != 2, "two");
        x
    }
    let pool = ThreadPool::new();
    let items: Vec<_> = futurepool::Executor::map_fn(&pool, futurepool::remote!(check), [1, 2, 3])
        .chunksize(3)
        .collect();
    let err = items[1].as_ref().unwrap_err();
    assert!(err.is_panic());
    assert!(err.task_id().is_some());
    let closure_map = pool.map(|x: u8| check(x), [2]).next().unwrap().unwrap_err();
    assert!(closure_map.task_id().is_some());
}
