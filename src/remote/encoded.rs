//! [`Encoded`]: an encoded value (a task's result) as the pool holds it
//! between the pipe and the thread that decodes it, kept where it landed
//! when it is large.
//!
//! A large reply's value is not copied out of the frame it was read into:
//! either the frame's buffer is kept with the value's offset in it, or, when
//! the value is one byte string (its encoding is a length and then exactly
//! that many bytes, as a [`serde_bytes::ByteBuf`]'s is), its bytes were read
//! from the pipe into a buffer of their own, which then *becomes* the
//! decoded value's storage: a `ByteBuf` result takes the buffer the pipe
//! filled, without a copy. Any other type decodes from the same bytes as
//! usual (see [`Encoded::decode`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Serialize};

use super::codec;

/// An encoded value. On the wire, a byte string (one length, then the
/// bytes).
#[doc(hidden)]
pub struct Encoded(Repr);

enum Repr {
    /// The bytes of `buf` from `start` on.
    Within { buf: Vec<u8>, start: usize },
    /// `prefix` (a byte string's length, as a varint) then `body`.
    Split { prefix: Vec<u8>, body: Vec<u8> },
}

impl Encoded {
    /// The encoded value that is `buf[start..]`.
    ///
    /// # Panics
    ///
    /// If `start` is past the end of `buf`.
    #[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the pool's side (Linux)
    pub(crate) fn within(buf: Vec<u8>, start: usize) -> Encoded {
        assert!(start <= buf.len(), "a value starts within its buffer");
        Encoded(Repr::Within { buf, start })
    }

    /// The encoded value that is `prefix` then `body`, where `prefix` is
    /// the varint `body.len()` (the value may be one byte string: `body`).
    #[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the pool's side (Linux)
    pub(crate) fn split(prefix: Vec<u8>, body: Vec<u8>) -> Encoded {
        Encoded(Repr::Split { prefix, body })
    }

    /// The encoded bytes (a copy only for a split value).
    pub(crate) fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.0 {
            Repr::Within { buf, start } => Cow::Borrowed(&buf[*start..]),
            Repr::Split { prefix, body } => Cow::Owned([&prefix[..], &body[..]].concat()),
        }
    }

    /// Decodes the value, as [`codec::decode`] would decode
    /// [`bytes`](Self::bytes). A split value is first offered whole to
    /// `T`'s `Deserialize` as an owned byte buffer (`deserialize_byte_buf`,
    /// also through newtype structs; `deserialize_string`/`str` as the
    /// UTF-8 check passes), which takes `body` without a copy; a type that
    /// asks for anything else (after which it is asked again, so its
    /// `Deserialize` may run twice) gets the joined bytes decoded as usual.
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<T, codec::Error> {
        let (prefix, body) = match self.0 {
            Repr::Within { buf, start } => return codec::decode(&buf[start..]),
            Repr::Split { prefix, body } => (prefix, body),
        };
        let mut slot = Some(body);
        match T::deserialize(Owned { slot: &mut slot }) {
            Ok(value) => return Ok(value),
            // It took the bytes, then refused them: its own error.
            Err(_) if slot.is_none() => {
                return Err(codec::Error::Postcard(postcard::Error::SerdeDeCustom));
            }
            Err(_) => {}
        }
        let body = slot.expect("not taken");
        let mut joined = Vec::with_capacity(prefix.len() + body.len());
        joined.extend_from_slice(&prefix);
        joined.extend_from_slice(&body);
        drop(body);
        codec::decode(&joined)
    }
}

impl From<Vec<u8>> for Encoded {
    fn from(buf: Vec<u8>) -> Encoded {
        Encoded::within(buf, 0)
    }
}

impl fmt::Debug for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.bytes(), f)
    }
}

impl Serialize for Encoded {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.bytes())
    }
}

impl<'de> Deserialize<'de> for Encoded {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Encoded, D::Error> {
        serde_bytes::ByteBuf::deserialize(d).map(|b| Encoded::from(b.into_vec()))
    }
}

/// A deserializer that holds one byte string's bytes and gives them away
/// to a `Deserialize` that asks for an owned buffer; any other request is
/// declined (the bytes stay in the slot for the usual decoder).
struct Owned<'a> {
    slot: &'a mut Option<Vec<u8>>,
}

/// A declined request, or the visitor's own error.
#[derive(Debug)]
struct Declined;

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not decoded from an owned byte buffer")
    }
}

impl std::error::Error for Declined {}

impl de::Error for Declined {
    fn custom<T: fmt::Display>(_: T) -> Declined {
        Declined
    }
}

impl<'de> de::Deserializer<'de> for Owned<'_> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Declined> {
        Err(Declined)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        visitor.visit_byte_buf(self.slot.take().expect("offered once"))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        let body = self.slot.take().expect("offered once");
        match String::from_utf8(body) {
            Ok(string) => visitor.visit_string(string),
            Err(err) => {
                // Not UTF-8: postcard's error, from the usual decoder.
                *self.slot = Some(err.into_bytes());
                Err(Declined)
            }
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        self.deserialize_string(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Declined> {
        // postcard encodes a newtype struct as its field.
        visitor.visit_newtype_struct(self)
    }

    fn is_human_readable(&self) -> bool {
        false // as postcard
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes option
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde_bytes::ByteBuf;

    use super::*;

    /// `value` encoded, as a split value: its first varint, then the rest.
    fn split<T: Serialize>(value: &T) -> Encoded {
        let bytes = codec::encode(value).unwrap();
        let (len, rest) = postcard::take_from_bytes::<u64>(&bytes).unwrap();
        assert_eq!(len as usize, rest.len(), "a length, then that many bytes");
        let at = bytes.len() - rest.len();
        Encoded::split(bytes[..at].to_vec(), rest.to_vec())
    }

    #[test]
    fn a_byte_buf_takes_the_body_without_a_copy() {
        let body = vec![7; 300];
        let ptr = body.as_ptr();
        let prefix = codec::encode(&300_u64).unwrap();
        let value: ByteBuf = Encoded::split(prefix, body).decode().unwrap();
        assert_eq!(value.as_ptr(), ptr, "the same buffer");
        assert_eq!(value.into_vec(), vec![7; 300]);
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Blob(#[serde(with = "serde_bytes")] Vec<u8>);

    #[test]
    fn other_types_decode_as_from_the_joined_bytes() {
        let bytes = vec![1_u8, 2, 3, 200];
        assert_eq!(split(&bytes).decode::<Vec<u8>>().unwrap(), bytes);
        assert_eq!(
            split(&Blob(bytes.clone())).decode::<Blob>().unwrap().0,
            bytes
        );
        let text = "héllo".to_owned();
        assert_eq!(split(&text).decode::<String>().unwrap(), text);
        // A length and that many bytes that are not UTF-8: postcard's error.
        let not_utf8 = split(&ByteBuf::from(vec![0xff, 0xfe]));
        assert!(not_utf8.decode::<String>().is_err());
        // Read as another type, the same bytes mean something else (a
        // varint 3, then three u8s), and decode as postcard decodes them.
        let as_tuple = split(&ByteBuf::from(vec![4, 5, 6]));
        assert_eq!(as_tuple.bytes(), &[3, 4, 5, 6][..]);
        assert_eq!(as_tuple.decode::<(u8, u8, u8, u8)>().unwrap(), (3, 4, 5, 6));
        assert!(
            split(&ByteBuf::from(vec![4])).decode::<u8>().is_err(),
            "trailing bytes"
        );
    }

    #[test]
    fn a_split_value_reads_and_prints_as_its_bytes() {
        let value = split(&ByteBuf::from(vec![9; 3]));
        assert_eq!(value.bytes(), &[3, 9, 9, 9][..]);
        assert_eq!(format!("{value:?}"), "[3, 9, 9, 9]");
        assert_eq!(codec::encode(&value).unwrap(), [4, 3, 9, 9, 9]);
        let within = Encoded::within(vec![0, 0, 5], 2);
        assert_eq!(within.bytes(), &[5][..]);
        assert_eq!(within.decode::<u8>().unwrap(), 5);
    }
}
