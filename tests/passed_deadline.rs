//! A wait whose deadline has already passed is a poll: on a pool worker it
//! must not lend the worker's place, which would make a full pool with
//! queued work start another thread for nothing. As a handle's
//! `wait_timeout(Duration::ZERO)`, so `wait`, `as_completed`, `first_ok`
//! and `TaskGroup` with a zero timeout or a passed deadline.

mod common;

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::LONG;
use futurepool::{
    ReturnWhen, TaskGroup, ThreadPool, as_completed, first_ok_deadline, first_ok_timeout,
    wait_deadline, wait_timeout,
};

#[test]
fn zero_waits_on_a_full_pool_start_no_thread() {
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let other = Arc::new(ThreadPool::new());
    let p = pool.clone();
    let outer = pool
        .submit(move || {
            // Work queued behind this task, which holds the only worker.
            let queued = p.submit(|| ()).unwrap();
            let (release, rx) = mpsc::channel::<()>();
            let stuck = other.submit(move || rx.recv().unwrap_err()).unwrap();
            let mut polls = 0;

            let w = wait_timeout([&stuck], ReturnWhen::AllCompleted, Duration::ZERO);
            polls += w.not_done.len();
            let w = wait_deadline([&stuck], ReturnWhen::FirstCompleted, Instant::now());
            polls += w.not_done.len();
            let timed_out = as_completed([&stuck]).timeout(Duration::ZERO).next();
            polls += usize::from(timed_out.unwrap().is_err());
            let timed_out = as_completed([&stuck]).deadline(Instant::now()).next();
            polls += usize::from(timed_out.unwrap().is_err());
            let mut back = first_ok_timeout([stuck], Duration::ZERO)
                .unwrap_err()
                .into_unfinished();
            polls += back.len();
            let stuck = back.pop().unwrap();
            let mut back = first_ok_deadline([stuck], Instant::now())
                .unwrap_err()
                .into_unfinished();
            polls += back.len();
            let mut group = TaskGroup::new();
            group.insert(back.pop().unwrap());
            polls += usize::from(group.join_next_timeout(Duration::ZERO).is_err());
            polls += usize::from(group.join_next_deadline(Instant::now()).is_err());
            polls += usize::from(group.try_join_next().is_none());

            let workers = p.worker_count();
            let queued_ran = queued.is_done();
            drop(release);
            group.join_next().unwrap().unwrap();
            (polls, workers, queued_ran)
        })
        .unwrap();
    let (polls, workers, queued_ran) = outer.join_timeout(LONG).unwrap();
    assert_eq!(polls, 9, "every poll found the task unfinished");
    assert_eq!(workers, 1, "no thread was started");
    assert!(!queued_ran);
}
