//! `hardened healthcheck`: a probe for container images without a shell or curl (e.g.
//! distroless): `GET` one plain-HTTP URL, exit 0 on a 2xx answer, else 1.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use crate::common::CliError;

/// Arguments of `hardened healthcheck`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The URL to probe (plain http), e.g. the admin listener's /healthz.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:9901/healthz"
    )]
    url: String,
    /// Seconds the whole probe may take.
    #[arg(long, default_value_t = 2)]
    timeout: u64,
}

/// Runs `hardened healthcheck`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let uri: http::Uri = args
        .url
        .parse()
        .map_err(|e| CliError::Message(format!("--url {:?}: {e}", args.url)))?;
    if uri.scheme_str() != Some("http") {
        return Err(CliError::Message(format!(
            "--url {:?}: give a plain http URL such as http://127.0.0.1:9901/healthz",
            args.url
        )));
    }
    let Some(authority) = uri.authority() else {
        return Err(CliError::Message(format!("--url {:?}: no host", args.url)));
    };
    let host = authority.host();
    let port = authority.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let timeout = Duration::from_secs(args.timeout.max(1));
    match probe(host, port, authority.as_str(), path, timeout) {
        Ok(status) if (200..300).contains(&status) => {
            writeln!(out, "healthy: {status}")?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(status) => {
            writeln!(out, "unhealthy: {status}")?;
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            writeln!(out, "unhealthy: {e}")?;
            Ok(ExitCode::from(1))
        }
    }
}

/// The status code of `GET path` on `host:port`.
fn probe(
    host: &str,
    port: u16,
    authority: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<u16> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: hardened-healthcheck\r\n\r\n"
    )?;
    // The status line is all that matters: `HTTP/1.1 200 OK`.
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let got = stream.read(head.get_mut(n..).unwrap_or_default())?;
        if got == 0 {
            break;
        }
        n += got;
    }
    let line = String::from_utf8_lossy(head.get(..n).unwrap_or_default());
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}
