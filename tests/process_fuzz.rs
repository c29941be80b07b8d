//! The handshake fuzzed on both sides with real processes (proptest; the
//! decoders themselves are fuzzed in `src/process_pool/fuzz.rs`):
//!
//! - **worker side**: this test binary started as a worker is fed random
//!   bytes (raw, or behind a frame length and the protocol's magic and
//!   version, learnt from a real worker's refusal), then end of file. It
//!   must exit on its own within the bound, with one of its own exit codes
//!   (never a panic's 101 or a signal), having written nothing or one
//!   handshake frame, under an address-space limit of 512 MiB (so an
//!   allocation sized by a garbage length would kill it);
//! - **parent side**: a pool whose "worker" is a script that writes random
//!   bytes (the same kinds) and exits: the task fails with an error within
//!   the bound, never hangs, never succeeds, and no child is left.
//!
//! - **the shared-memory header**: a task in a real worker writes a
//!   `Reply::Shared { len }` header of random length (or random bytes
//!   behind its variant index) on the protocol pipe, over a shared file
//!   that holds nothing or a previous large reply: the task fails, the
//!   worker is treated as broken (replaced), and the pool goes on.
//!
//! A worker that writes part of a frame and then stalls (holding the pipe
//! open) is issue 13's fault 1; its case is here, ignored until the fix.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use common::process::children;
use futurepool::{ProcessPool, remote};
use proptest::prelude::*;

const BOUND: Duration = Duration::from_secs(20);

/// Held by each case: a case checks that it left no child process, so the
/// cases of this binary's tests don't overlap.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Starts this binary as a worker of this process, with `input` on its
/// stdin, and waits (bounded) for it to exit: its status and stdout.
fn feed_worker(input: &[u8]) -> (ExitStatus, Vec<u8>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg(format!("--futurepool-worker={}", std::process::id()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec the closure only calls `setrlimit`,
    // which is async-signal-safe, on a struct on its own stack.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 512 << 20,
                rlim_max: 512 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The worker may exit before reading it all (it refuses at the first
    // bad byte): a broken pipe here is fine.
    let _ = stdin.write_all(input);
    drop(stdin);
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
        out
    });
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a worker fed {} bytes never exited", input.len());
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    (status, reader.join().unwrap())
}

/// The magic and version a worker's handshake starts with, learnt from a
/// real worker's refusal (so this file needn't know the version).
fn handshake_prefix() -> &'static [u8] {
    static PREFIX: OnceLock<Vec<u8>> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let (_, out) = feed_worker(b"\x05\0\0\0hello");
        assert!(out.len() >= 16 && &out[4..12] == b"futurepl", "{out:?}");
        out[4..16].to_vec()
    })
}

/// Bytes a peer might send in a handshake: raw garbage, or garbage behind
/// the magic and version, framed with its true length or a random one.
/// Made into bytes in the case's body, under [`alone`] (the magic and
/// version are learnt from a worker, a child process).
#[derive(Debug, Clone)]
struct Garbage {
    kind: u8,
    body: Vec<u8>,
    len: u32,
}

impl Garbage {
    fn bytes(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        if self.kind >= 1 {
            payload.extend_from_slice(handshake_prefix());
        }
        payload.extend_from_slice(&self.body);
        let len = match self.kind {
            0 | 1 => return payload,
            2 => payload.len() as u32,
            _ => self.len,
        };
        let mut framed = len.to_le_bytes().to_vec();
        framed.extend_from_slice(&payload);
        framed
    }
}

fn garbage() -> impl Strategy<Value = Garbage> {
    (
        0..4u8,
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<u32>(),
    )
        .prop_map(|(kind, body, len)| Garbage { kind, body, len })
}

/// A fake worker program: a script that writes `bytes` to the pool and
/// then exits (`stall`: then sleeps, holding the pipe open).
fn fake_worker(bytes: &[u8], stall: bool) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let data = dir.join(format!("futurepool-fuzz-{}-{n}.bin", std::process::id()));
    let script = dir.join(format!("futurepool-fuzz-{}-{n}.sh", std::process::id()));
    std::fs::write(&data, bytes).unwrap();
    let tail = if stall { "exec sleep 30\n" } else { "" };
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncat '{}'\n{tail}", data.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

/// In a worker: the write end of the pipe the worker answers on (the one
/// pipe it writes to: fd 1 is its stderr, `/dev/null` here).
fn reply_pipe() -> i32 {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_pipe = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("pipe:"));
        // SAFETY: `fcntl(F_GETFL)` on a descriptor number reads its flags
        // (or fails for one closed meanwhile); it touches no memory.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if fd > 2 && is_pipe && flags >= 0 && flags & libc::O_ACCMODE == libc::O_WRONLY {
            return fd;
        }
    }
    panic!("no reply pipe")
}

/// In a worker: writes `payload` as a frame on the protocol pipe, in place
/// of the task's reply, and exits (a header the pool takes for a reply
/// must not leave it a worker that never reads again).
fn send_raw_reply(payload: Vec<u8>) -> u32 {
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&payload);
    let fd = reply_pipe();
    // SAFETY: `frame` is valid for its length; `fd` is open.
    let n = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
    assert_eq!(n, frame.len() as isize);
    // SAFETY: `_exit` ends the process at once; nothing is left to run.
    unsafe { libc::_exit(0) }
}

fn echo_bytes(b: serde_bytes::ByteBuf) -> serde_bytes::ByteBuf {
    b
}

/// A `Reply::Shared` header's payload: its variant index (3), then a
/// length as a varint, or random bytes.
fn shared_header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop_oneof![
            any::<u64>(),
            0..(4u64 << 20),
            Just(u64::MAX),
            Just(1 << 30),
            Just((1 << 30) + 1)
        ]
        .prop_map(|len| {
            let mut v = vec![3];
            let mut len = len;
            while len >= 0x80 {
                v.push(len as u8 | 0x80);
                len >>= 7;
            }
            v.push(len as u8);
            v
        }),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(|mut v| {
            v.insert(0, 3);
            v
        }),
    ]
}

fn remove_fake_worker(script: &std::path::Path) {
    let _ = std::fs::remove_file(script.with_extension("bin"));
    let _ = std::fs::remove_file(script);
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES overrides this (the stress script sets it).
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_worker_fed_garbage_refuses_or_exits(garbage in garbage()) {
        let _alone = alone();
        let input = garbage.bytes();
        let (status, out) = feed_worker(&input);
        // 0: end of file before a frame; 2: garbage; 3: refused.
        prop_assert!(
            matches!(status.code(), Some(0 | 2 | 3)),
            "{status} (signal {:?}) for {input:?}", status.signal()
        );
        if !out.is_empty() {
            // One handshake frame, the refusal: length, magic, version, reason.
            let len = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
            prop_assert_eq!(out.len(), 4 + len);
            prop_assert_eq!(&out[4..16], handshake_prefix());
        }
    }

    #[test]
    fn a_pool_fed_garbage_fails_the_task_in_time(garbage in garbage()) {
        let _alone = alone();
        let input = garbage.bytes();
        let script = fake_worker(&input, false);
        let pool = ProcessPool::builder()
            .worker_program(&script)
            .start_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let outcome = pool.submit(remote!(pid), ()).unwrap().join_timeout(BOUND);
        remove_fake_worker(&script);
        match outcome {
            Ok(v) => panic!("a script's garbage ran a task: {v}"),
            Err(e) => prop_assert!(
                e.into_task_error().is_some(),
                "no answer within {BOUND:?} for {input:?}"
            ),
        }
        pool.shutdown();
        prop_assert!(children().is_empty(), "{:?}", children());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES overrides this (the stress script sets it).
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_garbled_shared_memory_header_breaks_only_its_worker(
        header in shared_header(),
        warm in any::<bool>(),
    ) {
        let _alone = alone();
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let big = serde_bytes::ByteBuf::from(vec![9; 3 << 20]);
        if warm {
            // The shared file then holds a large reply: a header may name
            // bytes within it.
            let back = pool.submit(remote!(echo_bytes), big.clone()).unwrap().join().unwrap();
            prop_assert!(back == big);
        }
        let outcome = pool
            .submit(remote!(send_raw_reply), header.clone())
            .unwrap()
            .join_timeout(BOUND);
        let err = match outcome {
            Ok(v) => panic!("a garbled header ran a task: {v}"),
            Err(e) => e.into_task_error().unwrap_or_else(|| panic!("no answer within {BOUND:?}")),
        };
        prop_assert!(err.is_protocol_error() || err.is_serialization(), "{header:?}: {err}");
        // The worker was replaced: the pool goes on.
        let back = pool.submit(remote!(echo_bytes), big.clone()).unwrap().join().unwrap();
        prop_assert!(back == big);
        prop_assert_eq!(pool.workers_started(), 2);
        pool.shutdown();
        prop_assert!(children().is_empty(), "{:?}", children());
    }
}

/// A worker that writes part of a handshake frame (or a whole one that is
/// garbage, or nothing) and then stalls with its pipe open: the pool gives
/// up within `start_timeout` and the task fails.
#[test]
fn a_stalled_handshake_fails_within_the_start_timeout() {
    let _alone = alone();
    let cases: [&[u8]; 3] = [b"\x40\0\0\0futurepl", b"\x05\0", b"\xff\xff"];
    for input in cases {
        let script = fake_worker(input, true);
        let pool = ProcessPool::builder()
            .worker_program(&script)
            .start_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let outcome = pool
            .submit(remote!(pid), ())
            .unwrap()
            .join_timeout(Duration::from_secs(10));
        remove_fake_worker(&script);
        match outcome {
            Ok(v) => panic!("ran on a stalled script: {v}"),
            Err(e) if e.is_timeout() => {
                // Dropping the pool would hang on the stalled read too.
                std::mem::forget(pool);
                panic!("{input:?}: no answer 10 s after a start_timeout of 1 s");
            }
            Err(e) => assert!(e.into_task_error().unwrap().is_broken()),
        }
    }
}
