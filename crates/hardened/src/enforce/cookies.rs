//! `Set-Cookie` hardening: `Secure` on every cookie in production, `HttpOnly` and
//! `SameSite=Lax` on the session cookie.
//!
//! Written by hand rather than with the `cookie` crate: we only append attributes that
//! are missing and never re-serialize, so the handler's bytes (expiry formats, unknown
//! attributes) stay exactly as they were.

use http::header::{self, HeaderMap, HeaderValue};

use crate::policy::CookieRules;

/// The cookie's name and whether it already carries each attribute.
struct Attrs<'a> {
    name: &'a [u8],
    secure: bool,
    http_only: bool,
    same_site: bool,
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
    };
    for p in parts {
        let key = p.split(|b| *b == b'=').next().unwrap_or(&[]).trim_ascii();
        if key.eq_ignore_ascii_case(b"secure") {
            a.secure = true;
        } else if key.eq_ignore_ascii_case(b"httponly") {
            a.http_only = true;
        } else if key.eq_ignore_ascii_case(b"samesite") {
            a.same_site = true;
        }
    }
    a
}

/// Rewrites every `Set-Cookie` header that lacks a required attribute.
pub(crate) fn harden(headers: &mut HeaderMap, rules: &CookieRules) {
    if !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let session = rules.session_cookie_name.as_bytes();
    let mut changed: Vec<HeaderValue> = Vec::new();
    let mut any_change = false;
    for v in headers.get_all(header::SET_COOKIE) {
        let bytes = v.as_bytes();
        let a = attrs(bytes);
        let is_session = rules.harden_session_cookie && a.name == session;
        let mut out = bytes.to_vec();
        if rules.secure && !a.secure {
            out.extend_from_slice(b"; Secure");
        }
        if is_session && !a.http_only {
            out.extend_from_slice(b"; HttpOnly");
        }
        if is_session && !a.same_site {
            out.extend_from_slice(b"; SameSite=Lax");
        }
        if out.len() != bytes.len() {
            any_change = true;
            changed.push(HeaderValue::from_bytes(&out).unwrap_or_else(|_| v.clone()));
        } else {
            changed.push(v.clone());
        }
    }
    if any_change {
        headers.remove(header::SET_COOKIE);
        for v in changed {
            headers.append(header::SET_COOKIE, v);
        }
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
                harden_session_cookie: session,
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
                "theme=dark; Secure",
                "csrftoken=x; secure"
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
    fn development_leaves_cookies() {
        assert_eq!(run(&["sessionid=abc"], false, false), ["sessionid=abc"]);
    }
}
