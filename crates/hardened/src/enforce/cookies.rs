//! `Set-Cookie` hardening: `Secure` on every cookie in production, `HttpOnly` and
//! `SameSite=Lax` on the session cookie.
//!
//! Written by hand rather than with the `cookie` crate: we only append attributes that
//! are missing and never re-serialize, so the handler's bytes (expiry formats, unknown
//! attributes) stay exactly as they were.

use http::header::{self, HeaderMap, HeaderValue};

use crate::policy::CookieRules;

/// The cookie's name and what its attributes say.
struct Attrs<'a> {
    name: &'a [u8],
    secure: bool,
    http_only: bool,
    same_site: bool,
    domain: bool,
    /// `Some(true)` for `Path=/`, `Some(false)` for another path.
    root_path: Option<bool>,
}

fn attr_key(p: &[u8]) -> &[u8] {
    p.split(|b| *b == b'=').next().unwrap_or(&[]).trim_ascii()
}

fn attrs(v: &[u8]) -> Attrs<'_> {
    let mut parts = v.split(|b| *b == b';');
    let first = parts.next().unwrap_or(&[]);
    let name = first
        .split(|b| *b == b'=')
        .next()
        .unwrap_or(&[])
        .trim_ascii();
    let mut a = Attrs {
        name,
        secure: false,
        http_only: false,
        same_site: false,
        domain: false,
        root_path: None,
    };
    for p in parts {
        let key = attr_key(p);
        if key.eq_ignore_ascii_case(b"secure") {
            a.secure = true;
        } else if key.eq_ignore_ascii_case(b"httponly") {
            a.http_only = true;
        } else if key.eq_ignore_ascii_case(b"samesite") {
            a.same_site = true;
        } else if key.eq_ignore_ascii_case(b"domain") {
            a.domain = true;
        } else if key.eq_ignore_ascii_case(b"path") {
            let value = p
                .splitn(2, |b| *b == b'=')
                .nth(1)
                .unwrap_or(&[])
                .trim_ascii();
            a.root_path = Some(value == b"/");
        }
    }
    a
}

fn has_prefix(name: &[u8], prefix: &[u8]) -> bool {
    name.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Rewrites every `Set-Cookie` header that lacks a required attribute: `Secure` (every
/// cookie in production), `HttpOnly` (the session cookie; never the CSRF cookie, which
/// scripts read), `SameSite=Lax` (every cookie without one in production), and the
/// rules of the `__Secure-` and `__Host-` prefixes (`Secure`; for `__Host-` also no
/// `Domain` and `Path=/`), which browsers enforce by dropping the cookie. A broken
/// prefix is fixed and logged.
pub(crate) fn harden(headers: &mut HeaderMap, rules: &CookieRules) {
    if !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    // First pass: nothing is copied when every cookie is already right.
    if !headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| Plan::of(v.as_bytes(), rules).changes())
    {
        return;
    }
    let mut changed: Vec<HeaderValue> = Vec::new();
    for v in headers.get_all(header::SET_COOKIE) {
        let bytes = v.as_bytes();
        let plan = Plan::of(bytes, rules);
        if !plan.changes() {
            changed.push(v.clone());
            continue;
        }
        let mut out = if plan.rewrite_host {
            // Drop `Domain` and any `Path`, then say `Path=/`.
            let mut out = Vec::with_capacity(bytes.len() + 32);
            let mut parts = bytes.split(|b| *b == b';');
            out.extend_from_slice(parts.next().unwrap_or(&[]));
            for p in parts {
                let key = attr_key(p);
                if key.eq_ignore_ascii_case(b"domain") || key.eq_ignore_ascii_case(b"path") {
                    continue;
                }
                out.push(b';');
                out.extend_from_slice(p);
            }
            out.extend_from_slice(b"; Path=/");
            out
        } else {
            let mut out = Vec::with_capacity(bytes.len() + 32);
            out.extend_from_slice(bytes);
            out
        };
        if plan.secure {
            out.extend_from_slice(b"; Secure");
        }
        if plan.http_only {
            out.extend_from_slice(b"; HttpOnly");
        }
        if plan.same_site {
            out.extend_from_slice(b"; SameSite=Lax");
        }
        if plan.prefix_broken {
            tracing::warn!(
                cookie = %String::from_utf8_lossy(attrs(bytes).name),
                "a Set-Cookie broke the rules of its __Secure-/__Host- prefix (Secure; for __Host- no Domain and Path=/), so browsers would drop it; fixed"
            );
        }
        changed.push(HeaderValue::from_bytes(&out).unwrap_or_else(|_| v.clone()));
    }
    headers.remove(header::SET_COOKIE);
    for v in changed {
        headers.append(header::SET_COOKIE, v);
    }
}

/// What one `Set-Cookie` needs.
struct Plan {
    rewrite_host: bool,
    secure: bool,
    http_only: bool,
    same_site: bool,
    prefix_broken: bool,
}

impl Plan {
    fn of(bytes: &[u8], rules: &CookieRules) -> Plan {
        let a = attrs(bytes);
        let is_session = rules.harden_session_cookie
            && a.name == rules.session_cookie_name.as_bytes()
            && a.name != rules.csrf_cookie_name.as_bytes();
        let host_prefix = rules.fix_prefixes && has_prefix(a.name, b"__Host-");
        let secure_prefix = rules.fix_prefixes && (host_prefix || has_prefix(a.name, b"__Secure-"));
        let rewrite_host = host_prefix && (a.domain || a.root_path != Some(true));
        let secure = (rules.secure || secure_prefix) && !a.secure;
        Plan {
            rewrite_host,
            secure,
            http_only: is_session && !a.http_only,
            same_site: (is_session || rules.same_site_lax) && !a.same_site,
            prefix_broken: secure_prefix && (!a.secure || rewrite_host),
        }
    }

    fn changes(&self) -> bool {
        self.rewrite_host || self.secure || self.http_only || self.same_site
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cookies: &[&str], secure: bool, harden: bool) -> Vec<String> {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(
                header::SET_COOKIE,
                HeaderValue::from_str(c).unwrap_or_else(|_| HeaderValue::from_static("x")),
            );
        }
        harden_all(&mut h, secure, harden);
        h.get_all(header::SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    fn harden_all(h: &mut HeaderMap, secure: bool, session: bool) {
        harden(
            h,
            &CookieRules {
                secure,
                session_cookie_name: "sessionid".into(),
                csrf_cookie_name: "csrftoken".into(),
                harden_session_cookie: session,
                same_site_lax: session,
                fix_prefixes: session,
            },
        );
    }

    #[test]
    fn production_cookies() {
        assert_eq!(
            run(
                &["sessionid=abc; Path=/", "theme=dark", "csrftoken=x; secure"],
                true,
                true
            ),
            [
                "sessionid=abc; Path=/; Secure; HttpOnly; SameSite=Lax",
                "theme=dark; Secure; SameSite=Lax",
                "csrftoken=x; secure; SameSite=Lax"
            ]
        );
        assert_eq!(
            run(
                &["sessionid=abc; SameSite=Strict; HttpOnly; Secure"],
                true,
                true
            ),
            ["sessionid=abc; SameSite=Strict; HttpOnly; Secure"]
        );
    }

    #[test]
    fn prefixes_and_same_site_table() {
        // (Set-Cookie from the application, in production)
        let cases: &[(&str, &str)] = &[
            ("a=1", "a=1; Secure; SameSite=Lax"),
            ("a=1; SameSite=None; Secure", "a=1; SameSite=None; Secure"),
            ("a=1; samesite=strict", "a=1; samesite=strict; Secure"),
            // The CSRF cookie stays readable by scripts: no HttpOnly.
            (
                "csrftoken=t; Path=/",
                "csrftoken=t; Path=/; Secure; SameSite=Lax",
            ),
            (
                "__Secure-id=1; Path=/x",
                "__Secure-id=1; Path=/x; Secure; SameSite=Lax",
            ),
            (
                "__Host-id=1; Domain=example.com; Path=/app; Secure; SameSite=Strict",
                "__Host-id=1; Secure; SameSite=Strict; Path=/",
            ),
            ("__Host-id=1", "__Host-id=1; Path=/; Secure; SameSite=Lax"),
            (
                "__host-id=1; Path=/; Secure; SameSite=Lax",
                "__host-id=1; Path=/; Secure; SameSite=Lax",
            ),
            (
                "__Host-id=1; Path=/; Secure; HttpOnly; SameSite=Lax",
                "__Host-id=1; Path=/; Secure; HttpOnly; SameSite=Lax",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(run(&[input], true, true), [*want], "{input}");
        }
    }

    #[test]
    fn development_leaves_cookies() {
        assert_eq!(run(&["sessionid=abc"], false, false), ["sessionid=abc"]);
    }
}
