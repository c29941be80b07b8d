//! How arguments, results and messages are encoded: [postcard] 1.x, bounded,
//! no trailing bytes. One codec for every backend that sends named functions'
//! arguments somewhere (worker processes; later, other machines and a
//! broker). The encoding of each message is specified in `docs/WIRE.md`;
//! postcard's own wire format is stable across its 1.x releases.
//!
//! [postcard]: https://docs.rs/postcard

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The largest encoded value (argument, result or message) accepted.
pub(crate) const MAX_ENCODED: usize = 1 << 30;

/// Why a value did not encode or decode.
#[derive(Debug)]
pub(crate) enum Error {
    /// postcard refused it (a malformed encoding, a sequence of unknown
    /// length, a serde impl's own error).
    Postcard(postcard::Error),
    /// The encoding would pass [`MAX_ENCODED`] bytes.
    TooLarge,
    /// A whole value decoded, and this many bytes were left after it.
    TrailingBytes(usize),
    /// A value's `Serialize` impl wrote a different length when measured
    /// than when encoded.
    Inconsistent,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // postcard drops the message a serde impl gives `custom`: say
            // at least whose error it is.
            Error::Postcard(postcard::Error::SerdeSerCustom) => {
                f.write_str("the value's `Serialize` impl failed (postcard keeps no message)")
            }
            Error::Postcard(postcard::Error::SerdeDeCustom) => {
                f.write_str("the value's `Deserialize` impl refused it (postcard keeps no message)")
            }
            // postcard's other messages are sentences ("Hit the end of
            // buffer, expected more data"): lowercase the first letter.
            Error::Postcard(err) => {
                let msg = err.to_string();
                let mut chars = msg.chars();
                match chars.next() {
                    Some(first) => write!(f, "{}{}", first.to_lowercase(), chars.as_str()),
                    None => Ok(()),
                }
            }
            Error::TooLarge => write!(f, "encoded value is over the limit of {MAX_ENCODED} bytes"),
            Error::TrailingBytes(n) => write!(f, "{n} trailing bytes after the encoded value"),
            Error::Inconsistent => write!(f, "the value serialized differently twice in a row"),
        }
    }
}

impl std::error::Error for Error {}

/// Encodes an argument, a result or a message.
#[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the pool's side (Linux), and tests
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    encode_into(&mut out, value)?;
    Ok(out)
}

/// Appends the encoding of `value` to `out` (straight into a frame buffer:
/// no intermediate copy). On an error `out` is as it was.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), Error> {
    let start = out.len();
    let flavor = Limited {
        out: &mut *out,
        room: MAX_ENCODED,
    };
    match postcard::serialize_with_flavor(value, flavor) {
        Ok(()) => Ok(()),
        Err(err) => {
            out.truncate(start);
            Err(match err {
                postcard::Error::SerializeBufferFull => Error::TooLarge,
                err => Error::Postcard(err),
            })
        }
    }
}

/// How many bytes [`encode`] would make of `value` (a pass that copies
/// nothing: a byte string counts its length).
#[cfg_attr(not(feature = "process"), allow(dead_code))] // the process pool's frames
pub(crate) fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, Error> {
    let size = postcard::ser_flavors::Size::default();
    match postcard::serialize_with_flavor(value, size).map_err(Error::Postcard)? {
        len if len > MAX_ENCODED => Err(Error::TooLarge),
        len => Ok(len),
    }
}

/// Encodes `value` into `room`, which must be exactly its encoded length
/// (measured by [`encoded_len`]): `Inconsistent` if it wrote more or less.
pub(crate) fn encode_exactly<T: Serialize + ?Sized>(
    room: &mut [u8],
    value: &T,
) -> Result<(), Error> {
    let len = room.len();
    match postcard::to_slice(value, room) {
        Ok(used) if used.len() == len => Ok(()),
        Ok(_) | Err(postcard::Error::SerializeBufferFull) => Err(Error::Inconsistent),
        Err(err) => Err(Error::Postcard(err)),
    }
}

/// Decodes what [`encode`] made; any other bytes are an error, and so are
/// bytes left over after the value.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    decode_borrowed(bytes)
}

/// [`decode`], for a value that may borrow strings and byte strings from
/// `bytes` instead of copying them.
pub(crate) fn decode_borrowed<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(Error::Postcard)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(Error::TrailingBytes(rest.len()))
    }
}

/// A postcard output that appends to a `Vec`, at most `room` bytes, and
/// copies byte strings in one `extend_from_slice`.
struct Limited<'a> {
    out: &'a mut Vec<u8>,
    room: usize,
}

impl postcard::ser_flavors::Flavor for Limited<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.room = self
            .room
            .checked_sub(data.len())
            .ok_or(postcard::Error::SerializeBufferFull)?;
        self.out.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.room = self
            .room
            .checked_sub(1)
            .ok_or(postcard::Error::SerializeBufferFull)?;
        self.out.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let value = (7_u32, -3_i64, "seven".to_owned(), Some(vec![1_u16, 2]));
        let bytes = encode(&value).unwrap();
        assert_eq!(
            decode::<(u32, i64, String, Option<Vec<u16>>)>(&bytes).unwrap(),
            value
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&5_u32).unwrap();
        bytes.push(0);
        let err = decode::<u32>(&bytes).unwrap_err();
        assert_eq!(err.to_string(), "1 trailing bytes after the encoded value");
        assert!(decode::<u32>(&[]).is_err());
    }

    #[test]
    fn byte_buffers_are_a_length_and_the_bytes() {
        let bytes = encode(&serde_bytes::Bytes::new(&[1, 2, 3])).unwrap();
        assert_eq!(bytes, [3, 1, 2, 3]);
        // A plain Vec<u8> has the same encoding, made a byte at a time.
        assert_eq!(encode(&vec![1_u8, 2, 3]).unwrap(), bytes);
    }

    #[test]
    fn a_serde_impl_s_own_error_says_whose_it_is() {
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let err = encode(&Refuses).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value's `Serialize` impl failed (postcard keeps no message)"
        );
        #[derive(Debug, serde::Deserialize)]
        enum OneVariant {
            #[allow(dead_code)]
            Only,
        }
        let err = decode::<OneVariant>(&[1]).unwrap_err();
        assert!(
            err.to_string().contains("`Deserialize` impl refused"),
            "{err}"
        );
    }

    #[test]
    fn encode_into_appends_and_undoes_on_error() {
        let mut out = vec![9];
        encode_into(&mut out, &1_u8).unwrap();
        assert_eq!(out, [9, 1]);
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(None)?;
                seq.serialize_element(&1_u8)?;
                seq.end()
            }
        }
        assert!(encode_into(&mut out, &Unsized).is_err());
        assert_eq!(out, [9, 1]);
    }
}
