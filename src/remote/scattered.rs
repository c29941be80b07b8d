//! [`Scattered`]: a value many tasks share, sent once (Dask's `scatter`).
//!
//! A `Scattered<T>` holds its value (an `Arc`), so it derefs to `T`
//! everywhere. How it crosses to a worker depends on who encodes it:
//!
//! - a cluster client encodes a task's argument inside [`collecting`]: a
//!   `Scattered` made by `ClusterExecutor::scatter` (it names an object in
//!   the cluster's object store) is then written as that name, and the name
//!   is collected into the task's message, so the worker fetches the object
//!   (once: it keeps a copy) before it runs the task;
//! - anything else (a process pool, a `Scattered::new`) writes the value
//!   itself.
//!
//! A worker process decodes a name inside [`resolving`]: the resolver its
//! cluster worker installs gives the object's bytes, decoded here, in the
//! process where user code runs.
//!
//! On the wire (docs/WIRE.md, "A scattered value"): postcard's enum, variant
//! 0 the value, variant 1 the object's name.

use crate::loom::sync::Arc;
use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec;

/// A value shared by many tasks, sent to each worker once: Dask's
/// `client.scatter`.
///
/// Make one with [`ClusterExecutor::scatter`](crate::ClusterExecutor::scatter)
/// (feature `cluster`): the value goes once to the cluster's object store,
/// and a task's argument that holds the `Scattered` carries only its name;
/// each worker fetches it once, keeps it, and the function receives the
/// value. It derefs to `T` wherever it is: in the caller, and in the
/// function. Clones share the value.
///
/// On other executors [`Scattered::new`] wraps a value: a thread pool
/// shares it (no copy), a process pool sends it with each task (as any
/// argument). Code that takes a `Scattered<T>` runs unchanged on all of
/// them.
///
/// # Examples
///
/// ```
/// use futurepool::{Executor, Scattered, ThreadPool, remote};
///
/// fn count(( table, key): (Scattered<Vec<u32>>, u32)) -> usize {
///     table.iter().filter(|&&x| x == key).count()
/// }
///
/// let table = Scattered::new(vec![1, 2, 2, 3, 3, 3]);
/// let pool = ThreadPool::new();
/// let counts: Vec<usize> = pool
///     .map_fn(remote!(count), (1..=3).map(|k| (table.clone(), k)))
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(counts, [1, 2, 3]);
/// assert_eq!(table.len(), 6); // it derefs to the value
/// ```
#[doc(alias = "scatter")]
pub struct Scattered<T> {
    value: Arc<T>,
    /// The object the value is stored as, if it was scattered to a
    /// cluster.
    object: Option<Arc<str>>,
}

impl<T> Scattered<T> {
    /// Wraps `value`: shared by a thread pool's tasks, sent with each task
    /// by a process pool (for a cluster, use
    /// [`ClusterExecutor::scatter`](crate::ClusterExecutor::scatter), which
    /// sends it once).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = futurepool::Scattered::new(String::from("shared"));
    /// assert_eq!(s.len(), 6);
    /// assert_eq!(s.object_name(), None); // not in a cluster's object store
    /// ```
    pub fn new(value: T) -> Scattered<T> {
        Scattered {
            value: Arc::new(value),
            object: None,
        }
    }

    /// A value stored in a cluster's object store as `object`.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn stored(value: T, object: String) -> Scattered<T> {
        Scattered {
            value: Arc::new(value),
            object: Some(object.into()),
        }
    }

    /// The name of the object the value is stored as in a cluster's object
    /// store, if it was scattered to one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(futurepool::Scattered::new(1u8).object_name().is_none());
    /// ```
    pub fn object_name(&self) -> Option<&str> {
        self.object.as_deref()
    }
}

impl<T> Deref for Scattered<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Clone for Scattered<T> {
    fn clone(&self) -> Self {
        Scattered {
            value: self.value.clone(),
            object: self.object.clone(),
        }
    }
}

/// Never the value (it may be large): the object's name, if any.
impl<T> fmt::Debug for Scattered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scattered")
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

/// How a `Scattered` is written (variant indices are the wire's).
#[derive(Serialize)]
enum WireRef<'a, T> {
    Value(&'a T),
    Object(&'a str),
}

/// How a `Scattered` is read.
#[derive(Deserialize)]
enum WireOwned<T> {
    Value(T),
    Object(String),
}

impl<T: Serialize> Serialize for Scattered<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.object {
            Some(name) if collect(name) => WireRef::<T>::Object(name).serialize(serializer),
            _ => WireRef::Value(&*self.value).serialize(serializer),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Scattered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match WireOwned::<T>::deserialize(deserializer)? {
            WireOwned::Value(value) => Ok(Scattered::new(value)),
            WireOwned::Object(name) => {
                let decoded = resolve(&name).and_then(|bytes| {
                    codec::decode::<T>(&bytes)
                        .map_err(|err| format!("cannot decode scattered object {name}: {err}"))
                });
                match decoded {
                    Ok(value) => Ok(Scattered::stored(value, name)),
                    Err(why) => {
                        // postcard keeps no message: `take_error` gives it.
                        let error = D::Error::custom(&why);
                        FAILED.with(|f| *f.borrow_mut() = Some(why));
                        Err(error)
                    }
                }
            }
        }
    }
}

/// Gives a scattered object's bytes by its name.
pub(crate) type Resolver = Rc<dyn Fn(&str) -> Result<Vec<u8>, String>>;

thread_local! {
    /// The names of the scattered objects written as names, while a cluster
    /// client encodes a task's argument ([`collecting`]).
    static COLLECTED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    /// The resolver of scattered objects' names, while a cluster worker's
    /// process runs a task ([`resolving`]).
    static RESOLVER: RefCell<Option<Resolver>> = const { RefCell::new(None) };
    /// Why the last scattered object failed to be read on this thread.
    static FAILED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Why the last scattered object read on this thread failed, if one did
/// (and forgets it): an argument's decoding error names it (postcard's
/// errors carry no message).
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) fn take_error() -> Option<String> {
    FAILED.with(|f| f.borrow_mut().take())
}

/// Records `name` if a [`collecting`] is under way (then the `Scattered`
/// is written as its name).
fn collect(name: &str) -> bool {
    COLLECTED.with(|c| match c.borrow_mut().as_mut() {
        Some(names) => {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
            true
        }
        None => false,
    })
}

/// Puts a value in a thread-local slot until dropped (or [`take`n]), then
/// puts back what was there before, also when the code in between (the
/// user's) panics.
///
/// [`take`n]: Swap::take
struct Swap<T: 'static> {
    slot: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    /// What was there before; `None` once put back.
    before: Option<Option<T>>,
}

impl<T: 'static> Swap<T> {
    fn new(slot: &'static std::thread::LocalKey<RefCell<Option<T>>>, value: T) -> Swap<T> {
        let before = slot.with(|s| s.replace(Some(value)));
        Swap {
            slot,
            before: Some(before),
        }
    }

    /// What the slot holds now (as the code in between left it); puts
    /// back what was there before.
    fn take(&mut self) -> Option<T> {
        let before = self.before.take().flatten();
        self.slot.with(|s| s.replace(before))
    }
}

impl<T: 'static> Drop for Swap<T> {
    fn drop(&mut self) {
        if let Some(before) = self.before.take() {
            self.slot.with(|s| *s.borrow_mut() = before);
        }
    }
}

/// Runs `f` (which encodes something), writing the scattered values it
/// meets as their objects' names; returns those names, each once.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) fn collecting<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let mut swap = Swap::new(&COLLECTED, Vec::new());
    let out = f();
    let names = swap.take().unwrap_or_default();
    (out, names)
}

/// Runs `f` (which decodes something) with `resolver` giving the bytes of
/// the scattered objects it meets.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) fn resolving<R>(resolver: Resolver, f: impl FnOnce() -> R) -> R {
    let _swap = Swap::new(&RESOLVER, resolver);
    f()
}

/// A scattered object's bytes, from the resolver installed by
/// [`resolving`].
fn resolve(name: &str) -> Result<Vec<u8>, String> {
    let resolver = RESOLVER.with(|r| r.borrow().clone());
    match resolver {
        Some(resolver) => resolver(name),
        None => Err(format!(
            "scattered object {name} can only be read in a worker of the cluster it was \
             scattered to"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_value_is_written_as_itself_and_read_back() {
        let s = Scattered::new(vec![1u32, 2, 3]);
        let bytes = codec::encode(&s).unwrap();
        assert_eq!(bytes, [0, 3, 1, 2, 3]);
        let back: Scattered<Vec<u32>> = codec::decode(&bytes).unwrap();
        assert_eq!(*back, [1, 2, 3]);
    }

    #[test]
    fn a_stored_value_is_written_as_its_name_only_while_collecting() {
        let s = Scattered::stored(7u8, "obj".into());
        assert_eq!(codec::encode(&s).unwrap(), [0, 7]);
        let ((a, b), names) = collecting(|| {
            (
                codec::encode(&s).unwrap(),
                codec::encode(&(s.clone(), s.clone())).unwrap(),
            )
        });
        assert_eq!(a, [1, 3, b'o', b'b', b'j']);
        assert_eq!(b.len(), 10);
        assert_eq!(names, ["obj"]); // each name once
        // Collecting is over.
        assert_eq!(codec::encode(&s).unwrap(), [0, 7]);
    }

    #[test]
    fn a_name_is_read_through_the_resolver_or_fails_clearly() {
        let bytes = [1, 3, b'o', b'b', b'j'];
        assert!(codec::decode::<Scattered<u8>>(&bytes).is_err());
        let why = take_error().unwrap();
        assert!(
            why.contains("scattered object obj can only be read"),
            "{why}"
        );
        assert_eq!(take_error(), None);
        let resolver: Resolver = Rc::new(|name: &str| {
            assert_eq!(name, "obj");
            Ok(vec![42])
        });
        let back: Scattered<u8> = resolving(resolver, || codec::decode(&bytes)).unwrap();
        assert_eq!((*back, back.object_name()), (42, Some("obj")));
        assert!(codec::decode::<Scattered<u8>>(&bytes).is_err()); // uninstalled
    }

    #[test]
    fn a_panic_while_collecting_leaves_nothing_behind() {
        let s = Scattered::stored(7u8, "obj".into());
        let caught = std::panic::catch_unwind(|| collecting(|| panic!("user's serialize")));
        assert!(caught.is_err());
        assert_eq!(codec::encode(&s).unwrap(), [0, 7]);
    }
}
