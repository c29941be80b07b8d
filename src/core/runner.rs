//! The callback runner: where user code goes that an internal thread must
//! not run.
//!
//! The deadline timer and a process pool's driver threads decide and signal;
//! they never run user code. When one of them ends a task that has
//! done-callbacks, the callbacks (and the decoding of a deferred outcome
//! they need) are handed here. So is the drop of a task cell that an
//! internal thread happened to release last, when the cell still holds a
//! user value.
//!
//! The runner is a small, process-wide, elastic set of threads named
//! `futurepool-callbacks`, started on first use, in the manner of smol's
//! `blocking` pool: a job is taken by an idle thread if there is one, and
//! otherwise a new thread starts for it. So a callback that blocks (or
//! waits for another task whose deadline only the timer can fire) holds one
//! thread, never the timer, a driver, another callback or a shutdown.
//! Threads idle for [`KEEP_ALIVE`] exit. Every job runs under
//! `catch_unwind`: a panicking callback is reported by the panic hook and
//! the thread goes on.
//!
//! At most [`MAX_THREADS`] threads run at once; past that, jobs wait for a
//! thread (thousands of callbacks blocked at the same moment is a program
//! that has lost its way). If not even one thread can be started (the
//! system refuses threads), the job runs on the calling thread rather than
//! never: a done-callback that never runs would leave its task unfinished
//! forever.
//!
//! Under loom every job gets a thread of its own (the models keep them
//! few).

use std::panic::{self, AssertUnwindSafe};

/// Work for the runner: a callback round, a deferred decode, a drop.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long an idle runner thread waits for another job before it exits.
#[cfg(not(futurepool_loom))]
pub(crate) const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// The most runner threads alive at once.
#[cfg(not(futurepool_loom))]
pub(crate) const MAX_THREADS: usize = 512;

/// Runs `job` on a runner thread, soon.
pub(crate) fn spawn(job: Job) {
    imp::spawn(job);
}

/// Runs a job, catching its panic: the panic hook has already reported it,
/// and a runner thread must carry on.
fn run(job: Job) {
    let _ = panic::catch_unwind(AssertUnwindSafe(job));
}

#[cfg(not(futurepool_loom))]
mod imp {
    use std::collections::VecDeque;

    use super::{Job, KEEP_ALIVE, MAX_THREADS, run};
    use crate::loom::sync::{Condvar, Mutex, OnceLock};
    use crate::loom::thread;

    struct Runner {
        state: Mutex<State>,
        work: Condvar,
    }

    #[derive(Default)]
    struct State {
        queue: VecDeque<Job>,
        /// Runner threads alive.
        threads: usize,
        /// Runner threads waiting for a job.
        idle: usize,
    }

    fn runner() -> &'static Runner {
        static RUNNER: OnceLock<Runner> = OnceLock::new();
        RUNNER.get_or_init(|| Runner {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
        })
    }

    pub(super) fn spawn(job: Job) {
        let runner = runner();
        let mut st = runner.state.lock();
        st.queue.push_back(job);
        // Every queued job needs a thread of its own: an idle one (it takes
        // a job as soon as it wakes), or a new one. Counting the queue
        // against the idle threads, rather than waking one per job, means a
        // second job pushed before the first idle thread wakes gets a thread
        // too, so one blocking job can't hold up the next.
        if st.queue.len() <= st.idle {
            runner.work.notify_one();
            return;
        }
        if st.threads >= MAX_THREADS {
            return; // a busy thread takes it when it is free
        }
        let started = thread::spawn_named("futurepool-callbacks".to_owned(), None, move || {
            runner_main(runner)
        });
        match started {
            // Detached: a runner thread serves the whole process and
            // exits when idle.
            Ok(_handle) => st.threads += 1,
            Err(_) if st.threads > 0 => {} // a running thread will take it
            Err(_) => {
                // No runner thread at all, and none can start: run it here
                // rather than never (see the module docs).
                let job = st.queue.pop_back().expect("just pushed");
                drop(st);
                run(job);
            }
        }
    }

    fn runner_main(runner: &Runner) {
        let mut st = runner.state.lock();
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                run(job);
                st = runner.state.lock();
                continue;
            }
            st.idle += 1;
            let timed_out = runner.work.wait_for(&mut st, KEEP_ALIVE).timed_out();
            st.idle -= 1;
            if timed_out && st.queue.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(futurepool_loom)]
mod imp {
    use super::{Job, run};

    pub(super) fn spawn(job: Job) {
        crate::loom::thread::spawn_named("futurepool-callbacks".to_owned(), None, move || run(job))
            .expect("loom threads start");
    }
}

#[cfg(all(test, not(futurepool_loom)))]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::spawn;

    #[test]
    fn a_blocked_job_does_not_hold_up_the_next() {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        spawn(Box::new(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv(); // blocks until the test ends
        }));
        started_rx.recv().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        spawn(Box::new(move || done_tx.send(()).unwrap()));
        assert!(
            done_rx.recv_timeout(Duration::from_secs(30)).is_ok(),
            "the second job ran while the first was blocked"
        );
        drop(release_tx);
    }

    #[test]
    fn a_panicking_job_does_not_stop_the_runner() {
        spawn(Box::new(|| panic!("a callback's bug")));
        let (tx, rx) = mpsc::channel();
        spawn(Box::new(move || tx.send(7).unwrap()));
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(7));
    }

    #[test]
    fn jobs_pushed_together_all_run() {
        let (tx, rx) = mpsc::channel();
        for i in 0..50 {
            let tx = tx.clone();
            spawn(Box::new(move || tx.send(i).unwrap()));
        }
        let mut got: Vec<i32> = (0..50)
            .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
    }
}
