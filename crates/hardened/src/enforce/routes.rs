//! Per-route policy: path patterns with a precedence, the path they are matched on,
//! and the compiled overrides of each route.
//!
//! A route is matched on the request path *normalised*, so that no spelling of a path
//! reaches it without its route or reaches another route's overrides: `%`-escapes of
//! unreserved characters decoded (`/%65mbed` is `/embed`), every separator some server
//! reads as one (`\`, `%2f`, `%5c`) split on, `;` path parameters dropped (`/admin;x`
//! is `/admin`, as Tomcat reads it), empty segments collapsed (`//`), and `.` / `..`
//! resolved (raw or `%2e`; never above the root). The gateway matches the client's
//! path, before it prepends the upstream's base path.
//!
//! Precedence: the most specific pattern wins. Segment by segment from the left, a
//! literal beats a `{param}`, which beats a literal prefix (`/api*`), which beats `*`
//! (or `{*rest}`); a longer literal prefix beats a shorter one, and a pattern with more
//! segments beats one it extends. Two patterns that rank the same and can match the
//! same path (`/hooks/{id}` and `/hooks/{name}`) with a method in common are a
//! configuration error, never an order-dependent choice.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use http::Method;

use super::cors::CorsCheck;
use super::headers::SecurityHeaders;
use crate::config::{CsrfMode, HostCheckMode, Problem, ReportOnly};
use crate::policy::{Policy, RoutePolicy};

/// One segment of a route pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    /// A literal segment (normalised as request segments are).
    Lit(Box<str>),
    /// `{name}`: any one non-empty segment.
    Param,
    /// `lit*` as the last segment: a segment that starts with `lit`, and anything after.
    Prefix(Box<str>),
    /// `*` or `{*name}` as the last segment: one or more segments (the first may be
    /// empty: `/embed/*` matches `/embed/`).
    Rest,
}

impl Seg {
    /// The rank of the segment's kind: literal > parameter > prefix > rest.
    fn rank(&self) -> (u8, usize) {
        match self {
            Seg::Lit(_) => (4, 0),
            Seg::Param => (3, 0),
            Seg::Prefix(p) => (2, p.len()),
            Seg::Rest => (1, 0),
        }
    }
}

/// A route's path pattern: `/embed`, `/hooks/{id}`, `/api/*`, `/static*`,
/// `/files/{*rest}`.
///
/// ```
/// use hardened::enforce::RoutePattern;
///
/// let p = RoutePattern::parse("/hooks/{id}")?;
/// assert!(p.matches("/hooks/42") && p.matches("/hooks/./42") && !p.matches("/hooks/42/x"));
/// assert!(RoutePattern::parse("/a/{x}")?.is_more_specific_than(&RoutePattern::parse("/a/*")?));
/// assert!(RoutePattern::parse("hooks").is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePattern {
    text: Box<str>,
    segs: Box<[Seg]>,
}

impl RoutePattern {
    /// Parses a pattern.
    ///
    /// # Errors
    /// Why it is not a pattern: no leading `/`, a query, fragment or space, an empty
    /// segment (`//`), a `.` or `..` segment (no normalised path has one), a `{` or `}`
    /// that is not a whole `{name}` segment, a `*` anywhere but at the end.
    pub fn parse(text: &str) -> Result<RoutePattern, String> {
        if !text.starts_with('/') {
            return Err("a route path must start with `/`".into());
        }
        if text.contains(['?', '#']) || text.chars().any(char::is_whitespace) {
            return Err("a route path holds no query, fragment or space".into());
        }
        let pieces: Vec<&str> = text.get(1..).unwrap_or("").split('/').collect();
        let last = pieces.len() - 1;
        let mut segs = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            let is_last = i == last;
            let name_ok = |n: &str| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            };
            let seg = if let Some(inner) = piece.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
            {
                match inner.strip_prefix('*') {
                    Some(n) if is_last && name_ok(n) => Seg::Rest,
                    Some(_) if !is_last => {
                        return Err(format!("`{piece}` may only end a route path"));
                    }
                    None if name_ok(inner) => Seg::Param,
                    _ => return Err(format!("`{piece}` is not a parameter such as `{{id}}`")),
                }
            } else if *piece == "*" {
                if !is_last {
                    return Err("`*` may only end a route path".into());
                }
                Seg::Rest
            } else if piece.contains(['{', '}']) {
                return Err(format!(
                    "`{piece}`: a parameter is a whole segment, such as `{{id}}`"
                ));
            } else if let Some(prefix) = piece.strip_suffix('*') {
                if !is_last || prefix.contains('*') {
                    return Err("`*` may only end a route path".into());
                }
                Seg::Prefix(normalise_segment(prefix).into())
            } else if piece.contains('*') {
                return Err("`*` may only end a route path".into());
            } else if piece.is_empty() && !is_last {
                return Err("an empty segment (`//`) never matches a normalised path".into());
            } else {
                let lit = normalise_segment(piece);
                if lit == "." || lit == ".." {
                    return Err("a `.` or `..` segment never matches a normalised path".into());
                }
                if lit.contains(['/', '\\', ';']) || has_separator_escape(&lit) {
                    return Err(
                        "a literal segment holds no `\\`, `;`, `%2f` or `%5c` (they separate segments when paths are matched)".into(),
                    );
                }
                Seg::Lit(lit.into())
            };
            segs.push(seg);
        }
        Ok(RoutePattern {
            text: text.into(),
            segs: segs.into_boxed_slice(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the request path `path` (as sent) matches, once normalised.
    pub fn matches(&self, path: &str) -> bool {
        self.matches_segments(&normalised_segments(path))
    }

    fn matches_segments(&self, segs: &[Cow<'_, str>]) -> bool {
        for (i, p) in self.segs.iter().enumerate() {
            let seg = segs.get(i).map(|s| &**s);
            match p {
                Seg::Rest => return segs.len() > i,
                Seg::Prefix(prefix) => return seg.is_some_and(|s| s.starts_with(&**prefix)),
                Seg::Param => {
                    if seg.is_none_or(str::is_empty) {
                        return false;
                    }
                }
                Seg::Lit(l) => {
                    if seg != Some(&**l) {
                        return false;
                    }
                }
            }
        }
        segs.len() == self.segs.len()
    }

    /// The precedence of two patterns that both match a path (see the
    /// [module docs](self)): `Greater` when `self` wins.
    fn precedence(&self, other: &RoutePattern) -> Ordering {
        let a = self.segs.iter().map(Seg::rank);
        let b = other.segs.iter().map(Seg::rank);
        a.cmp(b)
    }

    /// Whether `self` wins over `other` on a path both match.
    pub fn is_more_specific_than(&self, other: &RoutePattern) -> bool {
        self.precedence(other) == Ordering::Greater
    }

    /// Whether `self` and `other` rank the same and can match the same path: a tie
    /// (parameter names aside, the same pattern).
    pub fn ties_with(&self, other: &RoutePattern) -> bool {
        self.segs.len() == other.segs.len()
            && self.segs.iter().zip(other.segs.iter()).all(|(a, b)| a == b)
    }

    /// Whether the pattern is parameters only (`/{a}/{b}`): every path of that length.
    pub(crate) fn is_parameters_only(&self) -> bool {
        self.segs
            .iter()
            .all(|s| matches!(s, Seg::Param | Seg::Rest))
    }
}

/// Whether `s` holds `%2f` or `%5c` (any case).
fn has_separator_escape(s: &str) -> bool {
    s.as_bytes().windows(3).any(|w| {
        w.first() == Some(&b'%')
            && w.get(1..3)
                .is_some_and(|h| h.eq_ignore_ascii_case(b"2f") || h.eq_ignore_ascii_case(b"5c"))
    })
}

/// One segment with `%`-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`)
/// decoded and every other escape in upper case: the one spelling both patterns and
/// request paths are compared in.
fn normalise_segment(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|h| (*h as char).to_digit(16));
        if c == b'%'
            && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
        {
            let v = u8::try_from(h * 16 + l).unwrap_or(0);
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(v));
            } else {
                out.push('%');
                out.push_str(&format!("{v:02X}"));
            }
            i += 3;
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// The length of the separator at the start of `s`: `/`, `\`, `%2f` or `%5c`.
fn separator_at(s: &[u8]) -> Option<usize> {
    match s {
        [b'/' | b'\\', ..] => Some(1),
        [b'%', b'2', b'f' | b'F', ..] | [b'%', b'5', b'c' | b'C', ..] => Some(3),
        _ => None,
    }
}

/// The segments of the normalised `path` (see the [module docs](self)): `/` is `[""]`,
/// `/a/` is `["a", ""]`.
pub(crate) fn normalised_segments(path: &str) -> Vec<Cow<'_, str>> {
    let body = path.strip_prefix('/').unwrap_or(path);
    let bytes = body.as_bytes();
    let mut pieces: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(len) = bytes.get(i..).and_then(separator_at) {
            pieces.push(body.get(start..i).unwrap_or(""));
            i += len;
            start = i;
        } else {
            i += 1;
        }
    }
    pieces.push(body.get(start..).unwrap_or(""));
    let last = pieces.len() - 1;
    let mut out: Vec<Cow<'_, str>> = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.into_iter().enumerate() {
        let is_last = i == last;
        // `;` parameters dropped (`..;` is `..`).
        let piece = piece.split(';').next().unwrap_or("");
        let seg = normalise_segment(piece);
        match &*seg {
            "." => {}
            ".." => {
                out.pop();
            }
            "" => {}
            _ => {
                out.push(seg);
                continue;
            }
        }
        // A dot segment or an empty one at the end leaves a trailing slash.
        if is_last {
            out.push(Cow::Borrowed(""));
        }
    }
    out
}

/// Whether `path` is already spelt as its normalised form: no `%`-escape of an
/// unreserved character, no empty, `.` or `..` segment, no `;` parameter, no `%2f`,
/// `%5c` or `\`. Only such a spelling gets a route's relaxations: an application that
/// routes the raw path could send any other spelling to another handler.
pub(crate) fn is_plain_spelling(path: &str) -> bool {
    if path.contains(['\\', ';']) {
        return false;
    }
    let segs = normalised_segments(path);
    let mut canonical = String::with_capacity(path.len());
    for s in &segs {
        canonical.push('/');
        canonical.push_str(s);
    }
    canonical == path
}

/// What one route changes, compiled: the route's whole header set and CORS rules
/// (the global ones with its overrides), and the request checks it turns on or off.
#[derive(Debug)]
pub(crate) struct RouteRules {
    /// How `explain` and logs name the route, e.g. `routes[0] /embed/*`.
    pub(crate) label: Box<str>,
    /// The route's index in the policy's `routes`; `None` for a route layer's.
    pub(crate) index: Option<usize>,
    /// The route's security headers, when it overrides any.
    pub(crate) headers: Option<SecurityHeaders>,
    /// The route's CORS rules, when it overrides them.
    pub(crate) cors: Option<CorsCheck>,
    /// `Some(true)`: exempt from CSRF; `Some(false)`: enforced even where the path
    /// lists exempt it.
    pub(crate) csrf_exempt: Option<bool>,
    /// The Host allow-list is skipped (its syntax still enforced), as on health checks.
    pub(crate) skip_host_allowlist: bool,
    /// No TLS redirect.
    pub(crate) no_ssl_redirect: bool,
    /// The checks that only report on this route.
    pub(crate) report_only: Option<ReportOnly>,
    /// `cross_site: allow`: Fetch Metadata's resource isolation is off on this route.
    pub(crate) cross_site_allow: bool,
    /// The route weakens something ([`RoutePolicy::weakenings`]): it applies to the
    /// plain spelling of its path only ([`is_plain_spelling`]).
    pub(crate) weakens: bool,
}

/// The mark of a request's route: put into the request extensions by a route layer
/// before the security layer decides, or into the response extensions when the
/// route layer runs after it (see [`Security::route`](crate::Security::route)).
#[derive(Clone, Debug)]
pub struct RouteMark(pub(crate) Arc<RouteRules>);

impl RouteMark {
    /// The route's name, e.g. `route layer` or `routes[0] /embed/*`.
    pub fn label(&self) -> &str {
        &self.0.label
    }

    /// The route's index in [`Policy::routes`](crate::policy::Policy::routes); `None`
    /// for a route layer's mark.
    pub fn index(&self) -> Option<usize> {
        self.0.index
    }
}

/// Two marks are equal when they are the same compiled route.
impl PartialEq for RouteMark {
    fn eq(&self, other: &RouteMark) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RouteMark {}

impl RouteRules {
    /// Compiles a route of the policy, named `label`; invalid header values go to
    /// `problems`.
    pub(crate) fn compile(
        label: String,
        index: Option<usize>,
        route: &RoutePolicy,
        problems: &mut Vec<Problem>,
    ) -> RouteRules {
        let headers = route.headers.as_ref().map(|h| {
            SecurityHeaders::new(h).unwrap_or_else(|p| {
                problems.push(p.with_key_prefix(label.split(' ').next().unwrap_or("routes")));
                SecurityHeaders::default()
            })
        });
        RouteRules {
            headers,
            cors: route.cors.as_ref().map(|c| CorsCheck::new(c, problems)),
            csrf_exempt: route.csrf.map(|m| m == CsrfMode::Exempt),
            skip_host_allowlist: route.host_check == Some(HostCheckMode::SkipAllowlist),
            no_ssl_redirect: route.ssl_redirect == Some(false),
            report_only: route.report_only,
            cross_site_allow: route.cross_site == Some(crate::config::CrossSiteMode::Allow),
            weakens: !route.weakenings().is_empty(),
            label: label.into(),
            index,
        }
    }
}

/// The compiled routes, most specific first.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    routes: Vec<(RoutePattern, Box<[Method]>, Arc<RouteRules>)>,
}

impl RouteTable {
    /// The compiled routes of `policy` (patterns validation refused are left out: the
    /// policy is refused then).
    pub(crate) fn compile(policy: &Policy, problems: &mut Vec<Problem>) -> RouteTable {
        let mut routes = Vec::with_capacity(policy.routes.len());
        for (i, r) in policy.routes.iter().enumerate() {
            let Ok(pattern) = RoutePattern::parse(&r.path) else {
                continue;
            };
            let mut methods: Vec<Method> = r
                .methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect();
            // A GET route is its HEAD requests' too, as servers answer HEAD with GET.
            if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
                methods.push(Method::HEAD);
            }
            let label = format!("routes[{i}] {}", r.path);
            let rules = RouteRules::compile(label, Some(i), r, problems);
            routes.push((pattern, methods.into_boxed_slice(), Arc::new(rules)));
        }
        RouteTable::new(routes)
    }

    /// The table of `routes`, sorted by precedence (ties were refused by validation;
    /// among equals the first keeps its place).
    pub(crate) fn new(mut routes: Vec<(RoutePattern, Box<[Method]>, Arc<RouteRules>)>) -> Self {
        routes.sort_by(|a, b| b.0.precedence(&a.0));
        RouteTable { routes }
    }

    /// Whether a route's headers have a CSP `{nonce}` placeholder.
    pub(crate) fn needs_nonce(&self) -> bool {
        self.routes
            .iter()
            .any(|(_, _, r)| r.headers.as_ref().is_some_and(SecurityHeaders::needs_nonce))
    }

    /// Whether there is no route (the request pays nothing then).
    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route of `path` for `method`: the most specific pattern that matches with
    /// that method.
    pub(crate) fn find(&self, path: &str, method: &Method) -> Option<&Arc<RouteRules>> {
        if self.routes.is_empty() {
            return None;
        }
        let segs = normalised_segments(path);
        self.routes
            .iter()
            .find(|(p, methods, _)| {
                (methods.is_empty() || methods.contains(method)) && p.matches_segments(&segs)
            })
            .map(|(_, _, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, &[&str])] = &[
            ("/", &[""]),
            ("//", &[""]),
            ("/embed", &["embed"]),
            ("/embed/", &["embed", ""]),
            ("/embed//x", &["embed", "x"]),
            ("/%65mbed", &["embed"]),
            ("/%65MBED", &["eMBED"]),
            ("/a/./b", &["a", "b"]),
            ("/a/%2e%2E/b", &["b"]),
            ("/a/..", &[""]),
            ("/../../a", &["a"]),
            ("/admin;x/page", &["admin", "page"]),
            ("/embed/..;/admin", &["admin"]),
            ("/embed%2f..%2fadmin", &["admin"]),
            ("/embed%5C..%5cadmin", &["admin"]),
            ("/embed\\..\\admin", &["admin"]),
            ("/a%20b", &["a%20b"]),
            ("/a%2a", &["a%2A"]),
            ("/a%zz", &["a%zz"]),
        ];
        for (path, want) in cases {
            let got = normalised_segments(path);
            let got: Vec<&str> = got.iter().map(|s| &**s).collect();
            assert_eq!(got, *want, "{path}");
        }
    }

    #[test]
    fn matching_table() {
        // (pattern, path, matches)
        let cases: &[(&str, &str, bool)] = &[
            ("/", "/", true),
            ("/", "/a", false),
            ("/embed", "/embed", true),
            ("/embed", "/embed/", false),
            ("/embed", "/%65mbed", true),
            ("/embed", "/x/../embed", true),
            ("/embed", "//embed", true),
            ("/embed/", "/embed/", true),
            ("/embed/*", "/embed/", true),
            ("/embed/*", "/embed/a/b", true),
            ("/embed/*", "/embed", false),
            ("/embed/*", "/embedx", false),
            ("/embed/{*rest}", "/embed/a", true),
            ("/static*", "/static", true),
            ("/static*", "/staticfiles/x", true),
            ("/static*", "/stati", false),
            ("/hooks/{id}", "/hooks/42", true),
            ("/hooks/{id}", "/hooks/", false),
            ("/hooks/{id}", "/hooks/42/x", false),
            ("/hooks/{id}/run", "/hooks/42/run", true),
            ("/admin/*", "/embed/..%2fadmin/x", true),
            ("/admin/*", "/admin;jsessionid=1/x", true),
            ("/a%20b", "/a%20b", true),
            ("/*", "/anything/at/all", true),
        ];
        for (pattern, path, want) in cases {
            let p = RoutePattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(p.matches(path), *want, "{pattern} on {path}");
        }
    }

    #[test]
    fn unparseable_patterns() {
        for bad in [
            "embed",
            "",
            "/a b",
            "/a?x",
            "/a#x",
            "/a//b",
            "/a/../b",
            "/a/./b",
            "/{}",
            "/{a-b}",
            "/x{id}",
            "/{id}x",
            "/*/x",
            "/a*/b",
            "/{*rest}/x",
            "/a*b",
            "/a%2fb",
            "/a;b",
        ] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn precedence_table() {
        // (winner, loser): both match some path, the first wins.
        let cases: &[(&str, &str)] = &[
            ("/embed", "/embed*"),
            ("/embed/x", "/embed/{id}"),
            ("/embed/{id}", "/embed/*"),
            ("/embed/{id}", "/embed*"),
            ("/api/v1/*", "/api/*"),
            ("/api/*", "/*"),
            ("/a/{x}", "/{y}/b"),
            ("/static/*", "/static*"),
            ("/staticfiles*", "/static*"),
            ("/hooks/{id}/run", "/hooks/{*rest}"),
            ("/", "/*"),
        ];
        for (winner, loser) in cases {
            let w = RoutePattern::parse(winner).unwrap_or_else(|e| panic!("{e}"));
            let l = RoutePattern::parse(loser).unwrap_or_else(|e| panic!("{e}"));
            assert!(w.is_more_specific_than(&l), "{winner} over {loser}");
            assert!(!l.is_more_specific_than(&w), "{loser} under {winner}");
            assert!(!w.ties_with(&l));
        }
        // Ties: the same pattern but for parameter names.
        let ties: &[(&str, &str)] = &[
            ("/hooks/{id}", "/hooks/{name}"),
            ("/a/*", "/a/{*rest}"),
            ("/x", "/x"),
        ];
        for (a, b) in ties {
            let a = RoutePattern::parse(a).unwrap_or_else(|e| panic!("{e}"));
            let b = RoutePattern::parse(b).unwrap_or_else(|e| panic!("{e}"));
            assert!(a.ties_with(&b), "{a:?} {b:?}");
        }
        // Same rank, disjoint: no tie.
        let a = RoutePattern::parse("/a/{x}").unwrap_or_else(|e| panic!("{e}"));
        let b = RoutePattern::parse("/b/{x}").unwrap_or_else(|e| panic!("{e}"));
        assert!(!a.ties_with(&b));
    }

    #[test]
    fn table_picks_the_most_specific_route_for_the_method() {
        let rule = |label: &str| {
            Arc::new(RouteRules {
                label: label.into(),
                index: None,
                headers: None,
                cors: None,
                csrf_exempt: None,
                skip_host_allowlist: false,
                no_ssl_redirect: false,
                report_only: None,
                cross_site_allow: false,
                weakens: false,
            })
        };
        let p = |s: &str| RoutePattern::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let table = RouteTable::new(vec![
            (p("/*"), Box::new([]), rule("all")),
            (p("/api/*"), Box::new([]), rule("api")),
            (p("/api/hooks/{id}"), Box::new([Method::POST]), rule("hook")),
        ]);
        let cases: &[(&str, Method, Option<&str>)] = &[
            ("/api/hooks/1", Method::POST, Some("hook")),
            ("/api/hooks/1", Method::GET, Some("api")),
            ("/api/x/../hooks/1", Method::POST, Some("hook")),
            ("/other", Method::GET, Some("all")),
        ];
        for (path, method, want) in cases {
            assert_eq!(
                table.find(path, method).map(|r| &*r.label),
                *want,
                "{method} {path}"
            );
        }
        assert!(RouteTable::default().find("/", &Method::GET).is_none());
    }
}
