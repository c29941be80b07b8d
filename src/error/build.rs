//! [`BuildError`]: a pool configuration that can't be built.

use std::error::Error;
use std::fmt;

/// A pool configuration that can't be built.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let err = ThreadPool::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "max_workers must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BuildErrorKind {
    ZeroWorkers,
    ZeroCapacity,
    /// A process pool setting that can't work, with the reason.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Process(String),
}

impl BuildError {
    pub(crate) fn new(kind: BuildErrorKind) -> BuildError {
        BuildError { kind }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::ZeroWorkers => f.write_str("max_workers must be at least 1"),
            BuildErrorKind::ZeroCapacity => {
                f.write_str("a bounded queue needs a capacity of at least 1")
            }
            BuildErrorKind::Process(msg) => f.write_str(msg),
        }
    }
}

impl Error for BuildError {}
