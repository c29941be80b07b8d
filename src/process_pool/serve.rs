//! Linux: the worker's side of a pool, what [`init`](super::init) runs in
//! a process started as a worker: arm the parent-death signal, move the
//! pipes off stdin and stdout, answer the handshake, install the panic
//! hook that records instead of printing, run the initializer, then serve
//! requests until the parent closes the pipe.
//!
//! A worker's stderr goes nowhere by default, so it prints no diagnostics:
//! whatever stops it from serving (pipes it can't set up, a handshake or a
//! request it can't read, another binary, a failed initializer) is sent to
//! the parent, which reports it as the pool's or the task's error.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use super::bulk;
use super::forked;
use super::identity;
use super::mailbox::Mailbox;
use super::protocol::{self, Hello, HelloReply, Outcome, Reply, RequestRef};
use super::shm::{self, SharedFile};
use crate::remote::registry::{Arg, Encoded, Out, Trampoline};
use crate::remote::{codec, panics, registry};

/// Exit codes of a worker that stops on its own.
const EXIT_REFUSED: i32 = 3;
const EXIT_GARBAGE: i32 = 2;

/// The worker: set up, handshake, serve. Returns the exit code.
pub(crate) fn serve(parent: u32) -> i32 {
    // Die with the parent, even while a task runs and nobody reads the
    // pipe. If the parent died before this line, our parent is already
    // someone else: exit instead.
    // SAFETY: `prctl(PR_SET_PDEATHSIG, sig)` only sets a flag on this
    // process; it takes integer arguments and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
    if std::os::unix::process::parent_id() != parent {
        return 1;
    }

    let (input, output) = match take_pipes() {
        Ok(pipes) => pipes,
        // Its stderr may go nowhere: say why on the pipe to the parent,
        // which is still its stdout.
        Err(err) => return refuse(&mut io::stdout(), format!("cannot set up its pipes: {err}")),
    };
    // Before any user code: a copy that a task forks is no worker.
    forked::guard(input.as_raw_fd(), output.as_raw_fd());
    let mut input = BufReader::new(File::from(input));
    let mut output = BufWriter::new(File::from(output));
    let mut buf = Vec::new();

    // Handshake.
    let hello: Hello = match protocol::read_frame(&mut input, protocol::MAX_HANDSHAKE, &mut buf) {
        Ok(true) => match protocol::decode_handshake(&buf) {
            Ok(hello) => hello,
            Err(msg) => return refuse(&mut output, msg),
        },
        Ok(false) => return 0,
        Err(err) => {
            refuse(&mut output, format!("bad handshake from the parent: {err}"));
            return EXIT_GARBAGE;
        }
    };
    // Before any user code (the initializer) runs.
    panics::install_hook(hello.worker_stderr);
    if let Err(msg) = identity::check_identity(&hello) {
        return refuse(&mut output, msg);
    }
    if let Some((name, arg)) = &hello.init {
        let failure = match registry::lookup(name) {
            None => Some(format!("no function registered as `{name}`")),
            Some(call) => match registry::outcome(call, arg) {
                Outcome::Value(bytes) => match bytes.decode::<Result<(), String>>() {
                    Ok(Ok(())) => None,
                    Ok(Err(msg)) => Some(msg),
                    Err(err) => Some(format!("bad initializer result: {err}")),
                },
                Outcome::Panic { message, .. } => Some(format!("initializer panicked: {message}")),
                Outcome::ArgError(msg) | Outcome::ResultError(msg) | Outcome::Unknown(msg) => {
                    Some(msg)
                }
            },
        };
        if forked::is_copy() {
            return 0; // a copy the initializer forked
        }
        if let Some(msg) = failure {
            let _ = send_handshake(&mut output, &HelloReply::InitFailed(msg));
            return EXIT_REFUSED;
        }
    }
    // The memfd for large frames, if the parent made one and it opens:
    // otherwise every frame takes the pipe.
    let mut shared = hello
        .shared
        .and_then(|fd| SharedFile::open(parent, fd).ok());
    // The mailbox for small frames likewise: otherwise they take the pipe.
    let mailbox = hello.mailbox.and_then(|fd| Mailbox::open(parent, fd).ok());
    let ready = HelloReply::Ready {
        pid: std::process::id(),
        shared: shared.is_some(),
        mailbox: mailbox.is_some(),
    };
    if let Some(mailbox) = &mailbox {
        // The first request often follows at once.
        mailbox.expect_request();
    }
    if send_handshake(&mut output, &ready).is_err() {
        return 0;
    }
    let mut ways = Ways {
        shared: shared.as_mut(),
        mailbox: mailbox.as_ref(),
    };
    serve_requests(&mut input, &mut output, &mut buf, &mut ways)
}

/// The ways besides the pipes that frames may take: large ones through
/// the shared file (see `shm.rs`), small ones through the mailbox while
/// the other side looks (see `mailbox.rs`).
#[derive(Default)]
struct Ways<'a> {
    shared: Option<&'a mut SharedFile>,
    mailbox: Option<&'a Mailbox>,
}

/// Answers requests until the parent closes the pipe; returns the exit
/// code. A request it can't read is answered with the reason (its stderr
/// may go nowhere), and it exits.
///
/// A call's value is encoded straight into the reply's frame, in a buffer
/// kept from one request to the next (as the request's is): a large
/// result is copied once, into memory that is already mapped.
fn serve_requests(
    input: &mut impl BufRead,
    output: &mut impl Write,
    buf: &mut Vec<u8>,
    ways: &mut Ways<'_>,
) -> i32 {
    let mut out = Vec::new();
    let mut calls = Calls::default();
    loop {
        let reply = match next_request(input, buf, ways) {
            Ok(Some(Some((name, arg)))) => call_reply(
                calls.get(&name),
                &name,
                Arg::Owned(arg),
                &mut out,
                ways.shared.as_deref_mut(),
            ),
            Ok(Some(None)) => match codec::decode_borrowed::<RequestRef<'_>>(buf) {
                Ok(RequestRef::Call { name, arg }) => call_reply(
                    calls.get(name),
                    name,
                    Arg::Bytes(arg),
                    &mut out,
                    ways.shared.as_deref_mut(),
                ),
                Ok(RequestRef::Chunk { name, args }) => Err(Reply::Chunk(
                    args.iter().map(|arg| run(name, arg)).collect(),
                )),
                // A header where its request should be.
                Ok(RequestRef::Shared { .. }) => Err(Reply::Refused(
                    "a shared-memory header in shared memory".to_owned(),
                )),
                Err(err) => Err(Reply::Refused(format!("undecodable request: {err}"))),
            },
            Ok(None) => return 0,
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return 0,
            Err(err) => Err(Reply::Refused(err.to_string())),
        };
        if forked::is_copy() {
            return 0; // a copy that the task forked: it is not the worker
        }
        let reply = match reply {
            Ok(done) => {
                let sent = match done {
                    Done::InBuffer(start) => send(output, ways, &out[start..]),
                    Done::InShared(len) => protocol::frame(&[], &Reply::Shared { len })
                        .and_then(|header| deliver(output, ways.mailbox, &header)),
                };
                if sent.is_err() {
                    return 0; // the parent is gone
                }
                continue;
            }
            Err(reply) => reply,
        };
        let refused = matches!(reply, Reply::Refused(_));
        let frame = match protocol::frame(&[], &reply) {
            Ok(frame) => frame,
            Err(err) => {
                // Too large: report that instead of the value.
                let outcome = || Outcome::ResultError(err.to_string());
                let reply = match reply {
                    Reply::One(_) => Reply::One(outcome()),
                    Reply::Chunk(v) => Reply::Chunk(v.iter().map(|_| outcome()).collect()),
                    Reply::Refused(_) | Reply::Shared { .. } => Reply::Refused(err.to_string()),
                };
                protocol::frame(&[], &reply).expect("a small reply encodes")
            }
        };
        if send(output, ways, &frame).is_err() {
            return 0; // the parent is gone
        }
        if refused {
            return EXIT_GARBAGE;
        }
    }
}

/// Writes a reply frame: a large one's payload into the shared file, if
/// there is one (and it could grow), with only a `Reply::Shared` header
/// sent; see [`deliver`].
fn send(output: &mut impl Write, ways: &mut Ways<'_>, frame: &[u8]) -> io::Result<()> {
    let payload = &frame[4..];
    if let Some(shared) = ways
        .shared
        .as_deref_mut()
        .filter(|_| payload.len() >= shm::SHARED_MIN)
    {
        if shared.put(payload).is_ok() {
            let header = Reply::Shared {
                len: payload.len() as u64,
            };
            return deliver(output, ways.mailbox, &protocol::frame(&[], &header)?);
        }
    }
    deliver(output, ways.mailbox, frame)
}

/// Sends a reply frame through the mailbox if the pool looks for it, else
/// by pipe. Either way the worker looks for its next request from now on:
/// the pool, once it has the reply, finds it looking.
fn deliver(output: &mut impl Write, mailbox: Option<&Mailbox>, frame: &[u8]) -> io::Result<()> {
    if let Some(mailbox) = mailbox {
        mailbox.expect_request();
        if mailbox.post_reply(&frame[4..]) {
            return Ok(());
        }
    }
    protocol::write_frame(output, frame)
}

/// The next request: through the mailbox if the pool posts it while the
/// worker looks, else by pipe (see [`read_request`]).
fn next_request(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    ways: &mut Ways<'_>,
) -> io::Result<Option<Option<SplitCall>>> {
    if let Some(mailbox) = ways.mailbox {
        let refuse = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
        if mailbox.await_request(buf).map_err(refuse)? {
            return small_request(buf, ways.shared.as_deref_mut()).map(Some);
        }
    }
    read_request(input, buf, ways.shared.as_deref_mut())
}

/// A large call whose argument is one byte string: the function's name
/// and the argument, its bytes in a buffer of their own.
type SplitCall = (String, Encoded);

/// Reads one request: `None` at a clean end of the stream; `Some(None)`:
/// the payload is in `buf`; `Some(Some(call))`: a large call whose argument
/// is one byte string, read straight into a buffer of its own (which a
/// `ByteBuf` argument takes), in huge pages where the system allows.
///
/// A `Request::Shared` header is followed into `shared`: the request is
/// read from there the same way.
fn read_request(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    shared: Option<&mut SharedFile>,
) -> io::Result<Option<Option<SplitCall>>> {
    let Some(len) = protocol::read_len(input, protocol::MAX_FRAME)? else {
        return Ok(None);
    };
    buf.clear();
    if len < bulk::HAND_OVER {
        protocol::read_body_buffered(input, len, buf)?;
        return small_request(buf, shared).map(Some);
    }
    let mut head = [0; 1024];
    input.read_exact(&mut head)?;
    if let Some((name, value, bytes)) = bulk::lone_bytes_in_call(&head, len) {
        let mut body = Vec::new();
        // The head agrees with the frame's length twice over: room is
        // taken at once (see the pool's side, `read_large`).
        if body.try_reserve_exact(len - bytes).is_ok() {
            bulk::advise_huge_pages(&body);
        }
        body.extend_from_slice(&head[bytes..]);
        protocol::read_body(input, len - head.len(), &mut body)?;
        let arg = Encoded::split(head[value..bytes].to_vec(), body);
        return Ok(Some(Some((name.to_owned(), arg))));
    }
    buf.extend_from_slice(&head);
    protocol::read_body(input, len - head.len(), buf)?;
    Ok(Some(None))
}

/// A small request's payload, in `buf`: `Ok(None)`, it is there to
/// decode; a `Request::Shared` header is followed into `shared` (see
/// [`read_request`]).
fn small_request(
    buf: &mut Vec<u8>,
    shared: Option<&mut SharedFile>,
) -> io::Result<Option<SplitCall>> {
    // (`Shared`'s variant index first: other requests are decoded once.)
    if buf.first() != Some(&2) {
        return Ok(None);
    }
    if let Ok(RequestRef::Shared { len }) = codec::decode_borrowed(buf) {
        let refuse = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
        let shared = shared.ok_or_else(|| {
            refuse("a request in shared memory, but the worker has none".to_owned())
        })?;
        return shm::request_in_shared(shared, len, buf).map_err(refuse);
    }
    Ok(None)
}

/// Where [`call_reply`] put a call's reply.
enum Done {
    /// Its frame is `out[start..]`.
    InBuffer(usize),
    /// Its payload, of this many bytes, is in the shared file.
    InShared(u64),
}

/// The worker's registry lookups: the last function found is kept, so a
/// name sent again (a map, a loop of submits) is found by comparing its
/// bytes rather than hashing it.
#[derive(Default)]
struct Calls {
    last: Option<(&'static str, Trampoline)>,
}

impl Calls {
    fn get(&mut self, name: &str) -> Option<Trampoline> {
        match self.last {
            Some((last, call)) if last == name => Some(call),
            _ => {
                let found = registry::lookup_entry(name)?;
                self.last = Some(found);
                Some(found.1)
            }
        }
    }
}

/// Runs a call of `name` (the function `call`, if it is registered), its
/// value encoded straight into the reply's frame in `out`, or (a large
/// one, with `shared`) straight into the shared file: `Ok`, where the
/// reply is; `Err`, the reply to send instead.
fn call_reply(
    call: Option<Trampoline>,
    name: &str,
    arg: Arg<'_>,
    out: &mut Vec<u8>,
    shared: Option<&mut SharedFile>,
) -> Result<Done, Reply> {
    out.clear();
    out.resize(bulk::REPLY_ROOM, 0);
    let Some(call) = call else {
        return Err(Reply::One(Outcome::Unknown(name.to_owned())));
    };
    let mut place = shared.map(shm::ValueReply::new);
    let ran = {
        let mut sink = match place.as_mut() {
            Some(place) => Out::with_place(out, place),
            None => Out::new(out),
        };
        call(arg, &mut sink).map(|()| sink.placed().is_some())
    };
    match ran {
        Ok(true) => {
            let len = place.and_then(|p| p.payload()).expect("placed");
            Ok(Done::InShared(len as u64))
        }
        Ok(false) => bulk::value_reply_frame(out)
            .map(Done::InBuffer)
            // Too large: report that instead of the value.
            .map_err(|err| Reply::One(Outcome::ResultError(err.to_string()))),
        Err(outcome) => Err(Reply::One(outcome)),
    }
}

fn run(name: &str, arg: &[u8]) -> Outcome {
    match registry::lookup(name) {
        Some(call) => registry::outcome(call, arg),
        None => Outcome::Unknown(name.to_owned()),
    }
}

fn send_handshake(output: &mut impl Write, reply: &HelloReply) -> io::Result<()> {
    protocol::write_frame(output, &protocol::handshake_frame(reply)?)
}

/// Tells the parent why this worker won't serve (it gets the reason as the
/// pool's error), and gives the exit code.
fn refuse(output: &mut impl Write, msg: String) -> i32 {
    let _ = send_handshake(output, &HelloReply::Refused(msg));
    EXIT_REFUSED
}

/// Moves the protocol's pipes off stdin and stdout, so that a task that
/// reads stdin gets end-of-file and one that prints writes to stderr
/// instead of into the protocol.
fn take_pipes() -> io::Result<(OwnedFd, OwnedFd)> {
    // `try_clone_to_owned` duplicates with `F_DUPFD_CLOEXEC`: programs that
    // tasks start don't inherit the pipes.
    let input = io::stdin().as_fd().try_clone_to_owned()?;
    let output = io::stdout().as_fd().try_clone_to_owned()?;
    let devnull = File::open("/dev/null")?;
    // SAFETY: `dup2` on descriptors that are open (0, 1, 2 and `devnull`,
    // which lives until the end of this function); it touches no memory.
    // Replacing 0 and 1 is what this function is for: nothing else in this
    // process uses the pipes through them from now on.
    let ok = unsafe { libc::dup2(devnull.as_raw_fd(), 0) >= 0 && libc::dup2(2, 1) >= 0 };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    Ok((input, output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_pool::protocol::Request;

    fn frame_of<T: serde::Serialize>(message: &T) -> Vec<u8> {
        protocol::frame(&[], message).unwrap()
    }

    /// The replies `serve_requests` wrote, and its exit code.
    fn serve(input: &[u8]) -> (Vec<Reply>, i32) {
        serve_shared(input, None)
    }

    /// [`serve`] with a shared file: a reply sent through it is read back
    /// from the parent's end, `parent`.
    fn serve_shared(input: &[u8], parent: Option<&mut SharedFile>) -> (Vec<Reply>, i32) {
        let mut worker = parent
            .as_ref()
            .map(|p| SharedFile::open(std::process::id(), p.fd()).unwrap());
        let mut output = Vec::new();
        let mut ways = Ways {
            shared: worker.as_mut(),
            mailbox: None,
        };
        let code = serve_requests(&mut &input[..], &mut output, &mut Vec::new(), &mut ways);
        let mut replies = Vec::new();
        let (mut out, mut buf) = (&output[..], Vec::new());
        let mut parent = parent;
        while protocol::read_frame(&mut out, protocol::MAX_FRAME, &mut buf).unwrap() {
            replies.push(match protocol::decode(&buf).unwrap() {
                Reply::Shared { len } => {
                    let parent = parent.as_deref_mut().expect("a shared file");
                    shm::reply_in_shared(parent, len, &mut Vec::new()).unwrap()
                }
                reply => reply,
            });
        }
        (replies, code)
    }

    /// A large request and its reply go through the shared file, and a
    /// header that names more than the file holds (or no file at all, or
    /// another header) is refused: the worker says why and exits.
    #[test]
    fn shared_memory_headers_are_followed_or_refused() {
        use serde_bytes::ByteBuf;
        let echo = crate::remote!(|b: ByteBuf| b);
        let big = ByteBuf::from(vec![7; 100_000]);
        let call = frame_of(&Request::Call {
            name: echo.name().to_owned(),
            arg: protocol::encode(&big).unwrap(),
        });
        let mut parent = SharedFile::create().unwrap();
        parent.put(&call[4..]).unwrap();
        let header = |len: u64| frame_of(&Request::Shared { len });
        let (replies, code) = serve_shared(&header(call.len() as u64 - 4), Some(&mut parent));
        assert_eq!(code, 0);
        let [Reply::One(Outcome::Value(v))] = &replies[..] else {
            panic!("{replies:?}")
        };
        assert_eq!(v.bytes()[..], protocol::encode(&big).unwrap()[..]);
        for (len, with_file, why) in [
            (10, false, "has none"),
            (3 << 20, true, "holds"),
            (1 << 40, true, "over the limit"),
            (u64::MAX, true, "over the limit"),
        ] {
            let file = if with_file { Some(&mut parent) } else { None };
            let (replies, code) = serve_shared(&header(len), file);
            assert_eq!(code, EXIT_GARBAGE);
            let [Reply::Refused(msg)] = &replies[..] else {
                panic!("{replies:?}")
            };
            assert!(msg.contains(why), "{msg}");
        }
        let nested = header(5);
        parent.put(&nested[4..]).unwrap();
        let (replies, code) = serve_shared(&header(nested.len() as u64 - 4), Some(&mut parent));
        assert_eq!(code, EXIT_GARBAGE);
        assert!(matches!(&replies[..], [Reply::Refused(msg)] if msg.contains("header in shared")));
    }

    #[test]
    fn serves_until_the_pipe_closes() {
        let square = crate::remote!(|x: u32| x * x);
        let mut input = frame_of(&Request::Call {
            name: square.name().to_owned(),
            arg: protocol::encode(&7_u32).unwrap(),
        });
        input.extend(frame_of(&Request::Call {
            name: "no::such::fn".to_owned(),
            arg: Vec::new(),
        }));
        let (replies, code) = serve(&input);
        assert_eq!(code, 0);
        let [
            Reply::One(Outcome::Value(v)),
            Reply::One(Outcome::Unknown(name)),
        ] = &replies[..]
        else {
            panic!("{replies:?}")
        };
        assert_eq!(protocol::decode::<u32>(&v.bytes()).unwrap(), 49);
        assert_eq!(name, "no::such::fn");
    }

    /// Large arguments and results take the paths that copy nothing (a
    /// `ByteBuf` argument read into a buffer of its own, the result encoded
    /// into the reply's frame) and come back as they went.
    #[test]
    fn large_values_round_trip() {
        use serde_bytes::ByteBuf;
        let big: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
        let echo = crate::remote!(|b: ByteBuf| b);
        let pair = crate::remote!(|(b, x): (ByteBuf, u8)| (b.len(), x));
        let vec = crate::remote!(|v: Vec<u8>| v.len());
        let call = |name: &str, arg: Vec<u8>| {
            frame_of(&Request::Call {
                name: name.to_owned(),
                arg,
            })
        };
        let mut input = call(
            echo.name(),
            protocol::encode(&ByteBuf::from(big.clone())).unwrap(),
        );
        input.extend(call(
            pair.name(),
            protocol::encode(&(ByteBuf::from(big.clone()), 7_u8)).unwrap(),
        ));
        input.extend(call(vec.name(), protocol::encode(&big).unwrap()));
        let (replies, code) = serve(&input);
        assert_eq!(code, 0);
        let [
            Reply::One(Outcome::Value(a)),
            Reply::One(Outcome::Value(b)),
            Reply::One(Outcome::Value(c)),
        ] = &replies[..]
        else {
            panic!("{} replies", replies.len())
        };
        assert_eq!(
            protocol::decode::<ByteBuf>(&a.bytes()).unwrap().into_vec(),
            big
        );
        assert_eq!(
            protocol::decode::<(usize, u8)>(&b.bytes()).unwrap(),
            (big.len(), 7)
        );
        assert_eq!(protocol::decode::<usize>(&c.bytes()).unwrap(), big.len());
    }

    #[test]
    fn a_request_it_cannot_read_is_answered_with_the_reason() {
        // A frame that is not a request, then one over the size limit.
        for input in [frame_of(&"not a request"), u32::MAX.to_le_bytes().to_vec()] {
            let (replies, code) = serve(&input);
            assert_eq!(code, EXIT_GARBAGE);
            let [Reply::Refused(msg)] = &replies[..] else {
                panic!("{replies:?}")
            };
            assert!(
                msg.contains("undecodable request") || msg.contains("over the limit"),
                "{msg}"
            );
        }
    }
}
