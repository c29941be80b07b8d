//! The worker's side: what a process started by a pool runs instead of its
//! `main`. See [`init`].

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use super::protocol::{self, ExeId, Hello, HelloReply, Outcome, Reply, Request};
use super::registry;

/// The environment variable that marks a process as a worker; its value is
/// the parent's pid.
pub(crate) const ENV_WORKER: &str = "FUTUREPOOL_PROCESS_WORKER";

/// Exit codes of a worker that stops on its own.
const EXIT_REFUSED: i32 = 3;
const EXIT_GARBAGE: i32 = 2;

/// Makes this program usable as a [`ProcessPool`](crate::ProcessPool)
/// worker: **call it first thing in `main`**.
///
/// A process pool starts its workers from the program's own executable,
/// with a marker in the environment. In such a process `init` never returns:
/// it answers the pool's handshake, runs tasks until the pool closes the
/// pipe, and exits. In any other process it returns at once and does
/// nothing.
///
/// Call it before anything else, in particular before starting threads:
/// the worker adjusts its file descriptors and environment (it removes the
/// marker, so that programs a task starts are not workers).
///
/// A test binary's `main` belongs to the test harness: use
/// [`process_init_before_main!`](crate::process_init_before_main) there.
///
/// # Examples
///
/// ```no_run
/// fn main() {
///     futurepool::process::init(); // a worker never gets past this line
///
///     let pool = futurepool::ProcessPool::new();
///     // ...
///     # drop(pool);
/// }
/// ```
///
/// (`no_run`: the pool's integration tests start real workers.)
#[allow(clippy::needless_doctest_main)] // `main` is the point
pub fn init() {
    let Some(parent) = std::env::var_os(ENV_WORKER) else {
        return;
    };
    let parent: u32 = parent.to_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    std::process::exit(serve(parent));
}

/// Runs [`init`] before `main`, from the binary's constructors: the way to
/// make a **test binary** (whose `main` the test harness owns) able to serve
/// as a worker. Put it once, at the top level of the test file.
///
/// Linux (ELF `.init_array`) only. In a program of your own, prefer calling
/// `futurepool::process::init()` first thing in `main`.
///
/// # Examples
///
/// ```no_run
/// // tests/my_process_tests.rs
/// futurepool::process_init_before_main!();
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// #[test]
/// fn squares_in_a_worker() {
///     let pool = futurepool::ProcessPool::new();
///     let handle = pool.submit(futurepool::remote!(square), 7).unwrap();
///     assert_eq!(handle.join().unwrap(), 49);
/// }
/// # fn main() {}
/// ```
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
macro_rules! process_init_before_main {
    () => {
        const _: () = {
            extern "C" fn __futurepool_process_init() {
                $crate::process::init();
            }
            #[used]
            #[unsafe(link_section = ".init_array")]
            static __FUTUREPOOL_PROCESS_INIT: extern "C" fn() = __futurepool_process_init;
        };
    };
}

/// The identity of the file at `path` (following links).
pub(crate) fn exe_id(path: &std::path::Path) -> Option<ExeId> {
    let meta = std::fs::metadata(path).ok()?;
    Some(ExeId {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
    })
}

/// A hash of this process's own executable, computed once.
pub(crate) fn own_exe_hash() -> io::Result<u64> {
    static HASH: OnceLock<u64> = OnceLock::new();
    if let Some(&h) = HASH.get() {
        return Ok(h);
    }
    let bytes = std::fs::read("/proc/self/exe")?;
    Ok(*HASH.get_or_init(|| registry::hash_bytes(0, &bytes)))
}

/// The worker: set up, handshake, serve. Returns the exit code.
fn serve(parent: u32) -> i32 {
    // Die with the parent, even while a task runs and nobody reads the
    // pipe. If the parent died before this line, our parent is already
    // someone else: exit instead.
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `prctl(PR_SET_PDEATHSIG, sig)` only sets a flag on this
        // process; it takes integer arguments and touches no memory.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
    }
    if std::os::unix::process::parent_id() != parent {
        return 1;
    }
    // SAFETY: `init` is documented to run first in `main` (or before it,
    // from `process_init_before_main!`), when no other thread exists that
    // could read the environment concurrently.
    unsafe { std::env::remove_var(ENV_WORKER) };

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
    if let Err(msg) = check_identity(&hello) {
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

/// Same registered functions, and the same executable (the same file, or
/// one with the same contents).
fn check_identity(hello: &Hello) -> Result<(), String> {
    if hello.registry != registry::digest() {
        return Err(
            "the worker's registered functions differ from the parent's: \
             it was built from a different binary"
                .to_owned(),
        );
    }
    if exe_id("/proc/self/exe".as_ref()) == Some(hello.exe) {
        return Ok(());
    }
    let own = own_exe_hash().map_err(|err| format!("cannot read its own executable: {err}"))?;
    match hello.exe_hash {
        Some(theirs) if theirs == own => Ok(()),
        _ => Err(format!(
            "the worker's executable differs from the parent's \
             (worker fingerprint {own:016x}, parent {})",
            hello
                .exe_hash
                .map_or("unknown".to_owned(), |h| format!("{h:016x}"))
        )),
    }
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
