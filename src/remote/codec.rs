//! How arguments and results are encoded: bincode 1.x, varint integers,
//! bounded, no trailing bytes. One codec for every backend that sends named
//! functions' arguments somewhere (worker processes; later, other machines).

use bincode::Options;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest encoded value (argument, result or message) accepted.
pub(crate) const MAX_ENCODED: usize = 1 << 30;

/// The codec's options.
pub(crate) fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(MAX_ENCODED as u64)
        .reject_trailing_bytes()
}

/// Encodes an argument, a result or a message.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> bincode::Result<Vec<u8>> {
    options().serialize(value)
}

/// Decodes what [`encode`] made; any other bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> bincode::Result<T> {
    options().deserialize(bytes)
}
