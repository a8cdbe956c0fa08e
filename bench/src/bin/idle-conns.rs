//! Opens N keep-alive connections to a loopback HTTP server, does one `GET /` on each and
//! keeps them open and idle, for measuring the server's memory per idle connection.
//!
//! ```text
//! idle-conns 127.0.0.1:PORT HOST N
//! ```
//!
//! Prints `open N` once every connection has had its answer, then waits until stdin is
//! closed (or a line is read) and exits, closing them all. Each connect, write and read
//! times out after 10 s; only loopback addresses are accepted; N is at most 100 000.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 100_000;
/// The largest response head and body read.
const MAX_RESPONSE: usize = 64 * 1024;

/// Does one request on `stream` and reads the whole response (`Content-Length` bodies).
fn request(stream: &mut TcpStream, host: &str) -> Result<(), String> {
    // One write: a request split over several segments would wait for ACKs (Nagle).
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the response ended".to_owned());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > MAX_RESPONSE {
            return Err("response too large".to_owned());
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).to_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(format!(
                "answer: {}",
                head.lines().next().unwrap_or_default()
            ));
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("no content-length")?;
        if buf.len() >= end + 4 + len {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(host), Some(n)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: idle-conns 127.0.0.1:PORT HOST N");
        return ExitCode::from(2);
    };
    let (Ok(addr), Ok(n)) = (addr.parse::<SocketAddr>(), n.parse::<usize>()) else {
        eprintln!("usage: idle-conns 127.0.0.1:PORT HOST N");
        return ExitCode::from(2);
    };
    if !addr.ip().is_loopback() || n > MAX_CONNECTIONS {
        eprintln!("idle-conns: a loopback address and at most {MAX_CONNECTIONS} connections");
        return ExitCode::from(2);
    }
    let mut open = Vec::with_capacity(n);
    for i in 0..n {
        let result = TcpStream::connect_timeout(&addr, TIMEOUT).and_then(|s| {
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.set_write_timeout(Some(TIMEOUT))?;
            Ok(s)
        });
        let mut stream = match result {
            Ok(s) => s,
            Err(e) => {
                eprintln!("idle-conns: connection {i}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = request(&mut stream, host) {
            eprintln!("idle-conns: connection {i}: {e}");
            return ExitCode::FAILURE;
        }
        open.push(stream);
    }
    println!("open {}", open.len());
    if std::io::stdout().flush().is_err() {
        return ExitCode::FAILURE;
    }
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    drop(open);
    ExitCode::SUCCESS
}
