//! The guide's terminal clock: one line, redrawn every second by a periodic
//! task on a thread pool, until Ctrl-C or `--seconds N`.
//!
//! The pool's one timer thread drives the series
//! ([`every`](futurepool::TaskBuilder::every)); each tick runs on a worker
//! and sends the time to the main thread, which redraws the line (`\r`,
//! then the time). Ctrl-C sets a flag (a plain SIGINT handler, nothing but
//! an atomic store), and the main thread cancels the series, shuts the pool
//! down, ends the line and prints how many ticks it drew.
//!
//! `cargo run -p futurepool-examples --example clock -- --seconds 5`

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futurepool::ThreadPool;

/// Set by Ctrl-C.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn main() -> io::Result<()> {
    let seconds = match parse_seconds(std::env::args().skip(1)) {
        Ok(seconds) => seconds,
        Err(usage) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    on_ctrl_c();
    let ticks = run(
        seconds.map(Duration::from_secs),
        Duration::from_secs(1),
        &INTERRUPTED,
        &mut io::stdout(),
    )?;
    let why = if INTERRUPTED.load(Ordering::SeqCst) {
        "interrupted"
    } else {
        "done"
    };
    println!("{why}: {ticks} ticks");
    Ok(())
}

/// `--seconds N`, or nothing (run until Ctrl-C).
fn parse_seconds(mut args: impl Iterator<Item = String>) -> Result<Option<u64>, String> {
    const USAGE: &str = "usage: clock [--seconds N]";
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(None),
        (Some("--seconds"), Some(n), None) => n.parse().map(Some).map_err(|_| USAGE.to_owned()),
        _ => Err(USAGE.to_owned()),
    }
}

/// Draws the clock on `out` every `period` for `duration` (or until
/// `stop` is set), then cancels the series, shuts the pool down and ends
/// the line. Returns how many ticks it drew: the first at once, then one a
/// period (so `--seconds 5` draws 5 or 6, by how the last one races the
/// end).
fn run(
    duration: Option<Duration>,
    period: Duration,
    stop: &AtomicBool,
    out: &mut impl Write,
) -> io::Result<u64> {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (tx, rx) = mpsc::channel();
    let clock = pool
        .task()
        .name("clock")
        .every(period)
        .submit(move || {
            // The receiver is gone once the clock stops: nothing to draw.
            let _ = tx.send(time_of_day(SystemTime::now()));
        })
        .expect("a new pool takes the series");
    let end = duration.map(|d| Instant::now() + d);
    // How often the main thread looks at the Ctrl-C flag between ticks.
    let poll = period.min(Duration::from_millis(100));
    let mut ticks = 0;
    while !stop.load(Ordering::SeqCst) && end.is_none_or(|end| Instant::now() < end) {
        match rx.recv_timeout(poll) {
            Ok(now) => {
                ticks += 1;
                write!(out, "\r{now}")?;
                out.flush()?;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break, // the series ended
        }
    }
    clock.cancel();
    pool.shutdown();
    writeln!(out)?;
    Ok(ticks)
}

/// `HH:MM:SS UTC` (std has no time zones).
fn time_of_day(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Sets [`INTERRUPTED`] on Ctrl-C (SIGINT) instead of killing the
/// process. The handler only stores to an atomic: async-signal-safe.
#[cfg(unix)]
fn on_ctrl_c() {
    extern "C" fn handler(_: libc::c_int) {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }
    let handler: extern "C" fn(libc::c_int) = handler;
    // SAFETY: `handler` is an `extern "C" fn(c_int)`, as `signal` wants,
    // and it only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as *const () as libc::sighandler_t);
    }
}

/// Elsewhere Ctrl-C ends the process as usual.
#[cfg(not(unix))]
fn on_ctrl_c() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_redraws_one_line_per_tick_and_ends_it() {
        let stop = AtomicBool::new(false);
        let mut out = Vec::new();
        let period = Duration::from_millis(100);
        let ticks = run(Some(Duration::from_secs(1)), period, &stop, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        // Ticks are due at 0, 100, ..., 1000 ms: at most 11 fit in 1 s.
        assert!((1..=11).contains(&ticks), "{ticks} ticks");
        assert!(out.ends_with('\n'));
        let drawn: Vec<&str> = out.trim_end().split('\r').skip(1).collect();
        assert_eq!(drawn.len() as u64, ticks);
        for time in drawn {
            assert_eq!(time.len(), "00:00:00 UTC".len(), "{time:?}");
            assert!(time.ends_with(" UTC"));
        }
    }

    #[test]
    fn a_set_stop_flag_stops_it_at_once() {
        let stop = AtomicBool::new(true);
        let mut out = Vec::new();
        let ticks = run(None, Duration::from_millis(10), &stop, &mut out).unwrap();
        assert_eq!(ticks, 0);
        assert_eq!(out, b"\n");
    }

    #[test]
    fn the_arguments() {
        let args = |a: &[&str]| parse_seconds(a.iter().map(|s| s.to_string()));
        assert_eq!(args(&[]), Ok(None));
        assert_eq!(args(&["--seconds", "5"]), Ok(Some(5)));
        assert!(args(&["--seconds"]).is_err());
        assert!(args(&["--seconds", "x"]).is_err());
        assert!(args(&["-n", "5"]).is_err());
    }

    #[test]
    fn the_time_of_day() {
        let t = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 13 + 60 * 7 + 9);
        assert_eq!(time_of_day(t), "13:07:09 UTC");
    }
}
