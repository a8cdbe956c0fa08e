//! The policy in force, swappable while requests run, and its reload: on `SIGHUP` and
//! when a watched configuration file changes (Kubernetes ConfigMap updates, which swap
//! a `..data` symlink, included). A new configuration that does not load keeps the old
//! policy; every problem is logged and the failure counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hardened::Security;
use hardened::config::ConfigErrors;

use crate::metrics::Metrics;

/// The policy in force: a [`Security`] that can be replaced while requests run.
/// Cloning shares it. Each request reads the policy once, when its head arrives (one
/// atomic load, no lock), and keeps that one to its end: a request in flight during a
/// [`replace`](Self::replace) finishes under the old policy, the next one gets the new.
///
/// ```
/// use hardened::{config::Config, probe::RuntimeProbe, Security};
/// use hardened_gateway::Policy;
///
/// let dev = Security::from_config(&Config::development(), &RuntimeProbe::none())?;
/// let policy = Policy::new(dev.clone());
/// assert_eq!(policy.generation(), 1);
/// assert_eq!(policy.replace(dev), 2);
/// # Ok::<(), hardened::config::ConfigErrors>(())
/// ```
#[derive(Clone, Debug)]
pub struct Policy(Arc<PolicyInner>);

#[derive(Debug)]
struct PolicyInner {
    current: ArcSwap<Security>,
    generation: AtomicU64,
}

impl Policy {
    /// `security` in force, generation 1.
    pub fn new(security: Security) -> Policy {
        Policy(Arc::new(PolicyInner {
            current: ArcSwap::from_pointee(security),
            generation: AtomicU64::new(1),
        }))
    }

    /// The policy in force now.
    pub fn current(&self) -> Security {
        // `Security` is itself a shared pointer: cloning it out of the guard is one
        // reference-count increment.
        (**self.0.current.load()).clone()
    }

    /// Puts `security` in force for the requests that start from now on; returns the
    /// new generation.
    pub fn replace(&self, security: Security) -> u64 {
        self.0.current.store(Arc::new(security));
        self.0.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// 1 at start, +1 per [`replace`](Self::replace).
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }
}

impl hardened::PolicySource for Policy {
    fn current(&self) -> Security {
        Policy::current(self)
    }
}

/// A configuration loaded for a reload: the policy and the settings that only take
/// effect at a restart (listen addresses), as `(name, value)` pairs.
#[derive(Debug)]
pub struct Reloaded {
    /// The new policy.
    pub security: Security,
    /// Settings that cannot change while serving, e.g. `("listen", "0.0.0.0:8080")`. A
    /// change is logged as needing a restart and is not applied; the policy is.
    pub restart_only: Vec<(String, String)>,
}

/// What a reload did.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReloadResult {
    /// The new policy is in force, under this generation; the settings listed changed
    /// but need a restart.
    Applied {
        /// The new generation.
        generation: u64,
        /// Names of restart-only settings that changed (not applied).
        needs_restart: Vec<String>,
    },
    /// The configuration did not load; the old policy stays.
    Failed(ConfigErrors),
}

type LoadFn = dyn Fn() -> Result<Reloaded, ConfigErrors> + Send + Sync;

/// Reloads a [`Policy`] with a load function: on demand ([`reload`](Self::reload)), on
/// `SIGHUP`, and when the watched files change ([`run`](Self::run)).
///
/// Watching polls (every 2 s by default): for each watched directory, the size,
/// modification time and inode of every `*.yaml`, `*.yml` and `.env` entry, symlinks
/// followed. A Kubernetes ConfigMap volume replaces its files by swapping the `..data`
/// symlink, which changes the inode the names resolve to; an edit in place changes
/// the time or size. Polling needs no platform notification API and sees both.
pub struct Reloader {
    policy: Policy,
    metrics: Option<Arc<Metrics>>,
    load: Box<LoadFn>,
    watch: Vec<PathBuf>,
    interval: Duration,
    restart_only: std::sync::Mutex<Vec<(String, String)>>,
    /// SIGHUP, listened for since construction when that was inside a runtime.
    hangup: Option<Hangup>,
    /// The watched files as they were when they were added (about when the running
    /// configuration was loaded): a change made before [`run`](Self::run) first looks
    /// is a change, not the starting point.
    seen: Option<Vec<FileStamp>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("watch", &self.watch)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader of `policy` with `load`, which reads and validates the configuration
    /// anew each time. `initial_restart_only` are the restart-only settings the running
    /// process started with.
    pub fn new<F>(policy: Policy, initial_restart_only: Vec<(String, String)>, load: F) -> Reloader
    where
        F: Fn() -> Result<Reloaded, ConfigErrors> + Send + Sync + 'static,
    {
        Reloader {
            policy,
            metrics: None,
            load: Box::new(load),
            watch: Vec::new(),
            interval: Duration::from_secs(2),
            restart_only: std::sync::Mutex::new(initial_restart_only),
            // Listening from now on (inside a runtime): a SIGHUP sent between here and
            // the first poll of `run` is kept, not lost.
            hangup: tokio::runtime::Handle::try_current()
                .is_ok()
                .then(hangup_signal),
            seen: None,
        }
    }

    /// Counts reloads and sets the generation in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Reloader {
        self.metrics = Some(metrics);
        self
    }

    /// Watches the configuration files of this directory (call again for more).
    #[must_use]
    pub fn watch_dir(mut self, dir: impl Into<PathBuf>) -> Reloader {
        self.watch.push(dir.into());
        self.seen = Some(self.fingerprint());
        self
    }

    /// How often the watched directories are checked (default 2 s).
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Reloader {
        self.interval = interval;
        self
    }

    /// Loads the configuration now: applies it when valid, else keeps the old policy;
    /// logs and counts either way.
    pub fn reload(&self) -> ReloadResult {
        match (self.load)() {
            Ok(new) => {
                let needs_restart = self.restart_changes(new.restart_only);
                let generation = self.policy.replace(new.security);
                if let Some(m) = &self.metrics {
                    m.reload(Some(generation));
                }
                for name in &needs_restart {
                    tracing::warn!(
                        setting = %name,
                        "configuration reloaded, but this setting changed and needs a restart; the running value stays"
                    );
                }
                tracing::info!(generation, "configuration reloaded");
                ReloadResult::Applied {
                    generation,
                    needs_restart,
                }
            }
            Err(errors) => {
                if let Some(m) = &self.metrics {
                    m.reload(None);
                }
                for p in &errors.0 {
                    tracing::error!(code = p.kind().code(), problem = %p, "configuration problem");
                }
                tracing::error!(
                    problems = errors.0.len(),
                    generation = self.policy.generation(),
                    "configuration reload failed; the policy in force stays"
                );
                ReloadResult::Failed(errors)
            }
        }
    }

    /// Names of the restart-only settings whose value differs from the running one.
    fn restart_changes(&self, new: Vec<(String, String)>) -> Vec<String> {
        let Ok(running) = self.restart_only.lock() else {
            return Vec::new();
        };
        let mut changed: Vec<String> = new
            .iter()
            .filter(|(k, v)| running.iter().find(|(rk, _)| rk == k).map(|(_, rv)| rv) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        changed.extend(
            running
                .iter()
                .filter(|(k, _)| !new.iter().any(|(nk, _)| nk == k))
                .map(|(k, _)| k.clone()),
        );
        changed
    }

    /// Reloads on `SIGHUP` (Unix) and when a watched file changes, until `shutdown`
    /// completes.
    pub async fn run<F>(self, shutdown: F)
    where
        F: std::future::Future<Output = ()>,
    {
        let mut this = self;
        let mut hangup = this.hangup.take().unwrap_or_else(hangup_signal);
        let seen = this.seen.take();
        let this = Arc::new(this);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut seen = match seen {
            Some(seen) => seen,
            None => this.fingerprint(),
        };
        let mut tick = tokio::time::interval(this.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    seen = this.fingerprint();
                    let _ = this.reload_blocking().await;
                }
                _ = tick.tick() => {
                    let now = this.fingerprint();
                    if now != seen {
                        // A file being written may be incomplete: let the writer finish
                        // and look again.
                        tokio::time::sleep(SETTLE).await;
                        seen = this.fingerprint();
                        tracing::info!("configuration files changed: reloading");
                        let _ = this.reload_blocking().await;
                    }
                }
            }
        }
    }

    /// [`reload`](Self::reload) off the async threads (it reads files).
    async fn reload_blocking(self: &Arc<Self>) -> Option<ReloadResult> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.reload())
            .await
            .ok()
    }

    fn fingerprint(&self) -> Vec<FileStamp> {
        let mut stamps = Vec::new();
        for dir in &self.watch {
            stamp_dir(dir, &mut stamps);
        }
        stamps.sort();
        stamps
    }
}

/// How long to wait after seeing a change before reading.
const SETTLE: Duration = Duration::from_millis(200);

/// What identifies a version of one watched file.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FileStamp {
    name: std::ffi::OsString,
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn watched_name(name: &str) -> bool {
    !name.starts_with("..")
        && (name == ".env"
            || Path::new(name)
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml"))
}

fn stamp_dir(dir: &Path, out: &mut Vec<FileStamp>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(watched_name) {
            continue;
        }
        // `metadata` follows symlinks: a ConfigMap's `config.yaml -> ..data/config.yaml`
        // is stamped with the file it resolves to now.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        out.push(FileStamp {
            name,
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        });
    }
}

/// `SIGHUP`, or never where there is none.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal {
            if s.recv().await.is_some() {
                return;
            }
            self.signal = None;
        }
        std::future::pending::<()>().await;
    }
}

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
            .ok();
        Hangup { signal }
    }
    #[cfg(not(unix))]
    Hangup {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_names() {
        for n in ["config.yaml", "config.production.yaml", "x.yml", ".env"] {
            assert!(watched_name(n), "{n}");
        }
        for n in [
            "..data",
            "..2026_01_01.yaml",
            "notes.txt",
            ".env.bak",
            "README",
        ] {
            assert!(!watched_name(n), "{n}");
        }
    }
}
