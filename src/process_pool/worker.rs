//! The worker's side, as a program sees it: [`init`], the line a program
//! calls first in `main`, [`process_init_before_main!`](crate::process_init_before_main)
//! for test binaries, and the marker argument that makes a process a
//! worker. What a worker then does is in `serve.rs`.
//!
//! Worker processes run on Linux only. Elsewhere `init` returns at once and
//! the macro expands to nothing, so that a program written for Linux
//! compiles everywhere unchanged.

#[cfg(target_os = "linux")]
pub(crate) use marker::{check_not_recursing, marker_arg};

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
/// On other platforms than Linux, where no process pool runs (see
/// [`ProcessPool`](crate::ProcessPool#platforms)), it returns at once.
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
    #[cfg(target_os = "linux")]
    if let Some(parent) = marker::started_as_worker() {
        serve_as_worker(parent);
    }
}

/// What [`process_init_before_main!`](crate::process_init_before_main)
/// runs: [`init`], in a process that Rust's runtime hasn't set up yet (it
/// does that just before `main`). So a worker first does what the runtime
/// would have done that matters to tasks: it ignores `SIGPIPE`, so that a
/// task that writes to a closed pipe or socket gets an error
/// ([`io::ErrorKind::BrokenPipe`](std::io::ErrorKind::BrokenPipe)), as
/// it would on a thread, instead of killing its worker. Not public API.
#[doc(hidden)]
pub fn init_before_main() {
    #[cfg(target_os = "linux")]
    if let Some(parent) = marker::started_as_worker() {
        // SAFETY: `signal` with a constant disposition installs no
        // handler; nothing else runs yet (this is before `main`, and a
        // worker starts no thread before it serves).
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        serve_as_worker(parent);
    }
}

/// Serves as a worker of the pool whose pid is `parent`, and exits.
#[cfg(target_os = "linux")]
fn serve_as_worker(parent: u32) -> ! {
    // Before any task runs: a task may start a pool of its own.
    marker::set_serving();
    std::process::exit(super::serve::serve(parent));
}

/// The marker argument, and whether this process was started as a worker.
#[cfg(target_os = "linux")]
mod marker {
    use std::ffi::{OsStr, OsString};
    use std::os::unix::ffi::OsStrExt;

    use crate::loom::sync::atomic::{AtomicBool, Ordering};

    /// The argument that marks a process as a worker, followed by the
    /// parent's pid: a worker's command line is exactly
    /// `<program> --futurepool-worker=<pid>`.
    ///
    /// An argument, not an environment variable: programs a task starts
    /// inherit the environment but not the arguments, so they are never
    /// mistaken for workers, and the worker has nothing to remove from its
    /// environment (`remove_var` is unsound once other threads exist).
    pub(crate) const WORKER_ARG: &str = "--futurepool-worker=";

    /// Set once this process serves as a worker: a task that starts a pool
    /// of its own may start workers, though the marker is in this
    /// process's arguments.
    static SERVING: AtomicBool = AtomicBool::new(false);

    /// Called by the worker before it runs any task.
    pub(crate) fn set_serving() {
        // ORDERING: see `check_not_recursing`.
        SERVING.store(true, Ordering::Relaxed);
    }

    /// The parent's pid if this process was started as a worker (whether
    /// or not it serves).
    pub(crate) fn started_as_worker() -> Option<u32> {
        let args: Vec<OsString> = std::env::args_os().collect();
        if !args.is_empty() {
            return parse_marker(&args);
        }
        // Before `main`, only glibc hands std the arguments (its
        // `.init_array` functions get them); elsewhere (musl) read them
        // from the kernel.
        let cmdline = std::fs::read("/proc/self/cmdline").ok()?;
        parse_marker(&cmdline_args(&cmdline))
    }

    /// The arguments in `/proc/<pid>/cmdline`: each ends with a NUL.
    pub(super) fn cmdline_args(cmdline: &[u8]) -> Vec<OsString> {
        let cmdline = cmdline.strip_suffix(&[0]).unwrap_or(cmdline);
        cmdline
            .split(|&b| b == 0)
            .map(|arg| OsStr::from_bytes(arg).to_owned())
            .collect()
    }

    /// `Some(parent pid)` for exactly `[program, "--futurepool-worker=<pid>"]`.
    pub(super) fn parse_marker(args: &[OsString]) -> Option<u32> {
        let [_, arg] = args else {
            return None;
        };
        arg.to_str()?.strip_prefix(WORKER_ARG)?.parse().ok()
    }

    /// Refuses to start workers from a process that was started as a
    /// worker but never served: its `main` did not call
    /// [`init`](super::init), and starting workers from it would recurse
    /// without end.
    pub(crate) fn check_not_recursing() -> Result<(), String> {
        // ORDERING: set by this process's main thread before it runs any
        // task, and a task's pool starts its driver threads (which call
        // this) after that: thread creation orders the two.
        let serving = SERVING.load(Ordering::Relaxed);
        may_start_workers(started_as_worker(), serving)
    }

    pub(super) fn may_start_workers(marker: Option<u32>, serving: bool) -> Result<(), String> {
        match marker {
            Some(_) if !serving => Err("this process was started as a futurepool worker, but \
                 its `main` did not call `futurepool::process::init()` first"
                .to_owned()),
            _ => Ok(()),
        }
    }

    /// The marker argument for a worker of this process.
    pub(crate) fn marker_arg() -> OsString {
        let mut arg = OsString::from(WORKER_ARG);
        arg.push(std::process::id().to_string());
        arg
    }
}

/// Runs [`init`] before `main`, from the binary's constructors: the way to
/// make a **test binary** (whose `main` the test harness owns) able to serve
/// as a worker. Put it once, at the top level of the test file.
///
/// On Linux it places a function in the ELF `.init_array` section, which
/// the C runtime calls before `main`. It reads the worker marker from the
/// command line, which glibc hands to such functions (and
/// `/proc/self/cmdline` has anyway). Before `main` Rust's runtime hasn't
/// set the process up yet: a worker started this way ignores `SIGPIPE`
/// first, as the runtime would, so that its tasks see a closed pipe or
/// socket as an error, as they would on a thread or in a worker that
/// called `init` from `main`. On every other platform, where no
/// worker runs and [`init`](crate::process::init) does nothing, it expands
/// to nothing: the test file compiles unchanged, and its tests that start
/// workers should be `#[cfg(target_os = "linux")]`. In a program of your
/// own, prefer calling `futurepool::process::init()` first thing in
/// `main`.
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
        #[cfg(target_os = "linux")]
        const _: () = {
            extern "C" fn __futurepool_process_init() {
                $crate::process::__init_before_main();
            }
            #[used]
            #[unsafe(link_section = ".init_array")]
            static __FUTUREPOOL_PROCESS_INIT: extern "C" fn() = __futurepool_process_init;
        };
    };
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::ffi::OsString;

    use super::marker::{self, may_start_workers, parse_marker};
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
        assert_eq!(
            marker::started_as_worker(),
            None,
            "the test binary is no worker"
        );
    }

    #[test]
    fn the_kernel_s_command_line_reads_the_same() {
        let args = |bytes: &[u8]| parse_marker(&marker::cmdline_args(bytes));
        assert_eq!(args(b"/bin/prog\0--futurepool-worker=42\0"), Some(42));
        assert_eq!(args(b"/bin/prog\0\0--futurepool-worker=42\0"), None);
        assert_eq!(args(b"/bin/prog\0--futurepool-worker=42\0x\0"), None);
        assert_eq!(args(b"/bin/prog\0"), None);
        assert_eq!(args(b""), None);
        let own = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(
            marker::cmdline_args(&own),
            std::env::args_os().collect::<Vec<_>>()
        );
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
