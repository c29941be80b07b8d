//! Don't block the event loop: offload CPU work from an async web server to a
//! [`futurepool::ThreadPool`] and `.await` the handle.
//!
//! This reproduces a published Python experiment (an asyncio web server that
//! computes Fibonacci numbers either on its event loop or in a
//! `concurrent.futures` pool) with tokio, axum and futurepool.
//!
//! # The server
//!
//! Two routes:
//!
//! - `GET /fast` answers `Hello!` at once;
//! - `GET /fib/{n}` computes the `n`-th Fibonacci number the slow way (naive
//!   recursion: about 1.6^n calls), so it stands for any CPU-heavy request.
//!   `n` must be a whole number from 0 to 40 ([`MAX_N`]); anything else gets
//!   `400 Bad Request` with a message saying so, instead of a request that
//!   runs for minutes.
//!
//! `/fib/{n}` comes in two variants, one per server:
//!
//! - **inline**: the handler calls `fib(n)` directly, on the event loop;
//! - **pool**: the handler submits `fib(n)` to a `ThreadPool` and awaits the
//!   [`TaskHandle`](futurepool::TaskHandle). While the pool computes, the event
//!   loop serves other requests.
//!
//! Each server runs on a **current-thread** tokio runtime: a single event
//! loop, like the Python server. (On tokio's default multi-thread runtime a
//! blocking handler stalls one worker of several, so the damage is harder to
//! see, but it is the same mistake: it is what `spawn_blocking` exists for.)
//!
//! # Running it
//!
//! Build it with `--release`: a debug build computes Fibonacci about ten
//! times slower (the benchmark still works, in about ten seconds).
//!
//! ```text
//! cargo run --release -p futurepool-examples --features web --example webserver            # the benchmark below, then exits
//! cargo run --release -p futurepool-examples --features web --example webserver -- bench   # the same
//! cargo run --release -p futurepool-examples --features web --example webserver -- serve [inline|pool] [PORT]
//! ```
//!
//! `bench` starts one server of each variant on `127.0.0.1` (ephemeral ports,
//! loopback only) and drives them from a small HTTP/1.1 client in the same
//! program, with a bounded number of requests. Each scenario runs
//! [`ROUNDS`] times against each server, alternating between the two, and
//! the median is shown. It takes about a second.
//!
//! `serve` runs one server (the pool variant by default) on
//! `127.0.0.1:3000` until you stop it with Ctrl-C. Try, in another terminal:
//!
//! ```text
//! curl localhost:3000/fib/38 & curl -w ' %{time_total}s\n' localhost:3000/fast
//! curl -i localhost:3000/fib/abc
//! ```
//!
//! and the same with `serve inline`: there `/fast` waits for `fib(38)`.
//!
//! # Results
//!
//! The Python numbers are the published ones (asyncio server, Python
//! Fibonacci; "—" where none was published). The Rust numbers are from one
//! run of `cargo run --release -p futurepool-examples --features web --example webserver` on a 2-core Linux VM
//! that was otherwise idle (load average 0.9); the client, both servers and
//! the pool all share those two cores. Medians of 9 rounds.
//!
//! | scenario                          | Python inline | Python pool | Rust inline | Rust pool |
//! |-----------------------------------|--------------:|------------:|------------:|----------:|
//! | 1 x `/fast`                       |             — |           — |       93 µs |     93 µs |
//! | 100 x `/fast`, concurrent         |      ~100 ms¹ |    ~100 ms¹ |     4.88 ms |   4.85 ms |
//! | 1 x `/fib/28`                     |             — |           — |     1.81 ms |   1.83 ms |
//! | 20 x `/fib/28`, concurrent        |        1.82 s |      0.34 s |    34.03 ms |  18.18 ms |
//! | 1 x `/fast` while `/fib/35` runs  |         2.6 s |      7.6 ms |    38.21 ms |    376 µs |
//! | (that `/fib/35` itself)           |             — |           — |    44.28 ms |  36.66 ms |
//! | pool round trip (submit + await)  |               |     8.96 ms |             |     14 µs |
//!
//! ¹ published as one number for the server.
//!
//! Rust computes naive Fibonacci about 50 times faster than CPython, so
//! every Fibonacci time shrinks; what carries over is the shape. Inline,
//! 20 concurrent `fib(28)` take as long as 20 in a row, and a `/fast` request
//! that arrives while `fib(35)` runs waits until it is done (the client gives
//! `fib(35)` a 5 ms head start, so `/fast` waits a little less than all of
//! it). Offloaded, the Fibonacci requests run two at a time, one per core
//! (1.9 times faster here, on two cores; the Python pool's 5.4 times
//! suggests more cores),
//! and `/fast` is answered at once. On a busy machine the Rust numbers
//! scatter by a factor of two or more; the `/fast`-behind-`fib(35)` gap (a
//! hundredfold) does not go away.
//!
//! The pool round trip (submit a trivial task, await its handle) is
//! microseconds, not milliseconds: a futurepool `ThreadPool` runs closures
//! on threads of the same process, so handing one over is a queue push and
//! a wake-up, and nothing is serialized. That makes it cheap enough to
//! offload even short computations.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futurepool::ThreadPool;
use futures::channel::oneshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type BoxError = Box<dyn Error + Send + Sync>;

/// The largest `n` that `/fib/{n}` accepts. `fib(40)` takes under a second
/// in a release build (half a minute in CPython); each step up multiplies
/// that by 1.6.
const MAX_N: u64 = 40;

/// How many times `bench` runs each scenario; it prints the median.
const ROUNDS: usize = 9;

/// How long `bench` lets a `/fib/35` request run before it sends `/fast`, so
/// that `/fast` arrives while the server is computing.
const HEAD_START: Duration = Duration::from_millis(5);

/// The longest any one request of `bench` may take before it gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The `n`-th Fibonacci number, by naive recursion: slow on purpose.
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

/// Parses the `{n}` of `/fib/{n}`: a whole number from 0 to [`MAX_N`].
///
/// The error is the message the client gets with the `400 Bad Request`.
fn parse_n(raw: &str) -> Result<u64, String> {
    let refuse = || format!("n must be a whole number from 0 to {MAX_N}, got {raw:?}\n");
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse());
    }
    match raw.parse::<u64>() {
        Ok(n) if n <= MAX_N => Ok(n),
        _ => Err(refuse()), // too large, or too many digits for a u64
    }
}

/// Where `/fib/{n}` computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// On the event loop, blocking it.
    Inline,
    /// On a futurepool `ThreadPool`, awaited.
    Pool,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Inline => "inline",
            Variant::Pool => "pool",
        }
    }
}

/// What the handlers share.
#[derive(Clone, Debug)]
struct App {
    variant: Variant,
    /// Used by the pool variant only.
    pool: Arc<ThreadPool>,
}

fn router(app: App) -> Router {
    Router::new()
        .route("/fast", get(fast))
        .route("/fib/{n}", get(fib_route))
        .with_state(app)
}

async fn fast() -> &'static str {
    "Hello!"
}

async fn fib_route(State(app): State<App>, Path(raw): Path<String>) -> Response {
    let n = match parse_n(&raw) {
        Ok(n) => n,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let value = match app.variant {
        // The mistake this example is about: a long computation on the event
        // loop. Nothing else on this runtime runs until it returns.
        Variant::Inline => fib(n),
        // The fix: the computation runs on a pool thread, and this handler
        // sleeps in `.await` (not in a blocking `join`) until it is done.
        // If the client hangs up, axum drops this future and with it the
        // handle; that does not cancel the task, so `fib(n)` still runs to
        // its end on the pool, and its value is dropped.
        Variant::Pool => match app.pool.submit(move || fib(n)) {
            Ok(handle) => match handle.await {
                Ok(value) => value,
                Err(err) => {
                    let message = format!("fib({n}) failed: {err}\n");
                    return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
                }
            },
            Err(err) => {
                let message = format!("can't compute fib({n}) now: {err}\n");
                return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
            }
        },
    };
    format!("{value}\n").into_response()
}

/// A pool sized for CPU-bound work: one thread per core.
fn cpu_pool() -> Result<ThreadPool, BoxError> {
    let cores = thread::available_parallelism()?.get();
    Ok(ThreadPool::builder()
        .max_workers(cores)
        .thread_name("fib")
        .build()?)
}

/// A server running on its own thread, on a current-thread runtime.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: thread::JoinHandle<Result<(), BoxError>>,
}

impl Server {
    /// Starts a server for `app` on `127.0.0.1`, on an ephemeral port.
    fn start(app: App) -> Result<Server, BoxError> {
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(format!("server-{}", app.variant.name()))
            .spawn(move || -> Result<(), BoxError> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    axum::serve(listener, router(app))
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await
                })?;
                Ok(())
            })?;
        Ok(Server { addr, stop, thread })
    }

    /// Stops accepting, lets open connections finish, and waits.
    fn stop(self) -> Result<(), BoxError> {
        let _ = self.stop.send(());
        self.thread.join().expect("the server thread panicked")
    }
}

// ---------------------------------------------------------------------------
// The load client: just enough HTTP/1.1 for `GET` with `Connection: close`.
// ---------------------------------------------------------------------------

/// Connects and sends `GET path`, returning the stream to read the response.
async fn send(addr: SocketAddr, path: &str) -> Result<TcpStream, BoxError> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    Ok(stream)
}

/// Reads a whole response (the server closes the connection after it) and
/// returns its status code and body.
async fn receive(mut stream: TcpStream) -> Result<(u16, String), BoxError> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await?;
    let text = String::from_utf8(bytes)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("response without a header end")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("response without a status code")?;
    Ok((status, body.to_owned()))
}

/// `GET path`, with [`REQUEST_TIMEOUT`].
async fn fetch(addr: SocketAddr, path: &str) -> Result<(u16, String), BoxError> {
    let exchange = async { receive(send(addr, path).await?).await };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("GET {path} took over {REQUEST_TIMEOUT:?}"))?
}

/// `GET path`, checking for `200 OK` and the expected body.
async fn fetch_ok(addr: SocketAddr, path: &str, expected: &str) -> Result<(), BoxError> {
    let (status, body) = fetch(addr, path).await?;
    if status != 200 || body.trim_end() != expected {
        return Err(format!("GET {path}: expected 200 {expected:?}, got {status} {body:?}").into());
    }
    Ok(())
}

/// Sends `count` copies of `GET path` at once and waits for all of them.
async fn fetch_many(
    addr: SocketAddr,
    path: &'static str,
    expected: &'static str,
    count: usize,
) -> Result<Duration, BoxError> {
    let start = Instant::now();
    let requests: Vec<_> = (0..count)
        .map(|_| tokio::spawn(fetch_ok(addr, path, expected)))
        .collect();
    for request in requests {
        request.await??;
    }
    Ok(start.elapsed())
}

/// The latency of one `/fast` sent while a `/fib/35` is being computed, and
/// how long the `/fib/35` took.
async fn fast_behind_slow(addr: SocketAddr) -> Result<(Duration, Duration), BoxError> {
    let slow_start = Instant::now();
    let slow = tokio::spawn(async move {
        let (status, body) = receive(send(addr, "/fib/35").await?).await?;
        if status != 200 || body.trim_end() != "9227465" {
            return Err(format!("GET /fib/35: got {status} {body:?}").into());
        }
        Ok::<Duration, BoxError>(slow_start.elapsed())
    });
    tokio::time::sleep(HEAD_START).await;
    let fast_start = Instant::now();
    fetch_ok(addr, "/fast", "Hello!").await?;
    let fast = fast_start.elapsed();
    let slow = tokio::time::timeout(REQUEST_TIMEOUT, slow).await???;
    Ok((fast, slow))
}

/// Runs `scenario` [`ROUNDS`] times against each server, alternating between
/// them (so that both see the same background load), and returns the medians
/// for the inline and the pool server.
async fn both<F, Fut, T>(servers: [SocketAddr; 2], mut scenario: F) -> Result<[T; 2], BoxError>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = Result<T, BoxError>>,
    T: Ord + Copy,
{
    let mut times = [Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS)];
    for _ in 0..ROUNDS {
        for (addr, times) in servers.iter().zip(&mut times) {
            times.push(scenario(*addr).await?);
        }
    }
    Ok(times.map(|mut times| {
        times.sort();
        times[ROUNDS / 2]
    }))
}

/// Checks that both servers refuse bad input, and warms them up.
async fn check(addr: SocketAddr) -> Result<(), BoxError> {
    for path in [
        "/fib/abc",
        "/fib/-1",
        "/fib/41",
        "/fib/99999999999999999999",
    ] {
        let (status, body) = fetch(addr, path).await?;
        if status != 400 {
            return Err(format!("GET {path}: expected 400, got {status} {body:?}").into());
        }
    }
    // The pool starts its threads lazily, on the first tasks.
    fetch_many(addr, "/fib/20", "6765", 4).await?;
    Ok(())
}

/// The average time to submit a task that does nothing and await its handle.
async fn pool_round_trip(pool: &ThreadPool, count: u32) -> Result<Duration, BoxError> {
    pool.submit(|| ())?.await?; // the first task starts a worker
    let start = Instant::now();
    for _ in 0..count {
        pool.submit(|| ())?.await?;
    }
    Ok(start.elapsed() / count)
}

fn show(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

fn bench() -> Result<(), BoxError> {
    let pool = Arc::new(cpu_pool()?);
    let inline = Server::start(App {
        variant: Variant::Inline,
        pool: pool.clone(),
    })?;
    let offloaded = Server::start(App {
        variant: Variant::Pool,
        pool: pool.clone(),
    })?;
    println!(
        "inline server on http://{}, pool server on http://{} ({} pool threads)",
        inline.addr,
        offloaded.addr,
        pool.max_workers()
    );

    // The client has its own runtime, on this thread: it must not share an
    // event loop with the servers it measures.
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let servers = [inline.addr, offloaded.addr];
    let (rows, round_trip) = client.block_on(async {
        check(inline.addr).await?;
        check(offloaded.addr).await?;
        let one_fast = both(servers, |addr| fetch_many(addr, "/fast", "Hello!", 1)).await?;
        let many_fast = both(servers, |addr| fetch_many(addr, "/fast", "Hello!", 100)).await?;
        let one_fib = both(servers, |addr| fetch_many(addr, "/fib/28", "317811", 1)).await?;
        let many_fib = both(servers, |addr| fetch_many(addr, "/fib/28", "317811", 20)).await?;
        let behind = both(servers, fast_behind_slow).await?;
        let round_trip = pool_round_trip(&pool, 1_000).await?;
        let rows = [
            ("1 x /fast", one_fast),
            ("100 x /fast, concurrent", many_fast),
            ("1 x /fib/28", one_fib),
            ("20 x /fib/28, concurrent", many_fib),
            ("/fast while /fib/35 runs", behind.map(|(fast, _)| fast)),
            ("  (that /fib/35 itself)", behind.map(|(_, slow)| slow)),
        ];
        Ok::<_, BoxError>((rows, round_trip))
    })?;
    inline.stop()?;
    offloaded.stop()?;

    println!("\nmedian of {ROUNDS} rounds\n");
    println!("| {:<32} | {:>10} | {:>10} |", "scenario", "inline", "pool");
    println!("|{:-<34}|{:->11}:|{:->11}:|", "", "", "");
    for (name, [inline, offloaded]) in rows {
        println!(
            "| {name:<32} | {:>10} | {:>10} |",
            show(inline),
            show(offloaded)
        );
    }
    println!(
        "| {:<32} | {:>10} | {:>10} |",
        "pool round trip (submit + await)",
        "",
        show(round_trip)
    );
    Ok(())
}

fn serve(variant: Variant, port: u16) -> Result<(), BoxError> {
    let app = App {
        variant,
        pool: Arc::new(cpu_pool()?),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        println!(
            "{} server on http://{addr} (Ctrl-C to stop)",
            variant.name()
        );
        println!("  curl http://{addr}/fast");
        println!("  curl http://{addr}/fib/30");
        axum::serve(listener, router(app)).await?;
        Ok(())
    })
}

const USAGE: &str = "\
usage: webserver [bench]                      run the benchmark (the default)
       webserver serve [inline|pool] [PORT]   serve on 127.0.0.1:PORT (3000) until Ctrl-C";

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let usage = |code| -> ! {
        eprintln!("{USAGE}");
        std::process::exit(code)
    };
    match args.as_slice() {
        [] | ["bench"] => bench(),
        ["serve", rest @ ..] => {
            let mut variant = Variant::Pool;
            let mut port = 3000;
            for arg in rest {
                match *arg {
                    "inline" => variant = Variant::Inline,
                    "pool" => variant = Variant::Pool,
                    other => port = other.parse().unwrap_or_else(|_| usage(2)),
                }
            }
            serve(variant, port)
        }
        ["-h" | "--help" | "help"] => usage(0),
        _ => usage(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_n_accepts_0_to_max() {
        assert_eq!(parse_n("0"), Ok(0));
        assert_eq!(parse_n("28"), Ok(28));
        assert_eq!(parse_n("040"), Ok(40));
        assert_eq!(parse_n(&MAX_N.to_string()), Ok(MAX_N));
    }

    #[test]
    fn parse_n_refuses_the_rest_with_a_message() {
        for raw in [
            "",
            "abc",
            "-1",
            "+5",
            " 5",
            "4.0",
            "41",
            "99999999999999999999",
        ] {
            let message = parse_n(raw).unwrap_err();
            assert!(message.contains("from 0 to 40"), "{raw:?}: {message}");
        }
    }

    #[test]
    fn fib_is_fibonacci() {
        let first: Vec<u64> = (0..10).map(fib).collect();
        assert_eq!(first, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
        assert_eq!(fib(28), 317_811);
    }

    /// Calls the handler directly, without a network or a tokio runtime.
    fn get_fib(variant: Variant, raw: &str) -> (StatusCode, String) {
        let app = App {
            variant,
            pool: Arc::new(ThreadPool::builder().max_workers(1).build().unwrap()),
        };
        futures::executor::block_on(async {
            let response = fib_route(State(app), Path(raw.to_owned())).await;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1024).await;
            (status, String::from_utf8(body.unwrap().to_vec()).unwrap())
        })
    }

    #[test]
    fn both_variants_answer_and_refuse_alike() {
        for variant in [Variant::Inline, Variant::Pool] {
            assert_eq!(get_fib(variant, "20"), (StatusCode::OK, "6765\n".into()));
            let (status, body) = get_fib(variant, "41");
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body, "n must be a whole number from 0 to 40, got \"41\"\n");
        }
    }
}
