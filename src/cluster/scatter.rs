//! [`ClusterExecutor::scatter`]: a value stored once in the cluster's
//! object store, for many tasks to share (Dask's `client.scatter`); see
//! [`Scattered`] and `objects.rs`.

use std::fmt;

use serde::Serialize;

use super::ClusterExecutor;
use super::client;
use super::objects::Fetch;
use super::settings;
use crate::error::TaskError;
use crate::remote::Scattered;
use crate::remote::codec;

/// A value [`ClusterExecutor::scatter`] couldn't store, and why: the value
/// comes back.
///
/// # Examples
///
/// ```no_run
/// use futurepool::ClusterExecutor;
///
/// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").max_object_size(1 << 20).build()?;
/// let err = pool.scatter(vec![0u8; 2 << 20]).unwrap_err();
/// assert!(err.error().is_too_large());
/// assert_eq!(err.into_value().len(), 2 << 20); // handed back
/// # Ok::<(), futurepool::BuildError>(())
/// ```
pub struct ScatterError<T> {
    value: T,
    error: TaskError,
}

impl<T> ScatterError<T> {
    /// Why: [`is_too_large`](TaskError::is_too_large) (above the
    /// cluster's `max_object_size`),
    /// [`is_serialization`](TaskError::is_serialization) (the value didn't
    /// serialize), [`is_shutdown`](TaskError::is_shutdown) (the executor
    /// is shut down), [`is_cluster_error`](TaskError::is_cluster_error)
    /// (the object store didn't take it).
    ///
    /// # Examples
    ///
    /// See [`ScatterError`].
    pub fn error(&self) -> &TaskError {
        &self.error
    }

    /// The value handed to `scatter`.
    ///
    /// # Examples
    ///
    /// See [`ScatterError`].
    pub fn into_value(self) -> T {
        self.value
    }

    /// The error, without the value.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::ClusterExecutor;
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").max_object_size(8).build()?;
    /// assert!(pool.scatter(vec![0u8; 64]).unwrap_err().into_error().is_too_large());
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    pub fn into_error(self) -> TaskError {
        self.error
    }
}

/// Never the value (it may be large).
impl<T> fmt::Debug for ScatterError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScatterError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// The error's message (it is not also the `source`).
impl<T> fmt::Display for ScatterError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot scatter the value: {}", self.error)
    }
}

impl<T> std::error::Error for ScatterError<T> {}

impl ClusterExecutor {
    /// Stores `value` once in the cluster's object store, for many tasks to
    /// share: Dask's `client.scatter`. Put the returned [`Scattered`] (or
    /// clones of it) in the tasks' arguments: each carries only the
    /// object's name, each worker fetches the object once (it keeps a copy
    /// for its later tasks), and the function receives a `Scattered<T>`
    /// that derefs to the value (decoded in the worker's process, where
    /// the function runs).
    ///
    /// The value is encoded in this thread, then this thread waits until
    /// the server has stored it. The object stays until
    /// [`unscatter`](Self::unscatter), or until it is older than the
    /// cluster's [`result_ttl`](crate::ClusterBuilder::result_ttl) (the
    /// object store's age limit); a task that names it after that fails
    /// with a clear error ([`is_cluster_error`](TaskError::is_cluster_error)).
    ///
    /// # Errors
    ///
    /// A [`ScatterError`], with the value: see
    /// [`ScatterError::error`] for why.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::{ClusterExecutor, Executor, Scattered, remote};
    ///
    /// fn above((table, min): (Scattered<Vec<u64>>, u64)) -> usize {
    ///     table.iter().filter(|&&x| x > min).count()
    /// }
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").build()?;
    /// let table = pool.scatter((0..1_000_000).collect::<Vec<u64>>()).unwrap(); // sent once
    /// let counts: Vec<usize> = pool
    ///     .map_fn(remote!(above), [0, 499_999, 999_999].map(|min| (table.clone(), min)))
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(counts, [999_999, 500_000, 0]);
    /// pool.unscatter(&table).unwrap();
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    #[doc(alias = "broadcast")]
    pub fn scatter<T: Serialize>(&self, value: T) -> Result<Scattered<T>, ScatterError<T>> {
        let shared = self.shared();
        if client::is_shut(shared) {
            return Err(ScatterError {
                value,
                error: TaskError::shutdown(),
            });
        }
        let bytes = match codec::encode(&value) {
            Ok(bytes) => bytes,
            Err(err) => {
                let error = TaskError::serialization(format!(
                    "failed to serialize the scattered value: {err}"
                ));
                return Err(ScatterError { value, error });
            }
        };
        if let Err(error) = shared
            .objects
            .check_size("the scattered value", bytes.len())
        {
            return Err(ScatterError { value, error });
        }
        let n = shared.objects.next_scattered() as u64;
        let name = format!("{}-{}-scattered", shared.id, shared.base.wrapping_add(n));
        let objects = shared.objects.clone();
        let object = name.clone();
        let stored =
            settings::block_on(
                self.runtime(),
                async move { objects.put(&object, &bytes).await },
            );
        match stored {
            Ok(()) => Ok(Scattered::stored(value, name)),
            Err(err) => Err(ScatterError {
                value,
                error: TaskError::cluster(format!("cannot store the scattered value: {err}")),
            }),
        }
    }

    /// Deletes a value [`scatter`](Self::scatter) stored: tasks that name
    /// it and haven't started fail, even on a worker that has a copy (it
    /// keeps the copy until it stops, but asks the store, for each task,
    /// whether the value is still there). Nothing to do for a value not stored in a
    /// cluster, or already deleted.
    ///
    /// # Errors
    ///
    /// A cluster error ([`is_cluster_error`](TaskError::is_cluster_error))
    /// if the object store can't be reached.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futurepool::ClusterExecutor;
    ///
    /// let pool = ClusterExecutor::builder("nats://127.0.0.1:4222").build()?;
    /// let table = pool.scatter(vec![1u8; 1 << 20]).unwrap();
    /// pool.unscatter(&table).unwrap();
    /// pool.unscatter(&table).unwrap(); // already gone: fine
    /// assert_eq!(table.len(), 1 << 20); // the client's copy stays
    /// # Ok::<(), futurepool::BuildError>(())
    /// ```
    #[doc(alias = "release")]
    pub fn unscatter<T>(&self, scattered: &Scattered<T>) -> Result<(), TaskError> {
        let Some(name) = scattered.object_name() else {
            return Ok(());
        };
        let objects = self.shared().objects.clone();
        let name = name.to_owned();
        let deleted =
            settings::block_on(self.runtime(), async move { objects.delete(&name).await });
        match deleted {
            Ok(()) | Err(Fetch::Gone) => Ok(()),
            Err(Fetch::Failed(err) | Fetch::TooLarge(err)) => Err(TaskError::cluster(format!(
                "cannot delete the scattered value: {err}"
            ))),
        }
    }
}
