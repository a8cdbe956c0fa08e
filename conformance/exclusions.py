"""Named exclusions: the known, documented divergences between hardened and Django.

Each exclusion claims single differing *fields* of a compared request (never a whole
run), under a precise condition, so an unrelated difference in the same request still
fails the harness. Every name here has an entry in docs/conformance-divergences.md
with its reason; `decision` points at docs/decisions.md where one exists.

Kinds:
- `by-design`: hardened deliberately differs from Django (a decision says why);
- `stricter`: hardened rejects input Django tolerates that no browser sends;
- `django-limit`: Django cannot express or do what hardened does;
- `settings-approximation`: `hardened show --format django` writes narrower Django
  settings than the policy hardened enforces (the fragment says so in a comment);
- `open`: reported, awaiting a decision or a fix; remove the entry once resolved
  (none at the moment).

Twins: for a request whose Origin/Host/Referer is not in canonical form, or that
carries X-Forwarded-Proto from an untrusted peer, the corpus adds a twin request with
those normalized/removed (corpus.normalized_twin). The normalization exclusions claim a
field only when hardened's answer to the original equals Django's answer to the twin:
"hardened behaves like Django on what hardened effectively sees".
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote, urlsplit

import corpus

ALL = frozenset({"*"})
CORS_FIELDS = frozenset({"acao", "acac", "acah", "acam", "acma"})
SECURITY_HEADER_FIELDS = frozenset({"xfo", "nosniff", "referrer_policy", "coop", "vary_origin"})


@dataclass(frozen=True)
class Exclusion:
    name: str
    kind: str
    decision: str | None
    fields: frozenset
    when: Callable  # (field, req, dj, hd, ctx) -> bool
    summary: str

    def claims(self, field: str, req: dict, dj: dict, hd: dict, ctx) -> bool:
        if "*" not in self.fields and field not in self.fields:
            return False
        return bool(self.when(field, req, dj, hd, ctx))


def _header(req: dict, name: str) -> str | None:
    for n, v in req["headers"]:
        if n.lower() == name:
            return v
    return None


def _is_preflight(req: dict) -> bool:
    return req["method"] == "OPTIONS" and _header(req, "access-control-request-method") is not None


def _profile(req: dict) -> dict:
    return corpus.PROFILES[req["id"].split("/", 1)[0]]


# --- predicates -------------------------------------------------------------------


def _preflight_before_host(f, req, dj, hd, ctx):
    return (_is_preflight(req) and dj["verdict"] == "preflight"
            and hd["verdict"] == "reject" and hd["check"] == "host")


def _no_cors_on_host_rejection(f, req, dj, hd, ctx):
    return (dj["check"] == "host" and hd["check"] == "host"
            and dj.get(f) is not None and hd.get(f) is None)


def _security_headers_everywhere(f, req, dj, hd, ctx):
    # Django's inner middleware never sees the responses its outer middleware (or the
    # handler) produces: CorsMiddleware's preflights and SecurityMiddleware's redirects
    # get no X-Frame-Options, a DisallowedHost raised while SecurityMiddleware builds a
    # redirect gets no headers at all. hardened adds them to every response.
    short_circuit = (dj["verdict"] in ("preflight", "redirect")
                     or (dj["verdict"] == "reject" and dj["check"] == "host"))
    return short_circuit and not dj.get(f) and bool(hd.get(f))


def _xss_zero(f, req, dj, hd, ctx):
    return dj.get(f) is None and hd.get(f) == "0"


def _canon(field: str, value):
    if field == "acao" and isinstance(value, str):
        return corpus.canonical_origin(value)
    return value


def _twin_matches(kind: str):
    def when(f, req, dj, hd, ctx):
        twin = ctx.twin(req)
        if twin is None or kind not in twin["request"].get("twin", []):
            return False
        if kind != "proxy-scheme" and "proxy-scheme" in twin["request"]["twin"]:
            return False  # a twin on another scheme answers another question
        return _canon(f, hd.get(f)) == _canon(f, twin["django"].get(f))
    return when


def _sec_fetch_site(f, req, dj, hd, ctx):
    return hd.get("_code") == "csrf-cross-site" and dj["verdict"] == "allow"


_SERIALIZED_ORIGIN = re.compile(
    r"(https?)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?")


def _not_serialized_origin(f, req, dj, hd, ctx):
    # A browser's Origin is `scheme://host[:port]`, port 0-65535. Django's CSRF
    # subdomain rule urlsplit()s the value (so `https://a.example.com/` and
    # `https://x@a.example.com` pass) and CORS regexes may allow `:80000`; hardened
    # never trusts a value that is not a serialized origin.
    origin = _header(req, "origin")
    if origin is None or origin == "null":
        return False
    m = _SERIALIZED_ORIGIN.fullmatch(origin)
    if m and (m.group(3) is None or int(m.group(3)) <= 65535):
        return False
    # hardened only ever refuses more here.
    if f in ("verdict", "status", "check"):
        return dj["verdict"] == "allow" and hd.get("_code") == "csrf-bad-origin"
    return dj.get(f) is not None and hd.get(f) is None


def _raw_path_location(f, req, dj, hd, ctx):
    # WSGI hands Django a percent-decoded PATH_INFO, so SecurityMiddleware rebuilds the
    # Location from the decoded path (`/x%2Fy` becomes `/x/y`); hardened keeps the
    # request target as sent.
    d, h = dj.get("location"), hd.get("location")
    if not d or not h or d == h:
        return False
    url = urlsplit(req["url"])
    target = url.path + (f"?{url.query}" if url.query else "")
    return unquote(d) == unquote(h) and h.endswith(target)


def _loopback_beyond_settings(f, req, dj, hd, ctx):
    # Development: hardened's loopback rule covers *.localhost and 127.0.0.0/8 for CORS
    # and CSRF; the Django fragment of `show` lists localhost, 127.0.0.1 and [::1] only.
    if not _profile(req).get("dev"):
        return False
    hosts = []
    for name in ("origin", "referer"):
        v = _header(req, name)
        if v:
            try:
                hosts.append((urlsplit(v).hostname or "").lower())
            except ValueError:
                pass
    def beyond(h: str) -> bool:
        if h.endswith(".localhost"):
            return True
        try:
            ip = ipaddress.ip_address(h)
        except ValueError:
            return False
        return ip.is_loopback and ip.version == 4 and str(ip) != "127.0.0.1"
    if not any(beyond(h) for h in hosts):
        return False
    # hardened is only ever wider here: it allows what the narrower settings refuse.
    if f in ("verdict", "status", "check"):
        return dj["verdict"] == "reject" and dj["check"] == "csrf" and hd["verdict"] == "allow"
    return dj.get(f) is None and hd.get(f) is not None


_PROXY_SCHEME_FIELDS = frozenset({"verdict", "status", "check", "location", "hsts",
                                  "vary_origin"})


def _ssl_redirect_proxy(f, req, dj, hd, ctx):
    # Exactly one side redirects (the one that took the other scheme), and hardened
    # answers what Django answers to the request on the scheme the trusted proxy named.
    if (dj["verdict"] == "redirect") == (hd["verdict"] == "redirect"):
        return False
    redirect = dj if dj["verdict"] == "redirect" else hd
    if redirect["status"] != 301 or not (redirect.get("location") or "").startswith("https://"):
        return False
    return _twin_matches("proxy-scheme")(f, req, dj, hd, ctx)


def _api_client_without_cookie(f, req, dj, hd, ctx):
    # No Origin, Referer, Sec-Fetch-Site or Cookie: a non-browser client with no ambient
    # credential. Django wants a Referer on https; hardened lets it pass.
    if req["method"] not in corpus.UNSAFE:
        return False
    if any(_header(req, h) is not None
           for h in ("origin", "referer", "sec-fetch-site", "cookie")):
        return False
    return (dj["verdict"] == "reject" and dj["check"] == "csrf"
            and hd["verdict"] == "allow")


def _sec_fetch_site_for_referer(f, req, dj, hd, ctx):
    # No Origin and no Referer, but Sec-Fetch-Site: same-origin or none (one line):
    # hardened takes it for the Referer Django wants on https.
    if req["method"] not in corpus.UNSAFE:
        return False
    if _header(req, "origin") is not None or _header(req, "referer") is not None:
        return False
    sites = [v.strip().lower() for n, v in req["headers"] if n.lower() == "sec-fetch-site"]
    if sites not in (["same-origin"], ["none"]):
        return False
    return (dj["verdict"] == "reject" and dj["check"] == "csrf"
            and hd["verdict"] == "allow")


def _path(req: dict) -> str:
    return urlsplit(req["url"]).path


def _health_skips_host(f, req, dj, hd, ctx):
    return (_path(req) in _profile(req).get("health", ())
            and dj["verdict"] == "reject" and dj["check"] == "host"
            and hd["verdict"] == "allow")


def _health_leading_slashes(f, req, dj, hd, ctx):
    # SECURE_REDIRECT_EXEMPT patterns see the path with every leading slash removed, so
    # `^healthz$` also exempts `//healthz`; hardened matches the path exactly and
    # redirects it (the safe side).
    path = _path(req)
    return (path != "/" + path.lstrip("/") and "/" + path.lstrip("/") in _profile(req).get("health", ())
            and dj["verdict"] == "allow" and hd["verdict"] == "redirect")


EXCLUSIONS: list[Exclusion] = [
    Exclusion(
        "preflight-before-host-check", "by-design", "27", ALL, _preflight_before_host,
        "django-cors-headers answers a preflight before Django validates Host; hardened "
        "validates Host first (400)."),
    Exclusion(
        "no-cors-headers-on-host-rejection", "by-design", "27", CORS_FIELDS,
        _no_cors_on_host_rejection,
        "Django's DisallowedHost 400 passes out through CorsMiddleware and carries "
        "Access-Control-Allow-*; hardened's host rejection carries no CORS headers."),
    Exclusion(
        "security-headers-on-every-response", "by-design", None, SECURITY_HEADER_FIELDS,
        _security_headers_everywhere,
        "Django's preflights, redirects and host errors skip the inner middleware "
        "(no X-Frame-Options; no headers at all for a bad Host during an SSL redirect); "
        "hardened adds security headers and Vary: origin to every response."),
    Exclusion(
        "x-xss-protection-zero", "by-design", "21", frozenset({"xxss"}), _xss_zero,
        "hardened sends X-XSS-Protection: 0 in production; Django 4.0+ sends nothing."),
    Exclusion(
        "origin-normalization", "by-design", "29", ALL, _twin_matches("canonical"),
        "hardened compares Origin, Host and Referer after normalization (case, default "
        "port, trailing dot); Django byte for byte. Claimed only where hardened's answer "
        "equals Django's answer to the normalized request."),
    Exclusion(
        "forwarded-proto-untrusted-peer", "by-design", "25", ALL,
        _twin_matches("no-xfp"),
        "hardened ignores X-Forwarded-Proto from peers outside trusted_proxies; Django "
        "believes it from anyone. Claimed only where hardened's answer equals Django's "
        "answer to the request without the header."),
    Exclusion(
        "sec-fetch-site-cross-site", "by-design", "30", ALL, _sec_fetch_site,
        "hardened rejects an unsafe request with Sec-Fetch-Site: cross-site and no "
        "Origin; Django accepts it on plain http."),
    Exclusion(
        "api-client-without-cookie", "by-design", "60", ALL, _api_client_without_cookie,
        "An unsafe request with no Origin, Referer, Sec-Fetch-Site or Cookie passes the "
        "CSRF check on https (no ambient credential); Django wants a Referer."),
    Exclusion(
        "sec-fetch-site-stands-in-for-referer", "by-design", "184", ALL,
        _sec_fetch_site_for_referer,
        "An unsafe https request with Sec-Fetch-Site: same-origin or none and no Origin "
        "or Referer passes the CSRF check; Django wants a Referer."),
    Exclusion(
        "origin-not-serialized", "stricter", None, ALL, _not_serialized_origin,
        "An Origin that is not scheme://host[:port] (a path, userinfo, a port above "
        "65535) is never trusted by hardened; Django's subdomain rule and CORS regexes "
        "can accept it."),
    Exclusion(
        "redirect-keeps-raw-path", "django-limit", None, frozenset({"location"}),
        _raw_path_location,
        "WSGI gives Django a percent-decoded path, so its redirect Location turns %2F "
        "into /; hardened redirects to the request target as sent."),
    Exclusion(
        "health-check-skips-host-check", "by-design", None, ALL, _health_skips_host,
        "health_check_paths are exempt from the host check (probes by IP); Django has no "
        "such setting and answers 400."),
    Exclusion(
        "health-path-exact", "stricter", None, ALL, _health_leading_slashes,
        "SECURE_REDIRECT_EXEMPT matches the path without its leading slashes, so "
        "Django also exempts //healthz; hardened matches /healthz exactly and redirects."),
    Exclusion(
        "dev-loopback-beyond-django-settings", "settings-approximation", "40", ALL,
        _loopback_beyond_settings,
        "Development trusts *.localhost and all of 127.0.0.0/8; the Django fragment "
        "lists localhost, 127.0.0.1 and [::1] only (narrower, never broader)."),
    Exclusion(
        "ssl-redirect-proxy-header", "settings-approximation", "42", _PROXY_SCHEME_FIELDS,
        _ssl_redirect_proxy,
        "With ssl_redirect: true, hardened still believes X-Forwarded-Proto from trusted "
        "proxies, while the Django fragment sets SECURE_PROXY_SSL_HEADER = None (Django "
        "cannot limit it to trusted peers)."),
]

BY_NAME = {e.name: e for e in EXCLUSIONS}
assert len(BY_NAME) == len(EXCLUSIONS), "duplicate exclusion name"
