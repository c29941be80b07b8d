//! Tasks that take other tasks' results: a small diamond of tasks
//! (load -> two transforms -> combine), run twice. The second time one
//! record is bad, the `parse` transform fails, and the error reaches
//! `combine`, which never runs.
//!
//! ```text
//! cargo run -p futurepool-examples --example dependencies
//! ```
//!
//! `load`'s result is shared (`.shared()`), so it feeds both transforms;
//! `combine` takes both transforms' handles, and receives their values as a
//! tuple. No thread waits for a dependency: each task is handed to the pool
//! by the worker that finished the last task it needed.

use std::error::Error;
use std::io::{self, Write};

use futurepool::{TaskError, ThreadPool};

/// What the transforms agree is a bad record: `parse` panics with it.
const BAD: &str = "bad record";

/// Runs the diamond over `records` and writes what happened to `out`.
fn diamond(pool: &ThreadPool, records: &[&str], out: &mut impl Write) -> io::Result<()> {
    let owned: Vec<String> = records.iter().map(|s| (*s).to_owned()).collect();
    let load = pool
        .task()
        .name("load")
        .submit(move || owned)
        .unwrap()
        .shared();
    let parse = pool
        .task()
        .name("parse")
        .after(&load)
        .submit(|records: Vec<String>| {
            records
                .iter()
                .map(|r| r.parse::<u64>().unwrap_or_else(|_| panic!("{BAD}: {r:?}")))
                .collect::<Vec<u64>>()
        })
        .unwrap();
    let widest = pool
        .task()
        .name("widest")
        .after(&load)
        .submit(|records: Vec<String>| records.iter().map(String::len).max().unwrap_or(0))
        .unwrap();
    let combine = pool
        .task()
        .name("combine")
        .after((parse, widest))
        .submit(|(numbers, width): (Vec<u64>, usize)| {
            let total: u64 = numbers.iter().sum();
            format!("total {total:>width$} over {} records", numbers.len())
        })
        .unwrap();
    match combine.join() {
        Ok(line) => writeln!(out, "  combine: {line}"),
        Err(err) => write_chain(&err, out),
    }
}

/// The error and its causes, one a line.
fn write_chain(err: &TaskError, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "  combine failed: {err}")?;
    let mut cause = err.source();
    while let Some(err) = cause {
        writeln!(out, "    caused by: {err}")?;
        cause = err.source();
    }
    Ok(())
}

/// The example: the diamond, then the diamond with a bad record.
fn run(out: &mut impl Write) -> io::Result<()> {
    let pool = ThreadPool::new();
    writeln!(out, "load -> (parse, widest) -> combine")?;
    writeln!(out, "run 1: records 12, 7, 30")?;
    diamond(&pool, &["12", "7", "30"], out)?;
    writeln!(out, "run 2: records 12, x, 30 (`parse` fails on x)")?;
    diamond(&pool, &["12", "x", "30"], out)?;
    Ok(())
}

fn main() -> io::Result<()> {
    // `parse` panics on purpose in run 2; its message is printed below as
    // part of the error that reaches `combine`, so the hook stays quiet
    // about that one panic (and only that one).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>();
        if !message.is_some_and(|m| m.starts_with(BAD)) {
            default_hook(info);
        }
    }));
    run(&mut io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use super::run;

    #[test]
    fn the_diamond_combines_and_the_failure_reaches_combine() {
        let mut out = Vec::new();
        run(&mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "load -> (parse, widest) -> combine");
        assert_eq!(lines[2], "  combine: total 49 over 3 records", "{out}");
        assert!(
            lines[4].starts_with("  combine failed: task `combine`: dependency task "),
            "{out}"
        );
        assert!(lines[4].ends_with(" `parse` failed"), "{out}");
        assert_eq!(
            lines[5], "    caused by: task `parse` panicked: bad record: \"x\"",
            "{out}"
        );
        assert_eq!(lines.len(), 6, "{out}");
    }
}
