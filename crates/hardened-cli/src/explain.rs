//! `hardened explain`: the verdict the security stack gives one request, and why.
//!
//! The request goes through the very same security layer as `hardened serve`, so the
//! answer is the middleware's, not a re-implementation. Behind the layer stands an
//! application that answers `200` with no headers of its own: the response headers
//! shown are the ones the layer adds (security headers, CORS, HSTS), never a demo
//! app's cookies taken for the user's.
//!
//! Exit status: 0 when the request is allowed (or redirected to https, or answered as a
//! preflight), 1 when it is rejected, 2 for a bad configuration or arguments. With
//! `--batch` the verdicts are in the output and the exit status is 0 once every line
//! was explained.
//!
//! JSON schema `hardened.explain/v1` (stable; fields are only ever added):
//! `{schema, request: {method, url, headers: [[name, value]], peer}, environment,
//!   verdict: "allow"|"reject"|"redirect"|"preflight", status, check, code, reason,
//!   fix, location, secure, cors: {origin, allowed, fix} | null, notes: [..],
//!   response_headers: [[name, value]], route: {name, path, defined_at,
//!   overrides: [[key, value]]} | null}`.

use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use hardened::{PeerAddr, Rejection, Security, TlsConnection, Verdict};
use http::{HeaderName, HeaderValue, Method, Request, Uri, header};
use http_body_util::Empty;
use serde::{Deserialize, Serialize};
use tower::{Layer, ServiceExt};

use crate::ConfigArg;
use crate::common::{self, CliError};

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people.
    Text,
    /// `hardened.explain/v1` JSON.
    Json,
}

/// Arguments of `hardened explain`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 allowed (or redirected to https, or answered as a preflight), 1 rejected,
2 bad configuration or arguments. With --batch: 0 once every line was explained (the
verdicts are in the output).")]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Absolute URL; its scheme says whether the connection is TLS, its authority is
    /// the Host header unless -H 'Host: ...' is given.
    #[arg(long, required_unless_present = "batch")]
    url: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The peer address the request comes from (decides whether X-Forwarded-Proto is
    /// believed).
    #[arg(long, default_value = "127.0.0.1")]
    peer: IpAddr,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Read requests as JSON lines (`{"method","url","headers":[[n,v]],"peer"}`) from
    /// FILE (`-` for stdin) and print one JSON verdict per line.
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    batch: Option<PathBuf>,
}

/// One request to explain.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct RequestSpec {
    /// Method.
    #[serde(default = "default_method")]
    pub(crate) method: String,
    /// Absolute URL.
    pub(crate) url: String,
    /// Headers in order.
    #[serde(default)]
    pub(crate) headers: Vec<(String, String)>,
    /// Peer address.
    #[serde(default = "default_peer")]
    pub(crate) peer: IpAddr,
}

fn default_method() -> String {
    "GET".into()
}

fn default_peer() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// CORS outcome for a request with an Origin.
#[derive(Debug, Serialize)]
pub(crate) struct CorsOutcome {
    origin: String,
    allowed: bool,
    fix: Option<String>,
}

/// The route that matched the request and the overrides it applied.
#[derive(Debug, Serialize)]
pub(crate) struct RouteOutcome {
    /// `routes[0] /embed/*`.
    name: String,
    path: String,
    defined_at: String,
    overrides: Vec<(String, String)>,
}

/// The verdict, `hardened.explain/v1`.
#[derive(Debug, Serialize)]
pub(crate) struct Explanation {
    schema: &'static str,
    request: RequestSpec,
    environment: &'static str,
    verdict: &'static str,
    status: u16,
    check: Option<&'static str>,
    code: Option<&'static str>,
    reason: Option<String>,
    fix: Option<String>,
    location: Option<String>,
    secure: bool,
    cors: Option<CorsOutcome>,
    notes: Vec<String>,
    response_headers: Vec<(String, String)>,
    /// The route that matched (the most specific `routes:` pattern), if any.
    route: Option<RouteOutcome>,
}

/// Runs `hardened explain`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let loaded = common::load_strict(args.config.config.as_deref())?;
    // A gateway's file is explained as the gateway enforces it (`gateway.csrf`).
    let security = if loaded.config.role == hardened::config::Role::Gateway {
        Security::gateway_from_config(&loaded.config, &common::probe_machine())?
    } else {
        Security::from_config(&loaded.config, &common::probe_machine())?
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| CliError::Message(format!("cannot start the runtime: {e}")))?;
    if let Some(path) = &args.batch {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            let f = std::fs::File::open(path)
                .map_err(|e| CliError::Message(format!("cannot read {}: {e}", path.display())))?;
            Box::new(std::io::BufReader::new(f))
        };
        for (i, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let spec: RequestSpec = serde_json::from_str(&line).map_err(|e| {
                CliError::Message(format!(
                    "{}:{}: invalid request: {e}",
                    path.display(),
                    i + 1
                ))
            })?;
            let ex = rt.block_on(explain(&security, spec))?;
            serde_json::to_writer(&mut *out, &ex).map_err(json_err)?;
            writeln!(out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut headers = Vec::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(CliError::Message(format!(
                "-H {h:?}: expected `Name: value`"
            )));
        };
        headers.push((name.trim().to_owned(), value.trim_start().to_owned()));
    }
    let spec = RequestSpec {
        method: args.method.clone(),
        url: args.url.clone().unwrap_or_default(),
        headers,
        peer: args.peer,
    };
    let mut ex = rt.block_on(explain(&security, spec))?;
    if let Some(note) = environment_note(&ex, &loaded) {
        ex.notes.push(note);
    }
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &ex).map_err(json_err)?;
            writeln!(out)?;
        }
        Format::Text => write_text(&ex, out)?,
    }
    Ok(exit_code(ex.verdict == "reject"))
}

/// Why a loopback host is refused in a strict environment: says which environment
/// runs and why, since a new `config.yaml` alone makes it production.
fn environment_note(ex: &Explanation, loaded: &hardened::config::load::Loaded) -> Option<String> {
    let env = loaded.config.environment;
    if ex.code != Some("host-not-allowed") || !env.is_strict() {
        return None;
    }
    let host = ex
        .request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .or_else(|| {
            ex.request
                .url
                .parse::<Uri>()
                .ok()
                .and_then(|u| u.host().map(str::to_owned))
        })?;
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.split(':').next().unwrap_or(&host),
    }
    .to_ascii_lowercase();
    let loopback = name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback.then(|| {
        format!(
            "{env} because {}: loopback hosts are allowed in development and test only; to develop locally, write `environment: development` (or `debug: true`)",
            loaded.environment_reason()
        )
    })
}

/// 1 when a request was rejected, as `grep` exits 1 when nothing matched: scripts can
/// test the verdict without parsing the output.
fn exit_code(rejected: bool) -> ExitCode {
    if rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The application behind the layer: `200` with an empty body and no headers, so
/// every response header shown is the layer's.
fn bare_app(
    _req: Request<Empty<Bytes>>,
) -> std::future::Ready<Result<http::Response<Empty<Bytes>>, std::convert::Infallible>> {
    std::future::ready(Ok(http::Response::new(Empty::new())))
}

/// Builds the synthetic request.
fn build_request(spec: &RequestSpec) -> Result<Request<Empty<Bytes>>, CliError> {
    let uri: Uri = spec
        .url
        .parse()
        .map_err(|e| CliError::Message(format!("--url {:?}: {e}", spec.url)))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(CliError::Message(format!(
            "--url {:?}: give an absolute URL such as https://example.com/path",
            spec.url
        )));
    };
    let tls = match scheme {
        "https" => true,
        "http" => false,
        other => {
            return Err(CliError::Message(format!(
                "--url {:?}: scheme {other:?} is not http or https",
                spec.url
            )));
        }
    };
    let method = Method::from_bytes(spec.method.as_bytes())
        .map_err(|_| CliError::Message(format!("--method {:?} is not a method", spec.method)))?;
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut req = Request::builder()
        .method(method)
        .uri(target)
        .body(Empty::<Bytes>::new())
        .map_err(|e| CliError::Message(format!("invalid request: {e}")))?;
    let mut has_host = false;
    for (name, value) in &spec.headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CliError::Message(format!("-H {name:?}: invalid header name")))?;
        let v = HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| CliError::Message(format!("-H {name}: invalid header value")))?;
        has_host |= n == header::HOST;
        req.headers_mut().append(n, v);
    }
    if !has_host {
        let v = HeaderValue::from_str(authority.as_str())
            .map_err(|_| CliError::Message("invalid authority in --url".into()))?;
        req.headers_mut().insert(header::HOST, v);
    }
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::new(spec.peer, 0)));
    if tls {
        req.extensions_mut().insert(TlsConnection);
    }
    Ok(req)
}

/// Sends one request through the stack and explains the outcome.
pub(crate) async fn explain(
    security: &Security,
    spec: RequestSpec,
) -> Result<Explanation, CliError> {
    let req = build_request(&spec)?;
    let (parts, body) = req.into_parts();
    let secure = security.is_secure(&parts);
    let mut notes = Vec::new();
    let policy = security.policy();
    if let Some(header) = policy.tls.proxy_ssl_header
        && let name = header.name()
        && let Some(v) = parts.headers.get(header.header_name())
    {
        let v = String::from_utf8_lossy(v.as_bytes());
        if security.trusts_proxy(Some(spec.peer)) {
            notes.push(format!(
                "{name}: {v} believed: peer {} is a trusted proxy",
                spec.peer
            ));
        } else {
            notes.push(format!(
                "{name}: {v} ignored: peer {} is not in trusted_proxies",
                spec.peer
            ));
        }
    } else if policy.tls.proxy_ssl_header.is_none()
        && parts.headers.contains_key("x-forwarded-proto")
    {
        notes.push(format!(
            "X-Forwarded-Proto is not used in {} (no TLS rules there)",
            policy.environment
        ));
    }
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    // The decision is pure: asked once more here, it names the route the layer applies.
    let route = security.decide(&parts).facts().route().and_then(|m| {
        let r = m.index().and_then(|i| policy.routes.get(i))?;
        Some(RouteOutcome {
            name: m.label().to_owned(),
            path: r.path.clone(),
            defined_at: r.defined_at.clone(),
            overrides: r.override_lines(),
        })
    });
    let req = Request::from_parts(parts, body);
    let stack = security.layer().layer(tower::service_fn(bare_app));
    let resp = match stack.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = resp.status();
    if let Some(reported) = resp.extensions().get::<hardened::enforce::Reported>() {
        for a in reported.answers() {
            match a {
                hardened::enforce::Answer::Reject(r) => notes.push(format!(
                    "report-only: {} would reject this request ({}): {}; fix: {}",
                    r.check().as_str(),
                    r.code(),
                    r.reason(),
                    r.fix()
                )),
                hardened::enforce::Answer::Redirect(l) => notes.push(format!(
                    "report-only: tls would redirect this request to {}",
                    String::from_utf8_lossy(l.as_bytes())
                )),
                _ => {}
            }
        }
    } else if policy.report_only.any() {
        notes.push(format!(
            "report-only policy: {} log what they would reject and let it through",
            policy.report_only.names().join(", ")
        ));
    }
    let rejection = resp.extensions().get::<Rejection>().cloned();
    let verdict = Verdict::of(&resp).as_str();
    let response_headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let cors = origin.map(|o| {
        let allowed = resp.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        let fix = (!allowed && verdict != "reject").then(|| {
            let host = hardened::domain::Origin::parse_header(&o)
                .map_or_else(|| o.clone(), |p| p.to_string());
            format!(
                "Access-Control-Allow-Origin is missing because {o} is not allowed: add your frontend domain ({host}) to security_domains"
            )
        });
        CorsOutcome {
            origin: o,
            allowed,
            fix,
        }
    });
    if verdict == "redirect" {
        notes.push("ssl_redirect is on and the request is not secure: 301 to https".into());
    }
    Ok(Explanation {
        schema: "hardened.explain/v1",
        request: spec,
        environment: policy.environment.as_str(),
        verdict,
        status: status.as_u16(),
        check: rejection.as_ref().map(|r| r.check().as_str()),
        code: rejection.as_ref().map(Rejection::code),
        reason: rejection.as_ref().map(|r| r.reason().into_owned()),
        fix: rejection.as_ref().map(|r| r.fix().into_owned()),
        location,
        secure,
        cors,
        notes,
        response_headers,
        route,
    })
}

fn json_err(e: serde_json::Error) -> CliError {
    match e.io_error_kind() {
        Some(kind) => CliError::from(std::io::Error::from(kind)),
        None => CliError::Message(e.to_string()),
    }
}

fn write_text(ex: &Explanation, out: &mut dyn Write) -> std::io::Result<()> {
    let status = http::StatusCode::from_u16(ex.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    writeln!(
        out,
        "request:  {} {} (peer {})",
        ex.request.method, ex.request.url, ex.request.peer
    )?;
    writeln!(out, "verdict:  {} ({} {status})", ex.verdict, ex.status)?;
    if let (Some(check), Some(code)) = (ex.check, ex.code) {
        writeln!(out, "check:    {check} ({code})")?;
    }
    if let Some(r) = &ex.reason {
        writeln!(out, "reason:   {r}")?;
    }
    if let Some(f) = &ex.fix {
        writeln!(out, "fix:      {f}")?;
    }
    if let Some(l) = &ex.location {
        writeln!(out, "location: {l}")?;
    }
    writeln!(out, "secure:   {}", if ex.secure { "yes" } else { "no" })?;
    if let Some(c) = &ex.cors {
        writeln!(
            out,
            "cors:     origin {} {}",
            c.origin,
            if c.allowed {
                "allowed"
            } else {
                "not allowed (no CORS headers)"
            }
        )?;
        if let Some(f) = &c.fix {
            writeln!(out, "          fix: {f}")?;
        }
    }
    if let Some(r) = &ex.route {
        writeln!(out, "route:    {} ({})", r.name, r.defined_at)?;
        for (k, v) in &r.overrides {
            writeln!(out, "          {k}: {v}")?;
        }
    }
    for n in &ex.notes {
        writeln!(out, "note:     {n}")?;
    }
    writeln!(out, "response headers (added by the layer):")?;
    for (n, v) in &ex.response_headers {
        writeln!(out, "  {n}: {v}")?;
    }
    Ok(())
}
