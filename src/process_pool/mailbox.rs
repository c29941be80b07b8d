//! Linux: a worker's mailbox, a small memfd the pool and the worker both
//! map, through which a small request and its reply pass **without a
//! system call** when the other side is awake and looking (see README.md
//! beside this file, "The mailbox").
//!
//! A pipe ping-pong pays a wake-up each way: the reader sleeps in `read`,
//! the writer's `write` wakes it, and on a VM whose idle CPUs are slow to
//! wake that costs tens of microseconds. Here each side, for a moment
//! after it has spoken, **spins** on a word in shared memory (crossbeam's
//! backoff, then `sched_yield`s, as the thread pool's workers do) before
//! it blocks on its pipe:
//!
//! - the worker, after it has sent a reply, looks for the next request;
//! - the pool, after it has sent a request, looks for the reply (unless
//!   recent replies took longer than a look: then only now and then).
//!
//! Each direction has a state word and a slot, and a message goes through
//! the slot only if the receiver says, in the word, that it is looking;
//! a compare-and-swap decides between the two ways, so a message takes
//! exactly one of them, the slot or the pipe:
//!
//! | word | states | the sender | the receiver |
//! |---|---|---|---|
//! | request | `ASLEEP` → `LOOKING` → `POSTED` → `TAKEN` | the pool: writes the slot, then `LOOKING` → `POSTED`; if the worker is not looking, the pipe | the worker: `LOOKING` before its reply goes out; sees `POSTED`, copies, `TAKEN`; done looking: `LOOKING` → `ASLEEP`, or takes what was posted meanwhile |
//! | reply | `ASLEEP` → `LOOKING` → `POSTED` | the worker: writes the slot, then `LOOKING` → `POSTED`; if the pool is not looking, the pipe | the pool: `LOOKING` after its request went; sees `POSTED`, copies, `ASLEEP`; done looking: `LOOKING` → `ASLEEP`, or takes it |
//!
//! The rules the pipe already has stand: bytes are copied out before they
//! are looked at, and a length is checked against the slot first (a
//! misbehaving peer can write anything here, and gets a protocol error);
//! the file is sealed at its one size, so neither side can make the
//! other's mapping point past its end. A worker that dies with a request
//! still `POSTED` never took it: the task goes to a fresh worker, as one
//! whose pipe broke before a byte was taken does.
//!
//! An idle pool spins for nothing: a worker looks for a few tens of
//! microseconds after its last reply, then sleeps in `read` on its pipe.
//! With one CPU to run on (the process's affinity), neither side
//! busy-waits, since the other side can't run meanwhile: each only yields
//! the CPU a few times before it blocks.

use std::cell::Cell;
use std::fs::File;
use std::hint;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::shm;

/// Bytes in each slot: a message's payload (a frame without its length
/// prefix) up to this size may go through the mailbox; larger ones take
/// the pipe (or the shared file, see `shm.rs`).
pub(crate) const SLOT: usize = 30 << 10;

/// Where the request's and the reply's bytes start. The first page holds
/// the two words and lengths, each pair on a cache line of its own.
const REQUEST_AT: usize = 4096;
const REPLY_AT: usize = REQUEST_AT + SLOT;

/// The file's one size: the header page and the two slots.
const SIZE: usize = REPLY_AT + SLOT;

/// The memfds' name (`/proc/<pid>/fd/<n>` reads `/memfd:<name>`).
const NAME: &std::ffi::CStr = c"futurepool-mailbox";

/// The receiver neither looks nor has been sent anything: send by pipe.
const ASLEEP: u32 = 0;
/// The receiver looks at the slot: a message may be put there.
const LOOKING: u32 = 1;
/// A message is in the slot.
const POSTED: u32 = 2;
/// The worker took the posted request (the request word only).
const TAKEN: u32 = 3;

/// Offsets of the words in the header page.
const REQUEST_STATE: usize = 0;
const REQUEST_LEN: usize = 4;
const REPLY_STATE: usize = 64;
const REPLY_LEN: usize = 68;

/// After this many replies in a row that a look missed (the task ran
/// longer), the pool looks only once every [`LOOK_EVERY`] replies: a
/// driver waiting on long tasks then barely spins.
const MISSES_BEFORE_RARE: u32 = 2;
const LOOK_EVERY: u32 = 8;

/// A mailbox shared with one peer process, mapped into this one.
pub(crate) struct Mailbox {
    file: File,
    /// The mapping: [`SIZE`] bytes.
    ptr: *mut u8,
    /// Whether this side may busy-wait as it looks (see [`look`]): only
    /// with a second CPU.
    busy: bool,
    /// Looks left that only yield: a busy-wait was wasted lately (the
    /// other side shares this CPU, or took longer than a busy-wait).
    yield_only: Cell<u32>,
    /// Replies in a row that a look missed (the pool's side).
    misses: u32,
    /// Replies since the last look, while looks are rare.
    unlooked: u32,
    /// Replies taken from the slot (the pool's side), for tests.
    #[cfg(test)]
    pub(crate) replies_taken: u64,
}

// SAFETY: the mapping belongs to this value alone (made and unmapped by
// it), like a `Vec`'s buffer; its words are atomics, and its slots are
// only copied to and from under the protocol above.
unsafe impl Send for Mailbox {}

/// Whether this thread may busy-wait: only with a second CPU to run the
/// other side on (its affinity, and cgroup quotas). Asked when a mailbox
/// is made or opened, by the pool's thread that starts the worker and by
/// the worker: a pool started by a thread pinned to one CPU has workers
/// pinned there too (they inherit the affinity), and neither busy-waits.
fn may_busy_wait() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// A look's yields end after this long, however many are left.
const LOOK_LIMIT: Duration = Duration::from_micros(200);

/// After a look whose busy-wait was wasted, how many looks only yield.
const YIELD_ONLY_LOOKS: u32 = 16;

/// Where a look found what it looked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Found {
    /// While busy-waiting.
    Spinning,
    /// While yielding the CPU.
    Yielding,
    /// Not at all.
    No,
}

/// Looks for `ready` for a moment. With `spin`: first seven rounds of
/// exponentially longer busy-waits (crossbeam's `Backoff`, 127 `pause`s:
/// a few microseconds at most). Then `yields` rounds of `sched_yield`,
/// during which the CPU is given to anyone who wants it (the other side,
/// if it shares this CPU), for [`LOOK_LIMIT`] at most.
fn look(spin: bool, yields: u32, ready: impl Fn() -> bool) -> Found {
    const SPIN_STEPS: u32 = 7;
    if spin {
        for step in 0..SPIN_STEPS {
            if ready() {
                return Found::Spinning;
            }
            for _ in 0..1u32 << step {
                hint::spin_loop();
            }
        }
    }
    // On a loaded machine a yield may give the CPU away for a whole time
    // slice: the look ends by the clock too, so that a worker that looks
    // still notices the end of its pipe (a retire, a shutdown) promptly.
    let start = Instant::now();
    for _ in 0..yields {
        if ready() {
            return Found::Yielding;
        }
        if start.elapsed() > LOOK_LIMIT {
            break;
        }
        std::thread::yield_now();
    }
    if ready() { Found::Yielding } else { Found::No }
}

impl Mailbox {
    /// Makes a worker's mailbox (the pool's side): a memfd of its one
    /// size, close-on-exec, sealed against growing and shrinking, mapped.
    pub(crate) fn create() -> io::Result<Mailbox> {
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        Mailbox::map(shm::make_memfd(NAME, SIZE as u64, seals)?)
    }

    /// Opens the mailbox the parent `parent` holds as its descriptor `fd`
    /// (the worker's side, during the handshake). Refuses anything but one
    /// of our mailboxes, sealed at its one size.
    pub(crate) fn open(parent: u32, fd: u32) -> io::Result<Mailbox> {
        let file = shm::open_parents_memfd(parent, fd, NAME)?;
        // SAFETY: `fcntl(F_GET_SEALS)` on a descriptor we own; no memory.
        let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
        let sealed = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
        if seals < 0 || seals & sealed != sealed || file.metadata()?.len() != SIZE as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the mailbox is not sealed at its size",
            ));
        }
        Mailbox::map(file)
    }

    fn map(file: File) -> io::Result<Mailbox> {
        // SAFETY: a fresh shared mapping of our own descriptor, at an
        // address the kernel picks; the file holds `SIZE` bytes and is
        // sealed at that size, so the whole mapping stays backed.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mailbox {
            file,
            ptr: ptr.cast(),
            busy: may_busy_wait(),
            yield_only: Cell::new(0),
            misses: 0,
            unlooked: 0,
            #[cfg(test)]
            replies_taken: 0,
        })
    }

    /// The descriptor's number in this process (for `Hello::mailbox`).
    pub(crate) fn fd(&self) -> u32 {
        self.file.as_raw_fd() as u32
    }

    fn word(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `at` is one of the header's offsets, 4-aligned, within
        // the mapping (page-aligned, `SIZE` bytes), which lives as long as
        // `self`. The other process only ever accesses it atomically too.
        unsafe { &*self.ptr.add(at).cast::<AtomicU32>() }
    }

    /// Copies `bytes` into the slot at `at`.
    fn fill(&self, at: usize, bytes: &[u8]) {
        debug_assert!(bytes.len() <= SLOT);
        // SAFETY: the slot is within the mapping; `bytes` is this
        // process's own memory, which can't overlap a shared mapping.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), bytes.len()) }
    }

    /// Copies the message posted in the slot at `at`, of the length in
    /// the word at `len_at`, into `out`. `Err`: a length beyond the slot.
    fn empty(&self, at: usize, len_at: usize, out: &mut Vec<u8>) -> Result<(), String> {
        // ORDERING: the state word's `Acquire` load that saw `POSTED`
        // orders this after the sender's writes.
        let len = self.word(len_at).load(Ordering::Relaxed) as usize;
        if len > SLOT {
            return Err(format!(
                "a message of {len} bytes in the mailbox, whose slots hold {SLOT}"
            ));
        }
        out.clear();
        out.reserve(len);
        // SAFETY: the source is within the slot (checked above), within
        // the mapping; the destination is `out`'s spare capacity, at least
        // `len` bytes after `reserve`, initialized by the copy before
        // `set_len` covers it. The peer may write the slot meanwhile (it
        // shouldn't): the copy is then garbage, which the decoder refuses.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.add(at), out.as_mut_ptr(), len);
            out.set_len(len);
        }
        Ok(())
    }

    /// Posts `payload` through `state`'s slot if the receiver is looking
    /// and it fits; returns whether it went (if not, send it by pipe).
    fn post(&self, state: usize, len_at: usize, at: usize, payload: &[u8]) -> bool {
        let state = self.word(state);
        // ORDERING: `Acquire` pairs with the receiver's `Release` store of
        // `LOOKING`, after which it no longer reads the slot's old message.
        if payload.len() > SLOT || state.load(Ordering::Acquire) != LOOKING {
            return false;
        }
        self.fill(at, payload);
        self.word(len_at)
            .store(payload.len() as u32, Ordering::Relaxed);
        // ORDERING: `Release` publishes the slot and the length to the
        // receiver's `Acquire` load of `POSTED`; `Acquire` on failure is
        // not needed (the message then takes the pipe).
        state
            .compare_exchange(LOOKING, POSTED, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Looks for a message in `state`'s slot for a moment, having said it
    /// is looking; then stops looking. Returns whether one was posted (it
    /// is to be taken), whether it came while looking or just as it
    /// stopped.
    fn wait_posted(&self, state: usize) -> bool {
        let state = self.word(state);
        // With a second CPU the other side is often running there, and a
        // busy-wait finds its message within a microsecond, but when it
        // shares this CPU (or takes longer) the busy-wait is in its way:
        // then only yields for a while, which find it either way, a little
        // later. Without a second CPU, a few yields only.
        let spin = self.busy && self.yield_only.get() == 0;
        let yields = if self.busy { 32 } else { 4 };
        // ORDERING: `Acquire` pairs with the sender's `Release` CAS.
        let found = look(spin, yields, || state.load(Ordering::Acquire) == POSTED);
        if spin && found != Found::Spinning {
            self.yield_only.set(YIELD_ONLY_LOOKS);
        } else if !spin && self.busy {
            self.yield_only.set(self.yield_only.get() - 1);
        }
        if found != Found::No {
            return true;
        }
        // Stop looking, unless a message came just now.
        state
            .compare_exchange(LOOKING, ASLEEP, Ordering::Acquire, Ordering::Acquire)
            .is_err_and(|now| now == POSTED)
    }

    // The pool's side.

    /// Posts a request if the worker is looking for one; `false`: send it
    /// by pipe.
    pub(crate) fn post_request(&self, payload: &[u8]) -> bool {
        self.post(REQUEST_STATE, REQUEST_LEN, REQUEST_AT, payload)
    }

    /// Whether the request posted last is still there, untaken: a worker
    /// that died now never took it.
    pub(crate) fn request_untaken(&self) -> bool {
        self.word(REQUEST_STATE).load(Ordering::Acquire) == POSTED
    }

    /// Looks for the reply for a moment, copying it into `out` if it comes
    /// (`Ok(true)`); `Ok(false)`: it didn't, and will come by pipe. Looks
    /// at every reply while replies come within a look, and only now and
    /// then after a few missed.
    pub(crate) fn await_reply(&mut self, out: &mut Vec<u8>) -> Result<bool, String> {
        if self.misses >= MISSES_BEFORE_RARE {
            self.unlooked += 1;
            if self.unlooked < LOOK_EVERY {
                return Ok(false);
            }
            self.unlooked = 0;
        }
        // ORDERING: `Release` pairs with the worker's `Acquire` load in
        // `post`: it sees `LOOKING` only after we are done with the last
        // reply's slot. Only this side stores `LOOKING` and `ASLEEP`.
        self.word(REPLY_STATE).store(LOOKING, Ordering::Release);
        if !self.wait_posted(REPLY_STATE) {
            self.misses = self.misses.saturating_add(1);
            return Ok(false);
        }
        self.misses = 0;
        #[cfg(test)]
        {
            self.replies_taken += 1;
        }
        let taken = self.empty(REPLY_AT, REPLY_LEN, out);
        self.word(REPLY_STATE).store(ASLEEP, Ordering::Release);
        taken.map(|()| true)
    }

    // The worker's side.

    /// Says the worker looks for its next request: before its reply goes
    /// out, so that the pool, once it has the reply, finds it looking.
    pub(crate) fn expect_request(&self) {
        // ORDERING: `Release` pairs with the pool's `Acquire` load in
        // `post`: the pool sees `LOOKING` only after this side is done
        // with the last request's slot (it was copied out before the task
        // ran).
        self.word(REQUEST_STATE).store(LOOKING, Ordering::Release);
    }

    /// Looks for a request for a moment (after
    /// [`expect_request`](Self::expect_request)), copying it into `out`
    /// if it comes (`Ok(true)`); `Ok(false)`: none came, and the next one
    /// comes by pipe.
    pub(crate) fn await_request(&self, out: &mut Vec<u8>) -> Result<bool, String> {
        if !self.wait_posted(REQUEST_STATE) {
            return Ok(false);
        }
        let taken = self.empty(REQUEST_AT, REQUEST_LEN, out);
        self.word(REQUEST_STATE).store(TAKEN, Ordering::Release);
        taken.map(|()| true)
    }

    /// Whether the worker has stopped looking for a request (it sleeps
    /// on its pipe, or runs one), for tests.
    #[cfg(test)]
    pub(crate) fn worker_asleep(&self) -> bool {
        let state = self.word(REQUEST_STATE).load(Ordering::Acquire);
        state == ASLEEP || state == TAKEN
    }

    /// Overwrites the posted request's length, as a misbehaving peer
    /// could, for tests.
    #[cfg(test)]
    pub(crate) fn forge_request_len(&self, len: u32) {
        self.word(REQUEST_LEN).store(len, Ordering::Relaxed);
    }

    /// Posts a reply if the pool is looking for it; `false`: send it by
    /// pipe.
    pub(crate) fn post_reply(&self, payload: &[u8]) -> bool {
        self.post(REPLY_STATE, REPLY_LEN, REPLY_AT, payload)
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `SIZE` are the mapping `map` made; nothing
        // borrows it past `&self`.
        unsafe {
            libc::munmap(self.ptr.cast(), SIZE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn pair() -> (Mailbox, Mailbox) {
        let pool = Mailbox::create().unwrap();
        let worker = Mailbox::open(std::process::id(), pool.fd()).unwrap();
        (pool, worker)
    }

    #[test]
    fn a_message_goes_through_the_slot_only_to_a_receiver_that_looks() {
        let (mut pool, worker) = pair();
        let mut buf = Vec::new();
        // Nobody looks: both ways take the pipe.
        assert!(!pool.post_request(b"call"));
        assert!(!worker.post_reply(b"done"));
        // The worker looks: the request goes through the slot.
        worker.expect_request();
        assert!(pool.post_request(b"call"));
        assert!(pool.request_untaken());
        assert!(worker.await_request(&mut buf).unwrap());
        assert_eq!(buf, b"call");
        assert!(!pool.request_untaken());
        // Looked and nothing came: the next one takes the pipe.
        worker.expect_request();
        assert!(!worker.await_request(&mut buf).unwrap());
        assert!(!pool.post_request(b"call"));
        // Too large for a slot: the pipe.
        worker.expect_request();
        assert!(!pool.post_request(&vec![0; SLOT + 1]));
        assert!(pool.post_request(&vec![7; SLOT]));
        assert!(worker.await_request(&mut buf).unwrap());
        assert_eq!(buf, vec![7; SLOT]);
        // A look for a reply that doesn't come stops looking.
        assert!(!pool.await_reply(&mut buf).unwrap());
        assert!(!worker.post_reply(b"done"));
    }

    #[test]
    fn each_message_takes_exactly_one_way_however_the_race_falls() {
        // The pool posts while the worker looks, or is just about to stop
        // looking: in every round the request is taken exactly once, from
        // the slot, or (not posted) by pipe, and never both.
        let (pool, worker) = pair();
        // The test's own view of the pool's side, from the worker's thread.
        let peek = Mailbox::open(std::process::id(), pool.fd()).unwrap();
        let step = &Barrier::new(2);
        let rounds = 2000;
        let (mut slot, mut pipe) = (0, 0);
        let sent = &std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(move || {
                for i in 0..rounds {
                    step.wait();
                    let posted = pool.post_request(&(i as u32).to_le_bytes());
                    sent.store(posted, Ordering::Release);
                    step.wait();
                    step.wait();
                }
            });
            let mut buf = Vec::new();
            for i in 0..rounds {
                worker.expect_request();
                step.wait();
                let got = worker.await_request(&mut buf).unwrap();
                step.wait();
                // Taken from the slot exactly when it was posted there.
                assert_eq!(got, sent.load(Ordering::Acquire));
                if got {
                    assert_eq!(buf, (i as u32).to_le_bytes());
                    slot += 1;
                } else {
                    // Not taken from the slot: it must not be left there.
                    assert!(!peek.request_untaken());
                    pipe += 1;
                }
                step.wait();
            }
        });
        assert_eq!(slot + pipe, rounds);
        assert!(slot > 0, "the slot was never used");
    }

    #[test]
    fn a_length_beyond_the_slot_is_refused() {
        let (mut pool, worker) = pair();
        let mut buf = Vec::new();
        // A misbehaving worker writes a huge length, then says it posted
        // whenever the pool looks.
        worker.word(REPLY_LEN).store(u32::MAX, Ordering::Relaxed);
        let done = &std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(move || {
                while !done.load(Ordering::Acquire) {
                    let _ = worker.word(REPLY_STATE).compare_exchange(
                        LOOKING,
                        POSTED,
                        Ordering::Release,
                        Ordering::Relaxed,
                    );
                    std::thread::yield_now();
                }
            });
            let err = loop {
                if let Err(err) = pool.await_reply(&mut buf) {
                    break err;
                }
            };
            done.store(true, Ordering::Release);
            assert!(err.contains("slots hold"), "{err}");
        });
        assert!(buf.len() <= SLOT);
    }

    #[test]
    fn only_our_sealed_mailboxes_are_opened() {
        let me = std::process::id();
        let plain = File::open("/proc/self/exe").unwrap();
        assert!(Mailbox::open(me, plain.as_raw_fd() as u32).is_err());
        assert!(Mailbox::open(me, 1 << 30).is_err());
        // A frames file is not a mailbox.
        let frames = shm::SharedFile::create().unwrap();
        assert!(Mailbox::open(me, frames.fd()).is_err());
        // Ours can't be resized under a mapping.
        let ours = Mailbox::create().unwrap();
        let theirs = Mailbox::open(me, ours.fd()).unwrap();
        assert!(theirs.file.set_len(0).is_err());
        assert!(theirs.file.set_len(2 * SIZE as u64).is_err());
    }
}
