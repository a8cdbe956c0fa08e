//! The client against hyper's (`hyper::client::conn::http1`) on the same scripted
//! upstream bytes, the request bytes it writes, connection reuse, idle and early
//! closes, and the fuzz oracle on fixed inputs.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Method, Request, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::fuzz::{Frames, Script, drive};
use super::*;

/// A guard against a hang (never a measure of speed).
const LIMIT: Duration = Duration::from_secs(20);

async fn guard<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {LIMIT:?}"),
    }
}

fn request<B>(method: &str, body: B) -> Request<B> {
    Request::builder()
        .method(method)
        .uri("/")
        .header("host", "upstream")
        .body(body)
        .unwrap()
}

/// Header or trailer fields, in order.
type Fields = Vec<(String, Vec<u8>)>;

/// A body's data and trailers, or an error.
type Collected = Result<(Vec<u8>, Fields), ()>;

/// What a client made of an upstream's bytes.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// No response.
    HeadError,
    Response {
        status: u16,
        version: Version,
        headers: Fields,
        body: Collected,
        reusable: bool,
    },
}

fn pairs(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

async fn collect<B>(body: &mut B) -> Collected
where
    B: Body + Unpin,
{
    let mut data = Vec::new();
    let mut trailers = Vec::new();
    // Bounded by the upstream's bytes.
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        match frame.into_data() {
            Ok(mut d) => data.extend_from_slice(&d.copy_to_bytes(d.remaining())),
            Err(f) => {
                if let Ok(t) = f.into_trailers() {
                    trailers = pairs(&t);
                }
            }
        }
    }
    Ok((data, trailers))
}

/// A scripted upstream: reads one request head, answers `response`, then closes (or
/// holds the connection open, returning it).
async fn upstream(mut io: DuplexStream, response: Vec<u8>, close: bool) -> Option<DuplexStream> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    io.write_all(&response).await.ok()?;
    if close { None } else { Some(io) }
}

mod connection;
mod requests;
mod responses;
