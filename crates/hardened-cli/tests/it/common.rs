//! What the tests of the shipped binary share: running `hardened` to completion
//! ([`run`]), starting `hardened serve` over loopback ([`Served`]), small in-process
//! upstreams, free ports, and the repository's paths and Python venv.
//!
//! Each run clears the environment (only `PATH` is kept, plus what the test adds), sets
//! `DOCKER=false` and works in its own temporary directory. A server listens on
//! 127.0.0.1:0; the port is the one the binary reports on stdout ("hardened: listening
//! on http://ADDR (...)"). Waiting for that line is bounded, and the process is killed
//! by its id when dropped.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Asserts the snapshot `tests/snapshots/<file>__<name>.snap`, the name and place insta
/// gave it when each test file was its own test binary (`file` is that file's name).
macro_rules! assert_named_snapshot {
    ($file:literal, $name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(format!("{}__{}", $file, $name), $value);
        })
    };
}

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_hardened");

/// `hardened <args>` in `dir`, with a clean environment and `DOCKER=false`.
pub(crate) fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DOCKER", "false");
    c
}

/// How a finished run ended and what it printed.
pub(crate) struct Run {
    /// The exit code; `None` when a signal ended it.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `c` to completion (its output is UTF-8).
pub(crate) fn run(mut c: Command) -> Run {
    let out = c.output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A fresh directory holding `config` as `config.yaml` (if any).
pub(crate) fn workdir(config: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(text) = config {
        std::fs::write(dir.path().join("config.yaml"), text).unwrap();
    }
    dir
}

/// A running `hardened serve`, killed (by its process id) when dropped.
pub(crate) struct Served {
    pub(crate) child: Child,
    /// The address of its first line, `hardened: listening on http(s)://ADDR ...`.
    pub(crate) addr: SocketAddr,
    /// The first line it printed.
    pub(crate) banner: String,
    /// The lines it printed before serving.
    pub(crate) lines: Vec<String>,
    /// Where its stderr goes.
    pub(crate) stderr_path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Served {
    /// Starts `hardened serve --listen 127.0.0.1:0 <extra>` in a directory holding
    /// `config` as `config.yaml` (if any) and waits for its banner.
    pub(crate) fn start(config: Option<&str>, extra: &[&str]) -> Served {
        Served::start_env(config, extra, &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub(crate) fn start_env(config: Option<&str>, extra: &[&str], env: &[(&str, &str)]) -> Served {
        let dir = workdir(config);
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut served = Served::launch(dir.path(), &args, env, 1);
        served._dir = Some(dir);
        served
    }

    /// Starts `hardened <args>` in `dir` (stderr to `dir/stderr.log`) and waits for
    /// `lines` lines on its stdout, the first naming the address it listens on.
    pub(crate) fn launch(dir: &Path, args: &[&str], env: &[(&str, &str)], lines: usize) -> Served {
        let mut c = command(dir, args);
        c.envs(env.iter().copied());
        Served::launch_command(c, dir, args, lines)
    }

    /// [`launch`](Self::launch) of a command made by the caller (e.g. `hardened` run
    /// by a shell that sets the umask first, then `exec`s it: the same process).
    pub(crate) fn launch_command(
        mut c: Command,
        dir: &Path,
        args: &[&str],
        lines: usize,
    ) -> Served {
        let stderr_path = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps draining so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut got = Vec::new();
        for _ in 0..lines.max(1) {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => got.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "no banner from `hardened {}`; stderr:\n{}",
                        args.join(" "),
                        std::fs::read_to_string(&stderr_path).unwrap_or_default()
                    );
                }
            }
        }
        let banner = got.first().cloned().unwrap_or_default();
        let addr = banner
            .strip_prefix("hardened: listening on ")
            .and_then(|rest| {
                rest.strip_prefix("http://")
                    .or_else(|| rest.strip_prefix("https://"))
            })
            .and_then(|rest| rest.split(' ').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("unexpected banner: {banner:?}\n{err}")
            });
        Served {
            child,
            addr,
            banner,
            lines: got,
            stderr_path,
            _dir: None,
        }
    }

    /// The address of banner line `i`, after `hardened: listening on <scheme>://`.
    pub(crate) fn addr_of(&self, i: usize, scheme: &str) -> SocketAddr {
        let line = &self.lines[i];
        line.strip_prefix(&format!("hardened: listening on {scheme}://"))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected banner line: {line:?}"))
    }

    /// What it wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM to this process (by its id).
    pub(crate) fn sigterm(&self) {
        self.signal("-TERM");
    }

    /// Sends `sig` (`-TERM`, `-HUP`, ...) to this process (by its id).
    pub(crate) fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit: its exit code and how long it took.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("still running {limit:?} after the request to stop")
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Stops `child`, spawned as the leader of its own process group, and everything it
/// started (gunicorn's workers, nginx's): SIGKILL to the group, then to the child (by
/// its id), then reaps it.
pub(crate) fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------- upstreams

/// An in-process HTTP/1 upstream on 127.0.0.1; its accept task and connections are
/// aborted when dropped.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An upstream answering each request with `answer(request)` (an error drops the
/// connection).
pub(crate) async fn upstream<F, Fut, E>(answer: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let svc = hyper::service::service_fn(answer.clone());
            connections.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream { addr, task }
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

// ---------------------------------------------------------------- the repository

/// The repository's root directory.
pub(crate) fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The pinned venv of `scripts/django-venv.sh`: `$HARDENED_VENV` (relative paths from
/// the repository root), default `.venv` at the repository root.
pub(crate) fn venv() -> PathBuf {
    let repo = repo_root();
    match std::env::var_os("HARDENED_VENV") {
        Some(v) if !v.is_empty() => {
            let v = PathBuf::from(v);
            if v.is_absolute() { v } else { repo.join(v) }
        }
        _ => repo.join(".venv"),
    }
}

/// Fails the calling Django test when `HARDENED_SKIP_DJANGO=1` and `CI` are both set:
/// CI must run against real Django. Elsewhere the variable makes the build script mark
/// the Django tests `#[ignore]` (shown as ignored in the summary), so a test that runs
/// here either was asked for with `--ignored` or runs in CI.
pub(crate) fn refuse_django_skip_in_ci() {
    let skip = std::env::var("HARDENED_SKIP_DJANGO").is_ok_and(|v| v == "1");
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(
        !(skip && ci),
        "HARDENED_SKIP_DJANGO=1 is refused when CI is set: CI runs the Django tests \
         (scripts/django-venv.sh builds the venv)"
    );
}

/// The venv's Python.
pub(crate) fn venv_python() -> PathBuf {
    venv().join("bin").join("python")
}

/// `Read::read` again while it is interrupted by a signal. A blocking socket read with a
/// timeout (`set_read_timeout`) is never restarted by the kernel, even under
/// `SA_RESTART`: any signal the test process catches (a child's `SIGCHLD` among them)
/// makes it fail with `EINTR`, which is no answer from the peer.
pub(crate) fn read_some(s: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
