//! A deadline timer: one lazily started thread per pool that expires tasks
//! whose deadline has passed.
//!
//! Entries hold weak references, so a task that finished early is freed at
//! once; its entry stays in the heap until its deadline and is then skipped.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::io;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crate::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use crate::task::Runnable;

pub(crate) struct Timer {
    shared: Arc<Shared>,
    name: String,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stop: bool,
    thread: Option<JoinHandle<()>>,
}

struct Entry {
    deadline: Instant,
    seq: u64,
    task: Weak<dyn Runnable>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

impl Timer {
    pub(crate) fn new(name: String) -> Timer {
        Timer {
            shared: Arc::default(),
            name,
        }
    }

    /// Expires `task` at `deadline`, starting the timer thread if needed.
    pub(crate) fn schedule(&self, deadline: Instant, task: Weak<dyn Runnable>) -> io::Result<()> {
        let mut st = self.shared.state.lock();
        if st.thread.is_none() {
            let shared = self.shared.clone();
            let handle = thread::Builder::new()
                .name(self.name.clone())
                .spawn(move || shared.run())?;
            st.thread = Some(handle);
            st.stop = false;
        }
        let seq = st.seq;
        st.seq += 1;
        let wake = st
            .heap
            .peek()
            .is_none_or(|Reverse(first)| deadline < first.deadline);
        st.heap.push(Reverse(Entry {
            deadline,
            seq,
            task,
        }));
        drop(st);
        if wake {
            self.shared.cond.notify_one();
        }
        Ok(())
    }

    /// Stops the timer thread and waits for it to exit. A later `schedule`
    /// starts a new one.
    pub(crate) fn stop(&self) {
        let handle = {
            let mut st = self.shared.state.lock();
            st.stop = true;
            st.heap.clear();
            st.thread.take()
        };
        self.shared.cond.notify_one();
        if let Some(handle) = handle {
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

impl Shared {
    fn run(&self) {
        let mut st = self.state.lock();
        while !st.stop {
            let now = Instant::now();
            match st.heap.peek() {
                Some(Reverse(first)) if first.deadline <= now => {
                    let Reverse(entry) = st.heap.pop().expect("peeked");
                    MutexGuard::unlocked(&mut st, || {
                        if let Some(task) = entry.task.upgrade() {
                            task.expire();
                        }
                    });
                }
                Some(Reverse(first)) => {
                    let deadline = first.deadline;
                    self.cond.wait_until(&mut st, deadline);
                }
                None => self.cond.wait(&mut st),
            }
        }
    }
}
