//! Thread-per-core serving, nginx's worker model: `n` threads, each running its own
//! single-threaded runtime with its own accept loop on the same listening socket (a
//! duplicate of its descriptor, so whichever worker is free accepts the next
//! connection). A connection, its requests, its upstream connections and every task
//! they spawn stay on the thread that accepted it: no task is woken across threads and
//! nothing is stolen between cores, which a work-stealing runtime pays for on every
//! request of a proxy.
//!
//! tokio has no such mode built in (`LocalSet`s on a multi-thread runtime still share
//! one listener task and one I/O driver), hence this small module.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

thread_local! {
    /// The index of the worker this thread is (0 outside workers).
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// The index of the worker running on this thread: `0..n` on a worker, `0` elsewhere.
pub(crate) fn current() -> usize {
    WORKER.with(Cell::get)
}

/// Completes when shutdown begins.
pub(crate) type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

fn stop_future(rx: &watch::Receiver<bool>) -> Stop {
    let mut rx = rx.clone();
    Box::pin(async move {
        let _ = rx.wait_for(|s| *s).await;
    })
}

/// Serves `listener` on `n` worker threads: `make(i)` gives worker `i` what it runs,
/// called with its own listener (sharing the socket) and a future that completes when
/// `shutdown` does. Returns once every worker is done. When no worker thread can be
/// started, worker 0 runs here, in the caller's runtime.
pub(crate) async fn serve<M, P, Fut, F>(listener: TcpListener, n: usize, mut make: M, shutdown: F)
where
    M: FnMut(usize) -> P,
    P: FnOnce(TcpListener, Stop) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
    F: Future<Output = ()>,
{
    let (stop, stopped) = watch::channel(false);
    let std_listener = match listener.into_std() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot share the listener between workers");
            return;
        }
    };
    let mut done = Vec::with_capacity(n);
    for i in 0..n.max(1) {
        let l = match std_listener.try_clone() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, worker = i, "cannot start a worker; serving with fewer");
                break;
            }
        };
        let run = make(i);
        let stop_i = stop_future(&stopped);
        let (tx, rx) = oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name(format!("hardened-worker-{i}"))
            .spawn(move || {
                WORKER.with(|w| w.set(i));
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, worker = i, "cannot start a worker runtime");
                        return;
                    }
                };
                rt.block_on(async move {
                    match TcpListener::from_std(l) {
                        Ok(l) => run(l, stop_i).await,
                        Err(e) => tracing::error!(error = %e, worker = i, "cannot listen"),
                    }
                });
                // Tasks still pending (connections past the drain timeout) are dropped
                // with the runtime, before the caller is told.
                drop(rt);
                let _ = tx.send(());
            });
        match spawned {
            Ok(_) => done.push(rx),
            Err(e) => {
                tracing::warn!(error = %e, worker = i, "cannot start a worker thread; serving with fewer");
                break;
            }
        }
    }
    if done.is_empty() {
        // Not one thread: serve here.
        match TcpListener::from_std(std_listener) {
            Ok(l) => {
                let run = make(0);
                let stop_0 = stop_future(&stopped);
                let serving = run(l, stop_0);
                let mut serving = std::pin::pin!(serving);
                tokio::select! {
                    () = &mut serving => return,
                    () = shutdown => {}
                }
                let _ = stop.send(true);
                serving.await;
            }
            Err(e) => tracing::error!(error = %e, "cannot listen"),
        }
        return;
    }
    drop(std_listener);
    shutdown.await;
    let _ = stop.send(true);
    for rx in done {
        let _ = rx.await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::convert::Infallible;
    use std::time::Duration;

    use bytes::Bytes;
    use hardened::Security;
    use hardened::config::Config;
    use hardened::probe::RuntimeProbe;
    use http::{Request, Response};
    use http_body_util::{BodyExt, Empty, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    use crate::{GatewayOptions, Server};

    /// Every request is answered on a worker thread (not the caller's), across several
    /// connections, and `serve` returns once shutdown is asked for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workers_serve_every_connection_and_stop() {
        let security =
            Security::from_config(&Config::development(), &RuntimeProbe::none()).expect("policy");
        let app = tower::service_fn(|_req: Request<hyper::body::Incoming>| async {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(name))))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = Server::new(
            security,
            GatewayOptions::default()
                .with_workers(2)
                .with_drain_timeout(Duration::from_secs(2)),
        );
        let serving = tokio::spawn(server.serve(listener, app, async {
            let _ = stopped.await;
        }));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..8 {
            // A client per round: a new connection each time.
            let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
            let req = Request::get(format!("http://{addr}/"))
                .header("host", "localhost")
                .body(Empty::new())
                .unwrap();
            let resp = client.request(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            seen.insert(String::from_utf8_lossy(&body).into_owned());
        }
        assert!(!seen.is_empty());
        assert!(
            seen.iter().all(|n| n.starts_with("hardened-worker-")),
            "answered on {seen:?}"
        );
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}
