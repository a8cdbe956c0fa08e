//! Connections: reuse over TCP, hand-back, idle and early closes, interim responses,
//! the fuzz oracle on the table.

use super::requests::req_with;
use super::responses::cases;
use super::*;

/// A TCP loopback upstream served by hyper: echoes the method, path and body; closes
/// after `keep` requests on a connection.
async fn echo_upstream() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            conns.spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let method = req.method().clone();
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await?.to_bytes();
                        let mut resp = http::Response::new(Full::new(body));
                        resp.headers_mut().insert(
                            "x-echo",
                            http::HeaderValue::from_str(&format!("{method} {path}")).unwrap(),
                        );
                        Ok::<_, hyper::Error>(resp)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn one_tcp_connection_serves_many_requests() {
    let (addr, task) = echo_upstream().await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut conn = Some(Conn::new(stream, Limits::default()));
    let big = Bytes::from(vec![7u8; 1 << 20]);
    for i in 0..6 {
        let c = conn.take().expect("the connection came back");
        let req = match i % 3 {
            0 => req_with("GET", http_body_util::Either::Left(Empty::new())),
            1 => req_with(
                "POST",
                http_body_util::Either::Right(Full::new(big.clone())),
            ),
            _ => req_with(
                "PUT",
                http_body_util::Either::Right(Full::new(Bytes::from("small"))),
            ),
        };
        let resp = guard("send", c.send(req)).await.unwrap();
        assert_eq!(resp.status(), 200);
        let method = ["GET", "POST", "PUT"][i % 3];
        assert_eq!(resp.headers()["x-echo"], format!("{method} /path"));
        let mut body = resp.into_body();
        let (data, _) = guard("body", collect(&mut body)).await.unwrap();
        let expected: &[u8] = match i % 3 {
            0 => b"",
            1 => &big,
            _ => b"small",
        };
        assert_eq!(data.len(), expected.len());
        assert!(data == expected);
        conn = body.take_conn();
    }
    assert!(conn.is_some());
    task.abort();
}

#[tokio::test]
async fn chunked_streaming_over_tcp() {
    // The upstream streams a chunked body larger than any read.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        for i in 0..200u32 {
            let piece = vec![(i % 251) as u8; 1000 + i as usize];
            s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await
                .unwrap();
            s.write_all(&piece).await.unwrap();
            s.write_all(b"\r\n").await.unwrap();
        }
        s.write_all(b"0\r\nx-sum: done\r\n\r\n").await.unwrap();
        // Keep the connection until the client is done.
        let _ = s.read(&mut buf).await;
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let resp = guard(
        "send",
        Conn::new(stream, Limits::default()).send(request("GET", Empty::<Bytes>::new())),
    )
    .await
    .unwrap();
    let mut body = resp.into_body();
    let (data, trailers) = guard("body", collect(&mut body)).await.unwrap();
    let expected: Vec<u8> = (0..200u32)
        .flat_map(|i| vec![(i % 251) as u8; 1000 + i as usize])
        .collect();
    assert!(data == expected);
    assert_eq!(trailers, [("x-sum".to_owned(), b"done".to_vec())]);
    assert!(body.is_end_stream());
    let conn = body.take_conn().expect("reusable");
    drop(conn);
    guard("upstream", up).await.unwrap();
}

#[tokio::test]
async fn the_whole_response_in_the_buffer_is_one_frame_and_frees_the_connection_at_once() {
    let script = Script::new(
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
        &[usize::MAX],
    );
    let resp =
        drive(Conn::new(script, Limits::default()).send(request("GET", Empty::<Bytes>::new())))
            .unwrap();
    let mut body = resp.into_body();
    assert_eq!(body.size_hint().exact(), Some(5));
    assert!(!body.is_end_stream());
    let handed: Arc<Mutex<Option<Conn<Script>>>> = Arc::default();
    let slot = handed.clone();
    body.on_reusable(Box::new(move |c| *slot.lock().unwrap() = Some(c)));
    assert!(
        handed.lock().unwrap().is_some(),
        "handed back before the body is read"
    );
    let frame = drive(std::future::poll_fn(|cx| {
        Pin::new(&mut body).poll_frame(cx)
    }));
    assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "hello");
    assert!(body.is_end_stream());
    assert_eq!(body.size_hint().exact(), Some(0));
    assert!(drive(std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))).is_none());
}

#[tokio::test]
async fn a_streamed_body_hands_the_connection_back_at_its_end() {
    // One byte per read: the body comes in many frames.
    let script = Script::new(
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
        &[1],
    );
    let resp =
        drive(Conn::new(script, Limits::default()).send(request("GET", Empty::<Bytes>::new())))
            .unwrap();
    let mut body = resp.into_body();
    assert_eq!(body.size_hint().exact(), Some(5));
    let handed: Arc<Mutex<Option<Conn<Script>>>> = Arc::default();
    let slot = handed.clone();
    body.on_reusable(Box::new(move |c| *slot.lock().unwrap() = Some(c)));
    let mut data = Vec::new();
    // Bounded: five bytes.
    while let Some(frame) = drive(std::future::poll_fn(|cx| {
        Pin::new(&mut body).poll_frame(cx)
    })) {
        assert!(handed.lock().unwrap().is_none() || body.is_end_stream());
        data.extend_from_slice(&frame.unwrap().into_data().unwrap());
    }
    assert_eq!(data, b"hello");
    assert!(handed.lock().unwrap().is_some());
    assert!(body.take_conn().is_none(), "handed over once");

    // Dropped before its end: the connection goes nowhere.
    let script = Script::new(
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhe"[..],
        &[usize::MAX],
    );
    let resp =
        drive(Conn::new(script, Limits::default()).send(request("GET", Empty::<Bytes>::new())))
            .unwrap();
    let mut body = resp.into_body();
    let handed: Arc<Mutex<Option<Conn<Script>>>> = Arc::default();
    let slot = handed.clone();
    body.on_reusable(Box::new(move |c| *slot.lock().unwrap() = Some(c)));
    assert!(body.take_conn().is_none());
    drop(body);
    assert!(handed.lock().unwrap().is_none());
}

/// Answers one request on a duplex end, then closes (`close`) or idles.
async fn answer_once(mut io: DuplexStream, close: bool) -> Option<DuplexStream> {
    upstream_read_head(&mut io).await;
    io.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        .await
        .unwrap();
    if close { None } else { Some(io) }
}

/// Reads a request head; returns the bytes read after it.
async fn upstream_read_head(io: &mut DuplexStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    // Bounded: the client sends a finite head.
    loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            return head.split_off(end + 4);
        }
        let n = io.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        head.extend_from_slice(&chunk[..n]);
    }
}

async fn reused_conn(close: bool) -> (Conn<DuplexStream>, Option<DuplexStream>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let up = tokio::spawn(answer_once(server, close));
    let resp = guard(
        "send",
        Conn::new(client, Limits::default()).send(request("GET", Empty::<Bytes>::new())),
    )
    .await
    .unwrap();
    let mut body = resp.into_body();
    let conn = body.take_conn().expect("reusable");
    let server = guard("upstream", up).await.unwrap();
    (conn, server)
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_upstream_gives_the_request_back() {
    let (conn, _) = reused_conn(true).await;
    let req = request("POST", Full::new(Bytes::from("body")));
    let (err, back) = guard("send", conn.send(req)).await.unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
    let back = back.expect("nothing was written: the request comes back");
    assert_eq!(back.method(), Method::POST);
    let body = back.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "body");
}

#[tokio::test]
async fn bytes_on_an_idle_connection_give_the_request_back() {
    let (conn, server) = reused_conn(false).await;
    let mut server = server.unwrap();
    server
        .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        .await
        .unwrap();
    let (err, back) = guard("send", conn.send(request("GET", Empty::<Bytes>::new())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnexpectedData), "{err:?}");
    assert!(back.is_some());
}

#[tokio::test]
async fn an_idle_tcp_connection_closed_by_the_upstream_is_seen_before_writing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        // Closes after one response.
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let resp = guard(
        "send",
        Conn::new(stream, Limits::default()).send(request("GET", Empty::<Bytes>::new())),
    )
    .await
    .unwrap();
    let conn = resp.into_body().take_conn().expect("reusable");
    guard("upstream", up).await.unwrap();
    // The end of file is there to read once the socket reports it.
    guard("readable", conn.get_ref().readable()).await.unwrap();
    let (err, back) = guard("send", conn.send(request("GET", Empty::<Bytes>::new())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
    assert!(back.is_some());
}

#[tokio::test]
async fn a_failed_first_write_gives_back_a_request_whose_body_was_not_polled() {
    /// Every write fails.
    struct Broken;
    impl tokio::io::AsyncRead for Broken {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }
    impl tokio::io::AsyncWrite for Broken {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
    let (err, back) =
        drive(Conn::new(Broken, Limits::default()).send(request("GET", Empty::<Bytes>::new())))
            .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(back.is_some());
    // With a body, its first frame is taken to go out with the head: not given back.
    let (err, back) = drive(
        Conn::new(Broken, Limits::default()).send(request("PUT", Full::new(Bytes::from("x")))),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(back.is_none());
}

#[tokio::test]
async fn the_upstream_closing_after_the_request_is_no_response() {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let up = tokio::spawn(async move {
        upstream_read_head(&mut server).await;
        drop(server);
    });
    let (err, back) = guard(
        "send",
        Conn::new(client, Limits::default()).send(request("GET", Empty::<Bytes>::new())),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NoResponse), "{err:?}");
    assert!(back.is_none(), "written: never given back");
    up.await.unwrap();
}

/// Yields one frame, then never ends (its upload stalls).
#[derive(Debug)]
struct Stalled(Option<Bytes>);

impl Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut().0.take() {
            Some(d) => Poll::Ready(Some(Ok(Frame::data(d)))),
            None => Poll::Pending,
        }
    }
}

#[tokio::test]
async fn an_early_response_stops_the_upload_and_is_not_reused() {
    for (answer, keep) in [
        (&b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 4\r\n\r\nbig!"[..], false),
        (&b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!"[..], true),
    ] {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let up = tokio::spawn(async move {
            upstream_read_head(&mut server).await;
            server.write_all(answer).await.unwrap();
            keep.then_some(server)
        });
        let req = request("POST", Stalled(Some(Bytes::from("first part"))));
        let resp = guard("send", Conn::new(client, Limits::default()).send(req))
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);
        let mut body = resp.into_body();
        let (data, _) = guard("body", collect(&mut body)).await.unwrap();
        assert_eq!(data, b"big!");
        assert!(body.take_conn().is_none(), "the request was cut: never reused");
        drop(up);
    }
}

#[tokio::test]
async fn interim_responses_during_the_upload_are_skipped() {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let up = tokio::spawn(async move {
        let mut rest = upstream_read_head(&mut server).await;
        server
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .unwrap();
        let mut chunk = [0u8; 64];
        while !rest.ends_with(b"0\r\n\r\n") {
            let n = server.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            rest.extend_from_slice(&chunk[..n]);
        }
        server
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        (rest, server)
    });
    // The body arrives in pieces, after the head.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let feeder = tokio::spawn(async move {
        for piece in ["one ", "two ", "three"] {
            tx.send(Ok(Frame::data(Bytes::from(piece)))).await.unwrap();
            tokio::task::yield_now().await;
        }
    });
    let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|f| (f, rx))
    }));
    let resp = guard(
        "send",
        Conn::new(client, Limits::default()).send(request("POST", Box::pin(body))),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(resp.into_body().take_conn().is_some());
    let (rest, _server) = guard("upstream", up).await.unwrap();
    assert_eq!(rest, b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n");
    feeder.await.unwrap();
}

#[test]
fn fuzz_oracle_holds_on_the_table() {
    // Every table case under each request shape and transport cut.
    for c in cases() {
        for flags0 in [0x00u8, 0x01, 0x04, 0x12, 0x1b, 0x2e, 0x53] {
            for flags1 in [0x00u8, 0x01, 0x0a, 0x23, 0x37] {
                let mut input = vec![flags0, flags1];
                input.extend_from_slice(&c.response);
                fuzz::h1_response(&input);
            }
        }
    }
}

#[test]
fn chunk_size_lines_are_lowercase_hex() {
    for (n, s) in [
        (0, "0"),
        (5, "5"),
        (10, "a"),
        (255, "ff"),
        (100_000, "186a0"),
        (usize::MAX, "ffffffffffffffff"),
    ] {
        let mut out = Vec::new();
        super::encode::chunk_size(&mut out, n);
        assert_eq!(out, format!("{s}\r\n").into_bytes());
    }
}

#[test]
fn the_client_types_are_send() {
    fn send<T: Send>() {}
    send::<Conn<tokio::net::TcpStream>>();
    send::<ResponseBody<tokio::net::TcpStream>>();
    send::<Error>();
}
