//! The pipe protocol between a pool and its worker processes.
//!
//! Every message is a **frame**: a little-endian `u32` length, then that
//! many bytes. Frames longer than a limit are refused before anything is
//! allocated for them, and the payload is read as it arrives, so a garbage
//! length can neither exhaust memory nor hang a reader whose writer is gone.
//!
//! The first frame each way is the handshake. It starts with the 8-byte
//! magic `futurepl` and the `u32` protocol [`VERSION`], which are checked
//! before anything else is decoded: a different version (or a program that
//! is not a futurepool worker at all) is refused with an error naming what
//! was found. After the magic comes a [`Hello`] (parent to worker) or a
//! [`HelloReply`] (worker to parent).
//!
//! Then the parent sends [`Request`]s and the worker answers each with one
//! [`Reply`], in order; one task is in flight per worker. A message of
//! 64 KiB or more may instead be put in the memfd the worker shares with
//! the pool (`shm.rs`), the frame on the pipe then being a
//! [`Request::Shared`] / [`Reply::Shared`] header that says how long it is. Payloads are
//! encoded with postcard 1.x (bounded, no trailing bytes), the same codec as
//! the tasks' arguments and results, which travel inside them as byte
//! strings. Anything that fails to decode is an error, never a panic.
//!
//! The byte-level specification, with examples, is `docs/WIRE.md`: keep it
//! and [`VERSION`] in step with any change here (the tests below pin its
//! examples).

use std::io::{self, BufRead, Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::remote::codec;
pub(crate) use crate::remote::codec::{decode, encode};
pub(crate) use crate::remote::registry::Outcome;

/// The first bytes of a handshake, each way.
pub(crate) const MAGIC: [u8; 8] = *b"futurepl";
/// Bumped on any change to the messages below or to their encoding.
/// 2: a panic's backtrace, `Hello::worker_stderr`, `Reply::Refused`.
/// 3: postcard 1.x instead of bincode 1.x (docs/WIRE.md).
/// 4: large frames through shared memory (`Hello::shared`,
/// `HelloReply::Ready::shared`, `Request::Shared`, `Reply::Shared`).
/// 5: small frames through a mailbox when the other side looks
/// (`Hello::mailbox`, `HelloReply::Ready::mailbox`).
pub(crate) const VERSION: u32 = 5;
/// The largest frame (and so argument or result) the pool sends or takes.
pub(crate) const MAX_FRAME: usize = crate::remote::codec::MAX_ENCODED;
/// The largest handshake frame.
pub(crate) const MAX_HANDSHAKE: usize = 1 << 20;

/// The parent's side of the handshake.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Hello {
    /// The parent's pid: a worker whose parent is already another process
    /// (the parent died before the worker could arm its death signal) exits.
    pub(crate) parent_pid: u32,
    /// The identity of the parent's executable file.
    pub(crate) exe: ExeId,
    /// A hash of the parent's executable, sent when the worker runs a file
    /// that is not the parent's own (a copy, or another machine).
    pub(crate) exe_hash: Option<u64>,
    /// The digest of the registered function names.
    pub(crate) registry: u64,
    /// The initializer to run before the first task: a name and an argument.
    #[serde(with = "init_bytes")]
    pub(crate) init: Option<(String, Vec<u8>)>,
    /// Whether the worker's stderr reaches the parent's: then the standard
    /// panic hook prints a task's panic there too.
    pub(crate) worker_stderr: bool,
    /// The parent's descriptor number of a memfd for large frames, which
    /// the worker opens through `/proc/<parent>/fd/<n>` (see `shm.rs`).
    pub(crate) shared: Option<u32>,
    /// The parent's descriptor number of the worker's mailbox, a memfd
    /// that small frames pass through while the other side looks (see
    /// `mailbox.rs`), opened the same way.
    pub(crate) mailbox: Option<u32>,
}

/// A file's identity on this machine: same values, same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExeId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    pub(crate) mtime_nsec: i64,
}

/// The worker's side of the handshake.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum HelloReply {
    /// Ready for requests; `shared`: it opened the memfd of
    /// [`Hello::shared`], and large frames may go through it; `mailbox`:
    /// it opened the one of [`Hello::mailbox`], and small frames may go
    /// through that.
    Ready {
        pid: u32,
        shared: bool,
        mailbox: bool,
    },
    /// The worker refuses to serve this parent (another binary, another
    /// protocol version); it exits.
    Refused(String),
    /// The initializer failed (returned an error or panicked); it exits.
    InitFailed(String),
}

/// A task for a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Run the function called `name` on one encoded argument.
    Call {
        name: String,
        #[serde(with = "serde_bytes")]
        arg: Vec<u8>,
    },
    /// Run it on each of several arguments (a chunk of a `map`).
    Chunk {
        name: String,
        #[serde(with = "byte_seq")]
        args: Vec<Vec<u8>>,
    },
    /// The request is the first `len` bytes of the shared memory file
    /// (see `shm.rs`): a `Call` or a `Chunk`, never another `Shared`.
    Shared { len: u64 },
}

/// A [`Request`] as the worker decodes it: the same bytes, its strings and
/// arguments borrowed from the frame instead of copied out of it.
#[derive(Debug, Deserialize)]
pub(crate) enum RequestRef<'a> {
    Call {
        name: &'a str,
        arg: &'a [u8],
    },
    Chunk {
        name: &'a str,
        #[serde(borrow)]
        args: Vec<&'a [u8]>,
    },
    Shared {
        len: u64,
    },
}

/// A worker's answer to one [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    One(Outcome),
    Chunk(Vec<Outcome>),
    /// The worker could not read the request, says why, and exits.
    Refused(String),
    /// The reply is the first `len` bytes of the shared memory file (see
    /// `shm.rs`): a `One`, `Chunk` or `Refused`, never another `Shared`.
    /// The pool reads it there before anything else sees the reply.
    Shared {
        len: u64,
    },
}

impl Reply {
    /// Whether turning this reply into an outcome decodes a user type (a
    /// value, or a chunk of outcomes with values): that must not happen on a
    /// driver thread.
    pub(crate) fn carries_a_value(&self) -> bool {
        match self {
            Reply::One(Outcome::Value(_)) | Reply::Chunk(_) => true,
            Reply::One(_) | Reply::Refused(_) | Reply::Shared { .. } => false,
        }
    }
}

/// Encodes `message` as a whole frame (length prefix included), after
/// `prefix`, ready for one `write_all`.
pub(crate) fn frame<T: Serialize>(prefix: &[u8], message: &T) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; 4];
    buf.extend_from_slice(prefix);
    codec::encode_into(&mut buf, message)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
    let len = u32::try_from(buf.len() - 4)
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "message too large"))?;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    Ok(buf)
}

/// The frame of a [`Request::Call`] of `name` on `arg`, with `arg` encoded
/// straight into the frame: the same bytes as [`frame`] makes of a `Call`
/// whose `arg` is `encode(arg)`, without that intermediate copy. The
/// argument's length comes first (the byte string's prefix), so it is
/// measured by a pass that copies nothing, then encoded.
///
/// `spare` gives a buffer to reuse, if it has room for the frame: it is
/// called with the room needed.
pub(crate) fn call_frame<A: Serialize + ?Sized>(
    name: &str,
    arg: &A,
    spare: impl FnOnce(usize) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, codec::Error> {
    let arg_len = codec::encoded_len(arg)?;
    let room = 4 + 1 + 10 + name.len() + 10 + arg_len;
    let mut buf = spare(room)
        .filter(|buf| buf.capacity() >= room)
        .unwrap_or_else(|| Vec::with_capacity(room));
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    // `Request::Call`'s variant index (0), `name`, then the byte string's
    // length: each a varint or a string, as postcard writes them.
    codec::encode_into(&mut buf, &(0_u32, name, arg_len as u64))?;
    let start = buf.len();
    codec::encode_into(&mut buf, arg)?;
    if buf.len() - start != arg_len {
        // A `Serialize` impl that wrote something else the second time.
        return Err(codec::Error::Inconsistent);
    }
    let len = u32::try_from(buf.len() - 4)
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME)
        .ok_or(codec::Error::TooLarge)?;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    Ok(buf)
}

/// A handshake frame: the magic, the version, then `message`.
pub(crate) fn handshake_frame<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    let mut prefix = MAGIC.to_vec();
    prefix.extend_from_slice(&VERSION.to_le_bytes());
    frame(&prefix, message)
}

/// Reads one frame into `buf`. `Ok(false)` is a clean end of stream before
/// a frame started; a stream that ends inside a frame is `UnexpectedEof`,
/// and a frame longer than `max` is `InvalidData`.
pub(crate) fn read_frame(r: &mut impl Read, max: usize, buf: &mut Vec<u8>) -> io::Result<bool> {
    let Some(len) = read_len(r, max)? else {
        return Ok(false);
    };
    buf.clear();
    read_body(r, len, buf)?;
    Ok(true)
}

/// Reads a frame's length: `None` at a clean end of stream, `InvalidData`
/// over `max`, `UnexpectedEof` for a stream that ends inside it.
pub(crate) fn read_len(r: &mut impl Read, max: usize) -> io::Result<Option<usize>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit of {max}"),
        ));
    }
    Ok(Some(len))
}

/// Appends the next `len` bytes to `buf`; `UnexpectedEof` if the stream
/// ends first.
pub(crate) fn read_body(r: &mut impl Read, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    let start = buf.len();
    // `take` + `read_to_end` grows the buffer as bytes arrive, instead of
    // trusting `len` with an allocation up front.
    r.take(len as u64).read_to_end(buf)?;
    if buf.len() - start != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// [`read_body`] from a buffered reader: a body already in its buffer (a
/// small frame, read with its length by one system call) is copied out of
/// it at once, without `read_to_end`'s growing and probing. Room is still
/// made only for bytes that came.
pub(crate) fn read_body_buffered(
    r: &mut impl BufRead,
    len: usize,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    if len > 0 {
        match r.fill_buf() {
            Ok(have) if have.len() >= len => {
                buf.extend_from_slice(&have[..len]);
                r.consume(len);
                return Ok(());
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    read_body(r, len, buf)
}

/// Splits the magic and version off a handshake payload and decodes the
/// rest.
pub(crate) fn decode_handshake<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    if payload.len() < 12 || payload[..8] != MAGIC {
        return Err("not a futurepool worker handshake (bad magic)".to_owned());
    }
    let version = u32::from_le_bytes(payload[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!(
            "protocol version {version}, but this side speaks version {VERSION}"
        ));
    }
    decode(&payload[12..]).map_err(|err| format!("malformed handshake: {err}"))
}

/// Writes a whole frame made by [`frame`].
pub(crate) fn write_frame(w: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    w.write_all(frame)?;
    w.flush()
}

/// `#[serde(with = "...")]` for a `Vec<Vec<u8>>`: a sequence of byte
/// strings, each one length and one copy (as `serde_bytes` does for one).
mod byte_seq {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub(super) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| Bytes::new(b)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let bufs = Vec::<ByteBuf>::deserialize(d)?;
        Ok(bufs.into_iter().map(ByteBuf::into_vec).collect())
    }
}

/// `#[serde(with = "...")]` for [`Hello::init`]: the argument is a byte
/// string (one length, one copy), not a sequence of `u8`s.
mod init_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub(super) fn serialize<S: Serializer>(
        init: &Option<(String, Vec<u8>)>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        init.as_ref()
            .map(|(name, arg)| (name, Bytes::new(arg)))
            .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<(String, Vec<u8>)>, D::Error> {
        let init = Option::<(String, ByteBuf)>::deserialize(d)?;
        Ok(init.map(|(name, arg)| (name, arg.into_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let req = Request::Call {
            name: "a::b".into(),
            arg: vec![1, 2, 3],
        };
        let bytes = frame(&[], &req).unwrap();
        let mut buf = Vec::new();
        assert!(read_frame(&mut &bytes[..], MAX_FRAME, &mut buf).unwrap());
        let Request::Call { name, arg } = decode(&buf).unwrap() else {
            panic!()
        };
        assert_eq!((name.as_str(), arg.as_slice()), ("a::b", &[1, 2, 3][..]));
    }

    #[test]
    fn clean_and_unclean_ends() {
        let mut buf = Vec::new();
        assert!(!read_frame(&mut &[][..], MAX_FRAME, &mut buf).unwrap());
        let err = read_frame(&mut &[5, 0][..], MAX_FRAME, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = read_frame(&mut &[5, 0, 0, 0, 1][..], MAX_FRAME, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn oversized_frames_are_refused_without_allocating() {
        let mut buf = Vec::new();
        let err = read_frame(&mut &b"GET / HTTP/1.1\r\n"[..], 1 << 20, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(buf.capacity() < 1 << 20);
    }

    #[test]
    fn handshake_checks_magic_and_version() {
        let hello = HelloReply::Ready {
            pid: 7,
            shared: true,
            mailbox: false,
        };
        let bytes = handshake_frame(&hello).unwrap();
        let ok: HelloReply = decode_handshake(&bytes[4..]).unwrap();
        assert!(matches!(
            ok,
            HelloReply::Ready {
                pid: 7,
                shared: true,
                mailbox: false,
            }
        ));
        let mut wrong = bytes[4..].to_vec();
        wrong[8] = 99;
        let err = decode_handshake::<HelloReply>(&wrong).unwrap_err();
        assert!(err.contains("protocol version 99"), "{err}");
        let err = decode_handshake::<HelloReply>(b"hello world, not us").unwrap_err();
        assert!(err.contains("bad magic"), "{err}");
    }

    /// The examples of `docs/WIRE.md`, byte for byte.
    #[test]
    fn the_documented_examples() {
        let call = Request::Call {
            name: "m::f".into(),
            arg: encode(&5_u32).unwrap(),
        };
        assert_eq!(
            frame(&[], &call).unwrap(),
            [8, 0, 0, 0, 0, 4, b'm', b':', b':', b'f', 1, 5]
        );
        let value = Reply::One(Outcome::Value(encode(&25_u32).unwrap().into()));
        assert_eq!(frame(&[], &value).unwrap(), [4, 0, 0, 0, 0, 0, 1, 0x19]);
        let ready = handshake_frame(&HelloReply::Ready {
            pid: 300,
            shared: true,
            mailbox: true,
        })
        .unwrap();
        let mut expected = vec![17, 0, 0, 0];
        expected.extend_from_slice(b"futurepl");
        expected.extend_from_slice(&[5, 0, 0, 0, 0, 0xac, 0x02, 1, 1]);
        assert_eq!(ready, expected);
        let shared = Request::Shared { len: 64 << 20 };
        assert_eq!(
            frame(&[], &shared).unwrap(),
            [5, 0, 0, 0, 2, 0x80, 0x80, 0x80, 0x20]
        );
        let shared = Reply::Shared { len: 300 };
        assert_eq!(frame(&[], &shared).unwrap(), [3, 0, 0, 0, 3, 0xac, 0x02]);
    }

    #[test]
    fn a_call_frame_is_a_call_request_s_frame() {
        let big = serde_bytes::ByteBuf::from(vec![7; 300]);
        for (name, arg) in [
            ("m::f", encode(&5_u32).unwrap()),
            ("g", encode(&big).unwrap()),
        ] {
            let request = Request::Call {
                name: name.into(),
                arg: arg.clone(),
            };
            let expected = frame(&[], &request).unwrap();
            let got = if arg.len() == 1 {
                call_frame(name, &5_u32, |_| None).unwrap()
            } else {
                call_frame(name, &big, |_| Some(vec![9; 3])).unwrap()
            };
            assert_eq!(got, expected);
            let RequestRef::Call { name: n, arg: a } = codec::decode_borrowed(&got[4..]).unwrap()
            else {
                panic!("not a call")
            };
            assert_eq!((n, a), (name, &arg[..]));
        }
        let chunk = frame(
            &[],
            &Request::Chunk {
                name: "c".into(),
                args: vec![vec![1], vec![]],
            },
        )
        .unwrap();
        let RequestRef::Chunk { name, args } = codec::decode_borrowed(&chunk[4..]).unwrap() else {
            panic!("not a chunk")
        };
        assert_eq!((name, args), ("c", vec![&[1][..], &[][..]]));
    }

    #[test]
    fn every_message_round_trips() {
        let hello = Hello {
            parent_pid: 1,
            exe: ExeId {
                dev: 2,
                ino: 3,
                size: 4,
                mtime: -5,
                mtime_nsec: 6,
            },
            exe_hash: Some(7),
            registry: 8,
            init: Some(("init".into(), vec![9; 300])),
            worker_stderr: true,
            shared: Some(10),
            mailbox: Some(11),
        };
        let back: Hello = decode_handshake(&handshake_frame(&hello).unwrap()[4..]).unwrap();
        assert_eq!(format!("{back:?}"), format!("{hello:?}"));
        let chunk = Request::Chunk {
            name: "f".into(),
            args: vec![vec![], vec![1; 200], vec![2]],
        };
        let back: Request = decode(&frame(&[], &chunk).unwrap()[4..]).unwrap();
        assert_eq!(format!("{back:?}"), format!("{chunk:?}"));
        let reply = Reply::Chunk(vec![
            Outcome::Value(vec![3; 130].into()),
            Outcome::Panic {
                message: "p".into(),
                backtrace: None,
            },
            Outcome::Unknown("u".into()),
        ]);
        let back: Reply = decode(&frame(&[], &reply).unwrap()[4..]).unwrap();
        assert_eq!(format!("{back:?}"), format!("{reply:?}"));
    }

    #[test]
    fn a_message_with_trailing_bytes_is_refused() {
        let mut payload = frame(&[], &Reply::Refused("x".into())).unwrap()[4..].to_vec();
        payload.push(0);
        assert!(decode::<Reply>(&payload).is_err());
        let ready = HelloReply::Ready {
            pid: 1,
            shared: false,
            mailbox: false,
        };
        let mut hello = handshake_frame(&ready).unwrap()[4..].to_vec();
        hello.push(0);
        let err = decode_handshake::<HelloReply>(&hello).unwrap_err();
        assert!(err.contains("trailing"), "{err}");
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: every prefix and many byte patterns.
        let mut seed = 0x1234_5678_u64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode::<Request>(&bytes);
            let _ = codec::decode_borrowed::<RequestRef<'_>>(&bytes);
            let _ = decode::<Reply>(&bytes);
            let _ = decode_handshake::<Hello>(&bytes);
            let mut buf = Vec::new();
            let _ = read_frame(&mut &bytes[..], 1 << 16, &mut buf);
        }
    }
}
