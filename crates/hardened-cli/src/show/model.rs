//! The model every `show` renderer reads: the policy, what was loaded, and Django's
//! settings computed once from them.

use std::fmt::Write as _;

use hardened::config::load::Loaded;
use hardened::domain::{Origin, Scheme};
use hardened::policy::{Policy, ProxySslHeader, SubdomainPattern};
use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::term;

/// Hosts of the development loopback rules, as hardened states them.
pub(super) const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "*.localhost", "127.0.0.0/8", "[::1]"];

/// Hosts the CSRF loopback approximation enumerates for Django (patterns like
/// `http://*.localhost:3000` would multiply the list; leaving them out is narrower).
pub(super) const CSRF_LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The schemes the loopback rules cover, in order.
const LOOPBACK_SCHEMES: [Scheme; 2] = [Scheme::Http, Scheme::Https];

/// The development CORS loopback rule as one anchored regex (django-cors-headers
/// matches `CORS_ALLOWED_ORIGIN_REGEXES` with `re.match`).
const LOOPBACK_ANY_PORT_REGEX: &str =
    r"^https?://(?:(?:[a-z0-9-]+\.)*localhost|127\.0\.0\.1|\[::1\])(?::[0-9]{1,5})?$";

/// Everything the renderers need, computed once from the policy and the loaded config.
pub(super) struct Model<'a> {
    pub(super) policy: &'a Policy,
    /// Config files read, in layer order.
    pub(super) files: Vec<String>,
    /// The `.env` file read, if any.
    pub(super) dotenv: Option<String>,
    /// Whether a secret key is configured (its value is never shown).
    pub(super) secret_key_set: bool,
    /// `DOCKER=false` overrode the probe's signals.
    pub(super) docker_disabled_by_env: bool,
    /// Django's settings.
    pub(super) django: Django,
    /// What `hardened serve` would run with, without flags.
    pub(super) gateway: Gateway,
    /// Why the environment was chosen.
    pub(super) environment_reason: String,
}

/// The `gateway:` settings as `hardened serve` would use them without flags: every
/// setting of the library's table ([`hardened::config::gateway::SETTINGS`]), in its
/// order, with its configured value as the file would say it, else its default.
/// Certificate and key are shown as paths only.
#[derive(serde::Serialize)]
#[serde(transparent)]
pub(super) struct Gateway(serde_json::Map<String, serde_json::Value>);

impl Gateway {
    fn new(g: &hardened::config::GatewayConfig) -> Gateway {
        use hardened::config::gateway::SETTINGS;
        use serde_json::Value;
        let set = g.values();
        let mut out = serde_json::Map::new();
        for s in SETTINGS {
            let value = match (s.key, &g.tls) {
                ("tls", Some(tls)) => serde_json::json!({
                    "cert": tls.cert.display().to_string(),
                    "key": tls.key.display().to_string(),
                }),
                _ => match set.iter().find(|(k, _)| *k == s.key) {
                    Some((_, v)) => Value::String(v.clone()),
                    // Off unless set (an upstream, a listener, a file): null.
                    None if s.default.starts_with("none") => Value::Null,
                    None => Value::String(s.default.to_owned()),
                },
            };
            out.insert(s.key.to_owned(), value);
        }
        Gateway(out)
    }

    /// Each setting (words apart) and its value as one line of text; `-` when unset.
    pub(super) fn rows(&self) -> impl Iterator<Item = (String, String)> {
        self.0.iter().map(|(k, v)| {
            let text = match v {
                serde_json::Value::Null => "-".to_owned(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(o) => o
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            (k.replace('_', " "), text)
        })
    }
}

impl<'a> Model<'a> {
    pub(super) fn new(policy: &'a Policy, loaded: &Loaded, docker_disabled_by_env: bool) -> Self {
        Model {
            policy,
            files: term::paths(&loaded.files),
            dotenv: loaded.dotenv.as_ref().map(|p| p.display().to_string()),
            secret_key_set: loaded
                .config
                .secret_key
                .as_ref()
                .is_some_and(|k| !k.expose().is_empty()),
            docker_disabled_by_env,
            environment_reason: loaded.environment_reason().to_string(),
            django: Django::new(policy),
            gateway: Gateway::new(&loaded.config.gateway),
        }
    }

    pub(super) fn strict(&self) -> bool {
        self.policy.environment.is_strict()
    }

    /// The security headers hardened sends, by name.
    pub(super) fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut v = header_pairs(&self.policy.headers);
        if let Some(hsts) = &self.policy.tls.hsts {
            v.push((
                "Strict-Transport-Security",
                format!("{} (secure requests only)", hsts.header_value()),
            ));
        }
        v
    }
}

/// The security headers of `h` (HSTS aside), by name.
pub(super) fn header_pairs(h: &hardened::policy::HeaderRules) -> Vec<(&'static str, String)> {
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
        (
            "Cross-Origin-Resource-Policy",
            h.cross_origin_resource_policy.map(|v| v.as_str()),
        ),
        (
            "Cross-Origin-Embedder-Policy",
            h.cross_origin_embedder_policy.map(|v| v.as_str()),
        ),
        ("Permissions-Policy", h.permissions_policy.as_deref()),
        (
            "Content-Security-Policy",
            h.content_security_policy.as_deref(),
        ),
        (
            "Content-Security-Policy-Report-Only",
            h.content_security_policy_report_only.as_deref(),
        ),
    ];
    for (name, value) in named {
        if let Some(value) = value {
            let mut value = value.to_owned();
            // The collector's endpoint for COOP and COEP reports (`reports:`).
            if let Some(e) = &h.isolation_report_to
                && name.starts_with("Cross-Origin-")
                && !name.ends_with("Resource-Policy")
            {
                value.push_str(&format!("; report-to=\"{e}\""));
            }
            v.push((name, value));
        }
    }
    if let Some(endpoints) = &h.reporting_endpoints {
        v.push(("Reporting-Endpoints", endpoints.clone()));
    }
    v
}

/// Django's security settings as the policy gives them, under Django's names (see
/// [`Django::settings`]). Where Django cannot express a hardened rule, the value is a
/// narrower approximation, never a broader one.
pub(super) struct Django {
    /// `DEBUG`: never on in production or staging, whatever the config says.
    pub(super) debug: bool,
    pub(super) allowed_hosts: Vec<String>,
    /// The exact origins and, in development, the front-end dev servers the guide
    /// names (React 3000, Vite 5173, Vue 8080) on localhost and 127.0.0.1; every other
    /// loopback port is in the regexes.
    pub(super) cors_allowed_origins: Vec<String>,
    /// Subdomain patterns, the loopback rule, then the configured regexes anchored.
    pub(super) cors_allowed_origin_regexes: Vec<String>,
    pub(super) cors_allow_all_origins: bool,
    pub(super) cors_allow_credentials: bool,
    pub(super) cors_allow_headers: Vec<String>,
    pub(super) cors_allow_methods: Vec<String>,
    pub(super) cors_preflight_max_age: u64,
    pub(super) csrf_trusted_origins: CsrfOrigins,
    pub(super) secure_ssl_redirect: bool,
    /// The health-check paths as Django path regexes.
    pub(super) secure_redirect_exempt: Vec<String>,
    /// In Django's `META` spelling. Django believes it from any peer (hardened only
    /// from trusted proxies), so it is set only in the reverse proxy mode; with
    /// `ssl_redirect: true` the service terminates TLS itself and a client could
    /// otherwise claim https to skip the redirect.
    pub(super) secure_proxy_ssl_header: Option<[String; 2]>,
    pub(super) session_cookie_secure: bool,
    pub(super) csrf_cookie_secure: bool,
    pub(super) session_cookie_httponly: bool,
    pub(super) session_cookie_samesite: &'static str,
    pub(super) session_cookie_name: String,
    pub(super) secure_hsts_seconds: u64,
    pub(super) secure_hsts_include_subdomains: bool,
    pub(super) secure_hsts_preload: bool,
    pub(super) secure_content_type_nosniff: bool,
    pub(super) secure_browser_xss_filter: bool,
    pub(super) x_frame_options: Option<String>,
    pub(super) secure_referrer_policy: Option<String>,
    pub(super) secure_cross_origin_opener_policy: Option<String>,
}

/// One setting's value, by the kind of literal it is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value<'a> {
    Bool(bool),
    Int(u64),
    Str(&'a str),
    List(&'a [String]),
    /// A two-item tuple.
    Pair(&'a [String; 2]),
    /// `CSRF_TRUSTED_ORIGINS`: a list with the development loopback origins.
    Origins(&'a CsrfOrigins),
    None,
}

impl<'a> Value<'a> {
    fn opt_str(s: Option<&'a String>) -> Value<'a> {
        s.map_or(Value::None, |s| Value::Str(s))
    }
}

impl Django {
    pub(super) fn new(p: &Policy) -> Django {
        let hsts = p.tls.hsts.as_ref();
        let strict = p.environment.is_strict();
        Django {
            debug: p.debug && !strict,
            allowed_hosts: p.allowed_hosts(),
            cors_allowed_origins: cors_allowed_origins(p),
            cors_allowed_origin_regexes: cors_regexes(p),
            cors_allow_all_origins: false,
            cors_allow_credentials: p.cors.allow_credentials,
            cors_allow_headers: p.cors.allow_headers.clone(),
            cors_allow_methods: p.cors.allow_methods.clone(),
            cors_preflight_max_age: p.cors.max_age,
            csrf_trusted_origins: CsrfOrigins::new(p),
            secure_ssl_redirect: p.tls.ssl_redirect,
            secure_redirect_exempt: p
                .health_check_paths
                .iter()
                .chain(
                    p.routes
                        .iter()
                        .filter(|r| r.ssl_redirect == Some(false))
                        .map(|r| &r.path),
                )
                .map(|s| path_regex(s))
                .collect(),
            secure_proxy_ssl_header: if p.tls.ssl_redirect {
                None
            } else {
                p.tls
                    .proxy_ssl_header
                    .as_ref()
                    .map(|h| [meta_name(h.name()), ProxySslHeader::SECURE_VALUE.to_owned()])
            },
            session_cookie_secure: p.cookies.secure,
            csrf_cookie_secure: p.cookies.secure,
            session_cookie_httponly: true,
            session_cookie_samesite: "Lax",
            session_cookie_name: p.cookies.session_cookie_name.clone(),
            secure_hsts_seconds: hsts.map_or(0, |h| h.seconds),
            secure_hsts_include_subdomains: hsts.is_some_and(|h| h.include_subdomains),
            secure_hsts_preload: hsts.is_some_and(|h| h.preload),
            secure_content_type_nosniff: p.headers.content_type_nosniff,
            secure_browser_xss_filter: false,
            x_frame_options: p.headers.x_frame_options.map(|v| v.as_str().to_owned()),
            secure_referrer_policy: p.headers.referrer_policy.map(|v| v.as_str().to_owned()),
            secure_cross_origin_opener_policy: p
                .headers
                .cross_origin_opener_policy
                .map(|v| v.as_str().to_owned()),
        }
    }

    /// Every setting by its Django name, in the order of the JSON and YAML documents.
    pub(super) fn settings(&self) -> [(&'static str, Value<'_>); 26] {
        use Value::{Bool, Int, List, Str};
        [
            ("DEBUG", Bool(self.debug)),
            ("ALLOWED_HOSTS", List(&self.allowed_hosts)),
            ("CORS_ALLOWED_ORIGINS", List(&self.cors_allowed_origins)),
            (
                "CORS_ALLOWED_ORIGIN_REGEXES",
                List(&self.cors_allowed_origin_regexes),
            ),
            ("CORS_ALLOW_ALL_ORIGINS", Bool(self.cors_allow_all_origins)),
            ("CORS_ALLOW_CREDENTIALS", Bool(self.cors_allow_credentials)),
            ("CORS_ALLOW_HEADERS", List(&self.cors_allow_headers)),
            ("CORS_ALLOW_METHODS", List(&self.cors_allow_methods)),
            ("CORS_PREFLIGHT_MAX_AGE", Int(self.cors_preflight_max_age)),
            (
                "CSRF_TRUSTED_ORIGINS",
                Value::Origins(&self.csrf_trusted_origins),
            ),
            ("SECURE_SSL_REDIRECT", Bool(self.secure_ssl_redirect)),
            ("SECURE_REDIRECT_EXEMPT", List(&self.secure_redirect_exempt)),
            (
                "SECURE_PROXY_SSL_HEADER",
                self.secure_proxy_ssl_header
                    .as_ref()
                    .map_or(Value::None, Value::Pair),
            ),
            ("SESSION_COOKIE_SECURE", Bool(self.session_cookie_secure)),
            ("CSRF_COOKIE_SECURE", Bool(self.csrf_cookie_secure)),
            (
                "SESSION_COOKIE_HTTPONLY",
                Bool(self.session_cookie_httponly),
            ),
            ("SESSION_COOKIE_SAMESITE", Str(self.session_cookie_samesite)),
            ("SESSION_COOKIE_NAME", Str(&self.session_cookie_name)),
            ("SECURE_HSTS_SECONDS", Int(self.secure_hsts_seconds)),
            (
                "SECURE_HSTS_INCLUDE_SUBDOMAINS",
                Bool(self.secure_hsts_include_subdomains),
            ),
            ("SECURE_HSTS_PRELOAD", Bool(self.secure_hsts_preload)),
            (
                "SECURE_CONTENT_TYPE_NOSNIFF",
                Bool(self.secure_content_type_nosniff),
            ),
            (
                "SECURE_BROWSER_XSS_FILTER",
                Bool(self.secure_browser_xss_filter),
            ),
            (
                "X_FRAME_OPTIONS",
                Value::opt_str(self.x_frame_options.as_ref()),
            ),
            (
                "SECURE_REFERRER_POLICY",
                Value::opt_str(self.secure_referrer_policy.as_ref()),
            ),
            (
                "SECURE_CROSS_ORIGIN_OPENER_POLICY",
                Value::opt_str(self.secure_cross_origin_opener_policy.as_ref()),
            ),
        ]
    }
}

/// `CSRF_TRUSTED_ORIGINS` as Django needs it: the exact origins, the subdomain patterns
/// and, in development, the loopback rule written out (localhost, 127.0.0.1 and `[::1]`
/// on http and https, on the port ranges and on the loopback ports named in config),
/// as django-cfg lists it.
#[derive(Debug)]
pub(super) struct CsrfOrigins {
    /// The trusted origins and subdomain patterns.
    pub(super) listed: Vec<String>,
    /// Development port ranges trusted on every loopback host.
    pub(super) loopback_ranges: Vec<(u16, u16)>,
    /// Loopback ports named in the configuration.
    pub(super) loopback_ports: Vec<u16>,
}

impl CsrfOrigins {
    fn new(p: &Policy) -> CsrfOrigins {
        let csrf = &p.csrf;
        CsrfOrigins {
            listed: csrf
                .trusted_origins
                .iter()
                .map(Origin::to_string)
                .chain(csrf.subdomains.iter().map(SubdomainPattern::to_string))
                .collect(),
            loopback_ranges: csrf.loopback_port_ranges.clone(),
            loopback_ports: csrf.loopback_ports.clone(),
        }
    }

    /// Every origin: the listed ones, the port ranges' then the named ports' loopback
    /// origins.
    pub(super) fn all(&self) -> Vec<String> {
        let ranges = self.loopback_ranges.iter().flat_map(|&(a, b)| a..=b);
        let mut out = self.listed.clone();
        out.extend(loopback_origins(ranges));
        out.extend(loopback_origins(self.loopback_ports.iter().copied()));
        out
    }
}

impl Serialize for CsrfOrigins {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let all = self.all();
        let mut seq = s.serialize_seq(Some(all.len()))?;
        for o in &all {
            seq.serialize_element(o)?;
        }
        seq.end()
    }
}

/// The CSRF loopback origins of `ports`: scheme by host by port, the port left out
/// where it is the scheme's default (as a browser writes `Origin`).
pub(super) fn loopback_origins(ports: impl Iterator<Item = u16> + Clone) -> Vec<String> {
    let mut out = Vec::new();
    for scheme in LOOPBACK_SCHEMES {
        for host in CSRF_LOOPBACK_HOSTS {
            for port in ports.clone() {
                if port == scheme.default_port() {
                    out.push(format!("{scheme}://{host}"));
                } else {
                    out.push(format!("{scheme}://{host}:{port}"));
                }
            }
        }
    }
    out
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Value::Bool(b) => s.serialize_bool(b),
            Value::Int(n) => s.serialize_u64(n),
            Value::Str(v) => s.serialize_str(v),
            Value::List(v) => v.serialize(s),
            Value::Pair(v) => v.serialize(s),
            Value::Origins(v) => v.serialize(s),
            Value::None => s.serialize_none(),
        }
    }
}

// ------------------------------------------------------------------ translations

fn cors_regexes(p: &Policy) -> Vec<String> {
    let cors = &p.cors;
    let mut v: Vec<String> = cors.subdomains.iter().map(subdomain_regex).collect();
    if cors.loopback_any_port {
        v.push(LOOPBACK_ANY_PORT_REGEX.to_owned());
    }
    v.extend(cors.origin_regexes.iter().map(|r| anchored(r.as_str())));
    v
}

fn cors_allowed_origins(p: &Policy) -> Vec<String> {
    let cors = &p.cors;
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
    let (body, open) = match trimmed.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (trimmed, false),
    };
    // `{id}` is one segment, `{*rest}` the rest of the path.
    let mut re = String::from("^");
    for (i, seg) in body.split('/').enumerate() {
        if i > 0 {
            re.push('/');
        }
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if name.starts_with('*') => {
                re.push_str(".*");
                return re;
            }
            Some(_) => re.push_str("[^/]+"),
            None => re.push_str(&regex_escape(seg)),
        }
    }
    if !open {
        re.push('$');
    }
    re
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

/// Each item's `Display` form.
pub(super) fn strings<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes() {
        let p = SubdomainPattern {
            scheme: Scheme::Https,
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
        assert_eq!(path_regex("/hooks/{id}/run"), "^hooks/[^/]+/run$");
        assert_eq!(path_regex("/files/{*rest}"), "^files/.*");
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
    fn loopback_origins_leave_out_default_ports() {
        assert_eq!(
            loopback_origins([80, 3000].into_iter()),
            [
                "http://localhost",
                "http://localhost:3000",
                "http://127.0.0.1",
                "http://127.0.0.1:3000",
                "http://[::1]",
                "http://[::1]:3000",
                "https://localhost:80",
                "https://localhost:3000",
                "https://127.0.0.1:80",
                "https://127.0.0.1:3000",
                "https://[::1]:80",
                "https://[::1]:3000",
            ]
        );
    }
}
