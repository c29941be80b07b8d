//! Large values through a process pool (issue 13, item 6): the paths that
//! copy nothing (a `ByteBuf` argument or result read straight into the
//! buffer it keeps, a request buffer reused by the next large request) must
//! give back exactly what went in, for `ByteBuf`s and for every other type
//! whose encoding has the same shape (a length, then that many bytes), and
//! a `Deserialize` that refuses must still fail only its task. Large frames
//! go through a memfd shared with each worker (protocol version 4): sizes
//! around its threshold, 64 MiB, a worker that dies mid-transfer, and the
//! file descriptors it costs.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use common::process::{child_test, children, is_dead, open_fds, passed};
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

/// The payload of a call of `echo_bytes` on `n` bytes is 64 KiB (the
/// shared memory's threshold) give or take a few; each side of it, both
/// ways, and 64 MiB.
#[test]
fn values_around_the_shared_memory_threshold_and_64_mib_come_back() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    for len in (65_536 - 64..65_536 + 8).chain([0, 1 << 20, 64 << 20, 100]) {
        let data = pattern(len, len as u8);
        let back = pool
            .submit(remote!(echo_bytes), ByteBuf::from(data.clone()))
            .unwrap()
            .join()
            .unwrap();
        assert!(back.into_vec() == data, "len {len}");
    }
    let text = "shared memory ".repeat((64 << 20) / 14);
    let back = pool
        .submit(remote!(echo_string), text.clone())
        .unwrap()
        .join()
        .unwrap();
    assert!(back == text, "a 64 MiB string");
    // A `Vec<u8>` is made a byte at a time: 4 MiB is plenty in a debug build.
    let data = pattern(4 << 20, 3);
    let back = pool
        .submit(remote!(echo_vec), data.clone())
        .unwrap()
        .join()
        .unwrap();
    assert!(back == data, "a 4 MiB Vec<u8>");
    // A chunk of a `map` whose frame is large goes the same way.
    let args = (0..4).map(|i| ByteBuf::from(pattern(100_000, i)));
    for (i, back) in pool.map(remote!(echo_bytes), args).enumerate() {
        assert!(back.unwrap().into_vec() == pattern(100_000, i as u8));
    }
    assert_eq!(pool.workers_started(), 1);
}

/// In a worker: the memfd it shares with the pool, opened anew.
fn shared_file() -> std::fs::File {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        let is_ours = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:futurepool-frames"));
        if is_ours {
            return std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(entry.path())
                .unwrap();
        }
    }
    panic!("the worker has no shared file")
}

fn die() -> ! {
    // SAFETY: `kill` and `getpid` take and return plain integers.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    loop {
        std::thread::park();
    }
}

/// In a worker: takes a large argument (through the shared memory), then
/// dies before it replies.
fn die_holding(b: ByteBuf) -> usize {
    if !b.is_empty() {
        die();
    }
    0
}

/// In a worker: writes `len` bytes of a reply into the shared file (as the
/// worker does before it sends the header), then dies before the header.
fn die_mid_reply(len: usize) -> usize {
    use std::io::Write;
    shared_file().write_all(&vec![0xab; len]).unwrap();
    die()
}

/// For each of this process's descriptors that is a futurepool memfd,
/// whether it is close-on-exec (so programs that tasks start, and other
/// workers, never inherit it).
fn memfds_cloexec(_: ()) -> Vec<bool> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let fd: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            if !target
                .to_string_lossy()
                .starts_with("/memfd:futurepool-frames")
            {
                return None;
            }
            // SAFETY: `fcntl(F_GETFD)` on a descriptor number reads its
            // flags (or fails for one closed meanwhile); no memory.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            Some(flags >= 0 && flags & libc::FD_CLOEXEC != 0)
        })
        .collect()
}

/// How many of this process's descriptors are futurepool memfds.
fn memfds() -> usize {
    memfds_cloexec(()).len()
}

/// Each worker holds one shared file, close-on-exec, and so does the pool
/// for each worker. Alone, like the test below.
#[test]
fn the_shared_files_are_close_on_exec() {
    let name = "the_shared_files_are_close_on_exec";
    if std::env::var_os("FUTUREPOOL_TEST_ALONE").is_none() {
        let mut child = child_test(name);
        child.env("FUTUREPOOL_TEST_ALONE", "1");
        passed(child);
        return;
    }
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let in_workers: Vec<Vec<bool>> = pool
        .map(remote!(memfds_cloexec), vec![(), ()])
        .map(Result::unwrap)
        .collect();
    for flags in in_workers {
        assert_eq!(flags, [true], "one shared file in a worker, close-on-exec");
    }
    let here = memfds_cloexec(());
    assert_eq!(here.len() as u64, pool.workers_started());
    assert!(here.iter().all(|&cloexec| cloexec), "{here:?}");
    pool.shutdown();
    assert_eq!(memfds(), 0);
}

/// A worker that dies mid-transfer of a large request or reply fails only
/// its task ("worker died"); the pool goes on with a fresh worker and a
/// fresh shared file, the dead worker's is released, and once the pool
/// is shut down every descriptor is back. Counted alone, in a child copy
/// of this test binary (other tests open pipes meanwhile).
#[test]
fn a_worker_killed_mid_large_transfer_fails_only_its_task() {
    let name = "a_worker_killed_mid_large_transfer_fails_only_its_task";
    if std::env::var_os("FUTUREPOOL_TEST_ALONE").is_none() {
        let mut child = child_test(name);
        child.env("FUTUREPOOL_TEST_ALONE", "1");
        passed(child);
        return;
    }
    let fds_before = open_fds();
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let big = ByteBuf::from(pattern(BIG, 5));
    let mut pids = Vec::new();
    for round in 0..2 {
        let err = if round == 0 {
            pool.submit(remote!(die_holding), big.clone())
                .unwrap()
                .join()
        } else {
            pool.submit(remote!(die_mid_reply), BIG).unwrap().join()
        }
        .unwrap_err();
        assert!(err.is_worker_died(), "round {round}: {err}");
        let pid = err.worker_pid().unwrap();
        assert!(is_dead(pid));
        pids.push(pid);
        // The next large round trip works, on a fresh worker.
        let back = pool
            .submit(remote!(echo_bytes), big.clone())
            .unwrap()
            .join()
            .unwrap();
        assert!(back == big);
        // One shared file: the dead worker's went with it.
        assert_eq!(memfds(), 1, "round {round}");
    }
    assert_eq!(pool.workers_started(), 3);
    pool.shutdown();
    assert_eq!(memfds(), 0);
    assert_eq!(open_fds(), fds_before, "leaked fds");
    assert!(children().is_empty(), "{:?}", children());
}
