//! Naming functions across processes: [`RemoteFn`], the [`remote!`](crate::remote)
//! macro, and the link-time registry a worker looks names up in.
//!
//! A task names its function by a **stable string**, never by an address:
//! `module::path::to::function` for a named function, and
//! `module::{closure}@file:line:column` for a non-capturing closure. Every
//! use of `remote!` puts a `(name, trampoline)` entry into a
//! [`linkme`](https://docs.rs/linkme) distributed slice, so the table is
//! complete at link time, before `main`, in every process running the same
//! binary: on this machine, and later on others. The trampoline decodes the
//! argument, calls the function with the panic caught, and encodes the result.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use serde::Deserialize;

use super::codec as protocol;
pub use super::encoded::Encoded;
use super::panics;

/// How one call went in the worker.
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub enum Outcome {
    /// The encoded result.
    Value(Encoded),
    /// The function panicked with this message, and this backtrace if
    /// the worker's environment asked for one (`RUST_BACKTRACE`).
    Panic {
        message: String,
        backtrace: Option<String>,
    },
    /// The argument failed to decode.
    ArgError(String),
    /// The result failed to encode.
    ResultError(String),
    /// No function is registered under the name.
    Unknown(String),
}

/// One function a worker can run; made by [`remote!`](crate::remote).
#[doc(hidden)]
#[derive(Debug)]
pub struct Registration {
    pub name: &'static str,
    pub call: Trampoline,
}

/// A registered function's trampoline: decodes the argument, calls the
/// function, and puts the encoded result where [`Out`] says (`Ok`), or says
/// what went wrong (`Err`, never an [`Outcome::Value`]; the buffer is then
/// as it was).
#[doc(hidden)]
pub type Trampoline = fn(Arg<'_>, &mut Out<'_>) -> Result<(), Outcome>;

/// Where a trampoline puts a call's encoded result: appended to a buffer,
/// or, if a [`Place`] takes it (a large result, in a worker whose pool
/// shares memory with it), straight into the room it offers.
#[doc(hidden)]
pub struct Out<'a> {
    buf: &'a mut Vec<u8>,
    place: Option<&'a mut dyn Place>,
    /// The length of the result put in the place, if it went there.
    placed: Option<usize>,
}

/// Room outside a trampoline's buffer for a large encoded result: a
/// worker's shared memory.
pub(crate) trait Place {
    /// Room for exactly `len` encoded bytes, or `None` (too small to be
    /// worth it, or no room to be had): the result then goes to the buffer.
    fn room(&mut self, len: usize) -> Option<&mut [u8]>;
}

impl<'a> Out<'a> {
    /// Results appended to `buf`.
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Out<'a> {
        Out {
            buf,
            place: None,
            placed: None,
        }
    }

    /// Results appended to `buf`, or put into `place` if it takes them.
    #[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the worker side (Linux)
    pub(crate) fn with_place(buf: &'a mut Vec<u8>, place: &'a mut dyn Place) -> Out<'a> {
        Out {
            buf,
            place: Some(place),
            placed: None,
        }
    }

    /// The length of the result if it went to the place, not the buffer.
    #[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the worker side (Linux)
    pub(crate) fn placed(&self) -> Option<usize> {
        self.placed
    }

    /// Encodes `value` into the place (measured first by a pass that
    /// copies nothing), if there is one and it takes it, else into the
    /// buffer.
    fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), protocol::Error> {
        if let Some(place) = self.place.as_deref_mut() {
            let len = protocol::encoded_len(value)?;
            if let Some(room) = place.room(len) {
                protocol::encode_exactly(room, value)?;
                self.placed = Some(len);
                return Ok(());
            }
        }
        protocol::encode_into(self.buf, value)
    }
}

impl fmt::Debug for Out<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Out")
            .field("buffered", &self.buf.len())
            .field("placed", &self.placed)
            .finish_non_exhaustive()
    }
}

/// An encoded argument, as a worker hands it to a trampoline: borrowed
/// from the request's frame, or (a large one that is one byte string) in a
/// buffer of its own that a `ByteBuf` argument takes (see [`Encoded`]).
#[doc(hidden)]
#[derive(Debug)]
pub enum Arg<'a> {
    Bytes(&'a [u8]),
    Owned(Encoded),
}

/// Every `remote!` use in the binary, gathered by the linker.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static REGISTRY: [Registration];

/// The trampoline behind every registration: decode, call, encode (the
/// result appended to `out`, straight into the reply's frame), with a panic
/// anywhere in the three (a serde impl may panic too) caught as the task's.
/// On `Err`, `out` is as it was.
#[doc(hidden)]
pub fn call<A, R>(f: fn(A) -> R, arg: Arg<'_>, out: &mut Out<'_>) -> Result<(), Outcome>
where
    A: DeserializeOwned,
    R: Serialize,
{
    let start = out.buf.len();
    out.placed = None;
    let outcome = panics::catch(|| {
        let arg: Result<A, _> = match arg {
            Arg::Bytes(bytes) => protocol::decode(bytes),
            Arg::Owned(encoded) => encoded.decode(),
        };
        let arg = arg.map_err(|err| Outcome::ArgError(err.to_string()))?;
        out.put(&f(arg))
            .map_err(|err| Outcome::ResultError(err.to_string()))
    });
    let outcome = outcome.unwrap_or_else(|panicked| {
        Err(Outcome::Panic {
            message: panicked.message,
            backtrace: panicked.backtrace,
        })
    });
    if outcome.is_err() {
        // A panic in the result's `Serialize` may have left part of it.
        out.buf.truncate(start);
        out.placed = None;
    }
    outcome
}

/// Runs a trampoline for a whole [`Outcome`] (its value in a buffer of its
/// own): an initializer's, or a chunk's item's.
#[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the worker side (Linux)
pub(crate) fn outcome(call: Trampoline, arg: &[u8]) -> Outcome {
    let mut out = Vec::new();
    match call(Arg::Bytes(arg), &mut Out::new(&mut out)) {
        Ok(()) => Outcome::Value(out.into()),
        Err(outcome) => outcome,
    }
}

/// The registry as a map, built once per process. The first registration
/// of a name wins: two `remote!(f)` in one module name the same function.
#[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the worker side (Linux)
pub(crate) fn lookup(name: &str) -> Option<Trampoline> {
    lookup_entry(name).map(|(_, call)| call)
}

/// [`lookup`], with the registered name: a worker keeps the last one it
/// found, to answer a repeated name by comparing bytes instead of hashing.
#[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the worker side (Linux)
pub(crate) fn lookup_entry(name: &str) -> Option<(&'static str, Trampoline)> {
    static MAP: OnceLock<HashMap<&'static str, Trampoline>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = HashMap::new();
        for reg in REGISTRY.iter() {
            map.entry(reg.name).or_insert(reg.call);
        }
        map
    })
    .get_key_value(name)
    .map(|(&name, &call)| (name, call))
}

/// A digest of the registered names: parent and worker must agree on it.
#[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the worker side (Linux)
pub(crate) fn digest() -> u64 {
    static DIGEST: OnceLock<u64> = OnceLock::new();
    *DIGEST.get_or_init(|| {
        let mut names: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        names.iter().fold(hash_bytes(0, b"registry"), |h, name| {
            hash_bytes(hash_bytes(h, name.as_bytes()), &[0xff])
        })
    })
}

/// A fast, stable (same on every machine) 64-bit hash: FxHash over 8-byte
/// words. Not cryptographic: it tells builds apart, it doesn't resist forgery.
#[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the worker side (Linux)
pub(crate) fn hash_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    (h.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(K)
}

/// A function that a [`ProcessPool`](crate::ProcessPool) can run in a worker
/// process: a stable name, and the types of its argument and result.
///
/// Make one with [`remote!`](crate::remote), from a plain `fn(A) -> R` or a
/// non-capturing closure. The argument must be [`Serialize`], the result
/// [`DeserializeOwned`] (and both, in practice, serde-derived). A function
/// of several arguments takes a tuple.
///
/// The name is what crosses the process boundary: a worker running the
/// same binary finds the function under it. [`call`](Self::call) runs the
/// function here, in this process (a sequential baseline, a fallback).
///
/// # Examples
///
/// ```
/// use futurepool::{RemoteFn, remote};
///
/// fn add((a, b): (i32, i32)) -> i32 {
///     a + b
/// }
///
/// let add_remote: RemoteFn<(i32, i32), i32> = remote!(add);
/// assert!(add_remote.name().ends_with("::add"));
/// assert_eq!(add_remote.call((2, 3)), 5);
/// ```
pub struct RemoteFn<A, R> {
    name: &'static str,
    f: fn(A) -> R,
    _types: PhantomData<fn(A) -> R>,
}

impl<A, R> RemoteFn<A, R> {
    #[doc(hidden)]
    pub const fn __new(name: &'static str, f: fn(A) -> R) -> RemoteFn<A, R> {
        RemoteFn {
            name,
            f,
            _types: PhantomData,
        }
    }

    /// The stable name a worker process finds the function under.
    ///
    /// # Examples
    ///
    /// ```
    /// fn double(x: u64) -> u64 {
    ///     2 * x
    /// }
    ///
    /// let f = futurepool::remote!(double);
    /// assert_eq!(f.name(), concat!(module_path!(), "::double"));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Calls the function here, in this process and thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let negate = futurepool::remote!(|x: i64| -x);
    /// assert_eq!(negate.call(4), -4);
    /// ```
    pub fn call(&self, arg: A) -> R {
        (self.f)(arg)
    }
}

impl<A, R> Clone for RemoteFn<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for RemoteFn<A, R> {}

impl<A, R> fmt::Debug for RemoteFn<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RemoteFn").field(&self.name).finish()
    }
}

/// Makes a [`RemoteFn`]: registers a function (or a non-capturing closure)
/// under a stable name, so that a worker process can run it.
///
/// - `remote!(path::to::function)` names it `module::path::to::function`,
///   where `module` is the module the macro is used in;
/// - `remote!(|x: T| ...)` names a closure written in the macro by the
///   module and the macro's file, line and column.
///
/// The macro can be used anywhere an expression can (in a function, in a
/// `const`); each use adds one entry to a table the linker builds, so
/// registration needs no call at start-up and every process running the
/// binary knows every name. Uses in generic functions are not supported.
///
/// # The rule: a function, or a closure that captures nothing
///
/// The function runs in another process, where this one's local variables
/// don't exist, so a closure given to `remote!` must not use any: everything
/// it needs comes in its argument. `remote!(|x: u64| x + offset)`, with
/// `offset` a local, doesn't compile. rustc points at `offset`, first with
/// E0435 ("attempt to use a non-constant value in a constant"; making it a
/// `const` is indeed one fix), then with E0308 in a call to
/// `remote_takes_a_function_or_a_closure_that_captures_nothing`, noting that
/// "closures can only be coerced to `fn` types if they do not capture any
/// variables". Pass the value along instead:
/// `remote!(|(x, offset): (u64, u64)| x + offset)`.
///
/// For the same reason the closure must be written inside the macro: a
/// closure first stored in a local variable is refused the same way, since
/// the macro registers the closure's code, not a value.
///
/// # Examples
///
/// ```
/// use futurepool::{RemoteFn, remote};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// const SQUARE: RemoteFn<u64, u64> = remote!(square);
/// let cube = remote!(|x: u64| x * x * x);
/// assert_eq!((SQUARE.call(3), cube.call(3)), (9, 27));
/// assert_ne!(SQUARE.name(), cube.name());
///
/// // What a closure needs comes in its argument, not from around it.
/// let offset = 10;
/// let add = remote!(|(x, offset): (u64, u64)| x + offset);
/// assert_eq!(add.call((3, offset)), 13);
/// ```
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
macro_rules! remote {
    ($f:path) => {
        $crate::__remote_with_name!(concat!(module_path!(), "::", stringify!($f)), $f)
    };
    ($f:expr) => {
        $crate::__remote_with_name!(
            concat!(
                module_path!(),
                "::{closure}@",
                file!(),
                ":",
                line!(),
                ":",
                column!()
            ),
            $f
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __remote_with_name {
    ($name:expr, $f:expr) => {{
        // The registration must be a constant, so the trampoline is a fn
        // item and `$f` is used in it inside `const { }`: a closure that
        // captures a local is then refused at the captured variable, in the
        // caller's code (E0435), rather than somewhere inside this macro.
        fn __futurepool_trampoline(
            arg: $crate::__private::Arg<'_>,
            out: &mut $crate::__private::Out<'_>,
        ) -> ::std::result::Result<(), $crate::__private::Outcome> {
            $crate::__private::call(const { $f }, arg, out)
        }
        #[$crate::__private::linkme::distributed_slice($crate::__private::REGISTRY)]
        #[linkme(crate = $crate::__private::linkme)]
        static __FUTUREPOOL_REMOTE: $crate::__private::Registration =
            $crate::__private::Registration {
                name: $name,
                call: __futurepool_trampoline,
            };
        // The helper's name states the rule in the type error (E0308) that
        // a capturing closure gets here.
        $crate::RemoteFn::__new(
            $name,
            $crate::__private::remote_takes_a_function_or_a_closure_that_captures_nothing($f),
        )
    }};
}

/// The identity on `fn` pointers. `remote!` passes its argument through it
/// so that a capturing closure is refused with an error that names the
/// rule: "expected fn pointer, found closure" in a call to this function,
/// and rustc's note that closures can only be coerced to `fn` types if they
/// do not capture any variables.
#[doc(hidden)]
pub const fn remote_takes_a_function_or_a_closure_that_captures_nothing<A, R>(
    f: fn(A) -> R,
) -> fn(A) -> R {
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triple(x: i32) -> i32 {
        3 * x
    }

    #[test]
    fn registered_names_resolve() {
        let f = crate::remote!(triple);
        assert_eq!(f.name(), "futurepool::remote::registry::tests::triple");
        let call = lookup(f.name()).expect("registered");
        let Outcome::Value(bytes) = outcome(call, &protocol::encode(&5i32).unwrap()) else {
            panic!("not a value")
        };
        assert_eq!(bytes.decode::<i32>().unwrap(), 15);
        assert!(lookup("no::such::fn").is_none());
    }

    #[test]
    fn trampoline_catches_panics_and_bad_arguments() {
        let f = crate::remote!(|x: u8| -> u8 { panic!("bad {x}") });
        let call = lookup(f.name()).unwrap();
        assert!(
            matches!(outcome(call, &protocol::encode(&7u8).unwrap()), Outcome::Panic { message, .. } if message == "bad 7")
        );
        assert!(matches!(outcome(call, &[]), Outcome::ArgError(_)));
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(hash_bytes(0, b"abc"), hash_bytes(0, b"abc"));
        assert_ne!(hash_bytes(0, b"abc"), hash_bytes(0, b"abd"));
        assert_ne!(hash_bytes(0, b""), hash_bytes(0, b"\0"));
    }

    /// Room of its own for results of at least `min` bytes.
    struct Room {
        min: usize,
        bytes: Vec<u8>,
    }

    impl Place for Room {
        fn room(&mut self, len: usize) -> Option<&mut [u8]> {
            (len >= self.min).then(|| {
                self.bytes = vec![0; len];
                &mut self.bytes[..]
            })
        }
    }

    /// A value that serializes to a different length each time.
    struct Fickle(std::cell::Cell<usize>);

    impl Serialize for Fickle {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.set(self.0.get() + 1);
            s.serialize_bytes(&vec![1; self.0.get()])
        }
    }

    #[test]
    fn a_place_takes_large_results_whole_and_exactly() {
        let echo: Trampoline = |arg, out| call(|b: serde_bytes::ByteBuf| b, arg, out);
        let arg = protocol::encode(&serde_bytes::ByteBuf::from(vec![7; 100])).unwrap();
        let (mut buf, mut room) = (
            Vec::new(),
            Room {
                min: 50,
                bytes: Vec::new(),
            },
        );
        let mut out = Out::with_place(&mut buf, &mut room);
        echo(Arg::Bytes(&arg), &mut out).unwrap();
        assert_eq!(out.placed(), Some(arg.len()));
        assert!(buf.is_empty(), "nothing in the buffer");
        assert_eq!(room.bytes, arg);
        // Declined: the buffer takes it.
        let mut room = Room {
            min: 500,
            bytes: Vec::new(),
        };
        let mut out = Out::with_place(&mut buf, &mut room);
        echo(Arg::Bytes(&arg), &mut out).unwrap();
        assert_eq!(out.placed(), None);
        assert_eq!(buf, arg);
        // A value whose length changed between the measure and the encode.
        let mut room = Room {
            min: 0,
            bytes: Vec::new(),
        };
        let mut out = Out::with_place(&mut buf, &mut room);
        let err = out.put(&Fickle(std::cell::Cell::new(0))).unwrap_err();
        assert!(matches!(err, protocol::Error::Inconsistent), "{err}");
    }
}
