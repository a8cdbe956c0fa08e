use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

use super::*;
use crate::parse_upstream;

const LIMIT: Duration = Duration::from_secs(10);

/// A loopback upstream: counts accepted connections; `/hold` answers once released;
/// `/partial` sends part of its body, then nothing more.
struct Up {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    release: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Up {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn upstream(keep_alive: bool) -> Up {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let (a, r) = (accepted.clone(), release.clone());
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            conns.spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let r = r.clone();
                    async move {
                        if req.uri().path() == "/hold" {
                            r.notified().await;
                        }
                        if req.uri().path() == "/partial" {
                            let (tx, rx) = tokio::sync::mpsc::channel::<
                                Result<http_body::Frame<Bytes>, Infallible>,
                            >(1);
                            tokio::spawn(async move {
                                let _ = tx.send(Ok(http_body::Frame::data(Bytes::from("a")))).await;
                                std::future::pending::<()>().await;
                            });
                            let stream = tokio_stream_from(rx);
                            return Ok::<_, Infallible>(Response::new(
                                StreamBody::new(stream).boxed_unsync(),
                            ));
                        }
                        Ok::<_, Infallible>(Response::new(
                            Full::new(Bytes::from("ok"))
                                .map_err(|e| match e {})
                                .boxed_unsync(),
                        ))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(keep_alive)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Up {
        addr,
        accepted,
        release,
        task,
    }
}

/// The frames of `rx` as a stream.
fn tokio_stream_from<T>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn pool(up: &Up, options: GatewayOptions) -> Arc<Pool> {
    let upstream = parse_upstream(&format!("http://{}", up.addr)).unwrap();
    Arc::new(Pool::new(&upstream, &options))
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "upstream")
        .body(Empty::new())
        .unwrap()
}

/// Sends `path` on a new lease and reads the answer (which gives the connection back).
async fn exchange(pool: &Arc<Pool>, client: &ClientSlots, path: &str) -> String {
    let lease = pool.acquire(client).await.unwrap();
    let resp = lease.send(get(path)).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

async fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < LIMIT, "{what}: not within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_reused_across_clients() {
    let up = upstream(true).await;
    let pool = pool(&up, GatewayOptions::default());
    let (a, b) = (pool.client(), pool.client());
    for _ in 0..5 {
        assert_eq!(exchange(&pool, &a, "/").await, "ok");
        assert_eq!(exchange(&pool, &b, "/").await, "ok");
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(pool.open_connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_while_idle_is_replaced_and_its_count_freed() {
    // The upstream closes every connection after one response.
    let up = upstream(false).await;
    let pool = pool(
        &up,
        GatewayOptions::default().with_upstream_max_connections(1),
    );
    let c = pool.client();
    for _ in 0..3 {
        assert_eq!(
            tokio::time::timeout(LIMIT, exchange(&pool, &c, "/"))
                .await
                .unwrap(),
            "ok"
        );
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 3);
    eventually("closed connections no longer count", || {
        pool.open_connections() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_cap_queues_then_hands_over_a_released_connection() {
    let up = upstream(true).await;
    let pool = pool(
        &up,
        GatewayOptions::default()
            .with_upstream_max_connections(2)
            .with_upstream_queue_timeout(LIMIT),
    );
    let mut held = Vec::new();
    for _ in 0..2 {
        let c = pool.client();
        let lease = pool.acquire(&c).await.unwrap();
        let p = pool.clone();
        held.push(tokio::spawn(async move {
            let resp = lease.send(get("/hold")).await.unwrap();
            resp.into_body().collect().await.unwrap();
            drop(p);
        }));
    }
    eventually("two held", || up.accepted.load(Ordering::SeqCst) == 2).await;
    // A third client waits at the cap...
    let third = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let c = pool.client();
            exchange(&pool, &c, "/").await
        })
    };
    // It is in the queue (past the idle list and the cap): from here it can only be
    // handed a connection.
    eventually("the third client queued", || pool.queued() == 1).await;
    assert!(!third.is_finished());
    assert_eq!(pool.open_connections(), 2);
    // ...and gets a released connection, not a new one.
    up.release.notify_one();
    assert_eq!(
        tokio::time::timeout(LIMIT, third).await.unwrap().unwrap(),
        "ok"
    );
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
    up.release.notify_one();
    for h in held {
        tokio::time::timeout(LIMIT, h).await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_request_is_refused_after_the_queue_timeout_or_when_the_queue_is_full() {
    let up = upstream(true).await;
    let pool = pool(
        &up,
        GatewayOptions::default()
            .with_upstream_max_connections(1)
            .with_upstream_queue_timeout(Duration::from_secs(1))
            .with_upstream_queue_size(1),
    );
    let c = pool.client();
    let _busy = pool.acquire(&c).await.unwrap();
    let start = Instant::now();
    let (c1, c2) = (pool.client(), pool.client());
    let (waited, full) = tokio::join!(pool.acquire(&c1), async {
        // The second asks once the first waits in the queue of one.
        eventually("the first request queued", || pool.queued() == 1).await;
        pool.acquire(&c2).await
    });
    assert!(
        matches!(
            full,
            Err(Refused::QueueFull {
                limit: 1,
                queued: 1
            })
        ),
        "{:?}",
        full.err()
    );
    let err = waited.err().unwrap();
    assert!(matches!(err, Refused::Timeout { limit: 1, .. }), "{err}");
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert!(start.elapsed() < LIMIT);
    assert!(err.to_string().contains("upstream connections stayed busy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_use_more_than_its_share() {
    let up = upstream(true).await;
    let pool = pool(
        &up,
        GatewayOptions::default()
            .with_upstream_max_connections_per_client(2)
            .with_upstream_queue_timeout(Duration::from_millis(200)),
    );
    let c = pool.client();
    let _a = pool.acquire(&c).await.unwrap();
    let _b = pool.acquire(&c).await.unwrap();
    let err = pool.acquire(&c).await.err().unwrap();
    assert!(
        matches!(err, Refused::ClientLimit { limit: 2, .. }),
        "{err}"
    );
    // Other clients are not affected.
    let other = pool.client();
    assert!(pool.acquire(&other).await.is_ok());
    // A finished request frees its place.
    drop(_a);
    assert!(pool.acquire(&c).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_dropped_before_its_end_does_not_return_its_connection() {
    let up = upstream(true).await;
    let pool = pool(&up, GatewayOptions::default());
    let c = pool.client();
    let lease = pool.acquire(&c).await.unwrap();
    let mut resp = lease.send(get("/partial")).await.unwrap();
    let first = resp.body_mut().frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "a");
    drop(resp);
    assert_eq!(exchange(&pool, &c, "/").await, "ok");
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failures_free_their_place() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let upstream = parse_upstream(&format!("http://{port}")).unwrap();
    let pool: Arc<Pool> = Arc::new(Pool::new(
        &upstream,
        &GatewayOptions::default().with_upstream_max_connections(1),
    ));
    let c = pool.client();
    for _ in 0..3 {
        let lease = pool.acquire(&c).await.unwrap();
        let err = lease.send(get("/")).await.unwrap_err();
        assert!(matches!(err, SendError::Connect(_)), "{err}");
    }
    assert_eq!(pool.open_connections(), 0);
}
