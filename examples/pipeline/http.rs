//! A minimal HTTP/1.1 server and client over std's TCP: one GET per
//! connection, no framework.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::BoxError;

/// How long a download may wait for the server (and the server for a
/// request) before it fails.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest body a download accepts (an image here is a few MB at most).
const MAX_BODY: usize = 1 << 30;

/// A minimal HTTP/1.1 server on `127.0.0.1`: `GET /images/{i}.png` answers
/// image `i`, after the latency; one thread per connection, one request per
/// connection. It stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(images: Vec<Vec<u8>>, latency: Duration) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let images = Arc::new(images);
        let stopping = Arc::clone(&stop);
        let acceptor = thread::Builder::new()
            .name("server".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    // ORDERING: only this flag is shared; Relaxed would do,
                    // Acquire pairs with `drop`'s Release for clarity.
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let images = Arc::clone(&images);
                    // A connection that fails is the client's to report.
                    let _ = thread::Builder::new()
                        .name("connection".into())
                        .spawn(move || drop(answer(stream, &images, latency)));
                }
            })?;
        Ok(Server {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // ORDERING: see the acceptor's load.
        self.stop.store(true, Ordering::Release);
        // Wake the acceptor, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Reads one request and answers it.
fn answer(stream: TcpStream, images: &[Vec<u8>], latency: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.take(64 * 1024));
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The headers, up to the blank line: nothing in them matters here.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut stream = reader.into_inner().into_inner();
    let image = match request.split(' ').collect::<Vec<_>>()[..] {
        ["GET", path, _] => path
            .strip_prefix("/images/")
            .and_then(|p| p.strip_suffix(".png"))
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| images.get(i)),
        _ => None,
    };
    thread::sleep(latency);
    match image {
        Some(png) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                png.len()
            )?;
            stream.write_all(png)?;
        }
        None => {
            let body = "no such image\n";
            write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
        }
    }
    stream.flush()
}

/// Downloads image `index` with an HTTP/1.1 GET: its body, or an error that
/// names the request and says what went wrong.
pub fn download(addr: SocketAddr, index: usize) -> Result<Vec<u8>, BoxError> {
    let path = format!("/images/{index}.png");
    get(addr, &path).map_err(|what| format!("GET {path} from {addr}: {what}").into())
}

/// The body of a `200 OK` answer to `GET path`, or what was wrong.
fn get(addr: SocketAddr, path: &str) -> Result<Vec<u8>, String> {
    let io = |e: io::Error| e.to_string();
    let stream = TcpStream::connect(addr).map_err(io)?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    (&stream)
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .map_err(io)?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).map_err(io)?;
    let status = status.trim_end();
    match status.split(' ').collect::<Vec<_>>()[..] {
        [version, "200", ..] if version.starts_with("HTTP/1.") => {}
        [version, _, ..] if version.starts_with("HTTP/1.") => {
            return Err(format!("status {status}"));
        }
        _ => return Err(format!("not an HTTP/1.x status line: {status:?}")),
    }
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(io)? == 0 {
            return Err("the connection closed before the body".into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                match value.parse::<usize>() {
                    Ok(n) if n <= MAX_BODY => length = Some(n),
                    Ok(_) => return Err(format!("a body of {value} bytes is too large")),
                    Err(_) => return Err(format!("bad Content-Length {value:?}")),
                }
            }
        }
    }
    let length = length.ok_or("no Content-Length")?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => format!("the body ended before its {length} bytes"),
        _ => e.to_string(),
    })?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves one connection with `response`, whatever the request.
    fn answer_once(response: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            // Read the whole request (closing a socket with unread bytes
            // would reset the connection before the client reads).
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            (&stream).write_all(response).unwrap();
        });
        addr
    }

    #[test]
    fn a_download_says_what_was_wrong_with_the_answer() {
        for (response, expected) in [
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\npng"[..],
                Ok(&b"png"[..]),
            ),
            (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                Err("status HTTP/1.1 404 Not Found"),
            ),
            (
                b"SSH-2.0-OpenSSH\r\n",
                Err("not an HTTP/1.x status line: \"SSH-2.0-OpenSSH\""),
            ),
            (b"HTTP/1.1 200 OK\r\n\r\npng", Err("no Content-Length")),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                Err("bad Content-Length \"x\""),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
                Err("a body of 99999999999 bytes is too large"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npng",
                Err("the body ended before its 9 bytes"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n",
                Err("the connection closed before the body"),
            ),
        ] {
            let addr = answer_once(response);
            match (download(addr, 7), expected) {
                (Ok(body), Ok(expected)) => assert_eq!(body, expected),
                (Err(err), Err(expected)) => {
                    assert_eq!(
                        err.to_string(),
                        format!("GET /images/7.png from {addr}: {expected}")
                    )
                }
                (got, expected) => panic!("got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn the_server_answers_images_and_refuses_the_rest() {
        let server =
            Server::start(vec![b"zero".to_vec(), b"one".to_vec()], Duration::ZERO).unwrap();
        assert_eq!(download(server.addr, 1).unwrap(), b"one");
        let err = download(server.addr, 2).unwrap_err().to_string();
        assert!(err.ends_with("status HTTP/1.1 404 Not Found"), "{err}");
    }
}
