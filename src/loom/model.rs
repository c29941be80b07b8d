//! How every loom model of the crate is run (`src/core/models/`,
//! `src/thread_pool/models.rs`): [`Model::check`] runs one model within a
//! preemption bound and prints what it cost, so that `scripts/loom.sh`
//! (and so CI) shows each model's iterations and time, and a failing model
//! says in which iteration it failed.
//!
//! The bound is `LOOM_MAX_PREEMPTIONS` (`scripts/loom.sh` sets 3), but
//! for the models small enough to be checked without one
//! ([`Model::exhaustive`]), and capped by [`Model::max_preemptions`] for
//! those whose state space at that bound would not fit CI's budget
//! (`FUTUREPOOL_LOOM_UNCAPPED=1` lifts the caps, for a longer run). Loom's
//! other variables (`LOOM_MAX_BRANCHES`, `LOOM_LOG`,
//! `LOOM_CHECKPOINT_FILE`, ...) apply as usual. A model also says how its
//! timed waits end ([`Model::timed_waits_never_time_out`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::{TimedWaits, set_timed_waits};

/// One model to check; see the [module docs](self).
pub(crate) struct Model {
    name: &'static str,
    exhaustive: bool,
    max_preemptions: Option<usize>,
    timed_waits: TimedWaits,
}

/// A model called `name` (printed with its cost).
pub(crate) fn model(name: &'static str) -> Model {
    Model {
        name,
        exhaustive: false,
        max_preemptions: None,
        timed_waits: TimedWaits::AtOnce,
    }
}

impl Model {
    /// Explores every interleaving, whatever `LOOM_MAX_PREEMPTIONS` says:
    /// for models small enough to check completely within CI's budget.
    pub(crate) fn exhaustive(mut self) -> Model {
        self.exhaustive = true;
        self
    }

    /// Explores at most `bound` preemptions per execution, even if
    /// `LOOM_MAX_PREEMPTIONS` allows more (unless `FUTUREPOOL_LOOM_UNCAPPED`
    /// is set): for a model whose state space at the default bound would
    /// not fit CI's budget.
    pub(crate) fn max_preemptions(mut self, bound: usize) -> Model {
        self.max_preemptions = Some(bound);
        self
    }

    /// Timed waits never time out in this model: they wait until
    /// notified, as if every deadline and keep-alive were far away, so a
    /// lost wake-up is a deadlock. (By default they time out at once: see
    /// `Condvar::wait_until` in `mocked.rs`.)
    pub(crate) fn timed_waits_never_time_out(mut self) -> Model {
        self.timed_waits = TimedWaits::Never;
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
        let cap = self
            .max_preemptions
            .filter(|_| std::env::var_os("FUTUREPOOL_LOOM_UNCAPPED").is_none());
        builder.preemption_bound = match (builder.preemption_bound, cap) {
            _ if self.exhaustive => None,
            (Some(env), Some(cap)) => Some(env.min(cap)),
            (env, cap) => env.or(cap),
        };
        let bound = builder.preemption_bound;
        let iterations = Arc::new(AtomicUsize::new(0));
        let report = Report {
            name: self.name,
            timed_waits: self.timed_waits,
            was: set_timed_waits(self.timed_waits),
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
    timed_waits: TimedWaits,
    /// This thread's setting before the model, put back after it.
    was: TimedWaits,
    bound: Option<usize>,
    iterations: Arc<AtomicUsize>,
    start: Instant,
}

impl Drop for Report {
    fn drop(&mut self) {
        set_timed_waits(self.was);
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
        let waits = match self.timed_waits {
            TimedWaits::AtOnce => "",
            TimedWaits::Never => ", timed waits never time out",
        };
        println!(
            "loom model {}: {outcome}, preemption bound {bound}{waits}, {:.1}s",
            self.name,
            self.start.elapsed().as_secs_f64()
        );
    }
}
