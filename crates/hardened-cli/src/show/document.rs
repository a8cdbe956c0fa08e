//! The JSON and YAML document: Django's settings, then hardened's own rules (also those
//! Django cannot express) in a nested `hardened` object.

use hardened::config::{Environment, OriginRegex};
use hardened::domain::Origin;
use hardened::policy::{ProxyTrust, SubdomainPattern};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::model::{LOOPBACK_HOSTS, Model, strings};
use crate::term::DockerSetting;

/// The whole document.
pub(super) struct Document<'a> {
    model: &'a Model<'a>,
    hardened: Rich<'a>,
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let settings = self.model.django.settings();
        let mut m = s.serialize_map(Some(settings.len() + 1))?;
        for (name, value) in &settings {
            m.serialize_entry(name, value)?;
        }
        m.serialize_entry("hardened", &self.hardened)?;
        m.end()
    }
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
    runtime: RichRuntime<'a>,
    origins: &'a [Origin],
    hosts: RichHosts<'a>,
    internal_networks: Vec<String>,
    trusted_proxies: &'a ProxyTrust,
    health_check_paths: &'a [String],
    cors: RichCors<'a>,
    csrf: RichCsrf<'a>,
    tls: RichTls,
    cookies: RichCookies<'a>,
    headers: Pairs,
    /// The checks that only log what they would reject; absent when all enforce.
    #[serde(skip_serializing_if = "Option::is_none")]
    report_only: Option<Vec<&'static str>>,
    /// The resource isolation policy on `Sec-Fetch-*` headers.
    fetch_metadata: &'a hardened::policy::FetchMetadataRules,
    /// `hardened serve`'s settings (never the key itself: its path).
    gateway: &'a super::model::Gateway,
    /// The routes (`routes:` and the shorthand path lists); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<super::routes::RouteView>,
}

/// The runtime summary, with the `docker` setting in the configuration's spelling, and
/// the `DOCKER=false` override.
#[derive(Serialize)]
struct RichRuntime<'a> {
    container: bool,
    docker: bool,
    kubernetes: bool,
    docker_mode: DockerSetting,
    hostname: Option<&'a str>,
    signals: &'a [String],
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
    origin_regexes: &'a [OriginRegex],
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

/// Header name / value pairs, serialized as a map in order.
struct Pairs(Vec<(&'static str, String)>);

impl Serialize for Pairs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'a> Document<'a> {
    pub(super) fn new(model: &'a Model<'a>) -> Document<'a> {
        let p = model.policy;
        let rt = &p.runtime;
        let mut headers = model.response_headers();
        headers.retain(|(n, _)| *n != "Strict-Transport-Security");
        let hardened = Rich {
            environment: p.environment,
            debug: p.debug,
            secret_key: if model.secret_key_set {
                "set"
            } else {
                "not set"
            },
            config_files: &model.files,
            dotenv: model.dotenv.as_deref(),
            runtime: RichRuntime {
                container: rt.container,
                docker: rt.docker,
                kubernetes: rt.kubernetes,
                docker_mode: DockerSetting(rt.docker_mode),
                hostname: rt.hostname.as_deref(),
                signals: &rt.signals,
                docker_disabled_by_env: model.docker_disabled_by_env,
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
                hsts: p.tls.hsts.as_ref().map(|h| h.header_value()),
            },
            cookies: RichCookies {
                secure: p.cookies.secure,
                session_cookie_name: &p.cookies.session_cookie_name,
                harden_session_cookie: p.cookies.harden_session_cookie,
            },
            headers: Pairs(headers),
            report_only: p.report_only.any().then(|| p.report_only.names()),
            fetch_metadata: &p.fetch_metadata,
            gateway: &model.gateway,
            routes: super::routes::routes(p),
        };
        Document { model, hardened }
    }
}
