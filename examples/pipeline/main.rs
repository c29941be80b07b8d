//! An image pipeline: download on threads, decode on processes, as each
//! download completes; then cluster the images.
//!
//! ```text
//! cargo run --release -p futurepool-examples --features pipeline --example pipeline
//! cargo run --release -p futurepool-examples --features pipeline --example pipeline -- --images 600 --workers 4
//! ```
//!
//! Options: `--images N` (300), `--side PIXELS` (256), `--workers N` (one
//! per core), `--downloaders N` (16), `--latency MS` (20).
//!
//! This is the image pipeline that Python's beginner guides to
//! `concurrent.futures` build (a `ThreadPoolExecutor` downloads, a
//! `ProcessPoolExecutor` processes), with what they leave out:
//!
//! - **A real server, in the program.** It starts a small HTTP/1.1 server on
//!   `127.0.0.1` (an ephemeral port, loopback only) that serves `--images`
//!   generated PNG images, each answered after `--latency` milliseconds (20
//!   by default), which stands for the network: a local server answers in
//!   microseconds, and then there would be nothing for threads to overlap.
//!   The images fall in four visual groups (a colour family and a pattern
//!   each, with random variations and noise), so there is something to find.
//! - **Threads for waiting, processes for computing.** A [`ThreadPool`] of
//!   `--downloaders` threads downloads each image with a minimal HTTP GET; a
//!   [`ProcessPool`] of `--workers` processes decodes each PNG, shrinks it to
//!   16x16 (a box filter) and flattens it into a feature vector.
//! - **Pipelined.** Each image goes to the process pool the moment its
//!   download completes, not after all downloads: the workers decode while
//!   other images are still on the way. One growing [`as_completed`] holds
//!   both steps: each finished download [adds](futurepool::AsCompleted::add)
//!   its decode, keyed by its step, with [`AnyHandle`] for the two output
//!   types; the iteration ends when every download and decode has
//!   finished. An image's bytes go as a byte string ([`ByteBuf`]: one length
//!   and one copy, not a serde sequence of numbers).
//! - **Checked.** A final step clusters the feature vectors (k-means,
//!   deterministic start, fixed iterations) and prints the cluster sizes and
//!   their purity against the generated groups. A sequential version (each
//!   image downloaded, decoded and shrunk in turn, in this thread) runs
//!   first; the program prints both times and checks that both versions
//!   computed the same features and the same clusters.
//!
//! An indicatif progress bar shows on the terminal while each version runs
//! (the pipelined one fed by `as_completed`'s
//! [`progress`](futurepool::AsCompleted::progress) observer), and nothing at
//! all when stderr is not a terminal.
//!
//! The example is behind the examples package's `pipeline` feature, so that
//! the `png` crate (nine crates in all) stays out of the main example's
//! build; without the feature, cargo says which feature it needs.
//!
//! # Results
//!
//! With the defaults (300 images of 256x256, 20 ms latency, 16 download
//! threads, one worker process per core), in release, on a 2-core Linux VM
//! that other builds kept busy (load average 8):
//!
//! ```text
//! serving 300 PNG images of 256x256 (50.7 MB) on 127.0.0.1:41433 (20 ms latency each)
//! sequential: 6.52 s (download 6.32 s, decode and shrink 0.20 s)
//! pipelined:  0.41 s (16 download threads, 2 worker processes)
//! speed-up:   15.8x
//! clusters:   79 77 65 79 (purity 100.0% against the generated groups)
//! both versions agree: same features, same clusters
//! ```
//!
//! Over nine default runs on that machine the speed-up ranged from 15.3x
//! to 19.7x, and the whole program took 7 to 9 seconds.
//!
//! Nearly all of the gain is the threads': the sequential version waits for
//! each image in turn (300 times 20 ms), the pipelined one for sixteen at a
//! time (about 0.38 s in all), and the decoding hides under the downloads.
//! A 256x256 PNG decodes in under a millisecond, not much more than it
//! costs to send it to a worker: with `--latency 0`, where there is no
//! waiting to hide, the pipelined version was 1.2 to 2.8 times faster over
//! five runs here. Worker processes pay off when each item costs much more
//! to compute than to send (as in the `primes` example).

mod cluster;
mod http;
mod images;

use std::error::Error;
use std::io::{self, Write};
use std::thread;
use std::time::{Duration, Instant};

use futurepool::{AnyHandle, ProcessPool, Progress, ThreadPool, as_completed, remote};
use indicatif::{ProgressBar, ProgressStyle};
use serde_bytes::ByteBuf;

use crate::cluster::{kmeans, purity};
use crate::http::{Server, download};
use crate::images::{GROUPS, SMALL, generate, shrink};

// The unit test below starts worker processes from the test binary, whose
// `main` the test harness owns.
#[cfg(test)]
futurepool::process_init_before_main!();

type BoxError = Box<dyn Error + Send + Sync>;

/// What to run.
#[derive(Clone, Debug)]
struct Config {
    images: usize,
    /// Width and height of each generated image.
    side: u32,
    /// Worker processes that decode.
    workers: usize,
    /// Threads that download.
    downloaders: usize,
    /// How long the server waits before each answer (the "network").
    latency: Duration,
    /// Whether to draw progress bars (on a terminal only, either way).
    progress: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            images: 300,
            side: 256,
            workers: thread::available_parallelism().map_or(1, |n| n.get()),
            downloaders: 16,
            latency: Duration::from_millis(20),
            progress: true,
        }
    }
}

/// What a run found. (`run` prints it, with the times; the test reads it.)
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
struct Summary {
    /// Images with a feature vector from the pipelined version.
    processed: usize,
    /// Steps (downloads and decodes) the pipelined version's progress counted.
    steps_counted: u64,
    /// Images per cluster.
    cluster_sizes: Vec<usize>,
    /// The share of images whose cluster's majority group is their own group.
    purity: f64,
    /// Same features and same clusters in both versions.
    agree: bool,
}

/// Serves the images, runs both versions, clusters, and prints a report.
fn run(config: &Config, out: &mut impl Write) -> Result<Summary, BoxError> {
    let threads = ThreadPool::builder()
        .max_workers(config.downloaders)
        .thread_name("download")
        .build()?;
    let processes = ProcessPool::builder().max_workers(config.workers).build()?;

    // Generate and encode the images on the threads (not timed).
    let side = config.side;
    let mut groups = Vec::with_capacity(config.images);
    let mut pngs = Vec::with_capacity(config.images);
    for image in threads.map(move |i| generate(i, side), 0..config.images) {
        let (group, png) = image.expect("generating doesn't panic");
        groups.push(group);
        pngs.push(png);
    }
    let megabytes = pngs.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    let server = Server::start(pngs, config.latency)?;
    writeln!(
        out,
        "serving {} PNG images of {side}x{side} ({megabytes:.1} MB) on {} ({} ms latency each)",
        config.images,
        server.addr,
        config.latency.as_millis()
    )?;

    // Start the worker processes before timing.
    let warm: Vec<_> = (0..config.workers)
        .map(|_| processes.submit(remote!(shrink), (0, ByteBuf::new())))
        .collect::<Result<_, _>>()?;
    for handle in warm {
        handle.join()??;
    }

    let (sequential, seq_time) = sequential(config, &server, out)?;
    let (pipelined, pipe_time, steps_counted) =
        pipelined(config, &server, &threads, &processes, out)?;
    drop(server);
    writeln!(
        out,
        "speed-up:   {:.1}x",
        seq_time.as_secs_f64() / pipe_time.as_secs_f64()
    )?;
    let features = SMALL as usize * SMALL as usize * 3;
    let processed = pipelined.iter().filter(|f| f.len() == features).count();

    // Cluster both, and compare.
    let labels = kmeans(&pipelined, GROUPS, 20);
    let agree = sequential == pipelined && kmeans(&sequential, GROUPS, 20) == labels;
    let cluster_sizes: Vec<usize> = (0..GROUPS)
        .map(|c| labels.iter().filter(|&&l| l == c).count())
        .collect();
    let purity = purity(&labels, &groups, GROUPS);
    let sizes: Vec<String> = cluster_sizes.iter().map(usize::to_string).collect();
    writeln!(
        out,
        "clusters:   {} (purity {:.1}% against the generated groups)",
        sizes.join(" "),
        purity * 100.0
    )?;
    writeln!(
        out,
        "both versions agree: {}",
        if agree {
            "same features, same clusters"
        } else {
            "NO"
        }
    )?;
    Ok(Summary {
        processed,
        steps_counted,
        cluster_sizes,
        purity,
        agree,
    })
}

/// Each image downloaded, decoded and shrunk in turn, in this thread: the
/// features of each image, and the time it took.
fn sequential(
    config: &Config,
    server: &Server,
    out: &mut impl Write,
) -> Result<(Vec<Vec<f32>>, Duration), BoxError> {
    let bar = progress_bar(config, "sequential", 1);
    let start = Instant::now();
    let (mut waiting, mut computing) = (Duration::ZERO, Duration::ZERO);
    let mut features = Vec::with_capacity(config.images);
    for i in 0..config.images {
        let t = Instant::now();
        let png = download(server.addr, i)?;
        waiting += t.elapsed();
        let t = Instant::now();
        features.push(shrink((i as u32, ByteBuf::from(png)))?.1);
        computing += t.elapsed();
        bar.inc(1);
    }
    let time = start.elapsed();
    bar.finish_and_clear();
    writeln!(
        out,
        "sequential: {} (download {}, decode and shrink {})",
        secs(time),
        secs(waiting),
        secs(computing)
    )?;
    Ok((features, time))
}

/// What a download gives, and what a decode gives.
type Downloaded = Result<Vec<u8>, BoxError>;
type Decoded = Result<(u32, Vec<f32>), String>;

/// One step of the pipeline, the key of its task in `as_completed`.
enum Step {
    Download(usize),
    Decode,
}

/// The downloads on the threads, and each image to the processes as its
/// download completes: the features of each image, the time it took, and
/// the steps its progress bar counted.
fn pipelined(
    config: &Config,
    server: &Server,
    threads: &ThreadPool,
    processes: &ProcessPool,
    out: &mut impl Write,
) -> Result<(Vec<Vec<f32>>, Duration, u64), BoxError> {
    // Two steps an image: its download, then its decode.
    let bar = progress_bar(config, "pipelined", 2);
    let start = Instant::now();
    let addr = server.addr;
    let downloads = (0..config.images)
        .map(|i| {
            let task = threads.submit(move || -> Downloaded { download(addr, i) })?;
            Ok((Step::Download(i), AnyHandle::new(task)))
        })
        .collect::<Result<Vec<_>, BoxError>>()?;
    // A growing `as_completed`: each finished download adds its decode,
    // and the iteration ends once every download and decode has finished.
    // Its progress counts both; the bar knows the total from the start.
    let shown = bar.clone();
    let mut steps =
        as_completed(downloads).progress(move |p: &Progress| shown.set_position(p.done()));
    let mut features = vec![Vec::new(); config.images];
    while let Some((step, handle)) = steps.next() {
        match step {
            Step::Download(i) => {
                let png = join::<Downloaded>(handle)??;
                let decode = processes.submit(remote!(shrink), (i as u32, ByteBuf::from(png)))?;
                steps.add((Step::Decode, AnyHandle::new(decode)));
            }
            Step::Decode => {
                let (i, image) = join::<Decoded>(handle)??;
                features[i as usize] = image;
            }
        }
    }
    let time = start.elapsed();
    let counted = bar.position();
    bar.finish_and_clear();
    writeln!(
        out,
        "pipelined:  {} ({}, {})",
        secs(time),
        count(config.downloaders, "download thread", "download threads"),
        count(config.workers, "worker process", "worker processes"),
    )?;
    Ok((features, time, counted))
}

/// The outcome of a finished task of output `T`.
fn join<T: Send + 'static>(handle: AnyHandle) -> Result<T, futurepool::TaskError> {
    let handle = handle
        .downcast::<T>()
        .expect("each step's key says its output type");
    handle.join()
}

/// A progress bar on stderr, drawn only on a terminal (indicatif checks).
fn progress_bar(config: &Config, label: &'static str, steps: u64) -> ProgressBar {
    if !config.progress {
        return ProgressBar::hidden();
    }
    let unit = if steps == 1 { "images" } else { "steps" };
    let style = ProgressStyle::with_template(&format!(
        "{{prefix:<11}} [{{bar:40}}] {{pos}}/{{len}} {unit}"
    ))
    .expect("a valid template")
    .progress_chars("=> ");
    ProgressBar::new(config.images as u64 * steps)
        .with_style(style)
        .with_prefix(label)
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

const USAGE: &str =
    "usage: pipeline [--images N] [--side PIXELS] [--workers N] [--downloaders N] [--latency MS]";

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = value
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0 || flag == "--latency")
            .ok_or_else(|| format!("{flag}: expected a positive whole number, got {value:?}"))?;
        match flag.as_str() {
            "--images" => config.images = number,
            "--side" => config.side = u32::try_from(number).map_err(|_| "--side: too large")?,
            "--workers" => config.workers = number,
            "--downloaders" => config.downloaders = number,
            "--latency" => config.latency = Duration::from_millis(number as u64),
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    Ok(config)
}

fn main() {
    // This program is also its own process-pool worker: a worker process
    // never gets past this line.
    futurepool::process::init();

    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let config = parse_args(args).unwrap_or_else(|message| {
        eprintln!("{message}\n{USAGE}");
        std::process::exit(2);
    });
    match run(&config, &mut io::stdout()) {
        Ok(summary) if summary.agree => {}
        Ok(_) => std::process::exit(1), // it said so
        Err(err) => {
            eprintln!("pipeline: {err}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        not(target_os = "linux"),
        ignore = "worker processes run on Linux only"
    )]
    fn a_small_run_clusters_the_groups_and_both_versions_agree() {
        let config = Config {
            images: 24,
            side: 64,
            workers: 2,
            downloaders: 4,
            latency: Duration::ZERO,
            progress: false,
        };
        let mut out = Vec::new();
        let summary = run(&config, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(summary.processed, 24, "{out}");
        assert_eq!(summary.steps_counted, 2 * 24, "{out}");
        assert_eq!(summary.cluster_sizes.iter().sum::<usize>(), 24, "{out}");
        assert!(summary.purity >= 0.95, "{out}");
        assert!(summary.agree, "{out}");
        for line in [
            "serving 24 PNG images of 64x64",
            "sequential: ",
            "pipelined:  ",
            "speed-up: ",
            "clusters: ",
            "both versions agree: same features, same clusters",
        ] {
            assert!(out.contains(line), "no {line:?} in:\n{out}");
        }
    }

    #[test]
    fn options_are_read_and_mistakes_refused() {
        let args = |list: &[&str]| parse_args(list.iter().map(|s| s.to_string()));
        let config = args(&["--images", "40", "--workers", "3", "--latency", "0"]).unwrap();
        assert_eq!(
            (config.images, config.workers, config.latency),
            (40, 3, Duration::ZERO)
        );
        assert_eq!(args(&["--images"]).unwrap_err(), "--images needs a value");
        assert_eq!(
            args(&["--images", "0"]).unwrap_err(),
            "--images: expected a positive whole number, got \"0\""
        );
        assert_eq!(
            args(&["--colour", "1"]).unwrap_err(),
            "unknown option \"--colour\""
        );
    }
}
