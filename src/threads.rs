//! [`ThreadSet`]: the threads a pool started, so that none outlives it.
//!
//! Both pools (the thread pool's workers, the process pool's drivers) start
//! threads lazily and let them retire on their own. A retiring thread can't
//! join itself, so it moves its handle to `exited`; the next spawn reaps the
//! ones that have finished, and shutdown joins the rest, so even the
//! thread-local destructors of a retired thread have run when it returns.

use std::collections::HashMap;

use crate::loom::thread::{self, JoinHandle};

/// Handles of a pool's threads, by id. Kept under the pool's mutex.
#[derive(Default)]
pub(crate) struct ThreadSet {
    live: HashMap<usize, JoinHandle<()>>,
    /// Threads that have left their loop, to be joined.
    exited: Vec<JoinHandle<()>>,
}

impl ThreadSet {
    /// Records a thread just started as `id`, first joining the retired
    /// threads that have finished.
    pub(crate) fn insert(&mut self, id: usize, handle: JoinHandle<()>) {
        let (finished, running): (Vec<_>, Vec<_>) =
            self.exited.drain(..).partition(thread::is_finished);
        self.exited = running;
        for handle in finished {
            let _ = handle.join();
        }
        self.live.insert(id, handle);
    }

    /// Called by thread `id` as it leaves its loop.
    pub(crate) fn exiting(&mut self, id: usize) {
        if let Some(handle) = self.live.remove(&id) {
            self.exited.push(handle);
        }
    }

    /// Takes the handles of the threads that have left their loop: joining
    /// them waits only for their last few instructions.
    pub(crate) fn take_exited(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.exited)
    }
}
