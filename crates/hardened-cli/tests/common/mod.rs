//! Starting `hardened serve` for the tests that drive the shipped binary over loopback.
//!
//! Each run clears the environment (only `PATH` is kept, plus what the test adds), sets
//! `DOCKER=false` and works in its own temporary directory. It listens on 127.0.0.1:0;
//! the port is the one the binary reports on stdout ("hardened: listening on
//! http://ADDR (...)"). Waiting for that line is bounded, and the process is killed by
//! its id when dropped.
//!
//! Each test file uses part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    pub(crate) addr: SocketAddr,
    /// The first line it printed.
    pub(crate) banner: String,
    /// Where its stderr goes.
    pub(crate) stderr_path: PathBuf,
    _dir: tempfile::TempDir,
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
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = command(dir.path(), &args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let banner = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no banner from `hardened {}`; stderr:\n{}",
                    args.join(" "),
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        };
        let addr = banner
            .strip_prefix("hardened: listening on http://")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("unexpected banner: {banner:?}\n{err}")
            });
        Served {
            child,
            addr,
            banner,
            stderr_path,
            _dir: dir,
        }
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
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
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
