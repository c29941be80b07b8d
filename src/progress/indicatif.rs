//! `ProgressObserver` for `indicatif::ProgressBar` (feature `indicatif`).
//!
//! indicatif draws on stderr, and only when stderr is a terminal: with
//! output redirected (a log file, CI, a pipe) the bar draws nothing, and a
//! long map prints nothing extra.

use indicatif::ProgressBar;

use super::{Progress, ProgressObserver};

/// Draws [`Progress`] on an [`indicatif::ProgressBar`]: its length is the
/// total once known, its position the tasks done, its message the failed
/// count (once there is one); [`finish`](ProgressObserver::finish) finishes
/// the bar where it stands. The bar is a cheap handle: attach a clone and
/// keep one to style it or to read it. indicatif draws only when stderr is
/// a terminal.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use indicatif::ProgressBar;
///
/// let pool = ThreadPool::new();
/// let bar = ProgressBar::hidden(); // `ProgressBar::no_length()` to draw on stderr
/// let n = pool.map(|x: u32| x * x, 0..50).progress(bar.clone()).count();
/// assert_eq!(n, 50);
/// assert_eq!((bar.position(), bar.length()), (50, Some(50)));
/// assert!(bar.is_finished());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "indicatif")))]
impl ProgressObserver for ProgressBar {
    fn update(&self, progress: &Progress) {
        if let Some(total) = progress.total() {
            if self.length() != Some(total) {
                self.set_length(total);
            }
        }
        if progress.failed() > 0 {
            self.set_message(format!("{} failed", progress.failed()));
        }
        self.set_position(progress.done());
    }

    fn finish(&self, progress: &Progress) {
        ProgressObserver::update(self, progress);
        // Where it stands: `ProgressBar::finish` would jump to the length,
        // wrong for a map that ended early.
        self.abandon();
    }
}
