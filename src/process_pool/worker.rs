//! The worker's side: what a process started by a pool runs instead of its
//! `main`. See [`init`].

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use super::protocol::{self, ExeId, Hello, HelloReply, Outcome, Reply, Request};
use super::registry;
use crate::sync::{AtomicBool, Ordering};

/// The argument that marks a process as a worker, followed by the parent's
/// pid: a worker's command line is exactly `<program> --futurepool-worker=<pid>`.
///
/// An argument, not an environment variable: programs a task starts inherit
/// the environment but not the arguments, so they are never mistaken for
/// workers, and the worker has nothing to remove from its environment
/// (`remove_var` is unsound once other threads exist).
pub(crate) const WORKER_ARG: &str = "--futurepool-worker=";

/// Exit codes of a worker that stops on its own.
const EXIT_REFUSED: i32 = 3;
const EXIT_GARBAGE: i32 = 2;

/// Set once this process serves as a worker: a task that starts a pool of
/// its own may start workers, though the marker is in this process's
/// arguments.
static SERVING: AtomicBool = AtomicBool::new(false);

/// Makes this program usable as a [`ProcessPool`](crate::ProcessPool)
/// worker: **call it first thing in `main`**.
///
/// A process pool starts its workers from the program's own executable,
/// with a marker argument (`--futurepool-worker=<parent pid>`, the only
/// argument). In such a process `init` never returns: it answers the
/// pool's handshake, runs tasks until the pool closes the pipe, and exits.
/// In any other process it returns at once and does nothing. It reads the
/// arguments only: the environment is neither read nor changed, so calling
/// it after other threads have started (under `#[tokio::main]`, say) is
/// sound. Programs that tasks start are never workers.
///
/// Call it before anything else: before parsing the command line (which
/// would refuse the marker), and before other work a worker shouldn't do.
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
    let Some(parent) = started_as_worker() else {
        return;
    };
    std::process::exit(serve(parent));
}

/// The parent's pid if this process was started as a worker (whether or
/// not it serves).
pub(crate) fn started_as_worker() -> Option<u32> {
    let args: Vec<OsString> = std::env::args_os().collect();
    if !args.is_empty() {
        return parse_marker(&args);
    }
    // Before `main`, only glibc hands std the arguments (its `.init_array`
    // functions get them); elsewhere (musl) read them from the kernel.
    let cmdline = std::fs::read("/proc/self/cmdline").ok()?;
    let args: Vec<OsString> = cmdline
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| OsStr::from_bytes(arg).to_owned())
        .collect();
    parse_marker(&args)
}

/// `Some(parent pid)` for exactly `[program, "--futurepool-worker=<pid>"]`.
fn parse_marker(args: &[OsString]) -> Option<u32> {
    let [_, arg] = args else {
        return None;
    };
    arg.to_str()?.strip_prefix(WORKER_ARG)?.parse().ok()
}

/// Refuses to start workers from a process that was started as a worker
/// but never served: its `main` did not call [`init`], and starting
/// workers from it would recurse without end.
pub(crate) fn check_not_recursing() -> Result<(), String> {
    // ORDERING: set by this process's main thread before it runs any task,
    // and a task's pool starts its driver threads (which call this) after
    // that: thread creation orders the two.
    let serving = SERVING.load(Ordering::Relaxed);
    may_start_workers(started_as_worker(), serving)
}

fn may_start_workers(marker: Option<u32>, serving: bool) -> Result<(), String> {
    match marker {
        Some(_) if !serving => Err("this process was started as a futurepool worker, but its \
             `main` did not call `futurepool::process::init()` first"
            .to_owned()),
        _ => Ok(()),
    }
}

/// The marker argument for a worker of this process.
pub(crate) fn marker_arg() -> OsString {
    let mut arg = OsString::from(WORKER_ARG);
    arg.push(OsStr::new(&std::process::id().to_string()));
    arg
}

/// Runs [`init`] before `main`, from the binary's constructors: the way to
/// make a **test binary** (whose `main` the test harness owns) able to serve
/// as a worker. Put it once, at the top level of the test file.
///
/// Linux (ELF `.init_array`) only. It reads the worker marker from the
/// command line, which the C library hands to constructors (glibc), or
/// from `/proc/self/cmdline`. In a program of your own, prefer calling
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
    // ORDERING: see `check_not_recursing`.
    SERVING.store(true, Ordering::Relaxed);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_marker_is_the_only_argument() {
        let marked = args(&["prog", "--futurepool-worker=42"]);
        assert_eq!(parse_marker(&marked), Some(42));
        for other in [
            &["prog"][..],
            &["prog", "--futurepool-worker=42", "more"],
            &["prog", "more", "--futurepool-worker=42"],
            &["prog", "--futurepool-worker="],
            &["prog", "--futurepool-worker=x"],
            &["prog", "--futurepool-worker", "42"],
            &["prog", "--FUTUREPOOL-WORKER=42"],
        ] {
            assert_eq!(parse_marker(&args(other)), None, "{other:?}");
        }
        let own = [OsString::from("prog"), marker_arg()];
        assert_eq!(parse_marker(&own), Some(std::process::id()));
        assert_eq!(started_as_worker(), None, "the test binary is no worker");
    }

    #[test]
    fn a_worker_that_never_served_refuses_to_start_workers() {
        assert!(may_start_workers(None, false).is_ok());
        assert!(
            may_start_workers(Some(1), true).is_ok(),
            "a task's own pool"
        );
        let err = may_start_workers(Some(1), false).unwrap_err();
        assert!(
            err.contains("did not call `futurepool::process::init()` first"),
            "{err}"
        );
        assert!(check_not_recursing().is_ok());
    }
}
