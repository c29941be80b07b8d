//! Criterion's samples as the report reads them: time per task of each
//! sample, by workload (group, parameter) and peer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One peer's measurement in one workload: time per task of each sample.
#[derive(Debug, Clone)]
pub struct Series {
    pub per_task_ns: Vec<f64>,
}

impl Series {
    pub fn sorted(&self) -> Vec<f64> {
        let mut v = self.per_task_ns.clone();
        v.sort_by(f64::total_cmp);
        v
    }
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    pub fn min(&self) -> f64 {
        self.sorted()[0]
    }
    pub fn max(&self) -> f64 {
        *self.sorted().last().expect("samples")
    }
}

/// (group, param) -> peer -> series, in the order peers were first seen.
#[derive(Default)]
pub struct Results {
    pub groups: BTreeMap<(String, String), Vec<(String, Series)>>,
}

impl Results {
    pub fn add(&mut self, group: &str, param: &str, peer: &str, series: Series) {
        self.groups
            .entry((group.to_owned(), param.to_owned()))
            .or_default()
            .push((peer.to_owned(), series));
    }
    pub fn get(&self, group: &str, param: &str) -> &[(String, Series)] {
        self.groups
            .get(&(group.to_owned(), param.to_owned()))
            .map_or(&[], Vec::as_slice)
    }
    pub fn find(&self, group: &str, param: &str, peer: &str) -> Option<&Series> {
        self.get(group, param)
            .iter()
            .find(|(p, _)| p == peer)
            .map(|(_, s)| s)
    }
}

pub fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Every `*/new/benchmark.json` under `target/criterion`.
fn criterion_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") && p.join("benchmark.json").exists() {
                out.push(p);
            } else {
                criterion_dirs(&p, out);
            }
        }
    }
}

/// Loads every benchmark under `criterion` (a criterion output directory).
pub fn load_criterion(criterion: &Path, results: &mut Results) {
    let mut dirs = Vec::new();
    criterion_dirs(criterion, &mut dirs);
    dirs.sort();
    for dir in dirs {
        let (Some(bench), Some(sample)) = (
            read_json(&dir.join("benchmark.json")),
            read_json(&dir.join("sample.json")),
        ) else {
            continue;
        };
        let elements = bench["throughput"]["Elements"].as_f64().unwrap_or(1.0);
        let iters = sample["iters"].as_array().cloned().unwrap_or_default();
        let times = sample["times"].as_array().cloned().unwrap_or_default();
        let per_task_ns = iters
            .iter()
            .zip(&times)
            .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()? / elements))
            .collect::<Vec<_>>();
        if per_task_ns.is_empty() {
            continue;
        }
        results.add(
            bench["group_id"].as_str().unwrap_or("?"),
            bench["value_str"].as_str().unwrap_or(""),
            bench["function_id"].as_str().unwrap_or("?"),
            Series { per_task_ns },
        );
    }
}
