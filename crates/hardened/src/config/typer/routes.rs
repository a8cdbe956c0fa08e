//! The `routes:` list: each entry typed into a [`RouteConfig`]. What an entry means
//! together with the rest of the configuration (origins, contradictions, ties, the
//! refusals of production) is judged by validation, for routes set in code too.

use super::Typer;
use super::sections::HEADER_KEYS;
use crate::config::node::{Node, Value};
use crate::config::problem::{Problem, ProblemKind};
use crate::config::{CrossSiteMode, CsrfMode, HostCheckMode, RouteConfig, RouteCors};
use crate::enforce::RoutePattern;

/// The keys of one `routes:` entry.
pub(crate) const ROUTE_KEYS: &[&str] = &[
    "path",
    "methods",
    "headers",
    "cors",
    "csrf",
    "host_check",
    "ssl_redirect",
    "report_only",
    "cross_site",
];

/// The keys of a route's `cors:`.
pub(crate) const ROUTE_CORS_KEYS: &[&str] = &[
    "origins",
    "extend",
    "allow_credentials",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "max_age",
];

/// The keys of a route's `headers:`: the top-level ones and `frame_ancestors`.
fn route_header_keys() -> Vec<&'static str> {
    let mut keys = HEADER_KEYS.to_vec();
    keys.push("frame_ancestors");
    keys
}

impl Typer {
    /// `routes:`, a list of mappings.
    pub(super) fn routes(&mut self, n: &Node) -> Vec<RouteConfig> {
        let items = match &n.value {
            Value::Null => return Vec::new(),
            Value::Seq(items) => items,
            _ => {
                self.wrong_type(
                    n,
                    "routes",
                    "a list of routes",
                    "[{ path: /hooks/{id}, csrf: exempt }]",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(r) = self.route(item, &RouteConfig::key(i)) {
                out.push(r);
            }
        }
        out
    }

    fn route(&mut self, n: &Node, key: &str) -> Option<RouteConfig> {
        if !matches!(n.value, Value::Map(_)) {
            self.wrong_type(
                n,
                key,
                "a mapping",
                "{ path: /embed/*, headers: { frame_ancestors: [https://partner.example] } }",
            );
            return None;
        }
        let mut r = RouteConfig {
            source: Some(n.source.clone()),
            ..RouteConfig::default()
        };
        let mut path = None;
        let mut ok = true;
        for (k, kn, v) in self.sub_map(n, key) {
            let kpath = format!("{key}.{k}");
            let before = self.problems.len();
            match k.as_str() {
                "path" => {
                    if let Some(s) = self.string(v, &kpath, "/hooks/{id}") {
                        match RoutePattern::parse(s.trim()) {
                            Ok(_) => path = Some(s.trim().to_owned()),
                            Err(e) => self.problem(
                                ProblemKind::InvalidPath,
                                v,
                                &kpath,
                                e,
                                "write a pattern such as `/embed`, `/hooks/{id}` or `/api/*`",
                            ),
                        }
                    }
                }
                "methods" => {
                    for (j, (s, item)) in self.strings(v, &kpath, "[POST]").into_iter().enumerate()
                    {
                        let m = s.trim().to_ascii_uppercase();
                        if http::Method::from_bytes(m.as_bytes()).is_ok() && !m.is_empty() {
                            r.methods.push(m);
                        } else {
                            self.problem(
                                ProblemKind::InvalidMethod,
                                &item,
                                &format!("{kpath}[{j}]"),
                                format!("{s:?} is not a valid HTTP method"),
                                "use methods such as GET, POST, PUT, PATCH, DELETE",
                            );
                        }
                    }
                }
                "headers" => {
                    let known = route_header_keys();
                    let mut rest = Vec::new();
                    if let Value::Map(entries) = &v.value {
                        for (hk, hv) in entries {
                            if matches!(&hk.value, Value::Str(s) if s == "frame_ancestors") {
                                let fpath = format!("{kpath}.frame_ancestors");
                                let list = self.strings(hv, &fpath, "[https://partner.example]");
                                r.frame_ancestors =
                                    Some(list.into_iter().map(|(s, _)| s.trim().to_owned()).collect());
                            } else {
                                rest.push((hk.clone(), hv.clone()));
                            }
                        }
                        let node = Node::new(Value::Map(rest), v.source.clone());
                        r.headers = self.headers_in(&node, &kpath, &known);
                    } else {
                        r.headers = self.headers_in(v, &kpath, &known);
                    }
                }
                "cors" => r.cors = Some(self.route_cors(v, &kpath)),
                "csrf" => match &v.value {
                    Value::Str(s) if s.trim().eq_ignore_ascii_case("enforce") => {
                        r.csrf = Some(CsrfMode::Enforce);
                    }
                    Value::Str(s) if s.trim().eq_ignore_ascii_case("exempt") => {
                        r.csrf = Some(CsrfMode::Exempt);
                    }
                    _ => self.not_one_of(v, &kpath, "enforce or exempt", &["enforce", "exempt"]),
                },
                "host_check" => match &v.value {
                    Value::Str(s) if s.trim().eq_ignore_ascii_case("enforce") => {
                        r.host_check = Some(HostCheckMode::Enforce);
                    }
                    Value::Str(s) if s.trim().eq_ignore_ascii_case("skip_allowlist") => {
                        r.host_check = Some(HostCheckMode::SkipAllowlist);
                    }
                    _ => self.not_one_of(
                        v,
                        &kpath,
                        "enforce or skip_allowlist",
                        &["enforce", "skip_allowlist"],
                    ),
                },
                "ssl_redirect" => match self.bool(v, &kpath) {
                    Some(false) => r.ssl_redirect = Some(false),
                    Some(true) => self.problem(
                        ProblemKind::WrongType,
                        v,
                        &kpath,
                        "a route can only turn the TLS redirect off".into(),
                        "write `ssl_redirect: false`, or remove the key (the top-level `ssl_redirect` turns the redirect on)",
                    ),
                    None => {}
                },
                "report_only" => r.report_only = Some(self.report_only(v, &kpath)),
                "cross_site" => match &v.value {
                    Value::Str(s) if s.trim().eq_ignore_ascii_case("allow") => {
                        r.cross_site = Some(CrossSiteMode::Allow);
                    }
                    Value::Str(s) if s.trim().eq_ignore_ascii_case("enforce") => {
                        r.cross_site = Some(CrossSiteMode::Enforce);
                    }
                    _ => self.not_one_of(v, &kpath, "allow or enforce", &["allow", "enforce"]),
                },
                _ => self.unknown_sub(kn, &kpath, ROUTE_KEYS),
            }
            ok &= self.problems.len() == before;
        }
        match path {
            Some(p) => r.path = p,
            None => {
                if ok {
                    self.problems.push(
                        Problem::new(
                            ProblemKind::MissingValue,
                            key,
                            "a route needs a `path`",
                            "add `path: /hooks/{id}` (the pattern the route applies to)",
                        )
                        .at(n.source.clone()),
                    );
                }
                return None;
            }
        }
        // An entry with a problem is left out: it must not apply half.
        ok.then_some(r)
    }

    fn route_cors(&mut self, n: &Node, key: &str) -> RouteCors {
        let mut c = RouteCors::default();
        for (k, kn, v) in self.sub_map(n, key) {
            let kpath = format!("{key}.{k}");
            let list = |t: &mut Typer, example: &str| {
                Some(
                    t.strings(v, &kpath, example)
                        .into_iter()
                        .map(|(s, _)| s.trim().to_owned())
                        .collect::<Vec<_>>(),
                )
            };
            match k.as_str() {
                "origins" => c.origins = list(self, "[https://partner.example]"),
                "extend" => c.extend = self.bool(v, &kpath).unwrap_or(false),
                "allow_credentials" => c.allow_credentials = self.bool(v, &kpath),
                "allow_methods" => c.allow_methods = list(self, "[GET, POST]"),
                "allow_headers" => c.allow_headers = list(self, "[content-type]"),
                "expose_headers" => c.expose_headers = list(self, "[x-request-id]"),
                "max_age" => c.max_age = self.u64(v, &kpath, "600"),
                _ => self.unknown_sub(kn, &kpath, ROUTE_CORS_KEYS),
            }
        }
        c
    }
}
