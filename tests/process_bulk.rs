//! Large values through a process pool (issue 13, item 6): the paths that
//! copy nothing (a `ByteBuf` argument or result read straight into the
//! buffer it keeps, a request buffer reused by the next large request) must
//! give back exactly what went in, for `ByteBuf`s and for every other type
//! whose encoding has the same shape (a length, then that many bytes), and
//! a `Deserialize` that refuses must still fail only its task.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

use futurepool::{ProcessPool, remote};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;

/// Large enough for every path that copies nothing (64 KiB and up), and
/// for the reused request buffer (1 MiB and up).
const BIG: usize = 3 << 20;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

fn echo_bytes(b: ByteBuf) -> ByteBuf {
    b
}

fn reverse_bytes(b: ByteBuf) -> ByteBuf {
    let mut v = b.into_vec();
    v.reverse();
    ByteBuf::from(v)
}

fn echo_vec(v: Vec<u8>) -> Vec<u8> {
    v
}

fn echo_string(s: String) -> String {
    s
}

fn bytes_to_string(b: ByteBuf) -> String {
    String::from_utf8(b.into_vec()).unwrap_or_default()
}

fn len_and_tag((b, tag): (ByteBuf, u8)) -> (usize, u8, ByteBuf) {
    (b.len(), tag, b)
}

/// Sizes around the thresholds, and a larger request after a smaller one
/// (the spare buffer is too small) and a smaller after a larger (it fits).
#[test]
fn byte_bufs_of_every_size_come_back_as_they_went() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    for (i, len) in [
        0,
        1,
        65_535,
        65_536,
        65_537,
        1 << 20,
        BIG,
        BIG + 4095,
        1 << 20,
        300,
    ]
    .into_iter()
    .enumerate()
    {
        let data = pattern(len, i as u8);
        let back = pool
            .submit(remote!(echo_bytes), ByteBuf::from(data.clone()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(back.into_vec(), data, "len {len}");
        let mut reversed = data.clone();
        reversed.reverse();
        let back = pool
            .submit(remote!(reverse_bytes), ByteBuf::from(data))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(back.into_vec(), reversed, "reversed, len {len}");
    }
}

/// Types whose encoding has a `ByteBuf`'s shape but which decode otherwise.
#[test]
fn other_types_of_the_same_shape_decode_as_themselves() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let data = pattern(BIG, 1);
    let back = pool
        .submit(remote!(echo_vec), data.clone())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(back, data);
    let text = "héllo, wörld ".repeat(BIG / 14);
    let back = pool
        .submit(remote!(echo_string), text.clone())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(back, text);
    let back = pool
        .submit(
            remote!(bytes_to_string),
            ByteBuf::from(text.clone().into_bytes()),
        )
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(back, text);
    let (len, tag, back) = pool
        .submit(remote!(len_and_tag), (ByteBuf::from(data.clone()), 9))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!((len, tag), (BIG, 9));
    assert_eq!(back.into_vec(), data);
}

/// A result whose `Deserialize` takes the bytes (as a `ByteBuf`), then
/// refuses them unless the first is 1.
#[derive(Debug)]
struct Picky(Vec<u8>);

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Picky, D::Error> {
        let bytes = ByteBuf::deserialize(d)?;
        if bytes.first() == Some(&1) {
            Ok(Picky(bytes.into_vec()))
        } else {
            Err(serde::de::Error::custom("the first byte must be 1"))
        }
    }
}

fn picky(first: u8) -> Picky {
    Picky(vec![first; BIG])
}

#[test]
fn a_deserialize_that_takes_the_bytes_then_refuses_fails_only_its_task() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let err = pool.submit(remote!(picky), 2).unwrap().join().unwrap_err();
    assert!(err.is_serialization(), "{err}");
    let Picky(ok) = pool.submit(remote!(picky), 1).unwrap().join().unwrap();
    assert_eq!(ok, vec![1; BIG]);
    let back = pool
        .submit(remote!(echo_bytes), ByteBuf::from(vec![3; BIG]))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(back.len(), BIG);
    assert_eq!(pool.workers_started(), 1, "no worker was lost");
}
