//! "This thread is about to block": the hook through which a backend learns
//! that one of its threads waits in a futurepool wait.
//!
//! Every blocking wait in the crate (a handle's `join`/`wait`, `as_completed`,
//! `wait`, a map's `next`, a submit waiting for room) calls [`enter`] just
//! before it blocks and keeps the guard until it returns. On a thread where a
//! backend installed a [`Blocking`] hook (the thread pool does, on each
//! worker, to lend the worker's place while it waits: see
//! `src/thread_pool/README.md`), the hook hears about it. Elsewhere `enter`
//! does nothing. The core never names a backend: it only calls what the
//! thread's hook says, as rayon-core's `registry::in_worker` and tokio's
//! `block_in_place` find their pool through the current thread.
//!
//! Before a wait without a time limit for one task, the core first offers
//! the hook the chance to *help* ([`help`]): a pool worker waiting for a
//! task of its own pool that hasn't started runs it inline, as rayon's
//! `join` does, instead of blocking. The hook only says who the thread is
//! (its pool, as `dyn Any`); the task's payload decides whether that is
//! its pool, and the task's cell whether it can still start.

use std::any::Any;
use std::rc::Rc;

use crate::loom::thread_local;

/// What a backend does when one of its threads blocks, and when it stops.
pub(crate) trait Blocking {
    /// The thread is about to block in a futurepool wait. Returns whether
    /// the backend did something that [`end`](Self::end) must undo (the
    /// thread pool lends the worker's place, unless its bound on lent
    /// places is reached).
    fn begin(&self) -> bool;
    /// The wait that `begin` announced, and returned `true` for, is over.
    fn end(&self);
    /// The thread is about to wait without a time limit for a task: calls
    /// `run` with what this thread is to the task's payload (see
    /// `Payload::help`), and returns what `run` returned. `false`, without
    /// calling it, if the backend can't say (its pool is gone).
    fn help(&self, run: &mut dyn FnMut(&dyn Any) -> bool) -> bool;
}

thread_local! {
    // loom's `thread_local!` (the loom seam) takes no `const` initializer.
    #[allow(clippy::missing_const_for_thread_local)]
    static HOOK: std::cell::RefCell<Option<Rc<dyn Blocking>>> = std::cell::RefCell::new(None);
}

/// Installs `hook` for the current thread (a backend's worker, at start),
/// replacing any other.
pub(crate) fn install(hook: Rc<dyn Blocking>) {
    HOOK.with(|h| *h.borrow_mut() = Some(hook));
}

/// Removes the current thread's hook (the worker is leaving).
pub(crate) fn uninstall() {
    // `try_with`: a thread may uninstall while its thread-locals are being
    // destroyed; there is nothing left to remove then.
    let _ = HOOK.try_with(|h| h.borrow_mut().take());
}

/// The current thread's hook, if a backend installed one. (Cloned out, so
/// that no borrow of the thread-local is held while the hook runs: a task
/// it runs inline may wait, and come back here.)
fn hook() -> Option<Rc<dyn Blocking>> {
    HOOK.try_with(|h| h.borrow().clone()).ok().flatten()
}

/// Announces that the current thread is about to block; the announcement
/// lasts as long as the returned guard.
pub(crate) fn enter() -> Option<Guard> {
    let hook = hook()?;
    hook.begin().then(|| Guard(hook))
}

/// Whether the current thread has a hook (is a pool worker): a wait over
/// many tasks asks before it offers to [`help`] with each.
pub(crate) fn may_help() -> bool {
    HOOK.try_with(|h| h.borrow().is_some()).unwrap_or(false)
}

/// Offers the current thread's backend the chance to run, here and now, a
/// task this thread is about to wait for without a time limit: `run` gets
/// what the thread is (see [`Blocking::help`]) and returns whether it ran
/// the task. `false` on a thread with no hook (not a pool worker).
pub(crate) fn help(mut run: impl FnMut(&dyn Any) -> bool) -> bool {
    hook().is_some_and(|hook| hook.help(&mut run))
}

/// Ends the wait announced by [`enter`] when dropped.
pub(crate) struct Guard(Rc<dyn Blocking>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(all(test, not(futurepool_loom)))]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    #[derive(Default)]
    struct Count {
        begun: Cell<u32>,
        ended: Cell<u32>,
    }

    impl Blocking for Count {
        fn begin(&self) -> bool {
            self.begun.set(self.begun.get() + 1);
            self.begun.get() != 2 // the second wait does nothing to undo
        }
        fn end(&self) {
            self.ended.set(self.ended.get() + 1);
        }
        fn help(&self, run: &mut dyn FnMut(&dyn Any) -> bool) -> bool {
            run(&self.begun.get())
        }
    }

    #[test]
    fn the_hook_hears_of_each_wait_on_its_own_thread_only() {
        assert!(enter().is_none(), "no hook: nothing to tell");
        let count = Rc::new(Count::default());
        install(count.clone());
        {
            let _guard = enter().expect("a hook is installed");
            assert_eq!((count.begun.get(), count.ended.get()), (1, 0));
        }
        assert_eq!((count.begun.get(), count.ended.get()), (1, 1));
        assert!(enter().is_none(), "nothing to undo: no guard");
        assert_eq!((count.begun.get(), count.ended.get()), (2, 1));
        std::thread::spawn(|| assert!(enter().is_none()))
            .join()
            .unwrap();
        uninstall();
        assert!(enter().is_none());
    }

    #[test]
    fn help_asks_the_hook_of_this_thread_only() {
        let asked = |helper: &dyn Any| helper.downcast_ref::<u32>() == Some(&0);
        assert!(!help(asked), "no hook: nobody to help");
        install(Rc::new(Count::default()));
        assert!(help(asked), "the hook said who this thread is");
        assert!(!help(|_| false), "and `run` decides");
        std::thread::spawn(move || assert!(!help(asked)))
            .join()
            .unwrap();
        uninstall();
        assert!(!help(asked));
    }
}
