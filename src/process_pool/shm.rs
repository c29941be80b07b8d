//! Linux: the shared memory a pool and one of its workers pass large
//! frames through (see README.md, "Large values"), so that the pipe carries
//! only a small header (`Request::Shared` / `Reply::Shared`: "the message
//! is the first `len` bytes of the shared file") and the kernel copies no
//! bulk bytes in and out of a pipe.
//!
//! - **One file per worker**, a memfd the parent makes before it starts the
//!   worker (`MFD_CLOEXEC`: no other child inherits it) and keeps until it
//!   reaps the worker. The worker opens it through `/proc/<parent>/fd/<n>`
//!   during the handshake (`Hello::shared` names `n`), and says in
//!   `HelloReply::Ready` whether it could; if not (no memfd, `/proc`
//!   unreadable, a non-dumpable parent), every frame takes the pipe as
//!   before. Both sides map it `MAP_SHARED`, once, and keep the mapping:
//!   after the first large frame, passing one faults no page.
//! - **It only grows**: sealed `F_SEAL_SHRINK` at birth (and `F_SEAL_SEAL`),
//!   so no one, a misbehaving peer included, can cut it short under the
//!   other side's mapping (a read past the end of a file is a `SIGBUS`).
//!   The writer of a frame grows it with `fallocate` (an error, not a
//!   signal, when memory runs out), in steps of [`GRAIN`], and each side
//!   maps what it needs.
//! - **A header is checked before anything is touched**: its length must be
//!   within the frame limit and within the file as it is now (`fstat`),
//!   else it is a protocol error ([`SharedFile::admit`]); only then is the
//!   mapping grown and read.
//! - **Bytes are copied out before they are looked at**: the other process
//!   can write the file at any time (it shouldn't, between its header and
//!   the next request), so its bytes are never borrowed as a `&[u8]`, only
//!   copied (`ptr::copy_nonoverlapping` from the mapping) into this
//!   process's own memory and decoded there. A peer that writes meanwhile
//!   can only make the copy garbage, which the decoder refuses.
//!
//! A worker that dies mid-transfer leaves nothing behind: its file and
//! mapping go with it, and the parent's go when it reaps the worker.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::ptr;

use super::bulk;
use super::protocol::{self, MAX_FRAME, Outcome, Reply};
use crate::remote::registry::{Encoded, Place};

/// From this many bytes on, a frame's payload goes through the shared file
/// (when there is one): below it, a pipe's one write is cheaper than the
/// header and the copies.
pub(crate) const SHARED_MIN: usize = bulk::HAND_OVER;

/// The file grows, and the mapping with it, in steps of this many bytes.
const GRAIN: usize = 2 << 20;

/// The name of the memfds (`/proc/<pid>/fd/<n>` reads `/memfd:<name>`).
const NAME: &CStr = c"futurepool-frames";

/// Makes a memfd called `name` of `size` bytes, close-on-exec (no other
/// child inherits it), with `seals` added.
pub(crate) fn make_memfd(name: &CStr, size: u64, seals: libc::c_int) -> io::Result<File> {
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just made and is owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(size)?;
    // SAFETY: `fcntl(F_ADD_SEALS)` on a descriptor we own; no memory.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

/// Opens the memfd called `name` that the process `parent` holds as its
/// descriptor `fd`, through `/proc/<parent>/fd/<fd>` (a worker, during the
/// handshake). Anything else is refused before it is opened: a garbage
/// number may name a device or a socket.
pub(crate) fn open_parents_memfd(parent: u32, fd: u32, name: &CStr) -> io::Result<File> {
    let path = format!("/proc/{parent}/fd/{fd}");
    let target = std::fs::read_link(&path)?;
    let target = target.to_string_lossy();
    let expected = format!("/memfd:{}", name.to_string_lossy());
    let ours = target
        .strip_prefix(&expected)
        .is_some_and(|rest| rest.is_empty() || rest == " (deleted)");
    if !ours {
        return Err(invalid(format!("{path} is not a futurepool memfd")));
    }
    // std opens with `O_CLOEXEC`: programs a task starts don't inherit it.
    OpenOptions::new().read(true).write(true).open(&path)
}

/// A memfd shared with one peer process, mapped into this one.
pub(crate) struct SharedFile {
    file: File,
    /// The mapping: `mapped` bytes from `ptr` (null and 0 before the
    /// first).
    ptr: *mut u8,
    mapped: usize,
    /// How many bytes the file is known to hold (it can't shrink).
    size: usize,
    /// How many bytes from the start may be read: the last admitted
    /// header's length (within `size` and `mapped`).
    readable: usize,
}

// SAFETY: the mapping belongs to this value alone (made and unmapped by it,
// reached only through `&self` / `&mut self`), like a `Vec`'s buffer; no
// thread-affine state is involved.
unsafe impl Send for SharedFile {}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl SharedFile {
    /// Makes an empty memfd for a worker: close-on-exec, sealed against
    /// shrinking.
    pub(crate) fn create() -> io::Result<SharedFile> {
        let file = make_memfd(NAME, 0, libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL)?;
        Ok(SharedFile::new(file, 0))
    }

    /// Opens the memfd that the parent `parent` holds as its descriptor
    /// `fd` (a worker, during the handshake). Refuses anything else: a
    /// descriptor that is not one of our memfds, or one that could shrink.
    pub(crate) fn open(parent: u32, fd: u32) -> io::Result<SharedFile> {
        let file = open_parents_memfd(parent, fd, NAME)?;
        // SAFETY: `fcntl(F_GET_SEALS)` on a descriptor we own; no memory.
        let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
        let meta = file.metadata()?;
        if seals < 0 || seals & libc::F_SEAL_SHRINK == 0 || !meta.file_type().is_file() {
            return Err(invalid(format!("/proc/{parent}/fd/{fd} may shrink")));
        }
        let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        Ok(SharedFile::new(file, size))
    }

    fn new(file: File, size: usize) -> SharedFile {
        SharedFile {
            file,
            ptr: ptr::null_mut(),
            mapped: 0,
            size,
            readable: 0,
        }
    }

    /// The descriptor's number in this process (for `Hello::shared`).
    pub(crate) fn fd(&self) -> u32 {
        self.file.as_raw_fd() as u32
    }

    /// The file's size now (the peer may have grown it).
    fn current_size(&self) -> io::Result<usize> {
        let len = self.file.metadata()?.len();
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// Maps at least `len` bytes (the file may be shorter: only the part
    /// within it is ever touched).
    fn map(&mut self, len: usize) -> io::Result<()> {
        if len <= self.mapped {
            return Ok(());
        }
        let want = len.next_multiple_of(GRAIN);
        self.unmap();
        // SAFETY: a fresh shared mapping of our own descriptor, at an
        // address the kernel picks; nothing else refers to it yet.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                want,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.ptr = ptr.cast();
        self.mapped = want;
        Ok(())
    }

    fn unmap(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` and `mapped` are the mapping `map` made, and
            // nothing borrows it (reads and writes copy).
            unsafe {
                libc::munmap(self.ptr.cast(), self.mapped);
            }
            self.ptr = ptr::null_mut();
            self.mapped = 0;
            self.readable = 0;
        }
    }

    /// Makes the file hold at least `len` bytes, allocated (so that writing
    /// them can't fail with a `SIGBUS`).
    fn grow(&mut self, len: usize) -> io::Result<()> {
        if len <= self.size {
            return Ok(());
        }
        let want = len.next_multiple_of(GRAIN);
        let want_off = libc::off_t::try_from(want).map_err(|_| invalid("too large".into()))?;
        // SAFETY: `fallocate` on a descriptor we own; no memory.
        let err = unsafe { libc::fallocate(self.file.as_raw_fd(), 0, 0, want_off) };
        if err != 0 {
            return Err(io::Error::last_os_error());
        }
        self.size = want;
        Ok(())
    }

    /// Writes `payload` at the start of the file, growing it and the
    /// mapping as needed. The peer reads it once it has the header.
    pub(crate) fn put(&mut self, payload: &[u8]) -> io::Result<()> {
        if payload.len() > MAX_FRAME {
            return Err(invalid("message too large".into()));
        }
        self.grow(payload.len())?;
        self.map(payload.len())?;
        // SAFETY: the mapping holds `mapped >= payload.len()` bytes, all
        // within the file (`size >= payload.len()`, and it can't shrink);
        // `payload` is this process's own memory, which can't overlap a
        // fresh shared mapping.
        unsafe {
            ptr::copy_nonoverlapping(payload.as_ptr(), self.ptr, payload.len());
        }
        Ok(())
    }

    /// Checks a peer's header: a message of `len` bytes at the start of
    /// the file. It must be within the frame limit and within the file;
    /// then the mapping covers it, and [`copy_out`](Self::copy_out) may
    /// read it. Nothing is allocated or touched before the check.
    pub(crate) fn admit(&mut self, len: u64) -> Result<usize, String> {
        self.readable = 0;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= MAX_FRAME)
            .ok_or_else(|| {
                format!(
                    "a message of {len} bytes in shared memory is over the limit of {MAX_FRAME}"
                )
            })?;
        if len > self.size {
            self.size = self
                .current_size()
                .map_err(|err| format!("cannot read the shared file's size: {err}"))?;
        }
        if len > self.size {
            return Err(format!(
                "a message of {len} bytes in shared memory, but the shared file holds {}",
                self.size
            ));
        }
        self.map(len)
            .map_err(|err| format!("cannot map {len} bytes of shared memory: {err}"))?;
        self.readable = len;
        Ok(len)
    }

    /// Copies `out.len()` bytes from offset `at` of the admitted message.
    ///
    /// # Panics
    ///
    /// If they are not all within it.
    pub(crate) fn copy_out(&self, at: usize, out: &mut [u8]) {
        assert!(
            at.checked_add(out.len())
                .is_some_and(|end| end <= self.readable),
            "a read within the admitted message"
        );
        // SAFETY: within the admitted message, so within the mapping and
        // the file (see `admit`); `out` is this process's own memory.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.add(at), out.as_mut_ptr(), out.len());
        }
    }

    /// Appends `len` bytes from offset `at` of the admitted message to
    /// `out`.
    ///
    /// # Panics
    ///
    /// As [`copy_out`](Self::copy_out).
    pub(crate) fn append_to(&self, at: usize, len: usize, out: &mut Vec<u8>) {
        assert!(
            at.checked_add(len).is_some_and(|end| end <= self.readable),
            "a read within the admitted message"
        );
        out.reserve(len);
        let start = out.len();
        // SAFETY: the source is within the admitted message (checked
        // above); the destination is `out`'s spare capacity, at least
        // `len` bytes after `reserve`, which the copy initializes before
        // `set_len` covers it.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.add(at), out.as_mut_ptr().add(start), len);
            out.set_len(start + len);
        }
    }
}

/// A worker's reply to a call, its value encoded by the trampoline straight
/// into the shared file (see `registry::Out`): the payload of a
/// `Reply::One(Outcome::Value(value))`, its header written before the
/// value, as `bulk::value_reply_frame` writes it into a buffer.
pub(crate) struct ValueReply<'a> {
    shared: &'a mut SharedFile,
    /// The payload's length, once the value went there.
    payload: Option<usize>,
}

impl<'a> ValueReply<'a> {
    pub(crate) fn new(shared: &'a mut SharedFile) -> ValueReply<'a> {
        ValueReply {
            shared,
            payload: None,
        }
    }

    /// The payload's length, if the value went into the file.
    pub(crate) fn payload(&self) -> Option<usize> {
        self.payload
    }
}

impl Place for ValueReply<'_> {
    fn room(&mut self, len: usize) -> Option<&mut [u8]> {
        self.payload = None;
        // A copy of the worker that the task forked shares the file: it
        // must not write there (see `forked.rs`).
        if len < SHARED_MIN || super::forked::is_copy() {
            return None;
        }
        // `Reply::One`'s and `Outcome::Value`'s variant indexes (0 and 0),
        // then the byte string's length, as postcard writes them.
        let mut header = [0; 12];
        let header = postcard::to_slice(&(0_u32, 0_u32, len as u64), &mut header).ok()?;
        let total = header.len().checked_add(len).filter(|&t| t <= MAX_FRAME)?;
        self.shared.grow(total).ok()?;
        self.shared.map(total).ok()?;
        // SAFETY: the mapping holds at least `total` bytes, all within the
        // file (grown above; it can't shrink). The parent doesn't touch the
        // file between its request and this reply's header (the protocol),
        // and a forked copy of this worker never gets here (above), so
        // while the value is encoded here only this process accesses it,
        // and the borrow ends before the header is sent.
        let room = unsafe { std::slice::from_raw_parts_mut(self.shared.ptr, total) };
        room[..header.len()].copy_from_slice(header);
        self.payload = Some(total);
        Some(&mut room[header.len()..])
    }
}

impl Drop for SharedFile {
    fn drop(&mut self) {
        self.unmap();
    }
}

/// A large value's bytes in a buffer of their own, reserved whole (the
/// header agreed with the file) and advised huge pages: see `bulk.rs`.
fn own_bytes(shared: &SharedFile, at: usize, len: usize) -> Vec<u8> {
    let mut body = Vec::new();
    if body.try_reserve_exact(len).is_ok() {
        bulk::advise_huge_pages(&body);
    }
    shared.append_to(at, len, &mut body);
    body
}

/// The parent's side: the reply whose payload a worker's `Reply::Shared {
/// len }` header says is in `shared`. As a large reply from the pipe (see
/// `child/linux.rs`): a value that is one byte string in a buffer of its
/// own, any other large value in the payload's buffer; `buf` is for a
/// small one. `Err`: why it is not a reply (a protocol error).
pub(crate) fn reply_in_shared(
    shared: &mut SharedFile,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<Reply, String> {
    let len = shared.admit(len)?;
    if len >= bulk::HAND_OVER {
        let mut head = [0; 32];
        shared.copy_out(0, &mut head);
        if let Some((value, bytes)) = bulk::lone_bytes_in_reply(&head, len) {
            let body = own_bytes(shared, bytes, len - bytes);
            let value = Encoded::split(head[value..bytes].to_vec(), body);
            return Ok(Reply::One(Outcome::Value(value)));
        }
        let payload = own_bytes(shared, 0, len);
        if let Some(start) = bulk::value_in_reply(&payload) {
            return Ok(Reply::One(Outcome::Value(Encoded::within(payload, start))));
        }
        *buf = payload;
    } else {
        buf.clear();
        shared.append_to(0, len, buf);
    }
    match protocol::decode::<Reply>(buf) {
        Ok(Reply::Shared { .. }) => Err("a shared-memory header in shared memory".to_owned()),
        Ok(reply) => Ok(reply),
        Err(err) => Err(format!("undecodable reply: {err}")),
    }
}

/// The worker's side: the request whose payload the parent's
/// `Request::Shared { len }` header says is in `shared`. `Ok(Some((name,
/// arg)))`: a large call whose argument is one byte string, in a buffer of
/// its own (as `serve.rs` reads one from the pipe); `Ok(None)`: the payload
/// is in `buf`. `Err`: why the header is refused.
pub(crate) fn request_in_shared(
    shared: &mut SharedFile,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<Option<(String, Encoded)>, String> {
    let len = shared.admit(len)?;
    if len >= bulk::HAND_OVER {
        let mut head = [0; 1024];
        shared.copy_out(0, &mut head);
        if let Some((name, value, bytes)) = bulk::lone_bytes_in_call(&head, len) {
            let body = own_bytes(shared, bytes, len - bytes);
            let arg = Encoded::split(head[value..bytes].to_vec(), body);
            return Ok(Some((name.to_owned(), arg)));
        }
    }
    buf.clear();
    shared.append_to(0, len, buf);
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_pool::protocol::{Request, encode, frame};

    #[test]
    fn a_frame_put_by_one_side_is_read_by_the_other() {
        let mut parent = SharedFile::create().unwrap();
        let mut worker = SharedFile::open(std::process::id(), parent.fd()).unwrap();
        let big = serde_bytes::ByteBuf::from((0..300_000).map(|i| i as u8).collect::<Vec<_>>());
        let call = frame(
            &[],
            &Request::Call {
                name: "f".into(),
                arg: encode(&big).unwrap(),
            },
        )
        .unwrap();
        parent.put(&call[4..]).unwrap();
        let mut buf = Vec::new();
        let (name, arg) = request_in_shared(&mut worker, (call.len() - 4) as u64, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(name, "f");
        assert_eq!(arg.decode::<serde_bytes::ByteBuf>().unwrap(), big);
        // The other way, growing the file (a larger frame), then a small one.
        let value = encode(&serde_bytes::ByteBuf::from(vec![3; 5 << 20])).unwrap();
        let reply = frame(&[], &Reply::One(Outcome::Value(value.clone().into()))).unwrap();
        worker.put(&reply[4..]).unwrap();
        let Reply::One(Outcome::Value(got)) =
            reply_in_shared(&mut parent, (reply.len() - 4) as u64, &mut buf).unwrap()
        else {
            panic!("not a value")
        };
        assert_eq!(got.bytes(), &value[..]);
        let small = frame(&[], &Reply::One(Outcome::Unknown("g".into()))).unwrap();
        worker.put(&small[4..]).unwrap();
        let got = reply_in_shared(&mut parent, (small.len() - 4) as u64, &mut buf).unwrap();
        assert!(matches!(got, Reply::One(Outcome::Unknown(name)) if name == "g"));
    }

    #[test]
    fn a_header_beyond_the_file_is_refused_before_anything_is_read() {
        let mut parent = SharedFile::create().unwrap();
        let mut buf = Vec::new();
        for len in [1, GRAIN as u64 + 1, MAX_FRAME as u64, u64::MAX] {
            let err = reply_in_shared(&mut parent, len, &mut buf).unwrap_err();
            assert!(err.contains("shared"), "{err}");
        }
        parent.put(&[1; 100]).unwrap();
        // Within the file (a grain), garbage: a decoding error, not a read
        // past the end.
        let err = reply_in_shared(&mut parent, GRAIN as u64, &mut buf).unwrap_err();
        assert!(err.contains("undecodable"), "{err}");
        let err = reply_in_shared(&mut parent, GRAIN as u64 + 1, &mut buf).unwrap_err();
        assert!(err.contains("holds"), "{err}");
        // A header in shared memory that points at shared memory again.
        let nested = frame(&[], &Reply::Shared { len: 3 }).unwrap();
        parent.put(&nested[4..]).unwrap();
        let err = reply_in_shared(&mut parent, (nested.len() - 4) as u64, &mut buf).unwrap_err();
        assert!(err.contains("header in shared memory"), "{err}");
    }

    #[test]
    fn only_our_memfds_are_opened() {
        let me = std::process::id();
        let plain = File::open("/proc/self/exe").unwrap();
        assert!(SharedFile::open(me, plain.as_raw_fd() as u32).is_err());
        assert!(SharedFile::open(me, 1 << 30).is_err());
        assert!(SharedFile::open(me, 0).is_err());
        let ours = SharedFile::create().unwrap();
        // The seal holds: no one can shrink it under a mapping.
        let mut theirs = SharedFile::open(me, ours.fd()).unwrap();
        theirs.put(&[5; 10]).unwrap();
        assert!(theirs.file.set_len(0).is_err());
    }
}
