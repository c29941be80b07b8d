//! Linux: the worker's side of a pool, what [`init`](super::init) runs in
//! a process started as a worker: arm the parent-death signal, move the
//! pipes off stdin and stdout, answer the handshake, run the initializer,
//! then serve requests until the parent closes the pipe.

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::os::fd::{AsFd, OwnedFd};

use super::identity;
use super::protocol::{self, Hello, HelloReply, Outcome, Reply, Request};
use super::registry;

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
    super::worker::set_serving();

    let (input, output) = match take_pipes() {
        Ok(pipes) => pipes,
        Err(err) => {
            eprintln!("futurepool worker: cannot set up its pipes: {err}");
            return 1;
        }
    };
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
            eprintln!("futurepool worker: bad handshake from the parent: {err}");
            return EXIT_GARBAGE;
        }
    };
    if let Err(msg) = identity::check_identity(&hello) {
        return refuse(&mut output, msg);
    }
    if let Some((name, arg)) = &hello.init {
        let failure = match registry::lookup(name) {
            None => Some(format!("no function registered as `{name}`")),
            Some(call) => match call(arg) {
                Outcome::Value(bytes) => match protocol::decode::<Result<(), String>>(&bytes) {
                    Ok(Ok(())) => None,
                    Ok(Err(msg)) => Some(msg),
                    Err(err) => Some(format!("bad initializer result: {err}")),
                },
                Outcome::Panic(msg) => Some(format!("initializer panicked: {msg}")),
                Outcome::ArgError(msg) | Outcome::ResultError(msg) | Outcome::Unknown(msg) => {
                    Some(msg)
                }
            },
        };
        if let Some(msg) = failure {
            let _ = send_handshake(&mut output, &HelloReply::InitFailed(msg));
            return EXIT_REFUSED;
        }
    }
    let ready = HelloReply::Ready {
        pid: std::process::id(),
    };
    if send_handshake(&mut output, &ready).is_err() {
        return 0;
    }

    // Serve until the parent closes the pipe.
    loop {
        match protocol::read_frame(&mut input, protocol::MAX_FRAME, &mut buf) {
            Ok(true) => {}
            Ok(false) => return 0,
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return 0,
            Err(err) => {
                eprintln!("futurepool worker: bad request from the parent: {err}");
                return EXIT_GARBAGE;
            }
        }
        let reply = match protocol::decode::<Request>(&buf) {
            Ok(Request::Call { name, arg }) => Reply::One(run(&name, &arg)),
            Ok(Request::Chunk { name, args }) => {
                Reply::Chunk(args.iter().map(|arg| run(&name, arg)).collect())
            }
            Err(err) => {
                eprintln!("futurepool worker: bad request from the parent: {err}");
                return EXIT_GARBAGE;
            }
        };
        let frame = match protocol::frame(&[], &reply) {
            Ok(frame) => frame,
            Err(err) => {
                // Too large: report that instead of the value.
                let outcome = Outcome::ResultError(err.to_string());
                let reply = match reply {
                    Reply::One(_) => Reply::One(outcome),
                    Reply::Chunk(v) => Reply::Chunk(
                        v.iter()
                            .map(|_| Outcome::ResultError(err.to_string()))
                            .collect(),
                    ),
                };
                protocol::frame(&[], &reply).expect("a small reply encodes")
            }
        };
        if protocol::write_frame(&mut output, &frame).is_err() {
            return 0; // the parent is gone
        }
    }
}

fn run(name: &str, arg: &[u8]) -> Outcome {
    match registry::lookup(name) {
        Some(call) => call(arg),
        None => Outcome::Unknown(name.to_owned()),
    }
}

fn send_handshake(output: &mut BufWriter<File>, reply: &HelloReply) -> io::Result<()> {
    protocol::write_frame(output, &protocol::handshake_frame(reply)?)
}

fn refuse(output: &mut BufWriter<File>, msg: String) -> i32 {
    eprintln!("futurepool worker: refusing to start: {msg}");
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
    let ok = unsafe {
        use std::os::fd::AsRawFd;
        libc::dup2(devnull.as_raw_fd(), 0) >= 0 && libc::dup2(2, 1) >= 0
    };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    Ok((input, output))
}
