//! Property tests ("fuzzing" with proptest) of what a pool and its workers
//! read from each other: the frame reader and the decoding of both sides of
//! the handshake (`Hello`, read by a worker; `HelloReply`, read by the
//! parent) and of the messages after it (`Request`, `Reply`). Inputs are
//! random bytes, random bytes behind a valid magic and version, and real
//! messages with random edits (bits flipped, bytes set, inserted, removed,
//! the end cut off), fed whole and a few bytes per read.
//!
//! The properties: never a panic; a frame's declared length is never
//! trusted with memory (the buffer grows with the bytes that arrive, and no
//! single allocation while decoding is larger than [`ALLOC_LIMIT`],
//! measured by a counting allocator); a reader over finite input always
//! returns (a writer that stalls mid-frame is the handshake timeout's
//! business, tested with real processes in `tests/process_fuzz.rs`); and
//! what decodes from an unedited message is that message.
//!
//! Self-contained on purpose: it uses only `frame`, `handshake_frame`,
//! `read_frame`, `decode_handshake` and `decode`, so the wire format can
//! change under it. `PROPTEST_CASES` raises the case count
//! (`scripts/stress.sh` does).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{self, Read};

use proptest::prelude::*;

use super::protocol::{
    ExeId, Hello, HelloReply, MAX_FRAME, MAX_HANDSHAKE, Outcome, Reply, Request, decode,
    decode_handshake, frame, handshake_frame, read_frame,
};

/// The largest single allocation decoding garbage may make: serde
/// preallocates at most 1 MiB for a sequence whatever length it claims.
const ALLOC_LIMIT: usize = 2 << 20;

/// The system allocator, noting the largest single allocation made on a
/// thread while [`peak_alloc`] watches it.
struct Counting;

// std's `thread_local!`, not the loom seam's: this instruments the test
// binary's allocator and is never part of a model.
thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: a const-initialized thread local with no destructor
    // needs no allocation, but may be gone while the thread exits.
    let _ = WATCHING.try_with(|w| {
        if w.get() {
            let _ = PEAK.try_with(|p| p.set(p.get().max(size)));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are this allocator's; `note` only
// reads and writes two thread-local `Cell`s and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded as is: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded as is: the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded as is: `ptr` came from this allocator, which
        // is `System`'s, with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Runs `f`, returning its result and the largest single allocation it
/// made on this thread.
fn peak_alloc<R>(f: impl FnOnce() -> R) -> (R, usize) {
    PEAK.with(|p| p.set(0));
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, PEAK.with(Cell::get))
}

/// A reader that hands out at most `step` bytes per read, and fails with
/// `Interrupted` every `interrupt`-th call (which readers must retry; 0:
/// never, and never 1, which would never read).
struct Drip<'a> {
    bytes: &'a [u8],
    step: usize,
    interrupt: usize,
    calls: usize,
}

impl Read for Drip<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.interrupt > 0 && self.calls % self.interrupt == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = self.step.min(out.len()).min(self.bytes.len());
        out[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// One random edit of an encoded message.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0..8u8).prop_map(|(at, bit)| Edit::Flip(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        // 0xff bytes: the varint marker of the longest lengths.
        (
            any::<usize>(),
            prop_oneof![any::<u8>(), Just(0xff), Just(0xfd)]
        )
            .prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match *e {
            Edit::Flip(at, bit) if len > 0 => bytes[at % len] ^= 1 << bit,
            Edit::Set(at, b) if len > 0 => bytes[at % len] = b,
            Edit::Insert(at, b) => bytes.insert(at % (len + 1), b),
            Edit::Remove(at) if len > 0 => {
                bytes.remove(at % len);
            }
            Edit::Truncate(at) => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }
    bytes
}

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(".{0,24}").unwrap()
}

fn blob() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..48)
}

fn hello() -> impl Strategy<Value = Hello> {
    (
        any::<u32>(),
        any::<(u64, u64, u64, i64, i64)>(),
        any::<Option<u64>>(),
        any::<u64>(),
        proptest::option::of((text(), blob())),
        any::<bool>(),
        any::<(Option<u32>, Option<u32>)>(),
    )
        .prop_map(
            |(
                parent_pid,
                (dev, ino, size, mtime, mtime_nsec),
                exe_hash,
                registry,
                init,
                e,
                (shared, mailbox),
            )| {
                Hello {
                    parent_pid,
                    exe: ExeId {
                        dev,
                        ino,
                        size,
                        mtime,
                        mtime_nsec,
                    },
                    exe_hash,
                    registry,
                    init,
                    worker_stderr: e,
                    shared,
                    mailbox,
                }
            },
        )
}

fn hello_reply() -> impl Strategy<Value = HelloReply> {
    prop_oneof![
        any::<(u32, bool, bool)>().prop_map(|(pid, shared, mailbox)| HelloReply::Ready {
            pid,
            shared,
            mailbox
        }),
        text().prop_map(HelloReply::Refused),
        text().prop_map(HelloReply::InitFailed),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (text(), blob()).prop_map(|(name, arg)| Request::Call { name, arg }),
        (text(), proptest::collection::vec(blob(), 0..4))
            .prop_map(|(name, args)| Request::Chunk { name, args }),
        any::<u64>().prop_map(|len| Request::Shared { len }),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        blob().prop_map(|b| Outcome::Value(b.into())),
        (text(), proptest::option::of(text()))
            .prop_map(|(message, backtrace)| Outcome::Panic { message, backtrace }),
        text().prop_map(Outcome::ArgError),
        text().prop_map(Outcome::ResultError),
        text().prop_map(Outcome::Unknown),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        outcome().prop_map(Reply::One),
        proptest::collection::vec(outcome(), 0..4).prop_map(Reply::Chunk),
        text().prop_map(Reply::Refused),
        any::<u64>().prop_map(|len| Reply::Shared { len }),
    ]
}

/// Reads one frame from `input` whole and a few bytes per read (with
/// interruptions): the two agree, nothing panics, and the buffer is never
/// much larger than the bytes that came.
fn check_read_frame(input: &[u8], max: usize, step: usize, interrupt: usize) {
    let mut whole = Vec::new();
    let (a, peak) = peak_alloc(|| read_frame(&mut &input[..], max, &mut whole));
    let mut dripped = Vec::new();
    let mut drip = Drip {
        bytes: input,
        step,
        interrupt,
        calls: 0,
    };
    let b = read_frame(&mut drip, max, &mut dripped);
    match (&a, &b) {
        (Ok(x), Ok(y)) => assert_eq!(x, y),
        (Err(x), Err(y)) => assert_eq!(x.kind(), y.kind()),
        _ => panic!("whole {a:?}, dripped {b:?}"),
    }
    if let Ok(true) = a {
        let declared = u32::from_le_bytes(input[..4].try_into().unwrap()) as usize;
        assert!(declared <= max);
        assert_eq!(whole, input[4..4 + declared]);
        assert_eq!(dripped, whole);
    }
    // What a declared length may cost: the bytes that actually came, with
    // `Vec`'s doubling, never the length itself.
    let bound = 2 * input.len() + 256;
    assert!(whole.capacity() <= bound, "{} > {bound}", whole.capacity());
    assert!(
        peak <= bound,
        "an allocation of {peak} bytes for {} in",
        input.len()
    );
}

/// Decodes `payload` as every message type, each side of the handshake
/// included: never a panic, never an allocation over [`ALLOC_LIMIT`].
fn check_decodes(payload: &[u8]) {
    let ((), peak) = peak_alloc(|| {
        let _ = decode_handshake::<Hello>(payload);
        let _ = decode_handshake::<HelloReply>(payload);
        let _ = decode::<Request>(payload);
        let _ = decode::<Reply>(payload);
    });
    assert!(peak <= ALLOC_LIMIT, "an allocation of {peak} bytes");
}

/// A handshake payload's first 12 bytes: magic and version, so that random
/// bytes after them reach the message decoder.
fn handshake_prefix() -> Vec<u8> {
    let ready = HelloReply::Ready {
        pid: 0,
        shared: false,
        mailbox: false,
    };
    let frame = handshake_frame(&ready).unwrap();
    frame[4..16].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES overrides this (the stress script sets it).
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_read_and_decode_safely(
        input in proptest::collection::vec(any::<u8>(), 0..600),
        step in 1..8usize,
        // 0: never; n: every n-th read (1 would never read at all).
        interrupt in prop_oneof![Just(0usize), 2..5usize],
    ) {
        for max in [0, 16, 4096, MAX_HANDSHAKE, MAX_FRAME] {
            check_read_frame(&input, max, step, interrupt);
        }
        check_decodes(&input);
        let mut prefixed = handshake_prefix();
        prefixed.extend_from_slice(&input);
        check_decodes(&prefixed);
    }

    #[test]
    fn any_declared_length_costs_only_what_arrives(
        declared in prop_oneof![any::<u32>(), Just(u32::MAX), Just(MAX_FRAME as u32)],
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut input = declared.to_le_bytes().to_vec();
        input.extend_from_slice(&body);
        for max in [MAX_HANDSHAKE, MAX_FRAME] {
            check_read_frame(&input, max, 3, 0);
        }
    }

    #[test]
    fn edited_handshakes_decode_safely(
        h in hello(),
        r in hello_reply(),
        edits in proptest::collection::vec(edit(), 0..6),
        step in 1..8usize,
    ) {
        // Unedited, each side reads back what the other sent.
        let hello_frame = handshake_frame(&h).unwrap();
        let got: Hello = decode_handshake(&hello_frame[4..]).unwrap();
        prop_assert_eq!(format!("{got:?}"), format!("{h:?}"));
        let reply_frame = handshake_frame(&r).unwrap();
        let got: HelloReply = decode_handshake(&reply_frame[4..]).unwrap();
        prop_assert_eq!(format!("{got:?}"), format!("{r:?}"));
        // Edited (length prefix included), both as a frame and as a payload.
        for frame in [hello_frame, reply_frame] {
            let edited = apply(frame.clone(), &edits);
            check_read_frame(&edited, MAX_HANDSHAKE, step, 0);
            let mut buf = Vec::new();
            if let Ok(true) = read_frame(&mut &edited[..], MAX_HANDSHAKE, &mut buf) {
                check_decodes(&buf);
            }
            check_decodes(&apply(frame[4..].to_vec(), &edits));
        }
    }

    #[test]
    fn edited_requests_and_replies_decode_safely(
        q in request(),
        r in reply(),
        edits in proptest::collection::vec(edit(), 0..6),
    ) {
        let q_frame = frame(&[], &q).unwrap();
        let got: Request = decode(&q_frame[4..]).unwrap();
        prop_assert_eq!(format!("{got:?}"), format!("{q:?}"));
        let r_frame = frame(&[], &r).unwrap();
        let got: Reply = decode(&r_frame[4..]).unwrap();
        prop_assert_eq!(format!("{got:?}"), format!("{r:?}"));
        for frame in [q_frame, r_frame] {
            let edited = apply(frame.clone(), &edits);
            check_read_frame(&edited, MAX_FRAME, 5, 3);
            check_decodes(&apply(frame[4..].to_vec(), &edits));
        }
    }
}

/// A message's payload as it may lie in the shared memory: a real request
/// or reply (a large one among them, so the paths for values of 64 KiB and
/// up run), edited or not, or random bytes.
#[cfg(target_os = "linux")]
fn shared_payload() -> impl Strategy<Value = (Vec<u8>, bool)> {
    let big = (0..8192usize, any::<u8>()).prop_map(|(extra, b)| {
        let arg = super::protocol::encode(&serde_bytes::ByteBuf::from(vec![b; (64 << 10) + extra]));
        arg.unwrap()
    });
    prop_oneof![
        request().prop_map(|q| (frame(&[], &q).unwrap()[4..].to_vec(), false)),
        reply().prop_map(|r| (frame(&[], &r).unwrap()[4..].to_vec(), true)),
        big.clone().prop_map(|arg| {
            let call = Request::Call {
                name: "f".into(),
                arg,
            };
            (frame(&[], &call).unwrap()[4..].to_vec(), false)
        }),
        big.prop_map(|v| {
            let reply = Reply::One(Outcome::Value(v.into()));
            (frame(&[], &reply).unwrap()[4..].to_vec(), true)
        }),
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(|b| (b, true)),
    ]
}

#[cfg(target_os = "linux")]
proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES overrides this (the stress script sets it).
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The shared-memory header (`Request::Shared` / `Reply::Shared`): any
    /// length over any contents is read safely by both sides. A length
    /// beyond the file is refused before anything is read or allocated;
    /// one within it costs at most what the file's bytes decode to; an
    /// unedited message reads back as itself.
    #[test]
    fn shared_memory_headers_read_safely(
        (payload, is_reply) in shared_payload(),
        edits in proptest::collection::vec(edit(), 0..4),
        declared in prop_oneof![any::<u64>(), 0..(4u64 << 20), Just(u64::MAX)],
    ) {
        use super::shm::{SharedFile, reply_in_shared, request_in_shared};
        let mut writer = SharedFile::create().unwrap();
        let mut reader = SharedFile::open(std::process::id(), writer.fd()).unwrap();
        let edited = apply(payload.clone(), &edits);
        writer.put(&edited).unwrap();
        // What the file holds: the payload, rounded up to the growth step.
        let size = edited.len().next_multiple_of(2 << 20) as u64;
        for len in [declared, edited.len() as u64, size, size + 1] {
            let mut buf = Vec::new();
            let (got, peak) = peak_alloc(|| {
                let a = reply_in_shared(&mut reader, len, &mut buf).map(drop);
                let b = request_in_shared(&mut reader, len, &mut buf).map(drop);
                (a, b)
            });
            if len > size {
                prop_assert!(got.0.is_err() && got.1.is_err(), "{len} > {size}");
                prop_assert!(peak <= 4096, "an allocation of {peak} bytes for a refused header");
            } else {
                // The bytes copied out (at most the file), then what decoding
                // them takes: up to about 56 bytes of memory per 2 bytes of
                // input, doubled by a `Vec`'s growth, for a chunk of empty
                // outcomes (as from a pipe frame of the same bytes). Never
                // more because of what the header claims.
                let bound = (64 * size).max(ALLOC_LIMIT as u64);
                prop_assert!(peak as u64 <= bound, "{peak} for {len} in a file of {size}");
            }
        }
        if edits.is_empty() && is_reply && !matches!(decode::<Reply>(&payload), Ok(Reply::Shared { .. })) {
            let mut buf = Vec::new();
            let got = reply_in_shared(&mut reader, payload.len() as u64, &mut buf);
            match decode::<Reply>(&payload) {
                Ok(reply) => prop_assert_eq!(format!("{:?}", got.unwrap()), format!("{reply:?}")),
                Err(_) => prop_assert!(got.is_err()),
            }
        }
    }

    /// The mailbox (protocol version 5): whatever a peer leaves in a slot
    /// and its length word is read safely. A length beyond the slot is
    /// refused before anything is copied or allocated; one within it
    /// copies exactly that many bytes, which decode (or fail to) as a
    /// pipe frame's payload would; never a panic, never a read outside the
    /// mapping.
    #[test]
    fn mailbox_messages_read_safely(
        payload in prop_oneof![
            request().prop_map(|r| frame(&[], &r).unwrap()[4..].to_vec()),
            reply().prop_map(|r| frame(&[], &r).unwrap()[4..].to_vec()),
            proptest::collection::vec(any::<u8>(), 0..600),
        ],
        edits in proptest::collection::vec(edit(), 0..4),
        declared in prop_oneof![any::<u32>(), 0..(64u32 << 10), Just(u32::MAX)],
    ) {
        use super::mailbox::{Mailbox, SLOT};
        let pool = Mailbox::create().unwrap();
        let worker = Mailbox::open(std::process::id(), pool.fd()).unwrap();
        let mut edited = apply(payload, &edits);
        edited.truncate(SLOT);
        worker.expect_request();
        prop_assert!(pool.post_request(&edited));
        pool.forge_request_len(declared);
        let mut buf = Vec::new();
        let (got, peak) = peak_alloc(|| {
            let got = worker.await_request(&mut buf);
            let _ = decode::<Request>(&buf);
            got
        });
        if declared as usize > SLOT {
            prop_assert!(got.is_err(), "{declared} bytes in a slot of {SLOT}");
            prop_assert!(peak <= 4096, "an allocation of {peak} bytes for a refused length");
        } else {
            prop_assert!(got.unwrap());
            prop_assert_eq!(buf.len(), declared as usize);
            if declared as usize == edited.len() {
                prop_assert_eq!(&buf, &edited);
            }
            prop_assert!(peak <= ALLOC_LIMIT, "an allocation of {peak} bytes");
        }
    }
}
