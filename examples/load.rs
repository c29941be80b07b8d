//! How busy the machine was while the example timed something: the CPU time
//! this program (and its worker processes) used, beside the CPU time every
//! program on the machine used. What others used is load the speed-up had to
//! share the cores with.
//!
//! Linux only (it reads `/proc`); elsewhere nothing is measured and nothing
//! is said.

use std::time::Duration;

/// A reading taken before a timed run; [`Meter::finish`] compares it with
/// one taken after.
pub struct Meter {
    start: Option<Reading>,
    pids: Vec<u32>,
}

#[derive(Clone, Copy)]
struct Reading {
    /// Busy time of every CPU, in clock ticks (`/proc/stat`).
    machine_busy: u64,
    /// This process's CPU time plus the given workers', in clock ticks.
    ours: u64,
}

/// What a run shared the machine with.
pub struct Load {
    /// Cores' worth of CPU time other programs used, on average over the run.
    pub others: f64,
}

impl Meter {
    /// Starts measuring, counting the worker processes `pids` as ours.
    pub fn start(pids: Vec<u32>) -> Meter {
        Meter {
            start: read(&pids),
            pids,
        }
    }

    /// Stops measuring a run that took `elapsed`.
    pub fn finish(self, elapsed: Duration) -> Option<Load> {
        let start = self.start?;
        let end = read(&self.pids)?;
        let others = end
            .machine_busy
            .saturating_sub(start.machine_busy)
            .saturating_sub(end.ours.saturating_sub(start.ours));
        Some(Load {
            others: others as f64 / TICKS_PER_SECOND / elapsed.as_secs_f64().max(1e-3),
        })
    }
}

impl Load {
    /// A warning to print, if others used a noticeable share of the cores.
    pub fn warning(&self, cores: usize) -> Option<String> {
        // A tenth of a core is noise (the terminal, the shell, cargo exiting).
        (self.others >= 0.25).then(|| {
            format!(
                "warning: other programs kept about {:.1} of the {cores} core(s) busy during this run, \
                 so the speed-up above is lower than on a quiet machine",
                self.others
            )
        })
    }
}

#[cfg(target_os = "linux")]
fn read(pids: &[u32]) -> Option<Reading> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and
    // iowait is busy; steal is time a hypervisor gave to another machine.
    let machine_busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| cpu.get(i).copied().unwrap_or(0))
        .sum();
    let mut ours = process_ticks("self")?;
    for pid in pids {
        ours += process_ticks(&pid.to_string()).unwrap_or(0);
    }
    Some(Reading { machine_busy, ours })
}

#[cfg(not(target_os = "linux"))]
fn read(_pids: &[u32]) -> Option<Reading> {
    None
}

/// User plus system time of a process (all its threads), in clock ticks.
#[cfg(target_os = "linux")]
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Linux reports these times in units of `USER_HZ`, which is 100 on every
/// architecture it supports today.
const TICKS_PER_SECOND: f64 = 100.0;
