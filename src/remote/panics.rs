//! A task's panic in a worker process: recorded for the task's error, not
//! printed.
//!
//! The standard panic hook prints the message (and, with `RUST_BACKTRACE`,
//! the backtrace) to the worker's stderr, which is the parent's: 20
//! panicking tasks used to print hundreds of lines there, each labelled
//! with the worker's thread. The message is in the task's error anyway.
//! So a worker installs [`install_hook`]'s hook: on a thread running a task
//! (inside [`catch`]), it records the backtrace, if the user asked for one,
//! and prints nothing; the standard hook runs only if the pool lets the
//! workers' stderr through
//! ([`ProcessPoolBuilder::worker_stderr`](crate::ProcessPoolBuilder::worker_stderr)).
//! [`catch`] hands the message and the backtrace to the reply.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

use crate::error::payload_message;

/// A task's panic, as it crosses the pipe.
pub(crate) struct Panicked {
    pub(crate) message: String,
    /// The backtrace, as [`Backtrace`] prints it, if one was asked for.
    pub(crate) backtrace: Option<String>,
}

thread_local! {
    /// `Some` while this thread runs a task in [`catch`]; the hook puts the
    /// panic's backtrace in it.
    static RECORDING: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Runs `f`, catching a panic as a [`Panicked`]: its message, and the
/// backtrace the hook recorded (none without the hook, or if the user
/// didn't ask for one).
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    RECORDING.with(|slot| *slot.borrow_mut() = Some(None));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    let backtrace = RECORDING.with(|slot| slot.borrow_mut().take()).flatten();
    result.map_err(|payload| Panicked {
        message: payload_message(payload.as_ref())
            .unwrap_or("(non-string payload)")
            .to_owned(),
        backtrace,
    })
}

/// The backtrace of the panic being raised, if the user asked for one
/// (`RUST_LIB_BACKTRACE`, else `RUST_BACKTRACE`, not `0`: as
/// [`Backtrace::capture`] reads them).
fn capture() -> Option<String> {
    let backtrace = Backtrace::capture();
    (backtrace.status() == BacktraceStatus::Captured).then(|| backtrace.to_string())
}

/// Replaces this process's panic hook: a panic on a thread running a task
/// is recorded for [`catch`]; the standard hook (which prints) runs too
/// only if `print`. Called once, by the worker, before the first task.
#[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))]
pub(crate) fn install_hook(print: bool) {
    let standard = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        RECORDING.with(|slot| {
            // Not borrowed elsewhere while a task runs; `try_` so that a
            // panic inside `capture` can't turn into a double panic here.
            if let Ok(mut slot) = slot.try_borrow_mut() {
                if let Some(recorded) = slot.as_mut() {
                    *recorded = capture();
                }
            }
        });
        if print {
            standard(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_keeps_the_message_and_the_value() {
        assert_eq!(catch(|| 5).ok(), Some(5));
        let err = catch(|| -> u8 { panic!("bad {}", 7) }).err().unwrap();
        assert_eq!(err.message, "bad 7");
        let err = catch(|| std::panic::panic_any(3_u8)).err().unwrap();
        assert_eq!(err.message, "(non-string payload)");
        // The test harness's hook records nothing.
        assert!(err.backtrace.is_none());
    }
}
