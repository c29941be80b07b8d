//! Large values on the pipes: what keeps a big argument or result from
//! being copied more than the pipe copies it (see README.md, "Large
//! values"). The bytes on the wire are exactly the messages of
//! `protocol.rs` (the tests below pin that); only where they are read into
//! and written from changes.
//!
//! - A worker's reply to a call is encoded straight into its frame, in a
//!   buffer the worker keeps, the header written into room left before the
//!   value ([`value_reply_frame`]).
//! - A large frame whose value is one byte string (a `ByteBuf`'s encoding:
//!   a length, then that many bytes, up to the end of the frame) is read in
//!   two parts, its head then the bytes straight into a buffer of their own
//!   ([`lone_bytes_in_call`], [`lone_bytes_in_reply`]), which the decoded
//!   `ByteBuf` then takes (`remote/encoded.rs`).
//! - Other large replies keep their frame's buffer ([`value_in_reply`]).

use std::io;

use super::protocol::MAX_FRAME;
use crate::remote::codec;

/// From this many bytes on, a frame's value (a call's argument, a reply's
/// result) is not copied out of the buffer the frame was read into: a
/// value that is one byte string is read into a buffer of its own, which a
/// `ByteBuf` then takes, and any other large reply keeps the frame's
/// buffer. A large copy costs more than a fresh buffer. (At least the 1 KiB
/// of a frame's head that is read first.)
pub(crate) const HAND_OVER: usize = 64 << 10;

/// How many bytes a worker leaves free at the front of its reply buffer, for
/// [`value_reply_frame`] to write the frame's header into.
pub(crate) const REPLY_ROOM: usize = 16;

/// Makes `buf`, whose bytes from [`REPLY_ROOM`] on are an encoded value,
/// the frame of a `Reply::One(Outcome::Value(value))`: writes the header
/// just before the value, and returns where the frame starts. The same
/// bytes as [`frame`] makes of that reply, without copying the value out of
/// the buffer the worker encoded it into (and that it reuses).
pub(crate) fn value_reply_frame(buf: &mut [u8]) -> io::Result<usize> {
    let too_large = || io::Error::new(io::ErrorKind::InvalidData, "message too large");
    let value_len = buf.len() - REPLY_ROOM;
    // `Reply::One`'s and `Outcome::Value`'s variant indexes (0 and 0), then
    // the byte string's length: varints, as postcard writes them.
    let mut header = [0; 12];
    let header = postcard::to_slice(&(0_u32, 0_u32, value_len as u64), &mut header)
        .map_err(|_| too_large())?;
    let len = u32::try_from(header.len() + value_len)
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME)
        .ok_or_else(too_large)?;
    let start = REPLY_ROOM - header.len() - 4;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..REPLY_ROOM].copy_from_slice(header);
    Ok(start)
}

/// Where the value starts in `payload`, if it is the payload of a
/// `Reply::One(Outcome::Value(value))` (exactly: no trailing bytes); what
/// [`decode`] would copy out of it as that reply's value is
/// `payload[start..]`.
pub(crate) fn value_in_reply(payload: &[u8]) -> Option<usize> {
    match codec::decode_borrowed::<(u32, u32, &[u8])>(payload) {
        // The value is the last thing in the payload.
        Ok((0, 0, value)) => Some(payload.len() - value.len()),
        _ => None,
    }
}

/// If `head`, the first bytes of a reply's payload of `len` bytes, starts a
/// `Reply::One(Outcome::Value(value))` whose value is a length and then
/// that many bytes, up to the end of the payload (a byte string's
/// encoding, as a `ByteBuf` result's is): where the value starts in `head`
/// and where those bytes do. The value is then `head[value..bytes]` (its
/// length prefix) followed by the rest of the payload.
pub(crate) fn lone_bytes_in_reply(head: &[u8], len: usize) -> Option<(usize, usize)> {
    let ((one, value, n), rest) = postcard::take_from_bytes::<(u32, u32, u64)>(head).ok()?;
    let value_at = head.len() - rest.len();
    let (m, rest) = postcard::take_from_bytes::<u64>(rest).ok()?;
    let bytes_at = head.len() - rest.len();
    let to_the_end = |at: usize, n: u64| (at as u64).checked_add(n) == Some(len as u64);
    (one == 0 && value == 0 && to_the_end(value_at, n) && to_the_end(bytes_at, m))
        .then_some((value_at, bytes_at))
}

/// If `head`, the first bytes of a request's payload of `len` bytes, starts
/// a `Request::Call` whose argument is a length and then that many bytes,
/// up to the end of the payload (a `ByteBuf` argument's encoding): the
/// function's name, where the argument starts in `head` and where those
/// bytes do (as [`lone_bytes_in_reply`]).
pub(crate) fn lone_bytes_in_call(head: &[u8], len: usize) -> Option<(&str, usize, usize)> {
    let ((call, name, n), rest) = postcard::take_from_bytes::<(u32, &str, u64)>(head).ok()?;
    let value_at = head.len() - rest.len();
    let (m, rest) = postcard::take_from_bytes::<u64>(rest).ok()?;
    let bytes_at = head.len() - rest.len();
    let to_the_end = |at: usize, n: u64| (at as u64).checked_add(n) == Some(len as u64);
    (call == 0 && to_the_end(value_at, n) && to_the_end(bytes_at, m))
        .then_some((name, value_at, bytes_at))
}
/// Asks the kernel to back the spare capacity of `buf` (its 2 MiB-aligned
/// part) with transparent huge pages when it is filled: one page fault
/// every 2 MiB instead of every 4 KiB. Advice only: where huge pages are
/// off or unavailable nothing changes.
#[cfg(target_os = "linux")]
pub(crate) fn advise_huge_pages(buf: &Vec<u8>) {
    const HUGE: usize = 2 << 20;
    let base = buf.as_ptr() as usize;
    let start = (base + buf.len()).next_multiple_of(HUGE);
    let end = (base + buf.capacity()) / HUGE * HUGE;
    if start < end {
        // SAFETY: `madvise(MADV_HUGEPAGE)` on whole pages inside the
        // buffer's own allocation (its spare capacity, rounded inwards):
        // it changes how they are backed, never their contents or mapping.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_pool::protocol::{Outcome, Reply, decode, encode, frame};

    #[test]
    fn a_value_reply_frame_is_a_value_reply_s_frame() {
        for value in [vec![], vec![25], vec![7; 300], vec![1; 70_000]] {
            let mut buf = vec![0xee; REPLY_ROOM];
            buf.extend_from_slice(&value);
            let start = value_reply_frame(&mut buf).unwrap();
            let reply = Reply::One(Outcome::Value(value.into()));
            assert_eq!(buf[start..], frame(&[], &reply).unwrap()[..]);
        }
    }

    #[test]
    fn a_value_is_found_in_its_reply() {
        for reply in [
            Reply::One(Outcome::Value(vec![].into())),
            Reply::One(Outcome::Value(vec![9; 300].into())),
        ] {
            let payload = frame(&[], &reply).unwrap()[4..].to_vec();
            let Reply::One(Outcome::Value(value)) = decode(&payload).unwrap() else {
                panic!("not a value")
            };
            let start = value_in_reply(&payload).unwrap();
            assert_eq!(payload[start..], value.bytes()[..]);
        }
        for other in [
            Reply::One(Outcome::Unknown("f".into())),
            Reply::Chunk(vec![Outcome::Value(vec![1].into())]),
            Reply::Refused("x".into()),
        ] {
            let payload = frame(&[], &other).unwrap()[4..].to_vec();
            assert_eq!(value_in_reply(&payload), None, "{other:?}");
        }
        let mut trailing = frame(&[], &Reply::One(Outcome::Value(vec![1].into()))).unwrap();
        trailing.push(0);
        assert_eq!(value_in_reply(&trailing[4..]), None);
    }

    #[test]
    fn lone_bytes_are_found_in_a_value_reply() {
        let value = encode(&serde_bytes::ByteBuf::from(vec![5; 200])).unwrap();
        let payload =
            frame(&[], &Reply::One(Outcome::Value(value.clone().into()))).unwrap()[4..].to_vec();
        let head = &payload[..32];
        let (at, bytes) = lone_bytes_in_reply(head, payload.len()).unwrap();
        assert_eq!([&head[at..bytes], &payload[bytes..]].concat(), value);
        assert_eq!(payload[bytes..], [5; 200]);
        // Not to the end of the payload, not a value, not a byte string.
        assert_eq!(lone_bytes_in_reply(head, payload.len() + 1), None);
        let mut other = payload.clone();
        other[0] = 1;
        assert_eq!(lone_bytes_in_reply(&other[..32], other.len()), None);
        let pair = encode(&(serde_bytes::ByteBuf::from(vec![5; 100]), 7_u8)).unwrap();
        let payload = frame(&[], &Reply::One(Outcome::Value(pair.into()))).unwrap()[4..].to_vec();
        assert_eq!(lone_bytes_in_reply(&payload[..32], payload.len()), None);
        assert_eq!(lone_bytes_in_reply(&[0, 0, 0xff, 0xff], 1 << 20), None);
    }
}
