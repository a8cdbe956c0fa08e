//! The `hardened` command: derive, show, check, explain and serve an environment-aware
//! web security policy.

mod audit;
mod check;
mod common;
mod demo;
mod env_cmd;
mod explain;
mod healthcheck;
mod init;
mod logging;
mod meta;
mod reports;
mod secret_key;
mod serve;
mod show;
mod term;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Environment-aware web security: one `security_domains` list derives allowed hosts,
/// CORS, CSRF, TLS/HSTS, secure cookies and security headers.
#[derive(Debug, Parser)]
#[command(name = "hardened", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--config` shared by the commands that read a configuration.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConfigArg {
    /// Config file (default: ./config.yaml if present, else built-in development defaults).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
// Parsed once per run: the size of the `serve` variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Print the derived security settings.
    Show(show::Args),
    /// Run the security checklist (`--deploy` for production readiness).
    Check(check::Args),
    /// Show the verdict the middleware gives one request, and why.
    Explain(explain::Args),
    /// Serve the policy over HTTP: a gateway in front of --upstream, or a demo app.
    Serve(serve::Args),
    /// Grade a running site from outside: the MDN HTTP Observatory's tests and score,
    /// CORS/Host/cookie/TLS probes, and drift from --config.
    Audit(audit::Args),
    /// Print a new random secret key (50+ characters, OS CSPRNG).
    SecretKey(secret_key::Args),
    /// Print what the runtime probe detected (Docker, Kubernetes) and which signal fired.
    Env(env_cmd::Args),
    /// Write a starter config.yaml, a production overlay and a .env with a new secret key.
    Init(init::Args),
    /// Probe a plain-HTTP URL (the admin /healthz): exit 0 on 2xx, else 1.
    Healthcheck(healthcheck::Args),
    /// Print a shell completion script.
    Completions(meta::CompletionsArgs),
    /// Print the manual page, or write one page per command with --dir.
    Man(meta::ManArgs),
    /// Summarise the violation reports and report-only lines of JSON logs, and say per
    /// policy whether it is ready to enforce.
    Reports(reports::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Show(a) => show::run(&a, &mut out),
        Command::Check(a) => check::run(&a, &mut out),
        Command::Explain(a) => explain::run(&a, &mut out),
        Command::Serve(a) => serve::run(&a, &mut out),
        Command::Audit(a) => audit::run(&a, &mut out),
        Command::SecretKey(a) => secret_key::run(&a, &mut out),
        Command::Env(a) => env_cmd::run(&a, &mut out),
        Command::Init(a) => init::run(&a, &mut out),
        Command::Healthcheck(a) => healthcheck::run(&a, &mut out),
        Command::Completions(a) => meta::completions(&a, &mut out),
        Command::Man(a) => meta::man(&a, &mut out),
        Command::Reports(a) => reports::run(&a, &mut out),
    };
    let _ = out.flush();
    match result {
        Ok(code) => code,
        Err(common::CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
