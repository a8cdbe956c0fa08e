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
//!     .env([("SECRET_KEY", "k".repeat(50).as_str())])
//!     .load()?;
//! assert_eq!(loaded.config.environment, Environment::Production); // no debug: secure default
//! assert!(loaded.config.sources["secret_key"].from_env);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Source;
use super::node::{Node, Value};
use super::{Config, ConfigErrors, Environment, Problem, ProblemKind, Typer};

/// Environment variables naming the environment, in order of precedence.
pub const ENVIRONMENT_VARS: [&str; 3] = ["DJANGO_ENV", "ENVIRONMENT", "ENV"];

/// Configuration loader. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Loader {
    file: Option<PathBuf>,
    optional_file: bool,
    dotenv: Option<PathBuf>,
    env: BTreeMap<String, String>,
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
        for (name, key) in [
            ("SECRET_KEY", "secret_key"),
            ("DEBUG", "debug"),
            ("SECURITY_DOMAINS", "security_domains"),
            ("SSL_REDIRECT", "ssl_redirect"),
            ("DOCKER", "docker"),
        ] {
            if let Some((v, _)) = vars.get(name) {
                merged.insert(key.into(), var_node(name, Value::Str(v.clone())));
                set_by_var.insert(key.to_owned(), name.to_owned());
            }
        }

        super::gateway::env_overrides(&mut merged, &vars, &var_node);

        let mut typer = Typer {
            problems: Vec::new(),
            vars: set_by_var,
        };
        let config = typer.config(&merged);
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
        // File order, then line: the order a reader fixes them in.
        problems.sort_by(|a, b| {
            let key = |p: &Problem| {
                p.source()
                    .map(|s| (s.origin.to_string(), s.line))
                    .unwrap_or_default()
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

/// Reads a YAML file into its top-level entries.
fn read_yaml(path: &Path) -> Result<Vec<(Node, Node)>, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        fatal(
            ProblemKind::UnreadableFile,
            path,
            0,
            format!("cannot read the config file: {e}"),
            "check the path given to --config",
        )
    })?;
    parse_yaml(&text, path)
}

/// Parses YAML text into top-level entries, each node tagged with `path`.
pub(crate) fn parse_yaml(text: &str, path: &Path) -> Result<Vec<(Node, Node)>, ConfigErrors> {
    let origin: Arc<str> = Arc::from(path.display().to_string());
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut doc: Node = serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        // The message without the source snippet: a snippet could show a secret.
        let msg = e.without_snippet().to_string();
        let msg = msg.lines().next().unwrap_or("invalid YAML").to_owned();
        let line_text = usize::try_from(line)
            .ok()
            .and_then(|l| text.lines().nth(l.checked_sub(1)?))
            .unwrap_or("");
        let (message, fix) = yaml_error_wording(&msg, line_text);
        fatal(ProblemKind::InvalidYaml, path, line, message, &fix)
    })?;
    doc.set_origin(&origin);
    match doc.value {
        Value::Map(entries) => Ok(entries),
        Value::Null => Ok(Vec::new()),
        other => Err(fatal(
            ProblemKind::InvalidYaml,
            path,
            doc.source.line,
            format!(
                "the top level must be a mapping of keys, found {}",
                other.kind()
            ),
            "write `key: value` lines, e.g. `security_domains: [example.com]`",
        )),
    }
}

/// The message and fix for a YAML syntax error, worded for this file format rather
/// than in the parser's terms. `line_text` is the offending line; it is only inspected,
/// never quoted (it could hold a secret).
fn yaml_error_wording(msg: &str, line_text: &str) -> (String, String) {
    // The parser's own position suffix (` at line 2, column 1`) repeats our line; keep
    // the column.
    let (msg, column) = match msg.rfind(" at line ") {
        Some(i) => (
            msg.get(..i).unwrap_or(msg),
            msg.get(i..)
                .and_then(|pos| pos.split_once("column "))
                .map(|(_, c)| format!(" (column {c})")),
        ),
        None => (msg, None),
    };
    let column = column.unwrap_or_default();
    if let Some(rest) = msg.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return (
            format!("duplicate key: `{key}` is written twice in one mapping"),
            format!("keep one `{key}:` and remove the other"),
        );
    }
    if msg.contains("flow sequence") || msg.contains("flow mapping") {
        let fix = if line_text.contains(['{', '}']) || line_text.contains("[*") {
            "quote list items that hold `{`, `}`, `[`, `]`, `,` or start with `*`, e.g. `[\"/api/*\", \"/hooks/{id}\"]`, or write one `- /hooks/{id}` item per line"
        } else {
            "close the list with `]` and separate items with `,`, e.g. `[example.com, api.example.com]`; quote items that hold `{`, `}`, `[`, `]` or `,`"
        };
        return (format!("invalid YAML: {msg}{column}"), fix.to_owned());
    }
    (
        format!("invalid YAML: {msg}{column}"),
        "fix the YAML syntax at that line".to_owned(),
    )
}

/// Merges one layer's entries into the map: later layers replace top-level keys;
/// nested mappings (`database`, `hsts`, `app`) merge key by key.
fn merge(
    merged: &mut BTreeMap<String, (Node, Node)>,
    entries: Vec<(Node, Node)>,
    vars: &BTreeMap<String, (String, bool)>,
    problems: &mut Vec<Problem>,
) {
    for (k, mut v) in entries {
        let Value::Str(name) = &k.value else {
            problems.push(
                Problem::new(
                    ProblemKind::NonStringKey,
                    k.display(),
                    format!("keys must be strings, found {}", k.value.kind()),
                    "quote the key or remove it",
                )
                .at(k.source.clone()),
            );
            continue;
        };
        let name = name.clone();
        interpolate(&mut v, &name, vars, problems);
        match (merged.get_mut(&name), v.value) {
            (Some((_, old)), Value::Map(new_entries)) if matches!(old.value, Value::Map(_)) => {
                if let Value::Map(old_entries) = &mut old.value {
                    for (nk, nv) in new_entries {
                        match old_entries.iter_mut().find(|(ok, _)| ok.value == nk.value) {
                            Some(slot) => *slot = (nk, nv),
                            None => old_entries.push((nk, nv)),
                        }
                    }
                }
            }
            (_, value) => {
                merged.insert(name, (k, Node::new(value, v.source)));
            }
        }
    }
}

/// Replaces `${VAR}` / `${VAR:-default}` in every string of the node.
fn interpolate(
    n: &mut Node,
    key: &str,
    vars: &BTreeMap<String, (String, bool)>,
    problems: &mut Vec<Problem>,
) {
    match &mut n.value {
        Value::Str(s) if s.contains('$') => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            let mut used_var = false;
            let mut null = false;
            while let Some(i) = rest.find('$') {
                out.push_str(rest.get(..i).unwrap_or(""));
                let after = rest.get(i + 1..).unwrap_or("");
                if let Some(r) = after.strip_prefix('$') {
                    out.push('$');
                    rest = r;
                } else if let Some(body) = after.strip_prefix('{') {
                    let Some(end) = body.find('}') else {
                        problems.push(
                            Problem::new(
                                ProblemKind::UnclosedVariable,
                                key,
                                "unclosed `${` in value",
                                "write `${NAME}`, or `$$` for a literal `$`",
                            )
                            .at(n.source.clone()),
                        );
                        null = true;
                        break;
                    };
                    let expr = body.get(..end).unwrap_or("");
                    let (name, default) = match expr.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (expr, None),
                    };
                    used_var = true;
                    match (vars.get(name), default) {
                        (Some((v, _)), _) if !(v.is_empty() && default.is_some()) => {
                            out.push_str(v)
                        }
                        (_, Some(d)) => out.push_str(d),
                        (None, None) => {
                            problems.push(
                                Problem::new(
                                    ProblemKind::UnsetVariable,
                                    key,
                                    format!("environment variable {name} is not set"),
                                    format!(
                                        "export {name}=... or add `{name}=...` to .env (or write `${{{name}:-default}}`)"
                                    ),
                                )
                                .with_value(format!("${{{name}}}"))
                                .at(n.source.clone()),
                            );
                            null = true;
                        }
                        (Some(_), None) => {}
                    }
                    rest = body.get(end + 1..).unwrap_or("");
                } else {
                    out.push('$');
                    rest = after;
                }
            }
            out.push_str(rest);
            if used_var {
                n.source.from_env = true;
            }
            n.value = if null { Value::Null } else { Value::Str(out) };
        }
        Value::Seq(items) => {
            for item in items {
                interpolate(item, key, vars, problems);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                let sub = match &k.value {
                    Value::Str(s) => format!("{key}.{s}"),
                    _ => key.to_owned(),
                };
                interpolate(v, &sub, vars, problems);
            }
        }
        _ => {}
    }
}

fn environment_var(
    vars: &BTreeMap<String, (String, bool)>,
    problems: &mut Vec<Problem>,
) -> Option<(Environment, String)> {
    for name in ENVIRONMENT_VARS {
        let Some((v, _)) = vars.get(name) else {
            continue;
        };
        if v.trim().is_empty() {
            continue;
        }
        match Environment::parse(v) {
            Some(e) => return Some((e, name.to_owned())),
            // `ENV` is also a POSIX shell variable (a startup file path): ignore values
            // that are not environment names instead of failing.
            None if name == "ENV" => continue,
            None => {
                problems.push(
                    Problem::new(
                        ProblemKind::UnknownEnvironment,
                        "environment",
                        format!("{name} names no known environment"),
                        super::typer::ENVIRONMENT_FIX,
                    )
                    .with_value(format!("{v:?}"))
                    .at(Source::env(name)),
                );
                return None;
            }
        }
    }
    None
}

/// The environment a merged map implies (explicit key, else `debug`).
fn environment_of(
    merged: &BTreeMap<String, (Node, Node)>,
    debug_var: Option<&str>,
) -> Option<Environment> {
    if let Some((_, n)) = merged.get("environment")
        && let Value::Str(s) = &n.value
    {
        return Environment::parse(s);
    }
    let debug = match (debug_var, merged.get("debug").map(|(_, n)| &n.value)) {
        (Some(v), _) => super::parse_bool(v).unwrap_or(false),
        (None, Some(Value::Bool(b))) => *b,
        (None, Some(Value::Str(s))) => super::parse_bool(s).unwrap_or(false),
        _ => false,
    };
    Some(if debug {
        Environment::Development
    } else {
        Environment::Production
    })
}

/// The line each variable of a `.env` file is (last) set on: `NAME=`, `export NAME=`.
fn dotenv_line_numbers(path: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        if let Some((name, _)) = line.split_once('=')
            && !name.trim().is_empty()
            && !name.trim().starts_with('#')
        {
            out.insert(name.trim().to_owned(), u64::try_from(i + 1).unwrap_or(0));
        }
    }
    out
}

/// Reads a `.env` file if present. Returns the variables and whether a file was read.
fn read_dotenv(path: &Path) -> Result<(Vec<(String, String)>, bool), ConfigErrors> {
    if !path.is_file() {
        return Ok((Vec::new(), false));
    }
    let iter = dotenvy::from_path_iter(path).map_err(|e| {
        fatal(
            ProblemKind::UnreadableFile,
            path,
            0,
            format!("cannot read .env: {e}"),
            "check the file's permissions",
        )
    })?;
    let mut out = Vec::new();
    for item in iter {
        match item {
            Ok(kv) => out.push(kv),
            Err(e) => {
                // dotenvy reports the offending line's text and a column; find the line.
                let line = match &e {
                    dotenvy::Error::LineParse(text, _) => std::fs::read_to_string(path)
                        .ok()
                        .and_then(|all| {
                            let first = text.lines().next().unwrap_or(text).trim();
                            all.lines().position(|l| l.trim() == first)
                        })
                        .map_or(0, |i| u64::try_from(i + 1).unwrap_or(0)),
                    _ => 0,
                };
                // The dotenv error text quotes the line, which may hold a secret: omit it.
                let _ = e;
                return Err(fatal(
                    ProblemKind::InvalidDotenv,
                    path,
                    line,
                    "invalid line in .env".into(),
                    "write `NAME=value` lines (quote values with spaces)",
                ));
            }
        }
    }
    Ok((out, true))
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
