//! `hardened show`: the derived security settings, as a table, JSON, YAML or a Django
//! settings fragment.
//!
//! JSON and YAML use Django's setting names where one exists (`ALLOWED_HOSTS`,
//! `CORS_ALLOWED_ORIGINS`, `CSRF_TRUSTED_ORIGINS`, `SECURE_HSTS_SECONDS`, ...) and add
//! the rules Django cannot express in a nested `hardened` object. Secrets never appear:
//! the secret key is reported as `set` or `not set`.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use hardened::config::Environment;
use hardened::config::load::Loaded;
use hardened::domain::Origin;
use hardened::policy::{Policy, ProxySslHeader, ProxyTrust, RuntimeSummary, SubdomainPattern};
use serde::Serialize;

use crate::ConfigArg;
use crate::common::{self, CliError};

/// Arguments of `hardened show`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Output formats of `hardened show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Aligned, human-readable sections.
    Table,
    /// JSON, Django setting names plus a `hardened` object.
    Json,
    /// YAML, the same document as JSON.
    Yaml,
    /// A Python settings.py fragment Django can import.
    Django,
}

/// Runs `hardened show`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let loaded = common::load_strict(args.config.config.as_deref())?;
    let probe = common::probe_machine();
    let policy = hardened::policy::derive(&loaded.config, &probe)?;
    let view = View::new(&policy, &loaded, probe.docker_disabled_by_env);
    match args.format {
        Format::Table => render_table(&view, out)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &view.settings())
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Yaml => {
            let text = serde_saphyr::to_string(&view.settings())
                .map_err(|e| CliError::Message(format!("cannot render YAML: {e}")))?;
            out.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
        }
        Format::Django => out.write_all(render_django(&view).as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ the view

/// Hosts of the development loopback rules, as Django writes them.
const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "*.localhost", "127.0.0.0/8", "[::1]"];

/// Hosts the CSRF loopback approximation enumerates for Django (patterns like
/// `http://*.localhost:3000` would multiply the list; leaving them out is narrower).
const CSRF_LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Everything the renderers need, computed once from the policy and the loaded config.
struct View<'a> {
    policy: &'a Policy,
    /// Config files read, in layer order.
    files: Vec<String>,
    /// The `.env` file read, if any.
    dotenv: Option<String>,
    /// Whether a secret key is configured (its value is never shown).
    secret_key_set: bool,
    /// `DOCKER=false` overrode the probe's signals.
    docker_disabled_by_env: bool,
}

impl<'a> View<'a> {
    fn new(policy: &'a Policy, loaded: &Loaded, docker_disabled_by_env: bool) -> View<'a> {
        View {
            policy,
            files: loaded
                .files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            dotenv: loaded.dotenv.as_ref().map(|p| p.display().to_string()),
            secret_key_set: loaded
                .config
                .secret_key
                .as_ref()
                .is_some_and(|k| !k.expose().is_empty()),
            docker_disabled_by_env,
        }
    }

    fn strict(&self) -> bool {
        self.policy.environment.is_strict()
    }

    /// Django's `DEBUG`: never on in production or staging, whatever the config says.
    fn django_debug(&self) -> bool {
        self.policy.debug && !self.strict()
    }

    /// `CORS_ALLOWED_ORIGIN_REGEXES`: subdomain patterns, the loopback rule, user regexes.
    fn cors_regexes(&self) -> Vec<String> {
        let cors = &self.policy.cors;
        let mut v: Vec<String> = cors.subdomains.iter().map(subdomain_regex).collect();
        if cors.loopback_any_port {
            v.push(LOOPBACK_ANY_PORT_REGEX.to_owned());
        }
        v.extend(cors.origin_regexes.iter().map(|r| anchored(r)));
        v
    }

    /// `CSRF_TRUSTED_ORIGINS` as Django needs it: the exact origins, the subdomain
    /// patterns and, in development, the loopback rule written out (localhost,
    /// 127.0.0.1 and [::1] on http and https, ports 3000–5000, 8000–9000 and the loopback
    /// ports named in config), as django-cfg lists it.
    fn csrf_trusted_origins(&self) -> Vec<String> {
        // The same list, in the same order, as the Django fragment's list comprehension.
        let csrf = &self.policy.csrf;
        let mut out = self.csrf_listed();
        for scheme in ["http", "https"] {
            for host in CSRF_LOOPBACK_HOSTS {
                for (a, b) in &csrf.loopback_port_ranges {
                    for port in *a..=*b {
                        out.push(format!("{scheme}://{host}:{port}"));
                    }
                }
            }
        }
        for scheme in [
            hardened::domain::Scheme::Http,
            hardened::domain::Scheme::Https,
        ] {
            for host in CSRF_LOOPBACK_HOSTS {
                for port in &csrf.loopback_ports {
                    if *port == scheme.default_port() {
                        out.push(format!("{scheme}://{host}"));
                    } else {
                        out.push(format!("{scheme}://{host}:{port}"));
                    }
                }
            }
        }
        out
    }

    /// The trusted origins and subdomain patterns, without the development loopback
    /// rule (the Django fragment writes that as a list comprehension).
    fn csrf_listed(&self) -> Vec<String> {
        let csrf = &self.policy.csrf;
        csrf.trusted_origins
            .iter()
            .map(Origin::to_string)
            .chain(csrf.subdomains.iter().map(SubdomainPattern::to_string))
            .collect()
    }

    /// `CORS_ALLOWED_ORIGINS`: the exact origins and, in development, the front-end dev
    /// servers the guide names (React 3000, Vite 5173, Vue 8080) on localhost and
    /// 127.0.0.1; every other loopback port is in the regex.
    fn cors_allowed_origins(&self) -> Vec<String> {
        let cors = &self.policy.cors;
        let mut out = strings(&cors.origins);
        if cors.loopback_any_port {
            for host in ["localhost", "127.0.0.1"] {
                for port in [3000, 5173, 8080] {
                    let o = format!("http://{host}:{port}");
                    if !out.contains(&o) {
                        out.push(o);
                    }
                }
            }
        }
        out
    }

    /// `SECURE_PROXY_SSL_HEADER` in Django's `META` spelling. Django believes it from
    /// any peer (hardened only from trusted proxies), so it is set only in the reverse
    /// proxy mode; with `ssl_redirect: true` the service terminates TLS itself and a
    /// client could otherwise claim https to skip the redirect.
    fn proxy_ssl_header(&self) -> Option<[String; 2]> {
        if self.policy.tls.ssl_redirect {
            return None;
        }
        self.policy
            .tls
            .proxy_ssl_header
            .as_ref()
            .map(|h| [meta_name(h.name()), ProxySslHeader::SECURE_VALUE.to_owned()])
    }

    /// `SECURE_REDIRECT_EXEMPT`: the health-check paths as Django path regexes.
    fn redirect_exempt(&self) -> Vec<String> {
        self.policy
            .health_check_paths
            .iter()
            .map(|p| path_regex(p))
            .collect()
    }

    /// The security headers hardened sends, by name.
    fn response_headers(&self) -> Vec<(&'static str, String)> {
        let h = &self.policy.headers;
        let mut v = Vec::new();
        if h.content_type_nosniff {
            v.push(("X-Content-Type-Options", "nosniff".to_owned()));
        }
        let named = [
            ("X-Frame-Options", h.x_frame_options.map(|v| v.as_str())),
            ("Referrer-Policy", h.referrer_policy.map(|v| v.as_str())),
            (
                "Cross-Origin-Opener-Policy",
                h.cross_origin_opener_policy.map(|v| v.as_str()),
            ),
            ("X-XSS-Protection", h.xss_protection.map(|v| v.as_str())),
        ];
        for (name, value) in named {
            if let Some(value) = value {
                v.push((name, value.to_owned()));
            }
        }
        if let Some(hsts) = &self.policy.tls.hsts {
            v.push((
                "Strict-Transport-Security",
                format!("{} (secure requests only)", hsts.header_value()),
            ));
        }
        v
    }

    /// The JSON / YAML document.
    fn settings(&self) -> Settings<'_> {
        let p = self.policy;
        let hsts = p.tls.hsts.as_ref();
        Settings {
            debug: self.django_debug(),
            allowed_hosts: p.allowed_hosts(),
            cors_allowed_origins: self.cors_allowed_origins(),
            cors_allowed_origin_regexes: self.cors_regexes(),
            cors_allow_all_origins: false,
            cors_allow_credentials: p.cors.allow_credentials,
            cors_allow_headers: &p.cors.allow_headers,
            cors_allow_methods: &p.cors.allow_methods,
            cors_preflight_max_age: p.cors.max_age,
            csrf_trusted_origins: self.csrf_trusted_origins(),
            secure_ssl_redirect: p.tls.ssl_redirect,
            secure_redirect_exempt: self.redirect_exempt(),
            secure_proxy_ssl_header: self.proxy_ssl_header(),
            session_cookie_secure: p.cookies.secure,
            csrf_cookie_secure: p.cookies.secure,
            session_cookie_httponly: true,
            session_cookie_samesite: "Lax",
            session_cookie_name: &p.cookies.session_cookie_name,
            secure_hsts_seconds: hsts.map_or(0, |h| h.seconds),
            secure_hsts_include_subdomains: hsts.is_some_and(|h| h.include_subdomains),
            secure_hsts_preload: hsts.is_some_and(|h| h.preload),
            secure_content_type_nosniff: p.headers.content_type_nosniff,
            secure_browser_xss_filter: false,
            x_frame_options: p.headers.x_frame_options.map(|v| v.as_str()),
            secure_referrer_policy: p.headers.referrer_policy.map(|v| v.as_str()),
            secure_cross_origin_opener_policy: p
                .headers
                .cross_origin_opener_policy
                .map(|v| v.as_str()),
            hardened: Rich {
                environment: p.environment,
                debug: p.debug,
                secret_key: if self.secret_key_set {
                    "set"
                } else {
                    "not set"
                },
                config_files: &self.files,
                dotenv: self.dotenv.as_deref(),
                runtime: RuntimeView {
                    summary: &p.runtime,
                    docker_disabled_by_env: self.docker_disabled_by_env,
                },
                origins: &p.origins,
                hosts: RichHosts {
                    any: p.hosts.any,
                    exact: &p.hosts.exact,
                    suffixes: &p.hosts.suffixes,
                    networks: strings(&p.hosts.networks),
                },
                internal_networks: strings(&p.internal_networks),
                trusted_proxies: &p.tls.trusted_proxies,
                health_check_paths: &p.health_check_paths,
                cors: RichCors {
                    origins: &p.cors.origins,
                    subdomains: &p.cors.subdomains,
                    loopback_any_port: p.cors.loopback_any_port.then_some(LoopbackAnyPort {
                        schemes: ["http", "https"],
                        hosts: LOOPBACK_HOSTS,
                    }),
                    origin_regexes: &p.cors.origin_regexes,
                },
                csrf: RichCsrf {
                    trusted_origins: &p.csrf.trusted_origins,
                    subdomains: &p.csrf.subdomains,
                    loopback: (!p.csrf.loopback_port_ranges.is_empty()
                        || !p.csrf.loopback_ports.is_empty())
                    .then(|| CsrfLoopback {
                        schemes: ["http", "https"],
                        hosts: LOOPBACK_HOSTS,
                        port_ranges: &p.csrf.loopback_port_ranges,
                        ports: &p.csrf.loopback_ports,
                    }),
                    exempt_paths: &p.csrf.exempt_paths,
                },
                tls: RichTls {
                    ssl_redirect: p.tls.ssl_redirect,
                    proxy_ssl_header: p.tls.proxy_ssl_header.as_ref().map(|h| h.to_string()),
                    hsts: hsts.map(|h| h.header_value()),
                },
                cookies: RichCookies {
                    secure: p.cookies.secure,
                    session_cookie_name: &p.cookies.session_cookie_name,
                    harden_session_cookie: p.cookies.harden_session_cookie,
                },
                headers: self
                    .response_headers()
                    .into_iter()
                    .filter(|(n, _)| *n != "Strict-Transport-Security")
                    .collect(),
            },
        }
    }
}

/// The JSON / YAML document: Django's settings, then hardened's own rules.
#[derive(Serialize)]
struct Settings<'a> {
    #[serde(rename = "DEBUG")]
    debug: bool,
    #[serde(rename = "ALLOWED_HOSTS")]
    allowed_hosts: Vec<String>,
    #[serde(rename = "CORS_ALLOWED_ORIGINS")]
    cors_allowed_origins: Vec<String>,
    #[serde(rename = "CORS_ALLOWED_ORIGIN_REGEXES")]
    cors_allowed_origin_regexes: Vec<String>,
    #[serde(rename = "CORS_ALLOW_ALL_ORIGINS")]
    cors_allow_all_origins: bool,
    #[serde(rename = "CORS_ALLOW_CREDENTIALS")]
    cors_allow_credentials: bool,
    #[serde(rename = "CORS_ALLOW_HEADERS")]
    cors_allow_headers: &'a [String],
    #[serde(rename = "CORS_ALLOW_METHODS")]
    cors_allow_methods: &'a [String],
    #[serde(rename = "CORS_PREFLIGHT_MAX_AGE")]
    cors_preflight_max_age: u64,
    #[serde(rename = "CSRF_TRUSTED_ORIGINS")]
    csrf_trusted_origins: Vec<String>,
    #[serde(rename = "SECURE_SSL_REDIRECT")]
    secure_ssl_redirect: bool,
    #[serde(rename = "SECURE_REDIRECT_EXEMPT")]
    secure_redirect_exempt: Vec<String>,
    #[serde(rename = "SECURE_PROXY_SSL_HEADER")]
    secure_proxy_ssl_header: Option<[String; 2]>,
    #[serde(rename = "SESSION_COOKIE_SECURE")]
    session_cookie_secure: bool,
    #[serde(rename = "CSRF_COOKIE_SECURE")]
    csrf_cookie_secure: bool,
    #[serde(rename = "SESSION_COOKIE_HTTPONLY")]
    session_cookie_httponly: bool,
    #[serde(rename = "SESSION_COOKIE_SAMESITE")]
    session_cookie_samesite: &'static str,
    #[serde(rename = "SESSION_COOKIE_NAME")]
    session_cookie_name: &'a str,
    #[serde(rename = "SECURE_HSTS_SECONDS")]
    secure_hsts_seconds: u64,
    #[serde(rename = "SECURE_HSTS_INCLUDE_SUBDOMAINS")]
    secure_hsts_include_subdomains: bool,
    #[serde(rename = "SECURE_HSTS_PRELOAD")]
    secure_hsts_preload: bool,
    #[serde(rename = "SECURE_CONTENT_TYPE_NOSNIFF")]
    secure_content_type_nosniff: bool,
    #[serde(rename = "SECURE_BROWSER_XSS_FILTER")]
    secure_browser_xss_filter: bool,
    #[serde(rename = "X_FRAME_OPTIONS")]
    x_frame_options: Option<&'a str>,
    #[serde(rename = "SECURE_REFERRER_POLICY")]
    secure_referrer_policy: Option<&'a str>,
    #[serde(rename = "SECURE_CROSS_ORIGIN_OPENER_POLICY")]
    secure_cross_origin_opener_policy: Option<&'a str>,
    hardened: Rich<'a>,
}

/// hardened's rules, including those Django cannot express.
#[derive(Serialize)]
struct Rich<'a> {
    environment: Environment,
    /// `debug` as configured (it never weakens production).
    debug: bool,
    secret_key: &'static str,
    config_files: &'a [String],
    dotenv: Option<&'a str>,
    runtime: RuntimeView<'a>,
    origins: &'a [Origin],
    hosts: RichHosts<'a>,
    internal_networks: Vec<String>,
    trusted_proxies: &'a ProxyTrust,
    health_check_paths: &'a [String],
    cors: RichCors<'a>,
    csrf: RichCsrf<'a>,
    tls: RichTls,
    cookies: RichCookies<'a>,
    headers: indexmap_like::Pairs,
}

/// The runtime summary plus the `DOCKER=false` override.
#[derive(Serialize)]
struct RuntimeView<'a> {
    #[serde(flatten)]
    summary: &'a RuntimeSummary,
    docker_disabled_by_env: bool,
}

/// Host rules: exact names, `.domain` suffixes and CIDR networks.
#[derive(Serialize)]
struct RichHosts<'a> {
    any: bool,
    exact: &'a [String],
    suffixes: &'a [String],
    networks: Vec<String>,
}

/// CORS rules.
#[derive(Serialize)]
struct RichCors<'a> {
    origins: &'a [Origin],
    subdomains: &'a [SubdomainPattern],
    loopback_any_port: Option<LoopbackAnyPort>,
    origin_regexes: &'a [String],
}

/// The development CORS loopback rule.
#[derive(Serialize)]
struct LoopbackAnyPort {
    schemes: [&'static str; 2],
    hosts: [&'static str; 4],
}

/// CSRF rules.
#[derive(Serialize)]
struct RichCsrf<'a> {
    trusted_origins: &'a [Origin],
    subdomains: &'a [SubdomainPattern],
    loopback: Option<CsrfLoopback<'a>>,
    exempt_paths: &'a [String],
}

/// The development CSRF loopback rule.
#[derive(Serialize)]
struct CsrfLoopback<'a> {
    schemes: [&'static str; 2],
    hosts: [&'static str; 4],
    port_ranges: &'a [(u16, u16)],
    ports: &'a [u16],
}

/// TLS rules.
#[derive(Serialize)]
struct RichTls {
    ssl_redirect: bool,
    proxy_ssl_header: Option<String>,
    hsts: Option<String>,
}

/// Cookie rules.
#[derive(Serialize)]
struct RichCookies<'a> {
    secure: bool,
    session_cookie_name: &'a str,
    harden_session_cookie: bool,
}

/// An ordered list of `(name, value)` pairs serialized as a map.
mod indexmap_like {
    use serde::ser::{Serialize, SerializeMap, Serializer};

    /// Header name / value pairs, serialized as a map in order.
    pub(super) struct Pairs(Vec<(&'static str, String)>);

    impl FromIterator<(&'static str, String)> for Pairs {
        fn from_iter<I: IntoIterator<Item = (&'static str, String)>>(iter: I) -> Self {
            Pairs(iter.into_iter().collect())
        }
    }

    impl Serialize for Pairs {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
}

// ------------------------------------------------------------------ helpers

/// The development CORS loopback rule as one anchored regex (django-cors-headers
/// matches `CORS_ALLOWED_ORIGIN_REGEXES` with `re.match`).
const LOOPBACK_ANY_PORT_REGEX: &str =
    r"^https?://(?:(?:[a-z0-9-]+\.)*localhost|127\.0\.0\.1|\[::1\])(?::[0-9]{1,5})?$";

/// A subdomain pattern as an anchored regex: the domain itself and every subdomain, on
/// exactly the pattern's scheme and port.
fn subdomain_regex(p: &SubdomainPattern) -> String {
    let mut re = format!(
        r"^{}://(?:[a-z0-9-]+\.)*{}",
        p.scheme,
        p.domain.replace('.', r"\.")
    );
    if let Some(port) = p.port {
        let _ = write!(re, ":{port}");
    }
    re.push('$');
    re
}

/// A user regex anchored to match the whole `Origin` value, as the configuration
/// documents it: left as written when it is already `^...$` without alternation, else
/// wrapped in `^(?:...)$` (django-cors-headers' `re.match` only anchors the start).
fn anchored(re: &str) -> String {
    let whole =
        re.starts_with('^') && re.ends_with('$') && !re.ends_with("\\$") && !re.contains('|');
    if whole {
        re.to_owned()
    } else {
        format!("^(?:{re})$")
    }
}

/// `X-Forwarded-Proto` → `HTTP_X_FORWARDED_PROTO` (Django's `request.META` key).
fn meta_name(header: &str) -> String {
    let mut s = String::from("HTTP_");
    s.extend(header.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    s
}

/// A health-check path as a `SECURE_REDIRECT_EXEMPT` regex (Django matches it against
/// the path without its leading `/`): exact, or a prefix for `/prefix/*`.
fn path_regex(path: &str) -> String {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match trimmed.strip_suffix('*') {
        Some(prefix) => format!("^{}", regex_escape(prefix)),
        None => format!("^{}$", regex_escape(trimmed)),
    }
}

/// Escapes regex metacharacters (Python `re` and Rust `regex` agree on these).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn strings<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

/// Makes a value safe to print on a terminal: control characters escaped.
fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect()
    } else {
        s.to_owned()
    }
}

// ------------------------------------------------------------------ table

const KEY_WIDTH: usize = 28;

/// Writes sections of `key  value` rows, list values one per line.
struct Table<'w> {
    out: &'w mut dyn Write,
}

impl Table<'_> {
    fn section(&mut self, title: &str) -> std::io::Result<()> {
        writeln!(self.out)?;
        writeln!(self.out, "{title}")
    }

    fn row(&mut self, key: &str, value: &str) -> std::io::Result<()> {
        writeln!(self.out, "  {key:<KEY_WIDTH$}{}", clean(value))
    }

    fn list(&mut self, key: &str, values: &[String]) -> std::io::Result<()> {
        let Some((first, rest)) = values.split_first() else {
            return self.row(key, "-");
        };
        self.row(key, first)?;
        for v in rest {
            writeln!(self.out, "  {:<KEY_WIDTH$}{}", "", clean(v))?;
        }
        Ok(())
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn render_table(view: &View<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let p = view.policy;
    let mut t = Table { out };
    writeln!(
        t.out,
        "hardened security policy: {} ({})",
        p.environment,
        if view.strict() { "strict" } else { "relaxed" }
    )?;
    let files = if view.files.is_empty() {
        vec!["built-in development defaults".to_owned()]
    } else {
        view.files.clone()
    };
    t.list("config", &files)?;
    t.row(".env", view.dotenv.as_deref().unwrap_or("-"))?;
    let debug = match (p.debug, view.strict()) {
        (true, true) => "on in config, ignored (never weakens production)",
        (true, false) => "on",
        (false, _) => "off",
    };
    t.row("debug", debug)?;
    t.row(
        "secret key",
        if view.secret_key_set {
            "set"
        } else {
            "not set"
        },
    )?;

    t.section("Runtime")?;
    let mode = match p.runtime.docker_mode {
        hardened::config::DockerMode::Auto => "auto",
        hardened::config::DockerMode::On => "true",
        hardened::config::DockerMode::Off => "false",
    };
    t.row(
        "container rules",
        &format!(
            "{} (docker: {mode})",
            if p.runtime.container { "on" } else { "off" }
        ),
    )?;
    t.row("docker detected", yes_no(p.runtime.docker))?;
    t.row("kubernetes detected", yes_no(p.runtime.kubernetes))?;
    t.row("hostname", p.runtime.hostname.as_deref().unwrap_or("-"))?;
    t.row("DOCKER=false override", yes_no(view.docker_disabled_by_env))?;
    t.list("signals", &p.runtime.signals)?;

    t.section("Hosts (ALLOWED_HOSTS)")?;
    t.row("any host (*)", yes_no(p.hosts.any))?;
    t.list("exact", &p.hosts.exact)?;
    t.list("domain and subdomains", &p.hosts.suffixes)?;
    t.list("IP hosts in networks", &strings(&p.hosts.networks))?;

    t.section("CORS")?;
    t.list("allowed origins", &strings(&p.cors.origins))?;
    t.list("allowed subdomains", &strings(&p.cors.subdomains))?;
    t.row(
        "loopback, any port",
        if p.cors.loopback_any_port {
            "http(s)://localhost, *.localhost, 127.0.0.0/8, [::1]"
        } else {
            "-"
        },
    )?;
    t.list("origin regexes", &p.cors.origin_regexes)?;
    t.row("credentials", yes_no(p.cors.allow_credentials))?;
    t.row("allow headers", &p.cors.allow_headers.join(", "))?;
    t.row("allow methods", &p.cors.allow_methods.join(", "))?;
    t.row("preflight max-age", &format!("{} s", p.cors.max_age))?;

    t.section("CSRF (CSRF_TRUSTED_ORIGINS)")?;
    t.list("trusted origins", &strings(&p.csrf.trusted_origins))?;
    t.list("trusted subdomains", &strings(&p.csrf.subdomains))?;
    let mut loopback: Vec<String> = p
        .csrf
        .loopback_port_ranges
        .iter()
        .map(|(a, b)| format!("ports {a}-{b}"))
        .collect();
    if !p.csrf.loopback_ports.is_empty() {
        loopback.push(format!(
            "ports {}",
            p.csrf
                .loopback_ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !loopback.is_empty() {
        loopback.push("on http(s)://localhost, *.localhost, 127.0.0.0/8, [::1]".to_owned());
    }
    t.list("loopback", &loopback)?;
    t.list("exempt paths", &p.csrf.exempt_paths)?;

    t.section("TLS")?;
    t.row(
        "redirect to https",
        if p.tls.ssl_redirect {
            "yes (301)"
        } else if view.strict() {
            "no (a reverse proxy terminates TLS)"
        } else {
            "no"
        },
    )?;
    match &p.tls.proxy_ssl_header {
        Some(h) => t.row("secure when", &h.to_string())?,
        None => t.row("secure when", "the connection is TLS")?,
    }
    let proxies = match &p.tls.trusted_proxies {
        ProxyTrust::Any => vec!["* (any peer)".to_owned()],
        ProxyTrust::Networks(n) => strings(n),
    };
    t.list("trusted proxies", &proxies)?;
    t.row(
        "HSTS",
        &p.tls
            .hsts
            .as_ref()
            .map_or_else(|| "off".to_owned(), |h| h.header_value()),
    )?;

    t.section("Cookies")?;
    t.row(
        "Secure",
        if p.cookies.secure {
            "added to every Set-Cookie"
        } else {
            "as set by the application"
        },
    )?;
    t.row(
        &format!("session ({})", p.cookies.session_cookie_name),
        if p.cookies.harden_session_cookie {
            "HttpOnly, SameSite=Lax"
        } else {
            "as set by the application"
        },
    )?;

    t.section("Response headers")?;
    for (name, value) in view.response_headers() {
        t.row(name, &value)?;
    }

    t.section("Health checks (no host check, no TLS redirect)")?;
    t.list("paths", &p.health_check_paths)?;
    Ok(())
}

// ------------------------------------------------------------------ Django

/// A Python string literal: ASCII only, every other character escaped.
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let cp = u32::from(c);
                if cp <= 0xffff {
                    let _ = write!(out, "\\u{cp:04x}");
                } else {
                    let _ = write!(out, "\\U{cp:08x}");
                }
            }
        }
    }
    out.push('"');
    out
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn py_opt_str(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_owned(), py_str)
}

/// A Python list literal, one item per line.
fn py_list(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".to_owned();
    }
    let mut s = String::from("[\n");
    for i in items {
        let _ = writeln!(s, "    {},", py_str(i));
    }
    s.push(']');
    s
}

fn render_django(view: &View<'_>) -> String {
    let p = view.policy;
    let st = view.settings();
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        "# Django security settings generated by `hardened show --format django`."
    );
    let _ = writeln!(
        w,
        "# Environment: {}. Container rules: {}.",
        p.environment,
        if p.runtime.container { "on" } else { "off" }
    );
    let _ = writeln!(
        w,
        "# Import it from settings.py, e.g. `from .security_settings import *  # noqa`."
    );
    let _ = writeln!(
        w,
        "# SECRET_KEY is not included: load it from the environment."
    );
    let _ = writeln!(
        w,
        "# Where Django cannot express a hardened rule, the setting is a narrower"
    );
    let _ = writeln!(w, "# approximation (never broader) and a comment says so.");
    let _ = writeln!(w);

    if p.debug && view.strict() {
        let _ = writeln!(
            w,
            "# `debug: true` is configured, but {} never runs with DEBUG on.",
            p.environment
        );
    }
    let _ = writeln!(w, "DEBUG = {}", py_bool(st.debug));
    let _ = writeln!(w);

    // Hosts.
    let _ = writeln!(
        w,
        "# Hosts: exact names and `.domain` (domain and subdomains)."
    );
    let _ = writeln!(w, "ALLOWED_HOSTS = {}", py_list(&st.allowed_hosts));
    if !p.hosts.networks.is_empty() {
        let _ = writeln!(
            w,
            "# hardened also allows IP-literal hosts inside these networks (containers):"
        );
        for chunk in p.hosts.networks.chunks(4) {
            let _ = writeln!(w, "#   {}", strings(chunk).join(", "));
        }
        let _ = writeln!(
            w,
            "# Django's ALLOWED_HOSTS cannot express CIDR ranges, so they are left out:"
        );
        let _ = writeln!(
            w,
            "# Django rejects requests addressed to an internal IP (e.g. health checks)."
        );
    }
    if !p.health_check_paths.is_empty() {
        let _ = writeln!(
            w,
            "# Health-check paths skip hardened's host check; Django has no such setting."
        );
    }
    let _ = writeln!(w);

    // CORS.
    let _ = writeln!(w, "# CORS (django-cors-headers): a whitelist, never `*`.");
    let _ = writeln!(w, "CORS_ALLOW_ALL_ORIGINS = False");
    let _ = writeln!(
        w,
        "CORS_ALLOW_CREDENTIALS = {}",
        py_bool(st.cors_allow_credentials)
    );
    let _ = writeln!(
        w,
        "CORS_ALLOWED_ORIGINS = {}",
        py_list(&st.cors_allowed_origins)
    );
    if p.cors.loopback_any_port {
        let _ = writeln!(
            w,
            "# Development: loopback origins (localhost, *.localhost, 127.0.0.1, [::1]) on any port"
        );
        let _ = writeln!(
            w,
            "# (hardened also allows the rest of 127.0.0.0/8; Django gets 127.0.0.1 only)."
        );
    }
    if !p.cors.origin_regexes.is_empty() {
        let _ = writeln!(
            w,
            "# Your cors_allowed_origin_regexes (Rust regex syntax) follow, anchored with ^(?:...)$"
        );
        let _ = writeln!(
            w,
            "# unless already ^...$: each must match the whole Origin, not a part of it."
        );
    }
    let _ = writeln!(
        w,
        "CORS_ALLOWED_ORIGIN_REGEXES = {}",
        py_list(&st.cors_allowed_origin_regexes)
    );
    let _ = writeln!(w, "CORS_ALLOW_HEADERS = {}", py_list(st.cors_allow_headers));
    let _ = writeln!(w, "CORS_ALLOW_METHODS = {}", py_list(st.cors_allow_methods));
    let _ = writeln!(w, "CORS_PREFLIGHT_MAX_AGE = {}", st.cors_preflight_max_age);
    let _ = writeln!(w);

    // CSRF.
    let _ = writeln!(
        w,
        "# CSRF: trusted origins; `scheme://*.domain` trusts the domain and its subdomains."
    );
    let _ = writeln!(w, "CSRF_TRUSTED_ORIGINS = {}", py_list(&view.csrf_listed()));
    if !p.csrf.loopback_port_ranges.is_empty() {
        let ranges: Vec<String> = p
            .csrf
            .loopback_port_ranges
            .iter()
            .map(|(a, b)| format!("{a}-{b}"))
            .collect();
        let _ = writeln!(
            w,
            "# Development: loopback origins on ports {}, http and https.",
            ranges.join(" and ")
        );
        let _ = writeln!(
            w,
            "# hardened also trusts *.localhost and 127.0.0.0/8 there; Django gets these hosts."
        );
        let py_ranges: Vec<String> = p
            .csrf
            .loopback_port_ranges
            .iter()
            .map(|(a, b)| format!("*range({a}, {})", u32::from(*b) + 1))
            .collect();
        let hosts: Vec<String> = CSRF_LOOPBACK_HOSTS.iter().map(|h| py_str(h)).collect();
        let _ = writeln!(w, "CSRF_TRUSTED_ORIGINS += [");
        let _ = writeln!(w, "    f\"{{scheme}}://{{host}}:{{port}}\"");
        let _ = writeln!(w, "    for scheme in (\"http\", \"https\")");
        let _ = writeln!(w, "    for host in ({})", hosts.join(", "));
        let _ = writeln!(w, "    for port in ({})", py_ranges.join(", "));
        let _ = writeln!(w, "]");
    }
    if !p.csrf.loopback_ports.is_empty() {
        let mut extra = Vec::new();
        for scheme in [
            hardened::domain::Scheme::Http,
            hardened::domain::Scheme::Https,
        ] {
            for host in CSRF_LOOPBACK_HOSTS {
                for port in &p.csrf.loopback_ports {
                    if *port == scheme.default_port() {
                        extra.push(format!("{scheme}://{host}"));
                    } else {
                        extra.push(format!("{scheme}://{host}:{port}"));
                    }
                }
            }
        }
        let _ = writeln!(
            w,
            "# Development: loopback ports named in the configuration."
        );
        let _ = writeln!(w, "CSRF_TRUSTED_ORIGINS += {}", py_list(&extra));
    }
    if !p.csrf.exempt_paths.is_empty() {
        let _ = writeln!(
            w,
            "# hardened exempts these paths from the CSRF check; in Django, mark their views"
        );
        let _ = writeln!(w, "# with @csrf_exempt:");
        for path in &p.csrf.exempt_paths {
            let _ = writeln!(w, "#   {}", py_str(path));
        }
    }
    let _ = writeln!(w);

    // TLS.
    if p.tls.ssl_redirect {
        let _ = writeln!(
            w,
            "# TLS: Django terminates TLS itself (ssl_redirect: true) and redirects to https."
        );
    } else {
        let _ = writeln!(
            w,
            "# TLS: a reverse proxy terminates TLS (the default) and Django sees plain HTTP."
        );
    }
    let _ = writeln!(
        w,
        "SECURE_SSL_REDIRECT = {}",
        py_bool(st.secure_ssl_redirect)
    );
    let _ = writeln!(
        w,
        "SECURE_REDIRECT_EXEMPT = {}",
        py_list(&st.secure_redirect_exempt)
    );
    match &st.secure_proxy_ssl_header {
        Some([h, v]) => {
            let _ = writeln!(
                w,
                "# Django believes this header from any peer; hardened only from trusted_proxies."
            );
            let _ = writeln!(
                w,
                "# Let nothing but your proxy reach Django, and have the proxy overwrite the header."
            );
            let _ = writeln!(
                w,
                "SECURE_PROXY_SSL_HEADER = ({}, {})",
                py_str(h),
                py_str(v)
            );
        }
        None => {
            if p.tls.proxy_ssl_header.is_some() {
                let _ = writeln!(
                    w,
                    "# Django would believe X-Forwarded-Proto from any peer, also from clients"
                );
                let _ = writeln!(
                    w,
                    "# that want to skip the redirect; hardened only from trusted_proxies."
                );
            }
            let _ = writeln!(w, "SECURE_PROXY_SSL_HEADER = None");
        }
    }
    let _ = writeln!(w, "# HSTS (sent on secure requests only); 0 disables it.");
    let _ = writeln!(w, "SECURE_HSTS_SECONDS = {}", st.secure_hsts_seconds);
    let _ = writeln!(
        w,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS = {}",
        py_bool(st.secure_hsts_include_subdomains)
    );
    let _ = writeln!(
        w,
        "SECURE_HSTS_PRELOAD = {}",
        py_bool(st.secure_hsts_preload)
    );
    let _ = writeln!(w);

    // Cookies.
    let _ = writeln!(w, "# Cookies.");
    let _ = writeln!(
        w,
        "SESSION_COOKIE_SECURE = {}",
        py_bool(st.session_cookie_secure)
    );
    let _ = writeln!(w, "CSRF_COOKIE_SECURE = {}", py_bool(st.csrf_cookie_secure));
    let _ = writeln!(
        w,
        "SESSION_COOKIE_NAME = {}",
        py_str(st.session_cookie_name)
    );
    let _ = writeln!(w, "SESSION_COOKIE_HTTPONLY = True");
    let _ = writeln!(w, "SESSION_COOKIE_SAMESITE = \"Lax\"");
    let _ = writeln!(w);

    // Headers.
    let _ = writeln!(w, "# Security headers.");
    let _ = writeln!(
        w,
        "SECURE_CONTENT_TYPE_NOSNIFF = {}",
        py_bool(st.secure_content_type_nosniff)
    );
    let _ = writeln!(w, "X_FRAME_OPTIONS = {}", py_opt_str(st.x_frame_options));
    let _ = writeln!(
        w,
        "SECURE_REFERRER_POLICY = {}",
        py_opt_str(st.secure_referrer_policy)
    );
    let _ = writeln!(
        w,
        "SECURE_CROSS_ORIGIN_OPENER_POLICY = {}",
        py_opt_str(st.secure_cross_origin_opener_policy)
    );
    if let Some(x) = &p.headers.xss_protection {
        let _ = writeln!(
            w,
            "# hardened sends `X-XSS-Protection: {x}` (browsers removed their XSS auditors;"
        );
        let _ = writeln!(
            w,
            "# OWASP advises 0). Django 4.0+ has no setting for it: add it at your proxy."
        );
    }
    let _ = writeln!(
        w,
        "SECURE_BROWSER_XSS_FILTER = False  # removed in Django 4.0; kept off explicitly"
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_string_literals() {
        assert_eq!(py_str("plain"), "\"plain\"");
        assert_eq!(py_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(py_str("x\ny\u{7}"), "\"x\\ny\\u0007\"");
        assert_eq!(py_str("é\u{2028}😀"), "\"\\u00e9\\u2028\\U0001f600\"");
    }

    #[test]
    fn regexes() {
        let p = SubdomainPattern {
            scheme: hardened::domain::Scheme::Https,
            domain: "example.com".into(),
            port: Some(8443),
        };
        assert_eq!(
            subdomain_regex(&p),
            r"^https://(?:[a-z0-9-]+\.)*example\.com:8443$"
        );
        assert_eq!(path_regex("/healthz"), "^healthz$");
        assert_eq!(path_regex("/status/*"), "^status/");
        assert_eq!(path_regex("/a.b"), r"^a\.b$");
        assert_eq!(meta_name("X-Forwarded-Proto"), "HTTP_X_FORWARDED_PROTO");
        assert_eq!(anchored(r"^https://a\.com$"), r"^https://a\.com$");
        assert_eq!(anchored(r"https://a\.com"), r"^(?:https://a\.com)$");
        assert_eq!(
            anchored(r"^https://a\.com$|^x"),
            r"^(?:^https://a\.com$|^x)$"
        );
        assert_eq!(anchored(r"^a\$"), r"^(?:^a\$)$");
    }

    #[test]
    fn clean_escapes_control_characters() {
        assert_eq!(clean("ok"), "ok");
        assert_eq!(clean("a\u{1b}[31m"), "a\\u{1b}[31m");
    }
}
