//! Requests: the bytes written, the framing chosen, large and streamed bodies.

use super::*;

/// Captures one complete request (head, then a `Content-Length` or chunked body) and
/// answers 200 with an empty body.
async fn capture(mut io: DuplexStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    // Bounded: the request is finite; a closed connection ends it.
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_len = end + 4;
            let mut slots = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut slots);
            req.parse(&got).unwrap();
            let cl = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| {
                    std::str::from_utf8(h.value)
                        .unwrap()
                        .parse::<usize>()
                        .unwrap()
                });
            let chunked = req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
            let done = match (cl, chunked) {
                (Some(n), _) => got.len() >= head_len + n,
                (None, true) => got.ends_with(b"0\r\n\r\n") && got.len() > head_len,
                (None, false) => true,
            };
            if done {
                break;
            }
        }
        let n = io.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    io.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    got
}

async fn written_by_ours<B>(req: Request<B>) -> Vec<u8>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (client, server) = tokio::io::duplex(1 << 20);
    let up = tokio::spawn(capture(server));
    let resp = guard("send", Conn::new(client, Limits::default()).send(req))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(resp.status(), 200);
    guard("capture", up).await.unwrap()
}

async fn written_by_hyper<B>(req: Request<B>) -> Vec<u8>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (client, server) = tokio::io::duplex(1 << 20);
    let up = tokio::spawn(capture(server));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client))
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let resp = guard("hyper send", sender.send_request(req)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let got = guard("capture", up).await.unwrap();
    task.abort();
    got
}

pub(super) fn req_with<B>(method: &str, body: B) -> Request<B> {
    Request::builder()
        .method(method)
        .uri("/path?q=1")
        .header("host", "upstream")
        .header("x-dup", "1")
        .header("accept", "*/*")
        .header("x-dup", "2")
        .body(body)
        .unwrap()
}

/// A body of `frames` with no size hint, as a stream.
fn stream(
    frames: &'static [&'static str],
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Unpin> {
    StreamBody::new(futures_util::stream::iter(
        frames
            .iter()
            .map(|f| Ok(Frame::data(Bytes::from_static(f.as_bytes())))),
    ))
}

#[tokio::test]
async fn request_bytes_match_hyper() {
    let head = "/path?q=1 HTTP/1.1\r\nhost: upstream\r\nx-dup: 1\r\nx-dup: 2\r\naccept: */*\r\n";

    // No body: no framing header for GET and DELETE.
    for method in ["GET", "DELETE", "HEAD", "OPTIONS"] {
        let mine = written_by_ours(req_with(method, Empty::<Bytes>::new())).await;
        let theirs = written_by_hyper(req_with(method, Empty::<Bytes>::new())).await;
        assert_eq!(
            String::from_utf8(mine.clone()).unwrap(),
            format!("{method} {head}\r\n")
        );
        assert_eq!(mine, theirs, "{method}");
    }

    // An exact size: Content-Length, the body in the same write.
    let mine = written_by_ours(req_with("PUT", Full::new(Bytes::from("hello")))).await;
    let theirs = written_by_hyper(req_with("PUT", Full::new(Bytes::from("hello")))).await;
    assert_eq!(
        String::from_utf8(mine.clone()).unwrap(),
        format!("PUT {head}content-length: 5\r\n\r\nhello")
    );
    assert_eq!(mine, theirs);

    // No size: chunked.
    let mine = written_by_ours(req_with("POST", stream(&["hello", " world"]))).await;
    let theirs = written_by_hyper(req_with("POST", stream(&["hello", " world"]))).await;
    assert_eq!(
        String::from_utf8(mine.clone()).unwrap(),
        format!(
            "POST {head}transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
    );
    assert_eq!(mine, theirs);
}

#[tokio::test]
async fn request_framing_is_the_clients_choice() {
    // POST without a body: `Content-Length: 0` (hyper sends no framing header).
    let mine = written_by_ours(req_with("POST", Empty::<Bytes>::new())).await;
    assert!(
        mine.ends_with(b"accept: */*\r\ncontent-length: 0\r\n\r\n"),
        "{mine:?}"
    );
    let theirs = written_by_hyper(req_with("POST", Empty::<Bytes>::new())).await;
    assert!(theirs.ends_with(b"accept: */*\r\n\r\n"), "{theirs:?}");

    // Framing headers given by the caller are replaced.
    let mut req = req_with("POST", Full::new(Bytes::from("hello")));
    req.headers_mut()
        .insert("content-length", http::HeaderValue::from_static("99"));
    req.headers_mut().append(
        "transfer-encoding",
        http::HeaderValue::from_static("chunked"),
    );
    let mine = written_by_ours(req).await;
    assert!(
        mine.ends_with(b"accept: */*\r\ncontent-length: 5\r\n\r\nhello"),
        "{mine:?}"
    );

    // GET with a body of unknown size: chunked (hyper would send none of it).
    let mine = written_by_ours(req_with("GET", stream(&["abc"]))).await;
    assert!(mine.ends_with(b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));

    // An absolute URI is sent in origin form; no path is "/".
    let req = Request::get("http://upstream:8080/a/b?c")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert!(
        written_by_ours(req)
            .await
            .starts_with(b"GET /a/b?c HTTP/1.1\r\n")
    );
    let req = Request::get("http://upstream")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert!(
        written_by_ours(req)
            .await
            .starts_with(b"GET / HTTP/1.1\r\n")
    );
    let req = Request::options("*").body(Empty::<Bytes>::new()).unwrap();
    assert!(
        written_by_ours(req)
            .await
            .starts_with(b"OPTIONS * HTTP/1.1\r\n")
    );
}

#[tokio::test]
async fn large_and_streamed_request_bodies() {
    // Large data goes out from its own buffer, after the head, in any write sizes.
    let big: &'static [u8] = Box::leak(vec![b'z'; 100_000].into_boxed_slice());
    for (max, vectored) in [
        (usize::MAX, true),
        (usize::MAX, false),
        (1000, true),
        (7, false),
    ] {
        let script = Script::new(
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            &[usize::MAX],
        )
        .after_flush()
        .writes(max, vectored);
        let log = script.log();
        let body = Frames::new(&[b"small", big, b"tail"], true, false);
        let req = req_with("PUT", body);
        let resp = drive(Conn::new(script, Limits::default()).send(req)).unwrap();
        assert_eq!(resp.status(), 200);
        let written = log.lock().unwrap().clone();
        let mut expected = format!(
            "PUT /path?q=1 HTTP/1.1\r\nhost: upstream\r\nx-dup: 1\r\nx-dup: 2\r\naccept: */*\r\ncontent-length: {}\r\n\r\nsmall",
            100_009
        )
        .into_bytes();
        expected.extend_from_slice(big);
        expected.extend_from_slice(b"tail");
        assert_eq!(written, expected, "writes of {max}, vectored {vectored}");

        // The same, chunked, with the body pausing between frames.
        let script = Script::new(
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            &[usize::MAX],
        )
        .after_flush()
        .writes(max, vectored);
        let log = script.log();
        let body = Frames::new(&[b"small", big, b"tail"], false, true);
        let resp = drive(Conn::new(script, Limits::default()).send(req_with("PUT", body)));
        // The upstream may answer at the first flush (a pause): then it is an early answer.
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200);
        let written = log.lock().unwrap().clone();
        let mut full = b"PUT /path?q=1 HTTP/1.1\r\nhost: upstream\r\nx-dup: 1\r\nx-dup: 2\r\naccept: */*\r\ntransfer-encoding: chunked\r\n\r\n5\r\nsmall\r\n186a0\r\n".to_vec();
        full.extend_from_slice(big);
        full.extend_from_slice(b"\r\n4\r\ntail\r\n0\r\n\r\n");
        assert!(
            full.starts_with(&written),
            "writes of {max}, vectored {vectored}"
        );
    }
}

#[tokio::test]
async fn a_body_longer_or_shorter_than_its_size_hint_fails() {
    /// Claims `claim` bytes, sends `data`.
    struct Liar(Option<Bytes>, u64);
    impl Body for Liar {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.get_mut().0.take().map(|d| Ok(Frame::data(d))))
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.1)
        }
    }
    for (data, claim) in [("hello", 3), ("hi", 5)] {
        let script = Script::new(&b""[..], &[usize::MAX]).after_flush();
        let req = req_with("PUT", Liar(Some(Bytes::from(data)), claim));
        let err = drive(Conn::new(script, Limits::default()).send(req)).unwrap_err();
        assert!(matches!(err.0, Error::RequestBodyLength), "{:?}", err.0);
        assert!(err.1.is_none());
    }
}
