//! "Before and after": futurepool's own figures from two builds of the
//! crate, the same bench code run on each, alternately, in one session, by
//! `benches/before-after.sh` (issue 11: no workload more than 5% slower
//! than before the core redesign, judged on the median of at least three
//! rounds). Reads what the script left under
//! `target/before-after/rounds/{before,after}/N/` and writes that section
//! of `BENCHMARKS.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::results::{Results, load_criterion};

/// The slowdown allowed, as a ratio of times.
const ALLOWED: f64 = 1.05;

/// One side's figure for one workload in each round: a median per round.
#[derive(Default)]
struct Rounds {
    before: Vec<f64>,
    after: Vec<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Reads one side's rounds into `rows`, keyed by (group, parameter, peer).
fn read_side(
    dir: &Path,
    before: bool,
    rows: &mut BTreeMap<(String, String, String), Rounds>,
) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut rounds: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    rounds.sort();
    for round in &rounds {
        let mut results = Results::default();
        load_criterion(&round.join("criterion"), &mut results);
        for ((group, param), peers) in &results.groups {
            for (peer, series) in peers {
                let entry = rows
                    .entry((group.clone(), param.clone(), peer.clone()))
                    .or_default();
                let side = if before {
                    &mut entry.before
                } else {
                    &mut entry.after
                };
                side.push(series.median());
            }
        }
        if let Some(bytes) = std::fs::read_to_string(round.join("memory.txt"))
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
        {
            let entry = rows
                .entry((
                    "memory".into(),
                    "per pending task".into(),
                    "futurepool".into(),
                ))
                .or_default();
            let side = if before {
                &mut entry.before
            } else {
                &mut entry.after
            };
            side.push(bytes);
        }
    }
    rounds.len()
}

fn show(group: &str, value: f64) -> String {
    if group == "memory" {
        format!("{value:.0} B")
    } else if group == "throughput" {
        format!("{:.3} M/s", 1e3 / value)
    } else if value >= 1e6 {
        format!("{:.1} ms", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} µs", value / 1e3)
    } else {
        format!("{value:.0} ns")
    }
}

/// The section, if `benches/before-after.sh` has run.
pub fn section(target: &Path) -> Option<String> {
    let root = target.join("before-after");
    let revision = std::fs::read_to_string(root.join("revision")).ok()?;
    let mut rows = BTreeMap::new();
    let n_before = read_side(&root.join("rounds/before"), true, &mut rows);
    let n_after = read_side(&root.join("rounds/after"), false, &mut rows);
    if n_before == 0 || n_after == 0 {
        return None;
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Before and after the core redesign\n\n\
         futurepool alone, built from two revisions of this repository, the same bench code \
         run on both: **before** is `{}`, the last commit before the core redesign (issues \
         9-11); **after** is this tree. `benches/before-after.sh` ran them alternately in one \
         session, {} rounds each; a figure is the median, over rounds, of each round's \
         median. A workload passes if after is at most {:.0}% slower than before (for \
         memory: larger).\n",
        revision.trim(),
        n_before.min(n_after),
        (ALLOWED - 1.0) * 100.0
    );
    let _ = writeln!(
        md,
        "| workload | peer | before | after | after ÷ before | |\n|---|---|---:|---:|---:|---|"
    );
    let mut worst: Option<(f64, String)> = None;
    for ((group, param, peer), rounds) in &rows {
        if !peer.starts_with("futurepool") || rounds.before.is_empty() || rounds.after.is_empty() {
            continue;
        }
        let before = median(rounds.before.clone());
        let after = median(rounds.after.clone());
        // Times and bytes: lower is better either way.
        let ratio = after / before;
        let verdict = if ratio <= ALLOWED { "ok" } else { "**slower**" };
        let what = format!("{group} ({param})");
        if worst.as_ref().is_none_or(|(r, _)| ratio > *r) {
            worst = Some((ratio, format!("{what}, {peer}")));
        }
        let _ = writeln!(
            md,
            "| {what} | {peer} | {} | {} | {ratio:.2}× | {verdict} |",
            show(group, before),
            show(group, after)
        );
    }
    if let Some((ratio, what)) = worst {
        let _ = writeln!(
            md,
            "\nWorst: {what} at {ratio:.2}× the time (or bytes) of before{}.\n",
            if ratio <= ALLOWED {
                ": every workload passes"
            } else {
                ""
            }
        );
    }
    Some(md)
}
