//! Workload 11: the cluster beside the process pool and Dask's
//! LocalCluster (benches/cluster.rs, benches/python/cluster.py).

use std::fmt::Write as _;

use super::results::{Results, Series, read_json};
use super::{Target, Unit, fmt_ns, peers, table, target};

const FP: &str = "futurepool cluster";
const DASK: &str = "Dask LocalCluster";
const W: &str = "2";

/// The section, if the cluster bench ran; its targets go to `targets`.
pub fn section(md: &mut String, results: &Results, targets: &mut Vec<Target>) {
    let rt = results.get("cluster_round_trip", W);
    let tp = results.get("cluster_throughput", W);
    let map = results.get("cluster_map", W);
    if rt.is_empty() && tp.is_empty() && map.is_empty() {
        return;
    }
    let dask = read_json(&peers::target_dir().join("bench-results/dask_cluster.json"));
    let versions = dask.as_ref().map_or_else(
        || "Dask: not measured (its rows are missing)".to_owned(),
        |j| {
            format!(
                "dask {}, distributed {}, Python {}",
                j["dask"].as_str().unwrap_or("?"),
                j["distributed"].as_str().unwrap_or("?"),
                j["python"].as_str().unwrap_or("?")
            )
        },
    );
    let _ = writeln!(
        md,
        "## 11. Cluster: NATS JetStream, beside the process pool and Dask\n\n\
         futurepool's `ClusterExecutor` (feature `cluster`) with two workers (`benches/cluster.rs`): a nats-server 2.15 \
         on 127.0.0.1 with JetStream's file store, the client in the bench process, each worker a process of its own \
         running one task at a time (on its own one-process pool). Beside it, futurepool's `ProcessPool` of 2 \
         processes (no broker: the floor of a local pool), and Dask's `LocalCluster(n_workers=2, \
         threads_per_worker=1, processes=True)` with its `Client` ({versions}; `benches/python/cluster.py`, in the same \
         run, `pure=False` so no result is reused). Ratios are to futurepool's cluster.\n"
    );
    if !rt.is_empty() {
        let _ = writeln!(
            md,
            "### Round trip, 2 workers\n\nSubmit one trivial task (`x + 1`) and wait for its result.\n"
        );
        table(md, rt, FP, Unit::Time, None);
        if let (Some(f), Some(d)) = (
            median(results, "cluster_round_trip", FP),
            median(results, "cluster_round_trip", DASK),
        ) {
            targets.push(target(
                "cluster round trip at least 10× faster than Dask's LocalCluster (2 processes)",
                Some(d >= 10.0 * f),
                format!("{} vs {}: {:.1}× faster", fmt_ns(f), fmt_ns(d), d / f),
            ));
        }
    }
    if !tp.is_empty() {
        let _ = writeln!(
            md,
            "### Throughput, 10,000 tasks in flight\n\n10,000 trivial tasks submitted at once (a handle each), then \
             all joined; for futurepool's cluster also as one `map_fn` in chunks of 100 (one message per chunk). \
             Time per task.\n"
        );
        let per_second = |s: &Series| format!("{:.0}", 1e9 / s.median());
        table(md, tp, FP, Unit::Time, Some(("tasks/s", &per_second)));
    }
    if !map.is_empty() {
        let _ = writeln!(
            md,
            "### Map speed-up, 2 workers\n\n64 CPU-bound tasks (a spin loop calibrated to about 20 ms per task in each \
             language, the same loop in Rust and Python), sequentially in the calling thread and as one map on 2 \
             workers (one task per message). Time per task; the speed-up is over the sequential run in the same \
             language (at most 2×).\n"
        );
        let seq = |peer: &str| {
            if peer == DASK || peer.starts_with("Python") {
                median(results, "cluster_map", "Python sequential")
            } else {
                median(results, "cluster_map", "sequential")
            }
        };
        let speedup = |peer: &str, s: &Series| {
            seq(peer).map_or("–".to_owned(), |q| format!("{:.2}×", q / s.median()))
        };
        let _ = writeln!(
            md,
            "| peer | median per task | min–max | speed-up over sequential |\n|---|---:|---:|---:|"
        );
        for (peer, s) in map {
            let sp = if peer.contains("sequential") {
                "1 (baseline)".to_owned()
            } else {
                speedup(peer, s)
            };
            let _ = writeln!(
                md,
                "| {peer} | {} | {} – {} | {sp} |",
                fmt_ns(s.median()),
                fmt_ns(s.min()),
                fmt_ns(s.max())
            );
        }
        md.push('\n');
        let up = |peer: &str| Some(seq(peer)? / median(results, "cluster_map", peer)?);
        if let (Some(f), Some(d)) = (up(FP), up(DASK)) {
            targets.push(target(
                "cluster map speed-up with 2 workers at least Dask's",
                Some(f >= d),
                format!("{f:.2}× vs {d:.2}×"),
            ));
        }
    }
    // What the figures don't say by themselves, written by hand.
    if let Ok(notes) =
        std::fs::read_to_string(peers::repo_root().join("benches/results/cluster-notes.md"))
    {
        md.push_str(&notes);
        md.push('\n');
    }
}

fn median(results: &Results, group: &str, peer: &str) -> Option<f64> {
    results.find(group, W, peer).map(Series::median)
}
