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

use std::rc::Rc;

use crate::loom::thread_local;

/// What a backend does when one of its threads blocks, and when it stops.
pub(crate) trait Blocking {
    /// The thread is about to block in a futurepool wait.
    fn begin(&self);
    /// The wait that `begin` announced is over.
    fn end(&self);
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

/// Announces that the current thread is about to block; the announcement
/// lasts as long as the returned guard.
pub(crate) fn enter() -> Option<Guard> {
    let hook = HOOK.try_with(|h| h.borrow().clone()).ok().flatten()?;
    hook.begin();
    Some(Guard(hook))
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
        fn begin(&self) {
            self.begun.set(self.begun.get() + 1);
        }
        fn end(&self) {
            self.ended.set(self.ended.get() + 1);
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
        std::thread::spawn(|| assert!(enter().is_none()))
            .join()
            .unwrap();
        uninstall();
        assert!(enter().is_none());
    }
}
