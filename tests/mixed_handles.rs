//! `wait` and `as_completed` over handles of different output types, as
//! Python's `wait([f_int, f_str])`: borrowed as `&dyn TaskRef`, boxed, or
//! erased to `AnyHandle`; with keys; duplicates counted once; and the async
//! forms.

mod common;

use std::thread;
use std::time::Duration;

use common::{LONG, block_worker_with, busy_pool};
use futurepool::{
    AnyHandle, ReturnWhen, TaskHandle, TaskRef, ThreadPool, as_completed, wait, wait_async,
    wait_timeout,
};
use futures::StreamExt;

#[test]
fn wait_on_borrowed_handles_of_different_types() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let count = pool.submit(|| 3_usize).unwrap();
    let name = pool.submit(|| String::from("three")).unwrap();
    let slow = block_worker_with(&pool, 3.0_f64);
    // An array literal coerces every element to the first one's type.
    let w = wait(
        [&count as &dyn TaskRef, &name, &slow.handle],
        ReturnWhen::FirstCompleted,
    );
    assert!(!w.done.is_empty());
    assert!(
        w.not_done
            .iter()
            .any(|h| std::ptr::addr_eq(*h, &slow.handle))
    );
    drop(w); // it borrows the handles
    count.wait();
    name.wait();
    let w = wait_timeout(
        [&count as &dyn TaskRef, &name, &slow.handle],
        ReturnWhen::AllCompleted,
        Duration::ZERO,
    );
    assert_eq!((w.done.len(), w.not_done.len()), (2, 1));
    assert!(std::ptr::addr_eq(w.done[0], &count), "input order");
    assert!(std::ptr::addr_eq(w.done[1], &name));
    assert!(std::ptr::addr_eq(w.not_done[0], &slow.handle));
    drop(w);
    let slow = slow.release();
    let w = wait(
        [&count as &dyn TaskRef, &name, &slow],
        ReturnWhen::AllCompleted,
    );
    assert_eq!((w.done.len(), w.not_done.len()), (3, 0));
    drop(w);
    assert_eq!(count.join().unwrap(), 3);
    assert_eq!(name.join().unwrap(), "three");
    assert_eq!(slow.join().unwrap(), 3.0);
}

#[test]
fn a_borrowed_task_given_twice_counts_once_whatever_its_disguise() {
    let pool = ThreadPool::new();
    let a = pool.submit(|| 1_u8).unwrap();
    let b = pool.submit(|| 'b').unwrap();
    let boxed_a: Box<dyn TaskRef + '_> = Box::new(&a);
    let given: [&dyn TaskRef; 4] = [&a, &b, &boxed_a, &&a];
    let w = wait(given, ReturnWhen::AllCompleted);
    assert_eq!(w.done.len(), 2);
    assert!(std::ptr::addr_eq(w.done[0], &a), "the first given is kept");
    drop(w);
    let it = as_completed([(1, &a as &dyn TaskRef), (2, &b), (3, &a)]);
    assert_eq!(it.len(), 2);
    let mut keys: Vec<i32> = it.map(|(k, _)| k).collect();
    keys.sort_unstable();
    assert_eq!(keys, [1, 2], "the key of the first `a` is kept");
}

#[test]
fn keyed_as_completed_over_erased_handles_in_finishing_order() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let count = block_worker_with(&pool, 3_usize);
    let name = block_worker_with(&pool, String::from("three"));
    let flag = block_worker_with(&pool, true);
    let jobs = [
        ("count", AnyHandle::new(count.handle)),
        ("name", name.handle.into()),
        ("flag", flag.handle.into()),
    ];
    let mut finished = as_completed(jobs);
    let mut order = Vec::new();
    for gate in [&name.gate, &flag.gate, &count.gate] {
        gate.open();
        let (key, handle) = finished.next().unwrap();
        assert!(handle.is_done());
        let shown = match key {
            "count" => handle
                .downcast::<usize>()
                .unwrap()
                .join()
                .unwrap()
                .to_string(),
            "name" => handle.downcast::<String>().unwrap().join().unwrap(),
            "flag" => handle
                .downcast::<bool>()
                .unwrap()
                .join()
                .unwrap()
                .to_string(),
            other => panic!("unexpected key {other}"),
        };
        order.push((key, shown));
    }
    assert!(finished.next().is_none());
    assert_eq!(
        order,
        [
            ("name", "three".to_owned()),
            ("flag", "true".to_owned()),
            ("count", "3".to_owned())
        ]
    );
}

#[test]
fn boxed_dyn_task_refs_with_keys() {
    let pool = ThreadPool::new();
    let jobs: Vec<(&str, Box<dyn TaskRef + Send + Sync>)> = vec![
        ("int", Box::new(pool.submit(|| 1).unwrap())),
        ("str", Box::new(pool.submit(|| "s").unwrap())),
    ];
    // Handed to another thread: the boxes are `Send`.
    let keys = thread::spawn(move || {
        let mut keys: Vec<&str> = as_completed(jobs).map(|(k, _)| k).collect();
        keys.sort_unstable();
        keys
    })
    .join()
    .unwrap();
    assert_eq!(keys, ["int", "str"]);
}

#[test]
fn borrowed_dyn_refs_cross_threads_when_sync() {
    let (pool, blocker) = busy_pool();
    let queued = pool.submit(|| 5_i64).unwrap();
    let other = pool.submit(|| "x").unwrap();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let given: [&(dyn TaskRef + Sync); 2] = [&queued, &other];
            wait(given, ReturnWhen::FirstCompleted).done.len()
        });
        assert!(queued.cancel());
        assert_eq!(waiter.join().unwrap(), 1);
    });
    drop(blocker);
    assert_eq!(other.join().unwrap(), "x");
}

#[test]
fn erased_handles_cancel_and_come_back_typed() {
    let (pool, blocker) = busy_pool();
    let queued = AnyHandle::new(pool.submit(|| 1_u32).unwrap());
    assert!(!queued.is_done());
    assert!(queued.is::<u32>() && !queued.is::<i32>());
    assert_eq!(queued.output_type(), "u32");
    let queued = queued.downcast::<String>().unwrap_err();
    assert!(queued.cancel());
    assert!(queued.is_done() && queued.is_cancelled());
    let handle: TaskHandle<u32> = queued.downcast().unwrap();
    assert!(handle.join().unwrap_err().is_cancelled());
    drop(blocker);
}

#[test]
fn as_completed_stream_over_mixed_handles() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let number = block_worker_with(&pool, 40_u64);
    let word = block_worker_with(&pool, "two");
    let jobs = [
        ("number", AnyHandle::new(number.handle)),
        ("word", AnyHandle::new(word.handle)),
    ];
    let word_gate = word.gate;
    let number_gate = number.gate;
    let order = futures::executor::block_on(async move {
        let mut finished = as_completed(jobs).into_stream();
        let mut order = Vec::new();
        word_gate.open();
        let (key, handle) = finished.next().await.unwrap();
        order.push(key);
        assert_eq!(handle.downcast::<&str>().unwrap().await.unwrap(), "two");
        number_gate.open();
        let (key, handle) = finished.next().await.unwrap();
        order.push(key);
        assert_eq!(handle.downcast::<u64>().unwrap().await.unwrap(), 40);
        assert!(finished.next().await.is_none());
        order
    });
    assert_eq!(order, ["word", "number"]);
}

#[test]
fn wait_async_over_borrowed_mixed_handles_on_two_runtimes() {
    let pool = ThreadPool::new();
    let a = pool.submit(|| 1_i8).unwrap();
    let b = pool.submit(|| vec![2_u8]).unwrap();
    let given = || [&a as &dyn TaskRef, &b, &a];
    let done = futures::executor::block_on(wait_async(given(), ReturnWhen::AllCompleted))
        .done
        .len();
    assert_eq!(done, 2);
    let done = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(wait_async(given(), ReturnWhen::AllCompleted))
        .done
        .len();
    assert_eq!(done, 2);
    assert_eq!(a.join().unwrap(), 1);
    assert_eq!(b.join_timeout(LONG).unwrap(), [2]);
}
