//! How every loom model of the crate is run (`src/core/models/`,
//! `src/thread_pool/models.rs`): [`Model::check`] runs one model within a
//! preemption bound and prints what it cost, so that `scripts/loom.sh`
//! (and so CI) shows each model's iterations and time, and a failing model
//! says in which iteration it failed.
//!
//! The bound is `LOOM_MAX_PREEMPTIONS` (`scripts/loom.sh` sets 3), but
//! for the models small enough to be checked without one
//! ([`Model::exhaustive`]). Loom's other variables (`LOOM_MAX_BRANCHES`,
//! `LOOM_LOG`, `LOOM_CHECKPOINT_FILE`, ...) apply as usual.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// One model to check; see the [module docs](self).
pub(crate) struct Model {
    name: &'static str,
    exhaustive: bool,
}

/// A model called `name` (printed with its cost).
pub(crate) fn model(name: &'static str) -> Model {
    Model {
        name,
        exhaustive: false,
    }
}

impl Model {
    /// Explores every interleaving, whatever `LOOM_MAX_PREEMPTIONS` says:
    /// for models small enough to check completely within CI's budget.
    pub(crate) fn exhaustive(mut self) -> Model {
        self.exhaustive = true;
        self
    }

    /// Runs `f` in every interleaving loom explores within the bounds, and
    /// prints the model's name, bound, iterations and time (or, if it
    /// fails, the iteration it failed in).
    pub(crate) fn check<F>(self, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        let mut builder = loom::model::Builder::new();
        if self.exhaustive {
            builder.preemption_bound = None;
        }
        let bound = builder.preemption_bound;
        let iterations = Arc::new(AtomicUsize::new(0));
        let report = Report {
            name: self.name,
            bound,
            iterations: iterations.clone(),
            start: Instant::now(),
        };
        builder.check(move || {
            // ORDERING: a plain counter, read after the model returns.
            iterations.fetch_add(1, Ordering::Relaxed);
            f();
        });
        drop(report);
    }
}

/// Prints a model's cost when it ends, passed or failed.
struct Report {
    name: &'static str,
    bound: Option<usize>,
    iterations: Arc<AtomicUsize>,
    start: Instant,
}

impl Drop for Report {
    fn drop(&mut self) {
        // ORDERING: every iteration ran on this thread's loom scheduler and
        // has ended.
        let iterations = self.iterations.load(Ordering::Relaxed);
        let bound = self
            .bound
            .map_or_else(|| "none".to_owned(), |b| b.to_string());
        let outcome = if std::thread::panicking() {
            format!("FAILED in iteration {iterations}")
        } else {
            format!("{iterations} iterations")
        };
        println!(
            "loom model {}: {outcome}, preemption bound {bound}, {:.1}s",
            self.name,
            self.start.elapsed().as_secs_f64()
        );
    }
}
