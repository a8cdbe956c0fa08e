//! What the gateway tests share: the policy of a config text, an in-process gateway (or
//! admin listener) that stops when dropped, small in-process upstreams, child processes
//! in their own process group, free loopback ports and the lock that lets the memory
//! tests run alone.
//!
//! Only 127.0.0.1 is used; every wait is bounded; every task is stopped or aborted and
//! every process group killed when its guard is dropped (also on panic).

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hardened::Security;
use hardened::config::load::Loader;
use hardened::probe::RuntimeProbe;
use hardened_gateway::Gateway;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{RwLock, RwLockReadGuard, oneshot};

/// The memory tests measure this process's RSS: they run alone (write), every other
/// test of this binary together (read, through [`shared`]).
pub(crate) static EXCLUSIVE: RwLock<()> = RwLock::const_new(());

/// A share of the process, held for a test's duration: the memory tests wait for it.
pub(crate) async fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().await
}

/// The policy of `config` (YAML text), or the built-in development defaults, with an
/// empty environment and no runtime probe.
pub(crate) fn security(config: Option<&str>) -> Security {
    let loaded = match config {
        Some(text) => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config.yaml");
            std::fs::write(&path, text).unwrap();
            Loader::new().file(&path).load().unwrap()
        }
        None => Loader::new().load().unwrap(),
    };
    Security::from_config(&loaded.config, &RuntimeProbe::none()).unwrap()
}

// ---------------------------------------------------------------- in-process servers

/// A server (a [`Gateway`], an admin listener) serving in a task of this test's
/// runtime: its shutdown future completes, and the task is aborted, when dropped.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `gateway` on 127.0.0.1:0.
    pub(crate) async fn serve(gateway: Gateway) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Running::on(gateway, listener)
    }

    /// `gateway` on `listener`.
    pub(crate) fn on(gateway: Gateway, listener: TcpListener) -> Running {
        let addr = listener.local_addr().unwrap();
        Running::spawn(addr, |stopped| {
            gateway.serve(listener, async {
                let _ = stopped.await;
            })
        })
    }

    /// Spawns `serve(stopped)`, the server at `addr`: `stopped` completes when asked
    /// to stop.
    pub(crate) fn spawn<F>(
        addr: SocketAddr,
        serve: impl FnOnce(oneshot::Receiver<()>) -> F,
    ) -> Running
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(stopped));
        Running {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Completes the server's shutdown future.
    pub(crate) fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits up to `limit` for the server to return: how long it took.
    pub(crate) async fn wait_exit(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        match tokio::time::timeout(limit, &mut self.task).await {
            Ok(r) => r.unwrap(),
            Err(_) => panic!("still running {limit:?} after the request to stop"),
        }
        start.elapsed()
    }

    /// `http://<addr><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
        self.task.abort();
    }
}

/// A task aborted when dropped (an upstream's accept loop, with its connections).
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// `http://<addr>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP/1 upstream on 127.0.0.1 answering each request with `answer(request)`; its
/// connections are aborted with it.
pub(crate) async fn upstream<F, Fut>(answer: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let answer = answer.clone();
                async move { Ok::<_, Infallible>(answer(req).await) }
            });
            connections.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream { addr, task }
}

/// An upstream that answers every request with CORS headers for any origin, with
/// credentials, as a careless application does, and names the path that reached it
/// (`x-upstream-path`); counts requests.
pub(crate) struct Careless {
    pub(crate) addr: SocketAddr,
    pub(crate) hits: Arc<std::sync::atomic::AtomicUsize>,
    _upstream: Upstream,
}

pub(crate) async fn careless_upstream() -> Careless {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let up = upstream(move |req| {
        h.fetch_add(1, Ordering::SeqCst);
        let origin = req
            .headers()
            .get("origin")
            .cloned()
            .unwrap_or(http::HeaderValue::from_static("*"));
        let path = req.uri().path().to_owned();
        async move {
            Response::builder()
                .header("access-control-allow-origin", origin)
                .header("access-control-allow-credentials", "true")
                .header("access-control-expose-headers", "x-secret")
                .header("x-upstream-path", path)
                .body(Full::new(Bytes::from("upstream")))
                .unwrap()
        }
    })
    .await;
    Careless {
        addr: up.addr,
        hits,
        _upstream: up,
    }
}

/// A response with this body.
pub(crate) fn text(body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::new(Full::new(body.into()))
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub(crate) fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

// ---------------------------------------------------------------- processes

/// A child process in its own process group, its output in a log file; killed with
/// its group when dropped.
pub(crate) struct Proc {
    child: Child,
    what: &'static str,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    /// Starts `cmd` (`what` names it in messages), its output in `dir`.
    pub(crate) fn spawn(what: &'static str, mut cmd: Command, dir: tempfile::TempDir) -> Proc {
        let log = dir.path().join(format!("{what}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        Proc {
            child,
            what,
            log,
            _dir: dir,
        }
    }

    /// The exit status, once it has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What it has written so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `limit` until `addr` accepts connections.
    pub(crate) fn wait_listening(&mut self, addr: SocketAddr, limit: Duration) {
        let start = Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = self.exited() {
                panic!(
                    "{} exited ({status}) before listening on {addr}:\n{}",
                    self.what,
                    self.log()
                );
            }
            assert!(
                start.elapsed() < limit,
                "{} not listening on {addr} after {limit:?}:\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The group (gunicorn's master and workers): its id is the child's.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository's root directory.
pub(crate) fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap().to_path_buf()
}

/// A test fixture directory of this crate (`tests/<name>`).
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// The Python of the pinned venv of `scripts/django-venv.sh` (Django, gunicorn):
/// `$HARDENED_VENV` (relative to the repository root), default `.venv` there.
pub(crate) fn venv_python() -> PathBuf {
    let repo = repo_root();
    let venv = match std::env::var_os("HARDENED_VENV") {
        Some(v) if !v.is_empty() => {
            let v = PathBuf::from(v);
            if v.is_absolute() { v } else { repo.join(v) }
        }
        _ => repo.join(".venv"),
    };
    let python = venv.join("bin").join("python");
    assert!(
        python.exists(),
        "no venv with Django and gunicorn at {}: run scripts/django-venv.sh (or point HARDENED_VENV at one)",
        venv.display()
    );
    python
}

// ---------------------------------------------------------------- log output

/// A `MakeWriter` collecting log output.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Everything logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits (bounded) until `n` log lines contain every one of `needles`.
    pub(crate) async fn wait_for_lines(&self, n: usize, needles: &[&str]) {
        let start = Instant::now();
        loop {
            let text = self.text();
            let found = text
                .lines()
                .filter(|l| needles.iter().all(|w| l.contains(w)))
                .count();
            if found >= n {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no {n} log line(s) with {needles:?} within 20 s; the log:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The log output of this test binary: one global subscriber (a scoped one can miss
/// events whose interest another test's thread cached first).
pub(crate) fn logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}
