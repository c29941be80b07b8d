//! What a pool's handles hold: [`Handles`], whose drop shuts the pool down
//! when the last [`ProcessPool`] goes, and [`WeakProcessPool`], which
//! doesn't keep it alive.

use std::fmt;

use super::ProcessPool;
use super::supervisor::Shared;
use crate::executor::shutdown::ShutdownOptions;
use crate::loom::sync::{Arc, Weak};

/// What every handle of one pool shares: when the last handle goes, the
/// pool shuts down without waiting. The drivers hold `Shared`, not this.
pub(super) struct Handles {
    pub(super) shared: Arc<Shared>,
}

impl Drop for Handles {
    fn drop(&mut self) {
        self.shared.shutdown(ShutdownOptions::new().wait(false));
    }
}

/// A handle to a [`ProcessPool`] that doesn't keep it alive; made by
/// [`ProcessPool::downgrade`].
///
/// # Examples
///
/// ```
/// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
/// use futurepool::ProcessPool;
///
/// let pool = ProcessPool::new();
/// let weak = pool.downgrade();
/// assert!(weak.upgrade().is_some());
/// drop(pool);
/// assert!(weak.upgrade().is_none());
/// ```
#[derive(Clone)]
pub struct WeakProcessPool {
    pub(super) handles: Weak<Handles>,
}

impl WeakProcessPool {
    /// A handle to the pool, if it is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// assert_eq!(pool.downgrade().upgrade().unwrap().max_workers(), 1);
    /// ```
    pub fn upgrade(&self) -> Option<ProcessPool> {
        self.handles
            .upgrade()
            .map(|handles| ProcessPool { handles })
    }
}

impl fmt::Debug for WeakProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakProcessPool")
            .field("alive", &(self.handles.strong_count() > 0))
            .finish()
    }
}
