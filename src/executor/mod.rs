//! The executor layer: what every backend shares, above the core and below
//! the backends. Backends import it; it imports no backend.
//!
//! - [`shutdown`]: [`ShutdownOptions`](shutdown::ShutdownOptions), how a pool
//!   shuts down.

pub(crate) mod shutdown;
