//! Runtime detection: is this process in a Docker container or a Kubernetes pod?
//!
//! Detection reads the machine only through the [`System`] trait, so the result is a
//! plain [`RuntimeProbe`] value handed to [`crate::policy::derive`]. Tests inject a
//! [`FakeSystem`]; only [`OsSystem`] touches the real file system and environment.
//!
//! ```
//! use hardened::probe::{detect, FakeSystem, Signal};
//!
//! let sys = FakeSystem::default().with_env("KUBERNETES_SERVICE_HOST", "10.96.0.1");
//! let probe = detect(&sys);
//! assert!(probe.kubernetes && probe.in_container());
//! assert!(probe.signals.contains(&Signal::KubernetesServiceHost));
//! ```

use std::fmt;

use serde::Serialize;

/// Read-only access to what detection needs from the machine.
pub trait System {
    /// Whether a file exists at `path`.
    fn exists(&self, path: &str) -> bool;
    /// The file's contents, `None` when it cannot be read.
    fn read(&self, path: &str) -> Option<String>;
    /// An environment variable, `None` when unset or not UTF-8.
    fn env(&self, name: &str) -> Option<String>;
}

/// The real machine: the process environment and the file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsSystem;

impl System for OsSystem {
    fn exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }
    fn read(&self, path: &str) -> Option<String> {
        // Bounded read: these files are small; a huge mountinfo is truncated, not loaded whole.
        use std::io::Read;
        let f = std::fs::File::open(path).ok()?;
        let mut buf = Vec::new();
        f.take(1 << 20).read_to_end(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    }
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A machine made of values, for tests.
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
#[derive(Clone, Debug, Default)]
pub struct FakeSystem {
    /// Files by path.
    pub files: std::collections::BTreeMap<String, String>,
    /// Environment variables.
    pub env: std::collections::BTreeMap<String, String>,
}

#[cfg(any(test, feature = "test-util"))]
impl FakeSystem {
    /// Adds a file.
    pub fn with_file(mut self, path: &str, contents: &str) -> Self {
        self.files.insert(path.to_owned(), contents.to_owned());
        self
    }
    /// Adds an environment variable.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }
}

#[cfg(any(test, feature = "test-util"))]
impl System for FakeSystem {
    fn exists(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }
    fn read(&self, path: &str) -> Option<String> {
        self.files.get(path).cloned()
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

/// A signal that fired during detection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "signal", content = "detail")]
#[non_exhaustive]
pub enum Signal {
    /// `/.dockerenv` exists.
    DockerEnvFile,
    /// `/run/.containerenv` exists (Podman).
    ContainerEnvFile,
    /// `/proc/1/cgroup` names a container runtime (cgroup v1).
    Cgroup(String),
    /// `/proc/self/mountinfo` shows container storage (works on cgroup v2).
    Mountinfo(String),
    /// The `container` environment variable is set (Podman, systemd-nspawn).
    ContainerVar(String),
    /// `DOCKER=true` in the environment.
    DockerVar,
    /// `KUBERNETES_SERVICE_HOST` is set.
    KubernetesServiceHost,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::DockerEnvFile => f.write_str("/.dockerenv exists"),
            Signal::ContainerEnvFile => f.write_str("/run/.containerenv exists"),
            Signal::Cgroup(m) => write!(f, "/proc/1/cgroup mentions {m:?}"),
            Signal::Mountinfo(m) => write!(f, "/proc/self/mountinfo mentions {m:?}"),
            Signal::ContainerVar(v) => write!(f, "container={v} in the environment"),
            Signal::DockerVar => f.write_str("DOCKER=true in the environment"),
            Signal::KubernetesServiceHost => f.write_str("KUBERNETES_SERVICE_HOST is set"),
        }
    }
}

/// What detection found. A plain value: derive a policy from any probe you like.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeProbe {
    /// Some container signal fired (Docker, Podman, containerd, ...).
    pub docker: bool,
    /// Running in a Kubernetes pod.
    pub kubernetes: bool,
    /// `DOCKER=false` was set: detection is overridden to "not a container".
    pub docker_disabled_by_env: bool,
    /// The container's host name (`HOSTNAME` or `/etc/hostname`), when in a container.
    pub hostname: Option<String>,
    /// Every signal that fired, in the order checked.
    pub signals: Vec<Signal>,
}

impl RuntimeProbe {
    /// A probe that saw nothing: a plain host.
    pub fn none() -> RuntimeProbe {
        RuntimeProbe::default()
    }

    /// A probe for a Docker container with the given host name.
    pub fn docker(hostname: Option<&str>) -> RuntimeProbe {
        RuntimeProbe {
            docker: true,
            hostname: hostname.map(str::to_owned),
            signals: vec![Signal::DockerEnvFile],
            ..RuntimeProbe::default()
        }
    }

    /// A probe for a Kubernetes pod with the given host name.
    pub fn kubernetes(hostname: Option<&str>) -> RuntimeProbe {
        RuntimeProbe {
            docker: true,
            kubernetes: true,
            hostname: hostname.map(str::to_owned),
            signals: vec![Signal::KubernetesServiceHost],
            ..RuntimeProbe::default()
        }
    }

    /// Whether any container runtime (Docker or Kubernetes) was detected.
    pub fn in_container(&self) -> bool {
        self.docker || self.kubernetes
    }
}

const RUNTIME_MARKERS: &[&str] = &[
    "docker",
    "kubepods",
    "containerd",
    "libpod",
    "lxc",
    "podman",
];
const MOUNT_MARKERS: &[&str] = &[
    "/docker/containers/",
    "/var/lib/docker/",
    "/var/lib/containerd/",
    "/var/lib/kubelet/pods/",
    "/kubepods",
    "/libpod-",
    "/var/lib/containers/storage/",
];

/// Detects the runtime from the four signals (plus Podman's and cgroup v2's).
pub fn detect(sys: &dyn System) -> RuntimeProbe {
    let mut signals = Vec::new();
    if sys.exists("/.dockerenv") {
        signals.push(Signal::DockerEnvFile);
    }
    if sys.exists("/run/.containerenv") {
        signals.push(Signal::ContainerEnvFile);
    }
    if let Some(cg) = sys.read("/proc/1/cgroup")
        && let Some(m) = RUNTIME_MARKERS.iter().find(|m| cg.contains(*m))
    {
        signals.push(Signal::Cgroup((*m).to_owned()));
    }
    if let Some(mi) = sys.read("/proc/self/mountinfo")
        && let Some(m) = MOUNT_MARKERS.iter().find(|m| mi.contains(*m))
    {
        signals.push(Signal::Mountinfo((*m).to_owned()));
    }
    if let Some(c) = sys.env("container").filter(|c| !c.trim().is_empty()) {
        signals.push(Signal::ContainerVar(c));
    }
    let docker_var = sys.env("DOCKER").map(|v| v.trim().to_ascii_lowercase());
    if matches!(docker_var.as_deref(), Some("true" | "1" | "yes" | "on")) {
        signals.push(Signal::DockerVar);
    }
    let kubernetes = sys
        .env("KUBERNETES_SERVICE_HOST")
        .is_some_and(|v| !v.trim().is_empty());
    if kubernetes {
        signals.push(Signal::KubernetesServiceHost);
    }
    let disabled = matches!(docker_var.as_deref(), Some("false" | "0" | "no" | "off"));
    let docker = !disabled && !signals.is_empty();
    let hostname = if docker {
        sys.env("HOSTNAME")
            .or_else(|| sys.read("/etc/hostname"))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
    } else {
        None
    };
    RuntimeProbe {
        docker,
        kubernetes: kubernetes && !disabled,
        docker_disabled_by_env: disabled,
        hostname,
        signals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_host_detects_nothing() {
        let p = detect(&FakeSystem::default());
        assert_eq!(p, RuntimeProbe::none());
    }

    #[test]
    fn each_signal_fires() {
        let cases: Vec<(FakeSystem, Signal)> = vec![
            (
                FakeSystem::default().with_file("/.dockerenv", ""),
                Signal::DockerEnvFile,
            ),
            (
                FakeSystem::default().with_file("/proc/1/cgroup", "12:cpu:/docker/abc\n"),
                Signal::Cgroup("docker".into()),
            ),
            (
                FakeSystem::default().with_file("/proc/1/cgroup", "1:name=x:/kubepods/pod1\n"),
                Signal::Cgroup("kubepods".into()),
            ),
            (
                FakeSystem::default().with_file(
                    "/proc/self/mountinfo",
                    "1 0 0:1 / / rw - overlay overlay rw,upperdir=/var/lib/docker/overlay2/x/diff\n",
                ),
                Signal::Mountinfo("/var/lib/docker/".into()),
            ),
            (
                FakeSystem::default().with_env("DOCKER", "true"),
                Signal::DockerVar,
            ),
            (
                FakeSystem::default().with_env("container", "podman"),
                Signal::ContainerVar("podman".into()),
            ),
            (
                FakeSystem::default().with_env("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
                Signal::KubernetesServiceHost,
            ),
        ];
        for (sys, want) in cases {
            let p = detect(&sys);
            assert!(p.docker, "{want:?}");
            assert_eq!(p.signals, vec![want]);
        }
    }

    #[test]
    fn cgroup_v2_plain_host_is_not_a_container() {
        let sys = FakeSystem::default()
            .with_file("/proc/1/cgroup", "0::/init.scope\n")
            .with_file(
                "/proc/self/mountinfo",
                "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n",
            );
        assert!(!detect(&sys).docker);
    }

    #[test]
    fn docker_false_overrides_every_signal() {
        let sys = FakeSystem::default()
            .with_file("/.dockerenv", "")
            .with_env("DOCKER", "false")
            .with_env("KUBERNETES_SERVICE_HOST", "x");
        let p = detect(&sys);
        assert!(!p.docker && !p.kubernetes && p.docker_disabled_by_env);
        assert_eq!(p.signals.len(), 2);
    }

    #[test]
    fn hostname_only_in_container() {
        let sys = FakeSystem::default().with_env("HOSTNAME", "Web-1");
        assert_eq!(detect(&sys).hostname, None);
        let sys = sys.with_file("/.dockerenv", "");
        assert_eq!(detect(&sys).hostname.as_deref(), Some("web-1"));
        let sys = FakeSystem::default()
            .with_file("/.dockerenv", "")
            .with_file("/etc/hostname", "api\n");
        assert_eq!(detect(&sys).hostname.as_deref(), Some("api"));
    }
}
