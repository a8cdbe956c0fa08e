//! Loading configuration from files and the environment.
//!
//! Layers, later wins: built-in defaults < `config.yaml` < the environment's overlay
//! (`config.dev.yaml`, `config.production.yaml`, ...) < `.env` < process environment.
//! `${VAR}` (and `${VAR:-default}`) in string values is replaced from `.env` and the
//! process environment; `$$` is a literal `$`.
//!
//! The process environment is a value handed to the [`Loader`], so tests never touch
//! the real one.
//!
//! ```
//! use hardened::config::{load::Loader, Environment};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("config.yaml");
//! std::fs::write(&path, "security_domains: [example.com]\nsecret_key: ${SECRET_KEY}\n")?;
//! let loaded = Loader::new()
//!     .file(&path)
//!     .env([("SECRET_KEY", "q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9Kj8Hg6Fd3Sa1")]) // strong: a weak key is refused
//!     .load()?;
//! assert_eq!(loaded.config.environment, Environment::Production); // no debug: secure default
//! assert!(loaded.config.sources["secret_key"].from_env);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod env;
mod merge;
mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Source;
use super::node::{Node, Value};
use super::{Config, ConfigErrors, Environment, Problem, ProblemKind, Typer};
use env::{dotenv_line_numbers, environment_of, environment_var, read_dotenv};
use merge::merge;
use yaml::read_yaml;

/// Environment variables naming the environment, in order of precedence.
pub const ENVIRONMENT_VARS: [&str; 3] = ["DJANGO_ENV", "ENVIRONMENT", "ENV"];

/// Environment variables that set a top-level key, with the key: over the files, as
/// the last layer.
pub const KEY_VARIABLES: [(&str, &str); 5] = [
    ("SECRET_KEY", "secret_key"),
    ("DEBUG", "debug"),
    ("SECURITY_DOMAINS", "security_domains"),
    ("SSL_REDIRECT", "ssl_redirect"),
    ("DOCKER", "docker"),
];

/// Configuration loader. See the [module docs](self).
#[derive(Clone, Default)]
pub struct Loader {
    file: Option<PathBuf>,
    optional_file: bool,
    dotenv: Option<PathBuf>,
    env: BTreeMap<String, String>,
    gateway_flags: Vec<GatewayFlag>,
}

/// A `gateway:` setting given on the command line. Its `Debug` names the flag, never
/// its value (as the loader's names the variables only).
#[derive(Clone)]
pub(crate) struct GatewayFlag {
    /// The key path in `gateway:` (`workers`, `tls.cert`).
    pub(crate) path: String,
    /// The flag, for messages (`--workers`).
    pub(crate) flag: String,
    /// What it was given, once or more.
    pub(crate) values: Vec<String>,
}

impl std::fmt::Debug for GatewayFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.flag)
    }
}

/// The variables' names only: the environment holds secrets (`SECRET_KEY`, database
/// passwords) that must never reach a log through `{:?}`.
impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("file", &self.file)
            .field("optional_file", &self.optional_file)
            .field("dotenv", &self.dotenv)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("gateway_flags", &self.gateway_flags)
            .finish()
    }
}

/// A loaded configuration and what was read to build it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Problems found (empty after [`Loader::load`]; filled by [`Loader::load_lenient`]).
    pub problems: Vec<Problem>,
    /// Files read, in layer order.
    pub files: Vec<PathBuf>,
    /// The `.env` file, when one was read.
    pub dotenv: Option<PathBuf>,
    reason: EnvironmentReason,
}

impl Loaded {
    /// Why the configuration's environment was chosen.
    pub fn environment_reason(&self) -> &EnvironmentReason {
        &self.reason
    }
}

/// Why a loaded configuration runs in its environment.
///
/// ```
/// use hardened::config::load::{EnvironmentReason, Loader};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("config.yaml");
/// std::fs::write(&path, "security_domains: [example.com]\n")?;
/// let loaded = Loader::new().file(&path).load()?;
/// assert_eq!(loaded.environment_reason(), &EnvironmentReason::Default);
/// assert_eq!(
///     loaded.environment_reason().to_string(),
///     "no environment set and debug is not true → production, secure by default"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvironmentReason {
    /// No config file: the built-in development defaults.
    BuiltIn,
    /// The `environment:` key of this file and line.
    Key(Source),
    /// This environment variable (`DJANGO_ENV`, `ENVIRONMENT` or `ENV`).
    Variable(String),
    /// No environment set and `debug` true (written here): development.
    Debug(Source),
    /// No environment set and `debug` not true: production, secure by default.
    Default,
}

impl std::fmt::Display for EnvironmentReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvironmentReason::BuiltIn => {
                f.write_str("no config file: the built-in development defaults")
            }
            EnvironmentReason::Key(src) => write!(f, "`environment:` in {src}"),
            EnvironmentReason::Variable(name) => write!(f, "the environment variable {name}"),
            EnvironmentReason::Debug(src) => {
                write!(
                    f,
                    "no environment set and debug is true ({src}) → development"
                )
            }
            EnvironmentReason::Default => f.write_str(
                "no environment set and debug is not true → production, secure by default",
            ),
        }
    }
}

impl Loader {
    /// A loader with no file (built-in development defaults) and an empty environment.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// A loader with a snapshot of this process's environment.
    pub fn from_process_env() -> Loader {
        Loader::new().env(std::env::vars())
    }

    /// Reads this config file (it must exist).
    pub fn file(mut self, path: impl Into<PathBuf>) -> Loader {
        self.file = Some(path.into());
        self.optional_file = false;
        self
    }

    /// Reads this config file if it exists, else uses the built-in development defaults.
    pub fn file_if_exists(mut self, path: impl Into<PathBuf>) -> Loader {
        self.file = Some(path.into());
        self.optional_file = true;
        self
    }

    /// The `.env` file to read (default: `.env` beside the config file, or in the
    /// current directory without one). A missing `.env` is not an error.
    pub fn dotenv(mut self, path: impl Into<PathBuf>) -> Loader {
        self.dotenv = Some(path.into());
        self
    }

    /// Sets the process environment the loader sees (replacing any earlier one).
    pub fn env<I, K, V>(mut self, vars: I) -> Loader
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Sets a `gateway:` setting as a command-line flag gave it, over the files and the
    /// environment. `path` is its key path (`workers`, `tls.cert`, as in
    /// [`gateway::flags`](super::gateway::flags)), `flag` names it in messages
    /// (`--workers`), `values` is what it was given (more than one for a list such as
    /// `unbuffered_request_paths`). The value is read and checked as the key's would be.
    ///
    /// ```
    /// use hardened::config::load::Loader;
    ///
    /// let loaded = Loader::new().gateway_flag("workers", "--workers", ["4"]).load().unwrap();
    /// assert_eq!(loaded.config.gateway.workers, Some(4));
    /// let err = Loader::new().gateway_flag("workers", "--workers", ["0"]).load().unwrap_err();
    /// assert!(err.to_string().contains("--workers"));
    /// ```
    pub fn gateway_flag<I, V>(
        mut self,
        path: impl Into<String>,
        flag: impl Into<String>,
        values: I,
    ) -> Loader
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.gateway_flags.push(GatewayFlag {
            path: path.into(),
            flag: flag.into(),
            values: values.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Loads and validates; any problem is an error.
    ///
    /// # Errors
    /// Every problem found: unreadable or invalid files, unknown keys, wrong types, bad
    /// domains, unset `${VAR}`s, production without domains.
    pub fn load(&self) -> Result<Loaded, ConfigErrors> {
        let loaded = self.load_lenient()?;
        if loaded.problems.is_empty() {
            Ok(loaded)
        } else {
            Err(ConfigErrors(loaded.problems))
        }
    }

    /// Loads, keeping what is valid and returning every problem beside it. Only files
    /// that cannot be read or parsed are errors.
    ///
    /// # Errors
    /// A file that cannot be read or is not valid YAML.
    pub fn load_lenient(&self) -> Result<Loaded, ConfigErrors> {
        let mut problems = Vec::new();
        let mut files = Vec::new();

        let file = match &self.file {
            Some(p) if self.optional_file && !p.exists() => None,
            other => other.clone(),
        };
        let dir = file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));

        // Variables: .env under the process environment.
        let dotenv_path = self.dotenv.clone().unwrap_or_else(|| dir.join(".env"));
        let (dotenv_vars, dotenv_read) = read_dotenv(&dotenv_path)?;
        let dotenv_lines = if dotenv_read {
            dotenv_line_numbers(&dotenv_path)
        } else {
            BTreeMap::new()
        };
        let mut vars: BTreeMap<String, (String, bool)> = dotenv_vars
            .into_iter()
            .map(|(k, v)| (k, (v, true)))
            .collect();
        for (k, v) in &self.env {
            vars.insert(k.clone(), (v.clone(), false));
        }

        // Base layer.
        let mut merged: BTreeMap<String, (Node, Node)> = BTreeMap::new();
        match &file {
            Some(path) => {
                let doc = read_yaml(path)?;
                files.push(path.clone());
                merge(&mut merged, doc, &vars, &mut problems);
            }
            None => {
                let b = Source::builtin();
                for (k, v) in [
                    ("environment", Value::Str("development".into())),
                    ("debug", Value::Bool(true)),
                ] {
                    merged.insert(
                        k.into(),
                        (
                            Node::new(Value::Str(k.into()), b.clone()),
                            Node::new(v, b.clone()),
                        ),
                    );
                }
            }
        }

        // Environment from variables, else from the base file.
        let env_override = environment_var(&vars, &mut problems);
        let env_name = env_override
            .as_ref()
            .map(|(e, _)| *e)
            .or_else(|| environment_of(&merged, vars.get("DEBUG").map(|(v, _)| v.as_str())));

        // Overlay.
        if let Some(env) = env_name {
            let candidates: Vec<PathBuf> = overlay_names(env)
                .iter()
                .map(|n| dir.join(n))
                .filter(|p| p.exists() && Some(p) != file.as_ref())
                .collect();
            if candidates.len() > 1 {
                problems.push(
                    Problem::new(
                        ProblemKind::DuplicateOverlay,
                        "overlay",
                        "two overlay files for one environment",
                        "merge them into one file",
                    )
                    .with_value(format!("{candidates:?}")),
                );
            }
            if let Some(path) = candidates.first() {
                let doc = read_yaml(path)?;
                files.push(path.clone());
                merge(&mut merged, doc, &vars, &mut problems);
            }
        }

        // Environment variables.
        let dotenv_origin: Arc<str> = Arc::from(dotenv_path.display().to_string());
        let mut set_by_var = BTreeMap::new();
        let var_node = |name: &str, value: Value| {
            let src = match vars.get(name) {
                // The line in .env, so a finding about the value points at it.
                Some((_, true)) => Source {
                    origin: dotenv_origin.clone(),
                    line: dotenv_lines.get(name).copied().unwrap_or(0),
                    from_env: true,
                },
                _ => Source::env(name),
            };
            (
                Node::new(Value::Str(name.into()), src.clone()),
                Node::new(value, src),
            )
        };
        if let Some((env, name)) = &env_override {
            merged.insert(
                "environment".into(),
                var_node(name, Value::Str(env.as_str().into())),
            );
            set_by_var.insert("environment".to_owned(), name.clone());
        }
        for (name, key) in KEY_VARIABLES {
            if let Some((v, _)) = vars.get(name) {
                merged.insert(key.into(), var_node(name, Value::Str(v.clone())));
                set_by_var.insert(key.to_owned(), name.to_owned());
            }
        }

        // The files' own `gateway:` section, before variables and flags replace any of
        // its values: a bad value in a file is an error even where a variable or a flag
        // overrides it (nothing starts on a file that is wrong).
        let files_gateway = merged.get("gateway").map(|(_, n)| n.clone());
        super::gateway::env_overrides(&mut merged, &vars, &var_node);
        super::gateway::flag_overrides(&mut merged, &self.gateway_flags);

        let mut typer = Typer {
            problems: Vec::new(),
            vars: set_by_var,
        };
        let config = typer.config(&merged);
        if let Some(n) = files_gateway {
            let mut files_typer = Typer {
                problems: Vec::new(),
                vars: BTreeMap::new(),
            };
            files_typer.gateway_values(&n, &mut BTreeMap::new());
            // A value that is wrong, not one a variable or flag completes (`tls.key`).
            for p in files_typer.problems {
                if p.kind() != ProblemKind::MissingValue && !typer.problems.contains(&p) {
                    typer.problems.push(p);
                }
            }
        }
        problems.extend(typer.problems);
        let reason = match (&env_override, merged.get("environment")) {
            (Some((_, name)), _) => EnvironmentReason::Variable(name.clone()),
            (None, Some((_, n))) if n.source == Source::builtin() => EnvironmentReason::BuiltIn,
            (None, Some((_, n))) => EnvironmentReason::Key(n.source.clone()),
            (None, None) => match merged.get("debug") {
                Some((_, n)) if config.debug => EnvironmentReason::Debug(n.source.clone()),
                _ => EnvironmentReason::Default,
            },
        };
        // A production config whose domains all failed to parse, or whose list is
        // mistyped, is reported once, for that mistake, not again as "no domains".
        let bad_domains = problems
            .iter()
            .any(|p| p.key() == "security_domains" || p.key().starts_with("security_domains["));
        problems.extend(
            crate::policy::problems(&config)
                .into_iter()
                .filter(|p| !(bad_domains && p.kind() == ProblemKind::NoDomains))
                .map(|p| explain_default_production(p, &reason)),
        );
        // File order, then line: the order a reader fixes them in. "No domains" is
        // often the consequence of another mistake (a misspelt `security_domain`, an
        // unset variable), so it comes after every problem with a place in a file.
        problems.sort_by(|a, b| {
            let key = |p: &Problem| {
                let place = p
                    .source()
                    .map(|s| (s.origin.to_string(), s.line))
                    .unwrap_or_default();
                (p.kind() == ProblemKind::NoDomains, place)
            };
            key(a).cmp(&key(b))
        });
        Ok(Loaded {
            config,
            problems,
            files,
            dotenv: dotenv_read.then_some(dotenv_path),
            reason,
        })
    }
}

/// "Production needs a domain" when production was only the default: says why it is
/// production, and how to develop instead.
fn explain_default_production(p: Problem, reason: &EnvironmentReason) -> Problem {
    if p.kind() != ProblemKind::NoDomains || *reason != EnvironmentReason::Default {
        return p;
    }
    let mut out = Problem::new(
        p.kind(),
        p.key(),
        format!("{} ({reason})", p.message()),
        format!(
            "{}; or, to develop locally, write `environment: development` (or `debug: true`)",
            p.fix()
        ),
    )
    .at(p.source().cloned());
    if let Some(v) = p.value() {
        out = out.with_value(v);
    }
    out
}

fn overlay_names(env: Environment) -> &'static [&'static str] {
    match env {
        Environment::Development => &["config.dev.yaml", "config.development.yaml"],
        Environment::Test => &["config.test.yaml", "config.testing.yaml"],
        Environment::Staging => &["config.staging.yaml", "config.stage.yaml"],
        Environment::Production => &["config.production.yaml", "config.prod.yaml"],
    }
}

fn fatal(kind: ProblemKind, path: &Path, line: u64, message: String, fix: &str) -> ConfigErrors {
    ConfigErrors(vec![Problem::new(kind, "(file)", message, fix).at(
        Source {
            origin: Arc::from(path.display().to_string()),
            line,
            from_env: false,
        },
    )])
}

impl crate::Security {
    /// Loads `./config.yaml` (or the built-in development defaults when it is absent)
    /// with `.env` and the process environment, probes this machine, and compiles.
    ///
    /// # Errors
    /// Every configuration problem.
    pub fn load() -> Result<crate::Security, ConfigErrors> {
        let loaded = Loader::from_process_env()
            .file_if_exists("config.yaml")
            .load()?;
        crate::Security::from_config(
            &loaded.config,
            &crate::probe::detect(&crate::probe::OsSystem),
        )
    }

    /// Like [`Security::load`](crate::Security::load) with an explicit config file.
    ///
    /// # Errors
    /// Every configuration problem.
    pub fn load_from(path: impl AsRef<Path>) -> Result<crate::Security, ConfigErrors> {
        let loaded = Loader::from_process_env().file(path.as_ref()).load()?;
        crate::Security::from_config(
            &loaded.config,
            &crate::probe::detect(&crate::probe::OsSystem),
        )
    }
}
