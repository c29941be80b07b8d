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
    /// A thread name with a NUL byte.
    InvalidThreadName,
    /// A process pool setting that can't work, with the reason.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Process(String),
    /// A cluster that can't be reached or set up (feature `cluster`): the
    /// server refused the credentials, isn't there, or JetStream is off.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    Cluster(String),
    /// A process pool on a platform where worker processes don't run:
    /// every OS but Linux (this one's `std::env::consts::OS`).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Unsupported {
        os: &'static str,
    },
}

impl BuildError {
    pub(crate) fn new(kind: BuildErrorKind) -> BuildError {
        BuildError { kind }
    }

    /// Returns `true` if the pool can't run on this platform at all: a
    /// `ProcessPool` (feature `process`) runs on Linux only. Code meant for
    /// every platform can fall back to a [`ThreadPool`](crate::ThreadPool),
    /// which runs everywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// // A thread pool runs everywhere: its build errors are about settings.
    /// let err = ThreadPool::builder().max_workers(0).build().unwrap_err();
    /// assert!(!err.is_unsupported());
    /// # #[cfg(feature = "process")] {
    ///
    /// // A process pool runs on Linux only.
    /// let built = futurepool::ProcessPool::builder().build();
    /// assert_eq!(built.is_ok(), cfg!(target_os = "linux"));
    /// if let Err(err) = built {
    ///     assert!(err.is_unsupported()); // ... use a ThreadPool instead
    /// }
    /// # }
    /// ```
    pub fn is_unsupported(&self) -> bool {
        matches!(self.kind, BuildErrorKind::Unsupported { .. })
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::ZeroWorkers => f.write_str("max_workers must be at least 1"),
            BuildErrorKind::ZeroCapacity => {
                f.write_str("a bounded queue needs a capacity of at least 1")
            }
            BuildErrorKind::InvalidThreadName => {
                f.write_str("a thread name can't contain a NUL byte")
            }
            BuildErrorKind::Process(msg) | BuildErrorKind::Cluster(msg) => f.write_str(msg),
            BuildErrorKind::Unsupported { os } => write!(
                f,
                "process pools run on Linux only, not on {os}: \
                 use a ThreadPool, which runs everywhere"
            ),
        }
    }
}

impl Error for BuildError {}
