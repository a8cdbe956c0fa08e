//! `hardened audit URL`: grades a running site from outside, the way the MDN HTTP
//! Observatory does (its tests and scoring reproduced), probes what the Observatory
//! does not (CORS reflection, Host trust, Django debug pages, cookies, HSTS preload
//! rules, the certificate, a cross-site POST), and compares the site with the policy of
//! a configuration (`--config`).
//!
//! Exit status: 0 when the grade is at least `--min-grade` (when given) and nothing
//! critical was found, 1 otherwise, 2 on bad arguments or when the site cannot be
//! reached (DNS, refused, TLS verification, with the cause).

mod client;
mod drift;
mod html;
mod observatory;
mod probes;
pub(crate) mod report;

use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use client::{Client, Url};
use observatory::{GRADES, Retrieval};
use probes::{Probe, Severity};
use report::{Chains, HopOut, ObservatoryOut, Report, TlsOut};

use crate::common::{self, CliError};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people: the grade first, findings by severity with their fix.
    Text,
    /// `hardened.audit/v1` JSON.
    Json,
    /// SARIF 2.1.0 (code scanning).
    Sarif,
}

/// Arguments of `hardened audit`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 when the grade is at least --min-grade (if given) and nothing critical was
found, 1 otherwise, 2 on bad arguments or when the site cannot be reached.")]
pub(crate) struct Args {
    /// The site, e.g. https://example.com (http:// and https:// are both fetched, on the
    /// default ports unless the URL names one).
    #[arg(value_name = "URL")]
    url: String,
    /// Compare the site with this configuration's policy (drift findings).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 when the Observatory grade is below this (A+, A, A-, B+, ... F).
    #[arg(long, value_name = "GRADE", value_parser = parse_grade)]
    min_grade: Option<&'static str>,
    /// Connect to ADDR for HOST:PORT (repeatable), as curl's --resolve.
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = parse_resolve)]
    resolve: Vec<(String, u16, IpAddr)>,
    /// Also trust the CA certificates of this PEM file.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Go on when the certificate does not verify (reported as a finding).
    #[arg(long)]
    insecure: bool,
    /// A header sent with every request, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Also POST to PATH from a foreign and from the site's own Origin (sends two POSTs).
    #[arg(long, value_name = "PATH")]
    csrf_probe: Option<String>,
    /// Seconds each request may take.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout: u64,
    /// List every request on stderr as it is sent.
    #[arg(long, short = 'v')]
    verbose: bool,
}

fn parse_grade(s: &str) -> Result<&'static str, String> {
    GRADES
        .iter()
        .find(|g| g.eq_ignore_ascii_case(s.trim()))
        .copied()
        .ok_or_else(|| format!("`{s}` is not a grade; use one of {}", GRADES.join(", ")))
}

fn parse_resolve(s: &str) -> Result<(String, u16, IpAddr), String> {
    let mut it = s.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(format!(
            "`{s}` is not HOST:PORT:ADDR (e.g. example.com:443:127.0.0.1)"
        ));
    };
    let port = port
        .parse()
        .map_err(|_| format!("`{port}` in `{s}` is not a port"))?;
    let addr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("`{addr}` in `{s}` is not an IP address"))?;
    Ok((host.to_ascii_lowercase(), port, addr))
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (n, v) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not `Name: value`"))?;
    let n = n.trim();
    http::HeaderName::from_bytes(n.as_bytes())
        .map_err(|_| format!("`{n}` is not a header name"))?;
    http::HeaderValue::from_str(v.trim())
        .map_err(|_| format!("the value of `{n}` is not a header value"))?;
    Ok((n.to_owned(), v.trim().to_owned()))
}

/// Runs `hardened audit`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let url = Url::parse(&args.url).ok_or_else(|| {
        CliError::Message(format!(
            "`{}` is not an http:// or https:// URL; give the site's address, e.g. https://example.com",
            args.url
        ))
    })?;
    let security = match &args.config {
        Some(path) => {
            let loaded = common::load_strict(Some(path))?;
            Some(hardened::Security::from_config(
                &loaded.config,
                &common::probe_machine(),
            )?)
        }
        None => None,
    };
    let client = Client::new(
        args.ca.as_deref(),
        args.resolve.clone(),
        args.headers.clone(),
        Duration::from_secs(args.timeout),
        args.verbose,
    )
    .map_err(CliError::Message)?
    .for_origin(&url, args.insecure);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(audit(args, &url, &client, security.as_ref()))?;
    let critical = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Critical);
    let below = match (args.min_grade, &report.observatory) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(min), Some(o)) => {
            let rank = |g: &str| GRADES.iter().position(|x| *x == g).unwrap_or(GRADES.len());
            rank(o.grade) > rank(min)
        }
    };
    match args.format {
        Format::Text => out.write_all(report::text(&report).as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &report)
                .map_err(|e| CliError::Message(e.to_string()))?;
            writeln!(out)?;
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &report::sarif(&report))
                .map_err(|e| CliError::Message(e.to_string()))?;
            writeln!(out)?;
        }
    }
    Ok(if critical || below {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn progress(what: &str) {
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = writeln!(err, "hardened audit: {what}");
    }
}

async fn audit(
    args: &Args,
    url: &Url,
    client: &Client,
    security: Option<&hardened::Security>,
) -> Result<Report, CliError> {
    progress(&format!("fetching http:// and https:// of {}", url.host));
    let r = Retrieval::fetch(client, url).await;
    // Unreachable: the error of the scheme asked for (or the other one's).
    let Some(auto) = r.auto() else {
        let asked = if url.https { &r.https } else { &r.http };
        let e = asked
            .error
            .as_ref()
            .or(r.http.error.as_ref())
            .map_or_else(|| "no response".to_owned(), ToString::to_string);
        return Err(CliError::Message(format!("cannot audit {url}: {e}")));
    };
    let first_tls = r
        .https
        .hops
        .iter()
        .chain(r.http.hops.iter())
        .find_map(|h| h.resp.tls.clone());
    if !args.insecure
        && let Some(e) = r.https.hops.iter().chain(r.http.hops.iter()).find_map(|h| {
            h.resp
                .tls
                .as_ref()
                .and_then(|t| t.verify_error.clone().map(|e| (h.url.clone(), e)))
        })
    {
        return Err(CliError::Message(format!(
            "cannot audit {url}: TLS verification of {} failed: {}; trust a private CA with \
             --ca FILE, or go on with --insecure (reported as a finding)",
            e.0.authority(),
            e.1
        )));
    }
    let final_url = Some(auto.url.to_string());
    let (observatory, observatory_error) =
        if (200..400).contains(&auto.resp.status) || matches!(auto.resp.status, 401 | 403) {
            let tests = observatory::tests(&r);
            let (score, grade) = observatory::score(&tests);
            (Some(ObservatoryOut::new(&tests, score, grade)), None)
        } else {
            (
                None,
                Some(format!(
                    "the page answered {}: the Observatory grades only 2xx, 3xx, 401 and 403",
                    auto.resp.status
                )),
            )
        };

    let stack = probes::stack(&r, security.is_some());
    let mut p = Probe {
        client,
        retrieval: &r,
        stack,
        findings: Vec::new(),
    };
    progress("probing CORS, Host, error pages");
    let cors = p.cors().await;
    let host = p.host().await;
    p.debug_page().await;
    p.versions();
    p.cookies();
    p.hsts();
    p.redirect();
    if let Some(t) = &first_tls {
        p.tls(t, url);
    }
    let mut notes = Vec::new();
    for (scheme, s) in [("http", &r.http), ("https", &r.https)] {
        if let Some(e) = &s.error {
            notes.push(format!(
                "{scheme}:// gave no response ({e}); graded as the Observatory does without it"
            ));
        }
    }
    if let Some(path) = &args.csrf_probe {
        progress("posting the CSRF probe");
        if let Some(n) = p.csrf(path).await {
            notes.push(format!("--csrf-probe {path}: {n}"));
        }
    }
    let mut findings = p.findings;
    if let (Some(s), Some(cfg)) = (security, &args.config) {
        findings.extend(drift::findings(
            s,
            &r,
            &cors,
            host.as_ref(),
            &cfg.display().to_string(),
        ));
    }
    findings.sort_by_key(|f| f.severity);
    let tls = first_tls.map(|t| TlsOut {
        days_left: t.leaf.as_deref().and_then(probes::days_left),
        verified: t.verify_error.is_none(),
        version: t.version,
        cipher: t.cipher,
        alpn: t.alpn,
        verify_error: t.verify_error,
        name: t.name,
    });
    let chain = |s: &observatory::Session| {
        s.hops
            .iter()
            .map(|h| HopOut {
                url: h.url.to_string(),
                status: h.resp.status,
            })
            .collect()
    };
    Ok(Report {
        schema: report::SCHEMA,
        url: url.to_string(),
        final_url,
        chains: Chains {
            http: chain(&r.http),
            https: chain(&r.https),
        },
        observatory,
        observatory_error,
        tls,
        findings,
        notes,
        requests: client.sent(),
    })
}
