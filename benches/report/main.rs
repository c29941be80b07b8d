//! Writes `BENCHMARKS.md` and `benches/results/chart.svg` from what the
//! other bench binaries left behind: criterion's samples under
//! `target/criterion/`, and `target/bench-results/*.json` (the Python
//! peers, memory, the as_completed ideal). Run by `benches/run.sh` after
//! them; a bench target only so that `cargo test` doesn't build it.

mod before_after;
mod cluster;
#[path = "../peers/mod.rs"]
mod peers;
mod results;

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use results::{Results, Series, load_criterion, read_json};

fn load_python(results: &mut Results, file: &str) -> Option<String> {
    let json = read_json(&peers::target_dir().join("bench-results").join(file))?;
    for r in json["results"].as_array()? {
        let samples: Vec<f64> = r["samples_ns"]
            .as_array()?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        results.add(
            r["group"].as_str()?,
            r["param"].as_str()?,
            r["peer"].as_str()?,
            Series {
                per_task_ns: samples,
            },
        );
    }
    json["python"].as_str().map(str::to_owned)
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn mps(ns_per_task: f64) -> f64 {
    1e3 / ns_per_task
}

/// The ratio of a peer's time to futurepool's: of the medians, and of the
/// fastest and the slowest samples (sorted).
fn ratio(peer: &Series, fp: &Series) -> String {
    let (a, b) = (peer.min() / fp.min(), peer.max() / fp.max());
    format!(
        "**{:.2}×** ({:.2}–{:.2})",
        peer.median() / fp.median(),
        a.min(b),
        a.max(b)
    )
}

/// An extra column of a table: its heading and how to fill it from a series.
type Column<'a> = (&'a str, &'a dyn Fn(&Series) -> String);

enum Unit {
    Time,
    Throughput,
}

/// A table of one (group, param): each peer's median, range, and ratio to
/// `baseline` (futurepool).
fn table(
    md: &mut String,
    rows: &[(String, Series)],
    baseline: &str,
    unit: Unit,
    extra: Option<Column<'_>>,
) {
    let fp = rows.iter().find(|(p, _)| p == baseline).map(|(_, s)| s);
    let (h1, h2) = match unit {
        Unit::Time => ("median", "min–max"),
        Unit::Throughput => ("median (M tasks/s)", "min–max (M tasks/s)"),
    };
    let extra_h = extra
        .as_ref()
        .map_or(String::new(), |(h, _)| format!(" {h} |"));
    let _ = writeln!(
        md,
        "| peer | {h1} | {h2} |{extra_h} peer ÷ futurepool (time) |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|{}---:|",
        if extra.is_some() { "---:|" } else { "" }
    );
    for (peer, s) in rows {
        let (med, range) = match unit {
            Unit::Time => (
                fmt_ns(s.median()),
                format!("{} – {}", fmt_ns(s.min()), fmt_ns(s.max())),
            ),
            Unit::Throughput => (
                format!("{:.3}", mps(s.median())),
                format!("{:.3} – {:.3}", mps(s.max()), mps(s.min())),
            ),
        };
        let r = match fp {
            Some(fp) if peer != baseline => ratio(s, fp),
            Some(_) => "1 (baseline)".to_owned(),
            None => "–".to_owned(),
        };
        let name = if peer == baseline {
            format!("**{peer}**")
        } else {
            peer.clone()
        };
        let extra_c = extra
            .as_ref()
            .map_or(String::new(), |(_, f)| format!(" {} |", f(s)));
        let _ = writeln!(md, "| {name} | {med} | {range} |{extra_c} {r} |");
    }
    md.push('\n');
}

struct Target {
    what: String,
    met: Option<bool>,
    figure: String,
}

fn target(what: &str, met: Option<bool>, figure: String) -> Target {
    Target {
        what: what.to_owned(),
        met,
        figure,
    }
}

/// A bar chart panel: (label, value, is futurepool).
struct Panel {
    title: String,
    bars: Vec<(String, f64, bool)>,
    fmt: fn(f64) -> String,
}

fn draw_chart(path: &Path, panels: &[Panel]) -> Result<(), Box<dyn std::error::Error>> {
    let rows = panels.len().div_ceil(2);
    let root = SVGBackend::new(path, (1200, 280 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((rows, 2));
    for (area, panel) in areas.iter().zip(panels) {
        let (w, h) = area.dim_in_pixel();
        let (w, h) = (w as i32, h as i32);
        area.draw(&Text::new(
            panel.title.clone(),
            (12, 10),
            ("sans-serif", 17).into_font().style(FontStyle::Bold),
        ))?;
        let label_w = 250;
        let value_w = 90;
        let top = 40;
        let n = panel.bars.len().max(1) as i32;
        let row_h = ((h - top - 12) / n).min(30);
        let max = panel
            .bars
            .iter()
            .map(|b| b.1)
            .fold(0.0_f64, f64::max)
            .max(1e-12);
        for (i, (label, value, is_fp)) in panel.bars.iter().enumerate() {
            let y = top + i as i32 * row_h;
            let bar_w = ((w - label_w - value_w - 20) as f64 * value / max).round() as i32;
            let color = if *is_fp {
                RGBColor(214, 96, 38)
            } else {
                RGBColor(90, 120, 170)
            };
            area.draw(&Text::new(
                label.clone(),
                (12, y + 6),
                ("sans-serif", 13).into_font(),
            ))?;
            area.draw(&Rectangle::new(
                [(label_w, y + 3), (label_w + bar_w.max(1), y + row_h - 3)],
                color.filled(),
            ))?;
            area.draw(&Text::new(
                (panel.fmt)(*value),
                (label_w + bar_w + 6, y + 6),
                ("sans-serif", 13).into_font(),
            ))?;
        }
        area.draw(&Rectangle::new(
            [(0, 0), (w - 1, h - 1)],
            RGBColor(220, 220, 220).stroke_width(1),
        ))?;
    }
    root.present()?;
    Ok(())
}

fn bars(
    rows: &[(String, Series)],
    baseline: &str,
    value: impl Fn(&Series) -> f64,
) -> Vec<(String, f64, bool)> {
    rows.iter()
        .map(|(p, s)| (p.clone(), value(s), p == baseline))
        .collect()
}

fn cargo_lock_versions(names: &[&str]) -> Vec<(String, String)> {
    let lock = std::fs::read_to_string(peers::repo_root().join("Cargo.lock")).unwrap_or_default();
    let mut out = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), &name) {
            if names.contains(&n.as_str()) {
                out.push((n.clone(), v.trim_matches('"').to_owned()));
            }
        }
    }
    out
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-V")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
    format!(
        "- CPU: {model}, {} cores available to the run\n- Memory: {:.1} GiB\n- OS: Linux {}\n- {rustc}\n",
        peers::cores(),
        mem_kb / 1024.0 / 1024.0,
        kernel.trim()
    )
}

fn main() {
    let mut results = Results::default();
    load_criterion(&peers::target_dir().join("criterion"), &mut results);
    let py_thread = load_python(&mut results, "python_thread.json");
    // Its Python version is the same as the thread pool script's.
    let _ = load_python(&mut results, "python_process.json");
    // Dask's LocalCluster, beside the cluster (workload 11).
    let _ = load_python(&mut results, "dask_cluster.json");
    let res_dir = peers::target_dir().join("bench-results");
    let memory = read_json(&res_dir.join("memory.json"));
    let py_memory = read_json(&res_dir.join("python_thread.json")).map(|j| j["memory"].clone());
    let ac = read_json(&res_dir.join("as_completed.json"));

    let cores = peers::cores();
    let w = cores.to_string();
    let fp = "futurepool";
    let mut md = String::new();
    let mut targets = Vec::new();
    let mut panels = Vec::new();

    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "futurepool measured side by side with the pools a user would otherwise pick, in the same process and the same run \
         (issue 5). Every figure below comes from `benches/run.sh` on this machine (the last full run took {} s); \
         the peers of a workload are always measured in the same run, and a workload re-run alone (`cargo bench \
         --bench thread_pool`, then `benches/run.sh --report`) is re-run with all its peers. Nothing is copied from \
         elsewhere.\n",
        std::env::var("RUN_SECONDS").unwrap_or_else(|_| "?".to_owned())
    );
    let _ = writeln!(
        md,
        "![futurepool beside its peers](benches/results/chart.svg)\n"
    );

    let _ = writeln!(md, "## Machine\n\n{}", machine());
    let _ = writeln!(md, "## Versions\n");
    for (n, v) in cargo_lock_versions(&[
        "futurepool",
        "criterion",
        "rayon",
        "rayon-core",
        "tokio",
        "blocking",
        "threadpool",
        "crossbeam-channel",
        "oneshot",
        "procspawn",
        "parking_lot",
        "postcard",
        "serde_bytes",
    ]) {
        let _ = writeln!(md, "- {n} {v}");
    }
    match &py_thread {
        Some(v) => {
            let _ = writeln!(md, "- Python {v}");
        }
        None => {
            let _ = writeln!(md, "- Python: not found, its rows are missing");
        }
    }
    md.push('\n');

    let _ = writeln!(
        md,
        "## Method\n\n\
         - Each workload is a criterion group; every peer of a group runs in the same process, one after another, with a short \
         warm-up (criterion's defaults are far too long for a 20-minute budget on 2 cores). Latencies take 20–30 samples; \
         the 1,000,000-task and sleeping workloads take 10 flat samples of whole runs.\n\
         - A figure is the time per task of one sample; the tables give the **median** over samples and the min–max.\n\
         - **peer ÷ futurepool** is the peer's median time per task over futurepool's (above 1: futurepool is faster), \
         with the same ratio for the fastest samples and for the slowest in brackets. For throughput, time per task is \
         the inverse of tasks per second, so the ratio reads the same way.\n\
         - Peers without a handle of their own (rayon's `spawn`, `threadpool`, the floor) get a `oneshot` channel per task, \
         so every peer pays for a handle. The **crossbeam floor** is a hand-written pool: boxed closures on one \
         `crossbeam-channel`, workers looping on `recv`. No cancellation, callbacks, panic capture or lazy start: the \
         cost no pool goes much below.\n\
         - `blocking::unblock` runs on smol's global pool, sized by `BLOCKING_MAX_THREADS` (set to the core count by the \
         script, to 1 in the memory workload). tokio's blocking pool is sized with `max_blocking_threads`.\n\
         - Python's peers are timed by `benches/python/*.py` with `time.perf_counter_ns` in the same way (round trips in \
         batches of 1,000, throughput over 100,000 tasks, 3 samples).\n\
         - Memory: each peer in a fresh child process, its one worker held busy, 1,000,000 trivial tasks queued with a \
         handle each (200,000 for Python); the rise in peak RSS (`VmHWM`) divided by the task count.\n\
         - Targets are checked on the medians, as the issue sets them; they are reported here, never asserted by tests.\n"
    );

    // 1. Round trip.
    let _ = writeln!(
        md,
        "## 1. Round trip\n\nSubmit a trivial task and block on its result, one at a time.\n"
    );
    for wk in peers::worker_counts() {
        let rows = results.get("round_trip", &wk.to_string());
        let _ = writeln!(md, "### {wk} worker{}\n", if wk == 1 { "" } else { "s" });
        table(&mut md, rows, fp, Unit::Time, None);
    }
    let rows = results.get("round_trip", &w);
    panels.push(Panel {
        title: format!("1. Round trip, {cores} workers (µs, lower is better)"),
        bars: bars(rows, fp, |s| s.median() / 1e3),
        fmt: |v| format!("{v:.1} µs"),
    });
    let fp_rt = results.find("round_trip", &w, fp).map(Series::median);
    let peer_rt = |p: &str| results.find("round_trip", &w, p).map(Series::median);
    if let (Some(f), Some(r)) = (fp_rt, peer_rt("rayon spawn+oneshot")) {
        targets.push(target(
            "round trip no slower than rayon spawn + oneshot",
            Some(f <= r),
            format!("{} vs {} ({:.2}×)", fmt_ns(f), fmt_ns(r), r / f),
        ));
    }
    if let (Some(f), Some(r)) = (fp_rt, peer_rt("crossbeam floor")) {
        targets.push(target(
            "round trip within 1.2× the hand-written floor",
            Some(f <= 1.2 * r),
            format!("{} vs {}: {:.2}× the floor", fmt_ns(f), fmt_ns(r), f / r),
        ));
    }
    if let (Some(f), Some(r)) = (fp_rt, peer_rt("tokio spawn_blocking")) {
        targets.push(target(
            "round trip at least 2× faster than tokio spawn_blocking",
            Some(r >= 2.0 * f),
            format!("{} vs {}: {:.2}× faster", fmt_ns(f), fmt_ns(r), r / f),
        ));
    }

    // 2. Throughput.
    let _ = writeln!(
        md,
        "## 2. Throughput\n\nSubmit 1,000,000 trivial tasks keeping a handle for each, then wait for all \
         (`std::thread::spawn`: 5,000 threads; Python: 100,000 tasks). With several submitters, each submits its share \
         and waits for its own handles.\n"
    );
    let mut tp_params: Vec<String> = results
        .groups
        .keys()
        .filter(|(g, _)| g == "throughput")
        .map(|(_, p)| p.clone())
        .collect();
    tp_params.sort_by_key(|p| {
        p.split(", ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
    });
    for param in &tp_params {
        let _ = writeln!(md, "### {param}\n");
        table(
            &mut md,
            results.get("throughput", param),
            fp,
            Unit::Throughput,
            None,
        );
        let f = results.find("throughput", param, fp).map(Series::median);
        if let (Some(f), Some(r)) = (
            f,
            results
                .find("throughput", param, "rayon spawn+oneshot")
                .map(Series::median),
        ) {
            targets.push(target(
                &format!("throughput with handles at least rayon's ({param})"),
                Some(f <= r),
                format!("{:.2} vs {:.2} M/s", mps(f), mps(r)),
            ));
        }
        if let (Some(f), Some(r)) = (
            f,
            results
                .find("throughput", param, "crossbeam floor")
                .map(Series::median),
        ) {
            targets.push(target(
                &format!("throughput at least 0.9× the floor ({param})"),
                Some(mps(f) >= 0.9 * mps(r)),
                format!(
                    "{:.2} vs {:.2} M/s: {:.2}×",
                    mps(f),
                    mps(r),
                    mps(f) / mps(r)
                ),
            ));
        }
    }
    if let Some(param) = tp_params.first() {
        panels.push(Panel {
            title: format!("2. Throughput, {param} (M tasks/s, higher is better)"),
            bars: bars(results.get("throughput", param), fp, |s| mps(s.median())),
            fmt: |v| format!("{v:.2} M/s"),
        });
    }

    // 3. Map.
    let _ = writeln!(
        md,
        "## 3. Map of a CPU-bound function\n\nNaive `is_prime` over 64 primes above 10^11 (about 1.5 ms each); \
         speed-up = sequential median ÷ the peer's median. The limit is the worker count.\n"
    );
    let seq = results.find("map", "1", "sequential").cloned();
    for wk in peers::worker_counts() {
        let _ = writeln!(md, "### {wk} worker{}\n", if wk == 1 { "" } else { "s" });
        let mut rows = results.get("map", &wk.to_string()).to_vec();
        if let Some(seq) = &seq {
            rows.insert(0, ("sequential".to_owned(), seq.clone()));
        }
        let speedup = |s: &Series| {
            seq.as_ref().map_or("–".to_owned(), |q| {
                format!("{:.3}", q.median() / s.median())
            })
        };
        table(&mut md, &rows, fp, Unit::Time, Some(("speed-up", &speedup)));
        if wk == cores {
            if let Some(q) = &seq {
                panels.push(Panel {
                    title: format!(
                        "3. Map speed-up over sequential, {wk} workers (higher is better)"
                    ),
                    bars: bars(&rows, fp, |s| q.median() / s.median()),
                    fmt: |v| format!("{v:.3}"),
                });
                if let Some(f) = results.find("map", &w, fp) {
                    let sp = q.median() / f.median();
                    targets.push(target(
                        &format!(
                            "map speed-up at least 0.965 × {cores} = {:.2}",
                            0.965 * cores as f64
                        ),
                        Some(sp >= 0.965 * cores as f64),
                        format!("{sp:.3}"),
                    ));
                }
            }
        }
    }

    // 4. as_completed.
    let ideal = ac.as_ref().and_then(|j| j["ideal_ns"].as_f64());
    let _ = writeln!(
        md,
        "## 4. as_completed\n\n10,000 tasks sleeping 1–5 ms (uniform, fixed seed) on 64 threads, each result taken as it \
         completes. The ideal is the makespan of the same sleeps handed in order to the first free of 64 workers with no \
         overhead at all{}. The peers without an `as_completed` report completion on one shared channel.\n",
        ideal
            .map(|i| format!(": **{}**", fmt_ns(i)))
            .unwrap_or_default()
    );
    let rows = results.get("as_completed", "64");
    let over = |s: &Series| {
        ideal.map_or("–".to_owned(), |i| {
            format!("{:+.1}%", (s.median() / i - 1.0) * 100.0)
        })
    };
    table(
        &mut md,
        rows,
        fp,
        Unit::Time,
        Some(("over the ideal", &over)),
    );
    if let Some(i) = ideal {
        panels.push(Panel {
            title: "4. as_completed, 64 threads: % over the ideal (lower is better)".to_owned(),
            bars: bars(rows, fp, |s| (s.median() / i - 1.0) * 100.0),
            fmt: |v| format!("{v:+.2}%"),
        });
        if let Some(f) = results.find("as_completed", "64", fp) {
            let o = (f.median() / i - 1.0) * 100.0;
            let floor = results
                .find("as_completed", "64", "crossbeam floor")
                .map(|s| (s.median() / i - 1.0) * 100.0);
            targets.push(target(
                "as_completed within 3% of the ideal",
                Some(o <= 3.0),
                format!(
                    "{o:+.2}%{}",
                    floor
                        .map(|f| format!(" (the floor: {f:+.2}%)"))
                        .unwrap_or_default()
                ),
            ));
        }
    }

    // 5. Await.
    let _ = writeln!(
        md,
        "## 5. Await\n\nThe round trip ({cores} workers) awaited: from a current-thread tokio runtime's `block_on`, and from \
         `futures::executor::block_on`, beside blocking on it and beside the async peers. Ratios are to futurepool's \
         blocking `join`.\n"
    );
    let base = "futurepool join (blocking)";
    let rows = results.get("await", &w);
    table(&mut md, rows, base, Unit::Time, None);
    panels.push(Panel {
        title: format!("5. Await a round trip, {cores} workers (µs, lower is better)"),
        bars: rows
            .iter()
            .map(|(p, s)| (p.clone(), s.median() / 1e3, p.starts_with(fp)))
            .collect(),
        fmt: |v| format!("{v:.1} µs"),
    });
    if let (Some(b), Some(t)) = (
        results.find("await", &w, base).map(Series::median),
        results
            .find("await", &w, "futurepool .await in tokio")
            .map(Series::median),
    ) {
        targets.push(target(
            "awaiting from tokio within 1.1× of blocking on it",
            Some(t <= 1.1 * b),
            format!("{} vs {}: {:.2}×", fmt_ns(t), fmt_ns(b), t / b),
        ));
    }

    // 6. Process pool.
    let _ = writeln!(
        md,
        "## 6. Process pool\n\nRound trip and throughput (5,000 tasks of `x + 1`) on a pool of worker processes.\n"
    );
    for wk in peers::worker_counts() {
        let _ = writeln!(
            md,
            "### Round trip, {wk} worker{}\n",
            if wk == 1 { "" } else { "s" }
        );
        table(
            &mut md,
            results.get("process_round_trip", &wk.to_string()),
            fp,
            Unit::Time,
            None,
        );
    }
    let _ = writeln!(md, "### Throughput, {cores} workers\n");
    table(
        &mut md,
        results.get("process_throughput", &w),
        fp,
        Unit::Throughput,
        None,
    );
    let prt = |p: &str| {
        results
            .find("process_round_trip", &w, p)
            .map(Series::median)
    };
    for (peer, k) in [("procspawn Pool", 2.0), ("Python ProcessPoolExecutor", 6.0)] {
        let what = format!("process round trip at least {k}× faster than {peer}");
        match (prt(fp), prt(peer)) {
            (Some(f), Some(r)) => targets.push(target(
                &what,
                Some(r >= k * f),
                format!("{} vs {}: {:.2}×", fmt_ns(f), fmt_ns(r), r / f),
            )),
            (None, r) => targets.push(target(
                &what,
                None,
                format!(
                    "futurepool not measured; {peer}: {}",
                    r.map_or("–".to_owned(), fmt_ns)
                ),
            )),
            (Some(_), None) => targets.push(target(&what, None, format!("{peer} not measured"))),
        }
    }
    let prows = results.get("process_round_trip", &w);
    if !prows.is_empty() {
        panels.push(Panel {
            title: format!("6. Process pool round trip, {cores} workers (µs, lower is better)"),
            bars: bars(prows, fp, |s| s.median() / 1e3),
            fmt: |v| format!("{v:.0} µs"),
        });
    }

    // 7. Memory.
    let _ = writeln!(md, "## 7. Memory per pending task\n");
    let mut mem_rows: Vec<(String, f64)> = memory
        .as_ref()
        .and_then(|m| m["results"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some((
                r["peer"].as_str()?.to_owned(),
                r["bytes_per_task"].as_f64()?,
            ))
        })
        .collect();
    if let Some(pm) = &py_memory {
        if let (Some(p), Some(b)) = (pm["peer"].as_str(), pm["bytes_per_task"].as_f64()) {
            mem_rows.push((p.to_owned(), b));
        }
    }
    let fp_mem = mem_rows.iter().find(|(p, _)| p == fp).map(|r| r.1);
    if let Some(b) = fp_mem {
        targets.push(target(
            "memory per pending task at most 150 bytes",
            Some(b <= 150.0),
            format!("{b:.0} bytes"),
        ));
    }
    let _ = writeln!(
        md,
        "| peer | bytes per pending task | peer ÷ futurepool |\n|---|---:|---:|"
    );
    for (p, b) in &mem_rows {
        let r = fp_mem.map_or("–".to_owned(), |f| {
            if p == fp {
                "1 (baseline)".to_owned()
            } else {
                format!("**{:.2}×**", b / f)
            }
        });
        let name = if p == fp {
            format!("**{p}**")
        } else {
            p.clone()
        };
        let _ = writeln!(md, "| {name} | {b:.0} | {r} |");
    }
    md.push('\n');
    panels.push(Panel {
        title: "7. Bytes per pending task (lower is better)".to_owned(),
        bars: mem_rows
            .iter()
            .map(|(p, b)| (p.clone(), *b, p == fp))
            .collect(),
        fmt: |v| format!("{v:.0} B"),
    });

    // 8. Nested waits (issue 12).
    let nested = read_json(&res_dir.join("nested.json"));
    let nrows = results.get("nested", &w);
    if !nrows.is_empty() {
        let _ = writeln!(
            md,
            "## 8. Nested waits: recursive fan-out

`fib({})` where every call above the leaves submits its two halves and waits for both ({} calls), on {cores} workers: futurepool's `submit` + `join` (a waiting worker runs what it waits for; it lends its place, up to `max_lent`, only when that runs elsewhere) beside rayon's `join` and `scope` on a pool of the same size. rayon's `join` is a far cheaper primitive (no handle, no allocation when the other half is taken back): the point is the ratio, and that futurepool's threads stay bounded. Time per call.\n",
            nested.as_ref().and_then(|n| n["n"].as_u64()).unwrap_or(0),
            nested.as_ref().and_then(|n| n["calls"].as_u64()).unwrap_or(0),
        );
        let nfp = "futurepool submit+join";
        table(&mut md, nrows, nfp, Unit::Time, None);
        if let Some(n) = &nested {
            let _ = writeln!(
                md,
                "Threads: over all of the benchmark's runs, futurepool started {} threads (a lent place may start one; a worker that comes back waits in reserve for the next lend) and ran at most {} at once (its bound: {} workers + {} lent); rayon runs {}.\n",
                n["futurepool_threads_started"],
                n["futurepool_peak_threads"],
                n["workers"],
                n["max_lent"],
                n["rayon_threads"],
            );
        }
    }

    // 9. Process pipes (issue 13).
    wire_section(&mut md, &results, &mut targets);

    // 10. Workflows (issue 14).
    let crows = results.get("workflows_chain", "1000 links");
    let prows = results.get("workflows_progress", "10000 items");
    if !crows.is_empty() || !prows.is_empty() {
        let _ = writeln!(
            md,
            "## 10. Workflows: dependent tasks and progress

**A chain of dependent tasks** (`benches/workflows.rs`): 1,000 tasks, each adding one to the value of the one before, on {cores} workers. futurepool's `task().after(prev).submit(f)` submits the whole chain at once and no thread waits (each link starts when the one before ends, from that task's completion); beside it, the same chain driven by hand with futurepool's `submit` + `join` (the submitting thread waits for each link) and with rayon's `spawn` and a oneshot channel per link. Time per link.\n"
        );
        table(&mut md, crows, "futurepool after", Unit::Time, None);
        let _ = writeln!(
            md,
            "**Watching progress**: an ordered `map` of 10,000 trivial tasks without an observer, with a closure observer and with a hidden `indicatif` bar (the observer runs on the consuming thread each time the count changes). Time per item; the ratio is what watching costs.\n"
        );
        table(&mut md, prows, "futurepool map", Unit::Time, None);
    }

    cluster::section(&mut md, &results, &mut targets);

    // Targets.
    let mut t = String::new();
    let _ = writeln!(
        t,
        "## Targets\n\n| target | status | figure (medians) |\n|---|---|---|"
    );
    for tg in &targets {
        let status = match tg.met {
            Some(true) => "MET",
            Some(false) => "**MISSED**",
            None => "pending",
        };
        let _ = writeln!(t, "| {} | {status} | {} |", tg.what, tg.figure);
    }
    t.push('\n');
    if let Some(section) = before_after::section(&peers::target_dir()) {
        t.push_str(&section);
        t.push('\n');
    }
    if let Ok(notes) = std::fs::read_to_string(peers::repo_root().join("benches/results/notes.md"))
    {
        t.push_str(&notes);
        t.push('\n');
    }
    // The targets go right after the method, before the tables.
    let at = md.find("## 1. Round trip").unwrap_or(md.len());
    md.insert_str(at, &t);

    let root = peers::repo_root();
    let chart = root.join("benches/results/chart.svg");
    std::fs::create_dir_all(chart.parent().expect("has a parent")).expect("create benches/results");
    draw_chart(&chart, &panels).expect("draw the chart");
    std::fs::write(root.join("BENCHMARKS.md"), md).expect("write BENCHMARKS.md");
    println!("wrote BENCHMARKS.md and benches/results/chart.svg");
    for tg in &targets {
        println!(
            "{:>8}  {}: {}",
            match tg.met {
                Some(true) => "MET",
                Some(false) => "MISSED",
                None => "pending",
            },
            tg.what,
            tg.figure
        );
    }
}

/// Workload 9: the process pool beside the floor of a pipe design, the same
/// bytes through a plain pipe between two processes, measured in the same run.
fn wire_section(md: &mut String, results: &Results, targets: &mut Vec<Target>) {
    let fp = "futurepool";
    let bulk = "64 MiB";
    let brows = results.get("wire_bulk", bulk);
    let cores = peers::cores();
    let two = format!("{cores} CPU{}", if cores == 1 { "" } else { "s" });
    let pinned = "1 CPU, pinned";
    if brows.is_empty() && results.get("wire_ping_pong", &two).is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## 9. Process pipes: bulk data and the round trip\n\n\
         futurepool's process pool beside the floor of any design that moves bytes through pipes: the same bytes between \
         two processes over a pair of plain pipes, in the same run (`benches/wire.rs`).\n\n\
         **Bulk.** A 64 MiB argument sent to one worker and returned (`echo`), as a `serde_bytes::ByteBuf` (the type the \
         docs recommend for bulk data) and as a plain `Vec<u8>`, beside a plain pipe copy: 64 MiB written to a child \
         that reads them all, then writes them all back (store and forward, as a task must), into buffers allocated \
         once. MB/s is 64 MiB over the round trip. The ratio of the floor's time to futurepool's is the fraction of the \
         pipe's speed that futurepool reaches.\n"
    );
    let mbps = |s: &Series| format!("{:.0}", (64 << 20) as f64 / s.median() * 1e9 / 1e6);
    let fp_bulk = "futurepool ByteBuf";
    // `Vec<u8>` would read as an HTML tag in a table.
    let brows: Vec<(String, Series)> = brows
        .iter()
        .map(|(p, s)| match p.split_once(' ') {
            Some((who, ty)) if ty.contains('<') => (format!("{who} `{ty}`"), s.clone()),
            _ => (p.clone(), s.clone()),
        })
        .collect();
    table(md, &brows, fp_bulk, Unit::Time, Some(("MB/s", &mbps)));
    let floor_bulk = "pipe copy floor";
    if let (Some(f), Some(p)) = (
        results.find("wire_bulk", bulk, fp_bulk).map(Series::median),
        results
            .find("wire_bulk", bulk, floor_bulk)
            .map(Series::median),
    ) {
        let mb = |ns: f64| (64 << 20) as f64 / ns * 1e9 / 1e6;
        targets.push(target(
            "64 MiB `ByteBuf` round trip at least 0.8× a plain pipe copy",
            Some(p / f >= 0.8),
            format!("{:.0} vs {:.0} MB/s: {:.2}× the pipe", mb(f), mb(p), p / f),
        ));
    }
    let _ = writeln!(
        md,
        "**Round trip.** futurepool's round trip of a `u64` to one worker beside a raw ping-pong of 8 bytes between two \
         processes over a pair of pipes: on every CPU, then with the benchmark process (and the worker, the pipe peer \
         and the threads it starts from then on) pinned to one CPU. Ratios are to futurepool.\n"
    );
    let floor_pp = "pipe ping-pong floor";
    let interleaved = interleaved_round_trip(md, targets);
    for param in [two.as_str(), pinned] {
        let rows = results.get("wire_ping_pong", param);
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {param}\n");
        table(md, rows, fp, Unit::Time, None);
        if let (Some(f), Some(p)) = (
            results
                .find("wire_ping_pong", param, fp)
                .map(Series::median),
            results
                .find("wire_ping_pong", param, floor_pp)
                .map(Series::median),
        ) {
            let figure = format!("{} vs {}: {:.2}× the floor", fmt_ns(f), fmt_ns(p), f / p);
            if param == pinned {
                let _ = writeln!(md, "Pinned to one CPU: {figure}.\n");
            } else if !interleaved {
                targets.push(target(
                    &format!("process round trip within 1.2× a raw pipe ping-pong ({param})"),
                    Some(f <= 1.2 * p),
                    figure,
                ));
            }
        }
    }
}

/// Workload 9's round trip from `benches/round_trip.rs`, which interleaves
/// short rounds of futurepool's round trip with rounds of the raw ping-pong
/// (a sequential criterion run of each can land on different moments of a
/// busy VM). Returns whether there was a run to report: it then sets the
/// target.
fn interleaved_round_trip(md: &mut String, targets: &mut Vec<Target>) -> bool {
    let Some(json) = read_json(&peers::target_dir().join("bench-results/round_trip.json")) else {
        return false;
    };
    let all = &json["all"];
    let (Some(ours), Some(floor), Some(ratio)) = (
        all["ours"].as_f64(),
        all["floor"].as_f64(),
        all["median_ratio"].as_f64(),
    ) else {
        return false;
    };
    let cpus = json["cpus"].as_u64().unwrap_or(0);
    let _ = writeln!(
        md,
        "**Round trip, interleaved** (`benches/round_trip.rs`): {} rounds of {} round trips of a `u64` to one \
         worker (`submit` + `join`), each beside a round of as many 8-byte ping-pongs between two processes over a \
         pair of pipes, in alternating order; the ratio is taken per round, then the median. On a VM the ping-pong \
         swings between about 4.5 µs (both processes on one CPU) and about 45 µs (on two: each wake-up crosses to an \
         idle CPU), so the per-round ratio is the figure to trust.\n",
        all["rounds"].as_u64().unwrap_or(0),
        all["trips"].as_u64().unwrap_or(0),
    );
    let _ = writeln!(
        md,
        "| CPUs | futurepool (median, min) | ping-pong floor (median, min) | median ratio | caller CPU per trip (futurepool, floor) |\n|---|---:|---:|---:|---:|"
    );
    let row = |md: &mut String, label: &str, v: &Value| {
        let us = |k: &str| v[k].as_f64().map_or("?".to_owned(), |x| fmt_ns(x * 1e3));
        let _ = writeln!(
            md,
            "| {label} | {}, {} | {}, {} | {:.2}× | {}, {} |",
            us("ours"),
            us("ours_min"),
            us("floor"),
            us("floor_min"),
            v["median_ratio"].as_f64().unwrap_or(f64::NAN),
            us("caller_cpu"),
            us("caller_cpu_floor"),
        );
    };
    row(md, &format!("{cpus}"), all);
    let pinned = &json["pinned"];
    if pinned.is_object() {
        row(md, "1, pinned", pinned);
    }
    if let Some(idle) = json["idle_percent"].as_f64() {
        let _ = writeln!(
            md,
            "\nAn idle 2-worker pool right after 20,000 round trips used {idle:.2}% of a core over 3 s (the \
             process and its workers, `/proc/<pid>/stat`).\n"
        );
    }
    let mut figure = format!(
        "{} vs {}: {ratio:.2}× the floor (median of per-round ratios, `benches/round_trip.rs`)",
        fmt_ns(ours * 1e3),
        fmt_ns(floor * 1e3)
    );
    if let Some(r) = pinned["median_ratio"].as_f64() {
        let _ = write!(figure, "; pinned to one CPU {r:.2}×");
    }
    targets.push(target(
        &format!("process round trip within 1.2× a raw pipe ping-pong ({cpus} CPUs)"),
        Some(ratio <= 1.2),
        figure,
    ));
    true
}
