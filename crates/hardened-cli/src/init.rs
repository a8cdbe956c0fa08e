//! `hardened init`: a starter configuration for a project.
//!
//! Writes, into the target directory:
//!
//! - `config.yaml`: the base layer, commented key by key. It says
//!   `environment: production`, so a deployment that sets nothing (or a stray
//!   `DEBUG=true`) is never opened up.
//! - `config.production.yaml`: the production overlay (the TLS mode, HSTS, cookies).
//! - `.env` (mode 0600): `ENVIRONMENT=development` and a new `SECRET_KEY` for this
//!   machine. `.env` beats the config files and the process environment beats `.env`,
//!   so the same directory checks as development on a developer's machine and as
//!   production under `ENVIRONMENT=production`.
//! - `.env` appended to `.gitignore` (created if missing) and to an existing
//!   `.dockerignore`.
//!
//! Nothing is overwritten: an existing `config.yaml` refuses the whole run (exit 2,
//! nothing written); any other existing file is skipped, or only gets the lines it
//! lacks appended. The secret key is never printed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hardened::config::{Config, ProblemKind};

use crate::common::CliError;
use crate::secret_key;
use crate::term::clean;

/// Length of the generated secret key (the `hardened secret-key` default).
const SECRET_KEY_LENGTH: usize = 64;

/// What `hardened init --help` adds below the options.
const AFTER_HELP: &str = "\
Files (an existing config.yaml refuses the run and nothing is written; other existing
files are skipped, or get only the lines they lack appended):
  config.yaml             the base layer, commented; environment: production
  config.production.yaml  the production overlay: TLS mode, HSTS, cookies
  .env                    ENVIRONMENT=development and a new SECRET_KEY (mode 0600)
  .gitignore              gets a .env line (and .dockerignore, when it exists)

.env selects development on this machine; ENVIRONMENT=production in the process
environment beats it:
  hardened check
  ENVIRONMENT=production hardened check --deploy";

/// Arguments of `hardened init`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// A production domain for `security_domains`, e.g. example.com or
    /// https://api.example.com (repeatable).
    #[arg(long = "domain", short = 'd', value_name = "DOMAIN")]
    domains: Vec<String>,
}

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Created,
    Appended,
    Skipped,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Appended => "appended",
            Action::Skipped => "skipped",
        }
    }
}

/// One line of the report: the file, what happened, and a note.
struct Done {
    name: &'static str,
    action: Action,
    note: String,
}

/// Runs `hardened init`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let dir = args.dir.as_path();
    let config = dir.join("config.yaml");
    if exists(&config) {
        return Err(refuse(&config));
    }
    if !args.domains.is_empty() {
        // The same parsing and policy the loader applies in production: a domain that
        // would make the written configuration fail is refused before anything is written.
        if let Err(mut e) = Config::production(&args.domains) {
            // A bad entry also leaves production without domains: report the entry only.
            if e.0.len() > 1 {
                e.0.retain(|p| p.kind() != ProblemKind::NoDomains);
            }
            return Err(e.into());
        }
    }
    let key = secret_key::generate(SECRET_KEY_LENGTH)?;

    fs::create_dir_all(dir).map_err(|e| {
        CliError::Message(format!(
            "cannot create the directory {}: {e}",
            clean(&dir.display().to_string())
        ))
    })?;

    let mut done = Vec::new();
    match create_new(&config, false) {
        Ok(mut f) => f.write_all(config_yaml(&args.domains).as_bytes())?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(refuse(&config)),
        Err(e) => return Err(write_error(&config, &e)),
    }
    done.push(Done {
        name: "config.yaml",
        action: Action::Created,
        note:
            "the base layer (environment: production unless .env or the environment says otherwise)"
                .into(),
    });
    done.push(write_new(
        dir,
        "config.production.yaml",
        PRODUCTION_YAML,
        "the production overlay: TLS mode, HSTS, cookies",
    )?);
    done.push(dotenv(dir, &key)?);
    done.push(ignore_dotenv(dir, ".gitignore", true)?);
    if exists(&dir.join(".dockerignore")) {
        done.push(ignore_dotenv(dir, ".dockerignore", false)?);
    }

    report(out, dir, &args.domains, &done)?;
    Ok(ExitCode::SUCCESS)
}

/// The error for an existing `config.yaml`.
fn refuse(config: &Path) -> CliError {
    CliError::Message(format!(
        "{} already exists; hardened init writes nothing over an existing configuration. \
         Check it with `hardened check`, or move it away and run `hardened init` again",
        clean(&config.display().to_string())
    ))
}

fn write_error(path: &Path, e: &io::Error) -> CliError {
    CliError::Message(format!(
        "cannot write {}: {e}",
        clean(&path.display().to_string())
    ))
}

/// Whether anything (a file, a directory, even a dangling link) is at `path`.
fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Opens a new file, failing with `AlreadyExists` rather than replacing one; `secret`
/// files are readable by their owner only.
fn create_new(path: &Path, secret: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    o.open(path)
}

/// Writes `text` to `dir/name` unless something is already there.
fn write_new(dir: &Path, name: &'static str, text: &str, note: &str) -> Result<Done, CliError> {
    let path = dir.join(name);
    match create_new(&path, false) {
        Ok(mut f) => {
            f.write_all(text.as_bytes())?;
            Ok(Done {
                name,
                action: Action::Created,
                note: note.into(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Done {
            name,
            action: Action::Skipped,
            note: "exists; left as it is".into(),
        }),
        Err(e) => Err(write_error(&path, &e)),
    }
}

/// Appends `lines` to an existing file, after a newline if its last line lacks one.
fn append(path: &Path, existing: &str, lines: &str) -> Result<(), CliError> {
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| write_error(path, &e))?;
    if !existing.is_empty() && !existing.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    f.write_all(lines.as_bytes())?;
    Ok(())
}

/// Reads an existing text file for appending to it.
fn read_existing(path: &Path) -> Result<String, CliError> {
    fs::read_to_string(path).map_err(|e| {
        CliError::Message(format!(
            "cannot read {}: {e}",
            clean(&path.display().to_string())
        ))
    })
}

// ---------------------------------------------------------------------------------------
// .env

/// Creates `.env` with the development environment and a new secret key, or appends
/// whichever of the two an existing `.env` does not define.
fn dotenv(dir: &Path, key: &str) -> Result<Done, CliError> {
    let name = ".env";
    let path = dir.join(name);
    let environment = "ENVIRONMENT=development\n";
    // Single quotes: read literally by dotenv parsers, Docker Compose and POSIX shells.
    let secret = format!("SECRET_KEY='{key}'\n");
    match create_new(&path, true) {
        Ok(mut f) => {
            f.write_all(DOTENV_HEADER.as_bytes())?;
            f.write_all(environment.as_bytes())?;
            f.write_all(secret.as_bytes())?;
            return Ok(Done {
                name,
                action: Action::Created,
                note: "ENVIRONMENT=development and a new SECRET_KEY; mode 0600".into(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(write_error(&path, &e)),
    }
    let existing = read_existing(&path)?;
    let defined = dotenv_names(&existing);
    let has = |n: &str| defined.iter().any(|d| d == n);
    let mut lines = String::new();
    let mut added = Vec::new();
    if !has("ENVIRONMENT") {
        lines.push_str(environment);
        added.push("ENVIRONMENT=development");
    }
    if !has("SECRET_KEY") {
        lines.push_str(&secret);
        added.push("a new SECRET_KEY");
    }
    if added.is_empty() {
        return Ok(Done {
            name,
            action: Action::Skipped,
            note: "exists and defines ENVIRONMENT and SECRET_KEY; left as it is".into(),
        });
    }
    append(&path, &existing, &lines)?;
    let mut note = added.join(" and ");
    if group_or_other_can_read(&path) {
        note.push_str("; readable by others: chmod 600 .env");
    }
    Ok(Done {
        name,
        action: Action::Appended,
        note,
    })
}

/// The variable names a `.env` text defines (`NAME=...` or `export NAME=...`).
fn dotenv_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (name, _) = line.split_once('=')?;
            let name = name.trim();
            (!name.is_empty() && !name.starts_with('#')).then(|| name.to_owned())
        })
        .collect()
}

#[cfg(unix)]
fn group_or_other_can_read(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn group_or_other_can_read(_path: &Path) -> bool {
    false
}

// ---------------------------------------------------------------------------------------
// .gitignore, .dockerignore

/// Adds a `.env` line to an ignore file unless one of its lines already ignores `.env`;
/// creates the file when `create` and it is missing.
fn ignore_dotenv(dir: &Path, name: &'static str, create: bool) -> Result<Done, CliError> {
    let path = dir.join(name);
    if !exists(&path) {
        if !create {
            return Ok(Done {
                name,
                action: Action::Skipped,
                note: "missing".into(),
            });
        }
        return match create_new(&path, false) {
            Ok(mut f) => {
                f.write_all(b".env\n")?;
                Ok(Done {
                    name,
                    action: Action::Created,
                    note: ".env".into(),
                })
            }
            Err(e) => Err(write_error(&path, &e)),
        };
    }
    let existing = read_existing(&path)?;
    if ignores_dotenv(&existing) {
        return Ok(Done {
            name,
            action: Action::Skipped,
            note: "already ignores .env".into(),
        });
    }
    append(&path, &existing, ".env\n")?;
    Ok(Done {
        name,
        action: Action::Appended,
        note: ".env".into(),
    })
}

/// Whether an ignore file has a line that ignores `.env` at the top of its directory.
fn ignores_dotenv(text: &str) -> bool {
    text.lines().map(str::trim).any(|l| {
        matches!(
            l,
            ".env" | "/.env" | ".env*" | "/.env*" | "*.env" | "**/.env"
        )
    })
}

// ---------------------------------------------------------------------------------------
// The report

fn report(out: &mut dyn Write, dir: &Path, domains: &[String], done: &[Done]) -> io::Result<()> {
    let here = dir == Path::new(".") || dir.as_os_str().is_empty();
    if here {
        writeln!(
            out,
            "hardened init: a starter configuration in the current directory"
        )?;
    } else {
        writeln!(
            out,
            "hardened init: a starter configuration in {}",
            clean(&dir.display().to_string())
        )?;
    }
    writeln!(out)?;
    for d in done {
        writeln!(out, "  {:<9} {:<23} {}", d.action.as_str(), d.name, d.note)?;
    }

    // `--config DIR/config.yaml` when the files are not in the current directory; the
    // loader reads the overlay and `.env` beside it.
    let config = if here {
        String::new()
    } else {
        format!(
            " --config {}",
            shell_word(&dir.join("config.yaml").display().to_string())
        )
    };
    writeln!(out)?;
    writeln!(out, "Next steps:")?;
    writeln!(out, "  Check the development configuration:")?;
    writeln!(out, "    hardened check{config}")?;
    if domains.is_empty() {
        writeln!(
            out,
            "  List the production domains under security_domains in config.yaml, then check \
             production readiness:"
        )?;
    } else {
        writeln!(out, "  Check production readiness:")?;
    }
    writeln!(
        out,
        "    ENVIRONMENT=production hardened check --deploy{config}"
    )?;
    writeln!(
        out,
        "  Serve the policy in front of a demo app on 127.0.0.1:8000:"
    )?;
    writeln!(out, "    hardened serve{config}")?;
    Ok(())
}

/// A path as one shell word: as is when it needs no quoting, else single-quoted.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@%".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", clean(&s.replace('\'', r"'\''")))
    }
}

// ---------------------------------------------------------------------------------------
// The files

const DOTENV_HEADER: &str = "\
# Settings and secrets for this machine only: never commit this file (it is in .gitignore).
# The process environment beats every value here: a deployment sets its own
# ENVIRONMENT=production and SECRET_KEY.
";

/// `config.yaml`, listing `domains` (or a commented placeholder).
fn config_yaml(domains: &[String]) -> String {
    let mut s = String::from(CONFIG_HEAD);
    if domains.is_empty() {
        s.push_str(
            "security_domains: []\n\
             # security_domains:\n\
             #   - example.com\n\
             #   - https://api.example.com\n",
        );
    } else {
        s.push_str("security_domains:\n");
        for d in domains {
            s.push_str("  - ");
            s.push_str(&yaml_scalar(d.trim()));
            s.push('\n');
        }
    }
    s.push_str(CONFIG_TAIL);
    s
}

/// A YAML scalar for a domain: plain when that is unambiguous, else single-quoted.
fn yaml_scalar(s: &str) -> String {
    let plain = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_/:".contains(&b))
        && !s.ends_with(':');
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

const CONFIG_HEAD: &str = "\
# hardened: the base configuration, read in every environment.
#
# Layers, later wins: this file < config.<environment>.yaml (config.production.yaml,
# config.dev.yaml) < .env < the process environment.
# Check it: `hardened check`; production readiness:
# `ENVIRONMENT=production hardened check --deploy`.

# development | test | staging | production. Production here keeps a deployment secure
# when nothing else is set (a stray DEBUG=true cannot turn it into development).
# ENVIRONMENT (or DJANGO_ENV, ENV) in .env or the process environment beats it: a
# developer's .env says ENVIRONMENT=development.
environment: production

# The application's debug flag; it never weakens security in production.
debug: false

# The application's secret key, from .env or the process environment, never written
# here. `hardened secret-key` makes a new one.
secret_key: ${SECRET_KEY}

# The one list: allowed hosts, CORS origins and CSRF trusted origins are derived from it.
# `example.com` means https://example.com; write `http://` or a port where needed;
# `.example.com` adds every subdomain. Development also allows localhost on any port.
";

const CONFIG_TAIL: &str = "
# Paths exempt from the host check and the TLS redirect (load balancer probes).
# health_check_paths: [/healthz]

# Paths exempt from CSRF, e.g. token-authenticated APIs and webhooks.
# csrf_exempt_paths: [/api/*]

# Settings of the application itself: not interpreted, scanned for inline secrets
# (write ${VAR} and keep the value in .env).
# app:
#   feature_flag: true
";

const PRODUCTION_YAML: &str = "\
# hardened: the production overlay, read on top of config.yaml when the environment is
# production. Only what differs in production belongs here.
# Check it: `ENVIRONMENT=production hardened check --deploy`.

# Who turns plain HTTP into HTTPS (the two TLS modes):
#   null  a reverse proxy or load balancer terminates TLS and redirects (the default);
#         its X-Forwarded-Proto is believed from trusted_proxies only
#   true  this service redirects plain-HTTP requests to https itself (301)
ssl_redirect: null

# Peers whose X-Forwarded-Proto is believed; default: loopback and internal networks.
# trusted_proxies: [10.0.0.0/8]

# Whether the service runs in a container: auto detects Docker and Kubernetes on the
# machine running it; state it for the deployment.
# docker: true

# HSTS is on in production by default: one year, includeSubDomains, preload. Each key
# can be overridden; to roll HTTPS out gently, start with `seconds: 300` and
# `preload: false`.
# hsts:
#   seconds: 31536000
#   include_subdomains: true
#   preload: true

# In production every cookie gets Secure, the session cookie HttpOnly and SameSite=Lax.
# secure_cookies: true
# session_cookie_name: sessionid
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_names_are_found() {
        let names = dotenv_names("# c\nA=1\n export B = 2\n#C=3\n\nD\n");
        assert_eq!(names, ["A", "B"]);
    }

    #[test]
    fn ignore_lines() {
        assert!(ignores_dotenv("target/\n/.env\n"));
        assert!(ignores_dotenv(" .env \n"));
        assert!(!ignores_dotenv(".env.example\n# .env\n"));
    }

    #[test]
    fn yaml_scalars() {
        assert_eq!(yaml_scalar("example.com"), "example.com");
        assert_eq!(
            yaml_scalar("http://staging.example.com:8080"),
            "http://staging.example.com:8080"
        );
        assert_eq!(yaml_scalar("*.example.com"), "'*.example.com'");
        assert_eq!(yaml_scalar(".example.com"), "'.example.com'");
        assert_eq!(yaml_scalar("[::1]"), "'[::1]'");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("/tmp/a/config.yaml"), "/tmp/a/config.yaml");
        assert_eq!(shell_word("/tmp/a b/c'd"), r"'/tmp/a b/c'\''d'");
    }
}
