//! A worker thread's loop, and how a worker lends its place while it waits.
//! The protocol is described in `README.md` beside this file.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use super::inner::{Inner, Point};
use super::job::{Context, Taken};
use crate::core::blocking::{self, Blocking};
use crate::error::payload_message;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::{Arc, MutexGuard, Weak};
use crate::loom::{spin_briefly, spin_until, thread, thread_local};

thread_local! {
    // loom's `thread_local!` (the loom seam) takes no `const` initializer.
    #[allow(clippy::missing_const_for_thread_local)]
    /// The pool this thread is a worker of.
    static CURRENT: RefCell<Option<Weak<Inner>>> = RefCell::new(None);
}

/// The hook a worker installs in the core: while it blocks in a futurepool
/// wait, its place is lent to the pool (up to the pool's bound on lent
/// places); before a wait without a time limit, it offers to run the task it
/// waits for (see `job.rs`, `ThreadJob`'s `help`).
struct Lend {
    pool: Weak<Inner>,
    /// An address near the top of this worker's stack, and how much of the
    /// stack below it tasks run inline may use: see [`Lend::stack_allows`].
    stack_top: usize,
    stack_room: usize,
}

impl Lend {
    fn new(pool: &Arc<Inner>, stack_top: usize) -> Lend {
        let stack_size = pool.config.stack_size.unwrap_or_else(default_stack_size);
        Lend {
            pool: Arc::downgrade(pool),
            stack_top,
            stack_room: stack_size / 4 * 3,
        }
    }

    /// Whether this worker's stack has room for one more task run inline.
    /// Each nested help runs a task (and whatever it waits for) further
    /// down the waiter's stack; past three quarters of it, the waiter lends
    /// its place instead, so a chain of waits deeper than a stack moves on
    /// to other threads rather than overflowing this one (a stack overflow
    /// aborts the process).
    fn stack_allows(&self) -> bool {
        let here = 0u8;
        let here = std::ptr::addr_of!(here) as usize;
        here.abs_diff(self.stack_top) < self.stack_room
    }
}

/// A spawned thread's stack size when the builder sets none: std's, 2 MiB
/// unless `RUST_MIN_STACK` says otherwise.
fn default_stack_size() -> usize {
    std::env::var("RUST_MIN_STACK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2 << 20)
}

impl Blocking for Lend {
    fn begin(&self) -> bool {
        let Some(inner) = self.pool.upgrade() else {
            return false;
        };
        let mut st = inner.state.lock();
        if st.lent >= inner.config.max_lent {
            return false; // the bound is reached: wait holding the place
        }
        st.lent += 1;
        inner.publish_counts(&st);
        // ORDERING: SeqCst, like every read of the counters in the wake
        // protocol (see README.md).
        if inner.queued() > 0 {
            // A failure to start a thread only means the queue waits for a
            // worker that is already running.
            let _ = inner.wake_or_spawn(&mut st);
        }
        true
    }

    fn end(&self) {
        let Some(inner) = self.pool.upgrade() else {
            return;
        };
        let mut st = inner.state.lock();
        st.lent -= 1;
        inner.publish_counts(&st);
    }

    fn help(&self, run: &mut dyn FnMut(&dyn Any) -> bool) -> bool {
        if !self.stack_allows() {
            return false;
        }
        let Some(inner) = self.pool.upgrade() else {
            return false;
        };
        let pool: Arc<dyn Context> = inner;
        run(&pool)
    }
}

impl Inner {
    /// Whether the current thread is a worker of this pool.
    pub(super) fn is_current_worker(&self) -> bool {
        CURRENT
            .try_with(|c| {
                c.borrow()
                    .as_ref()
                    .is_some_and(|w| std::ptr::eq(w.as_ptr(), self))
            })
            .unwrap_or(false)
    }

    /// A worker's thread: runs the initializer, then tasks, until the pool
    /// closes or the worker has been idle for the keep-alive.
    pub(super) fn run_worker(self: Arc<Self>, index: usize) {
        worker_main(self, index);
    }
}

fn worker_main(inner: Arc<Inner>, index: usize) {
    CURRENT.with(|c| *c.borrow_mut() = Some(Arc::downgrade(&inner)));
    let stack_top = 0u8;
    let stack_top = std::ptr::addr_of!(stack_top) as usize;
    blocking::install(Rc::new(Lend::new(&inner, stack_top)));
    // Until its first look at the queue this worker is counted as spinning;
    // it looks only after it stops being counted (see README.md, "No lost
    // start").
    if let Some(init) = &inner.config.initializer {
        let failure = match panic::catch_unwind(AssertUnwindSafe(|| init())) {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(err),
            Err(payload) => Some(
                format!(
                    "initializer panicked: {}",
                    payload_message(payload.as_ref()).unwrap_or("(non-string payload)")
                )
                .into(),
            ),
        };
        if let Some(cause) = failure {
            inner.spinning.fetch_sub(1, Ordering::SeqCst);
            inner.break_pool(cause);
            return exit(&inner, inner.state.lock(), index);
        }
    }
    inner.spinning.fetch_sub(1, Ordering::SeqCst);
    // Whether this worker has yet to take its first task (for a test point).
    let mut first = true;

    // Whether this worker has spun for work since its last task.
    let mut spun = false;
    loop {
        // Whether the pool was open when this worker went for a task: a
        // shutdown that cancels running tasks treats a task taken before
        // it closed the pool as running (see `Taken`).
        // ORDERING: SeqCst, as everywhere in the protocol: read before the
        // pop, so a task in this worker's hands when the pool closed is
        // always `WhileOpen` (so is one taken just as it closed: a race
        // either answer fits).
        let taken = if inner.closed.load(Ordering::SeqCst) {
            Taken::AfterClose
        } else {
            Taken::WhileOpen
        };
        if let Some(job) = inner.pop() {
            if std::mem::take(&mut first) {
                inner.reach(Point::FirstTaskTaken);
            }
            spun = false;
            // `run` catches the task's panic; this catches the rest (a
            // panicking drop of a closure or a value nobody wanted), so that
            // a worker never dies of a task.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| job.run(&*inner, taken)));
            // ORDERING: SeqCst, as everywhere in the wake protocol.
            if inner.active.load(Ordering::SeqCst) > inner.config.max_workers {
                let mut st = inner.state.lock();
                if st.active() > inner.config.max_workers && !hold_in_reserve(&inner, &mut st) {
                    // A lent worker came back, one too many, and nobody
                    // took it back from reserve within the keep-alive.
                    return exit(&inner, st, index);
                }
            }
            continue;
        }
        if inner.closed.load(Ordering::SeqCst) {
            let st = inner.state.lock();
            // Broken: the queue was failed. Shut down: leave once no
            // submit is in flight and the queue is empty.
            if st.broken.is_some()
                || (inner.submitting.load(Ordering::SeqCst) == 0 && inner.queued() == 0)
            {
                return exit(&inner, st, index);
            }
            drop(st);
            thread::yield_now();
            continue;
        }
        // Work often comes back within microseconds: look again a few
        // times without telling anyone (a pool at its size with nobody
        // asleep needs no promise from this worker to take the next task),
        // before spinning where submitters can see it.
        if spin_briefly(|| inner.queued() > 0) {
            continue;
        }
        if !spun {
            // Stay awake a moment before sleeping: the next task is often
            // microseconds away, and a spinning worker takes it with no
            // futex wake on either side. It stops being counted before it
            // looks again.
            spun = true;
            inner.spinning.fetch_add(1, Ordering::SeqCst);
            spin_until(|| inner.queued() > 0 || inner.closed.load(Ordering::SeqCst));
            inner.spinning.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let mut st = inner.state.lock();
        // Commit to sleeping, then look once more (the worker's half of
        // the handshake described in `Inner::push`).
        inner.sleeping.fetch_add(1, Ordering::SeqCst);
        if inner.queued() > 0 || inner.closed.load(Ordering::SeqCst) {
            inner.sleeping.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let timed_out = inner
            .work
            .wait_for(&mut st, inner.config.keep_alive)
            .timed_out();
        inner.sleeping.fetch_sub(1, Ordering::SeqCst);
        if st.notified > 0 {
            st.notified -= 1;
            continue;
        }
        if timed_out && !inner.closed.load(Ordering::SeqCst) {
            // Idle for keep_alive: retire. Stop being counted first, then
            // look once more (see README.md, "No lost retirement").
            st.threads -= 1;
            inner.publish_counts(&st);
            // ORDERING: SeqCst: the retiring worker's half of a handshake
            // with a submitter (write `active`, then read `queued`).
            if inner.queued() == 0 {
                return leave(&inner, st, index);
            }
            st.threads += 1;
            inner.publish_counts(&st);
        }
    }
}

/// Leaves the pool: the worker is no longer counted, and a shutdown waiting
/// for it hears so.
fn exit(inner: &Inner, mut st: MutexGuard<'_, super::inner::PoolState>, index: usize) {
    st.threads -= 1;
    inner.publish_counts(&st);
    leave(inner, st, index);
}

/// Holds a worker the pool has one too many of (a lender that came back
/// after a thread was started in its place) in reserve, until a lend
/// elsewhere makes room and `wake_or_spawn` takes it back (then `true`: it
/// goes back to work), or its keep-alive passes or the pool closes (then
/// `false`: it leaves). So a pool whose workers keep lending and coming
/// back reuses its threads instead of starting new ones (README.md,
/// "Helping, then lending").
fn hold_in_reserve(inner: &Inner, st: &mut MutexGuard<'_, super::inner::PoolState>) -> bool {
    st.reserve += 1;
    inner.publish_counts(st);
    let mut timed_out = false;
    loop {
        if st.recalled > 0 {
            st.recalled -= 1; // `wake_or_spawn` moved it out of `reserve`
            return true;
        }
        // `closed` is set, and the reserve woken, under this lock: looked
        // at here before each wait, it can't be missed.
        if timed_out || inner.closed.load(Ordering::SeqCst) {
            st.reserve -= 1;
            inner.publish_counts(st);
            return false;
        }
        timed_out = inner
            .reserve
            .wait_for(st, inner.config.keep_alive)
            .timed_out();
    }
}

/// The rest of [`exit`], for a worker no longer counted in `threads`.
fn leave(inner: &Inner, mut st: MutexGuard<'_, super::inner::PoolState>, index: usize) {
    st.workers.exiting(index);
    drop(st);
    inner.exited.notify_all();
    // The last worker of a pool dropped without waiting closes its timer.
    inner.close_timer_if_idle();
    blocking::uninstall();
    CURRENT.with(|c| *c.borrow_mut() = None);
}
