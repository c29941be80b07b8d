//! Named functions, for any executor (feature `remote`): [`RemoteFn`] and
//! the [`remote!`](crate::remote) macro, the link-time registry a process
//! finds a function in by its name, and the codec of its argument and
//! result.
//!
//! - `registry.rs`: [`RemoteFn`], `remote!`, the registry, and the
//!   trampoline that decodes an argument, calls the function (its panic
//!   caught) and encodes the result;
//! - `encoded.rs`: an encoded result as the pool holds it, kept where it
//!   landed when it is large (a `ByteBuf` result takes the buffer the pipe
//!   filled);
//! - `codec.rs`: postcard 1.x, bounded, no trailing bytes (the wire format
//!   is specified in `docs/WIRE.md`);
//! - `scattered.rs`: [`Scattered`], a value many tasks share (Dask's
//!   `scatter`), and how it is written (as itself, or as the name of a
//!   cluster's stored object);
//! - `panics.rs`: a panic caught with its message (and its backtrace, when
//!   the worker's hook recorded one).
//!
//! A thread pool runs a named function directly ([`RemoteFn::call`]); a
//! process pool sends its name and encoded argument to a worker process
//! running the same binary; a cluster (later) sends them to another machine.

pub(crate) mod codec;
pub(crate) mod encoded;
pub(crate) mod panics;
pub(crate) mod registry;
pub(crate) mod scattered;

pub use registry::RemoteFn;
pub use scattered::Scattered;
