"""The request corpus: generated per configuration, deterministic for a seed.

Each configuration has a profile (which hosts and origins it allows, which peers are
trusted proxies). Families of requests are built from the profile:

- host:  Host variants (allowed, foreign, subdomain, port, trailing dot, uppercase,
         IPv6 literals, malformed: spaces, `@`, empty port, underscores, ...);
- csrf:  unsafe methods with Origin same-origin / trusted / untrusted / null / ported /
         http vs https, and without Origin with every kind of Referer, on secure and
         insecure requests, plus safe methods;
- cors:  GET with allowed and disallowed Origin, preflights, ordinary OPTIONS;
- tls:   HSTS on secure vs insecure, X-Forwarded-Proto from trusted and untrusted
         peers, `ssl_redirect` redirects and their Location.

Every family first covers each variant at least once, then adds a seeded random sample
of the remaining combinations. A request is `{"id", "family", "method", "url",
"headers": [[name, value]], "peer"}`; `url`'s scheme https means the connection is TLS,
and the Host header is given explicitly whenever it differs from the URL authority.
"""

from __future__ import annotations

import random
import re
import zlib

# A valid CSRF secret (32 alphanumerics): sent as the csrftoken cookie and as
# X-CSRFToken, so Django's token check always passes and only the Origin/Referer
# rules decide.
CSRF_TOKEN = "Zk3qL9vR2mX8pT4wY6nB1cD5fG7hJ0sA"

UNSAFE = ["POST", "PUT", "PATCH", "DELETE"]
SAFE = ["GET", "HEAD", "OPTIONS", "TRACE"]

# Per-configuration profiles. `hosts` are Host header values the policy allows,
# `foreign` ones it does not; `trusted` origins are both CSRF-trusted and CORS-allowed;
# `cors_only` are CORS-allowed but not CSRF-trusted; `untrusted` neither.
PROFILES: dict[str, dict] = {
    "dev-defaults": {
        "dev": True,
        "proxy_header": False,  # development: X-Forwarded-Proto is not used
        "primary": "localhost:8000",
        "hosts": ["localhost:8000", "localhost", "127.0.0.1:8000", "[::1]:8000",
                  "app.localhost:3000", "127.0.0.1"],
        "foreign": ["example.com", "10.0.0.5:8000", "192.168.1.10", "evil.localhost.com",
                    "[::2]:8000", "127.0.0.2"],
        "trusted": ["http://localhost:3000", "http://127.0.0.1:8000", "https://localhost:4443",
                    "http://[::1]:8080", "http://app.localhost:5000", "http://localhost:9000"],
        "cors_only": ["http://localhost:6006", "http://localhost", "http://127.0.0.1:9999",
                      "https://localhost"],
        "untrusted": ["http://evil.com", "http://localhost.evil.com:3000",
                      "http://example.com:3000", "http://10.0.0.5:3000"],
        "trusted_peers": ["127.0.0.1"],
        "untrusted_peers": [],
    },
    "prod-domains": {
        "primary": "example.com",
        "hosts": ["example.com", "api.example.com", "staging.example.com:8080",
                  "192.168.1.10", "[2001:db8::1]", "example.com:8443"],
        "foreign": ["evil.com", "www.example.com", "10.0.0.5", "127.0.0.1", "localhost",
                    "[::1]", "192.168.1.11"],
        "trusted": ["https://example.com", "https://api.example.com",
                    "http://staging.example.com:8080", "http://192.168.1.10",
                    "http://[2001:db8::1]"],
        "cors_only": [],
        "untrusted": ["http://example.com", "https://staging.example.com:8080",
                      "https://evil.com", "https://www.example.com", "http://localhost:3000",
                      "https://example.com:8443", "http://staging.example.com"],
        "trusted_peers": ["127.0.0.1", "10.0.0.2"],
        "untrusted_peers": ["203.0.113.7"],
    },
    "prod-proxy": {
        "primary": "example.com",
        "proxy": True,
        "hosts": ["example.com", "app.example.com", "example.com:443"],
        "foreign": ["evil.com", "api.example.com", "10.0.0.5", "127.0.0.1"],
        "trusted": ["https://example.com", "https://app.example.com"],
        "cors_only": [],
        "untrusted": ["http://example.com", "https://evil.com", "https://app.example.com:8443",
                      "http://app.example.com"],
        "trusted_peers": ["127.0.0.1", "10.0.3.4", "172.17.0.1", "192.168.10.2", "::1"],
        "untrusted_peers": ["203.0.113.7", "8.8.8.8", "100.64.0.1"],
    },
    "prod-ssl-redirect": {
        "ssl_redirect": True,
        "health": ["/healthz"],
        "primary": "example.com",
        "hosts": ["example.com", "www.example.com:8443", "www.example.com",
                  "example.com:8080"],
        "foreign": ["evil.com", "api.example.com", "10.0.0.5"],
        "trusted": ["https://example.com", "https://www.example.com:8443"],
        "cors_only": [],
        "untrusted": ["https://www.example.com", "http://example.com", "https://evil.com",
                      "http://www.example.com:8443"],
        "trusted_peers": ["127.0.0.1", "10.1.2.3"],
        "untrusted_peers": ["198.51.100.9"],
    },
    "prod-subdomains": {
        "primary": "example.com",
        "hosts": ["example.com", "app.example.com", "a.b.example.com", "example.org",
                  "app.example.com:8443"],
        "foreign": ["www.example.org", "example.com.evil.com", "evilexample.com",
                    "example.net", "org"],
        "trusted": ["https://example.com", "https://app.example.com",
                    "https://a.b.example.com", "https://example.org"],
        "cors_only": [],
        "untrusted": ["http://app.example.com", "https://www.example.org",
                      "https://evilexample.com", "https://app.example.com:8443",
                      "https://example.com.evil.com", "http://example.org"],
        "trusted_peers": ["127.0.0.1"],
        "untrusted_peers": ["203.0.113.7"],
    },
}

# Sample sizes per family (after the coverage pass).
EXTRA = {"host": 10, "csrf": 40, "cors": 12, "tls": 12}


def _rng(seed: int, config: str, family: str) -> random.Random:
    return random.Random(seed * 1_000_003 + zlib.crc32(f"{config}/{family}".encode()))


def _bare(host: str) -> str:
    """`host` without its port."""
    if host.startswith("["):
        return host[: host.index("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


_AUTHORITY = re.compile(r"([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[1-9][0-9]{0,4})?")


def _authority(host: str, fallback: str) -> str:
    m = _AUTHORITY.fullmatch(host)
    if m and (not m.group(3) or int(m.group(3)[1:]) <= 65535):
        return host
    return fallback


class _Builder:
    def __init__(self, config: str, profile: dict) -> None:
        self.config = config
        self.profile = profile
        self.primary = profile["primary"]
        self.requests: list[dict] = []
        self.seen: set[str] = set()

    def add(self, family: str, method: str, scheme: str, host: str, path: str = "/",
            headers: list[list[str]] | None = None, peer: str = "127.0.0.1",
            authority: str | None = None, cookie: bool = True) -> None:
        headers = [list(h) for h in (headers or [])]
        # The Host header is always given explicitly; the URL's authority is the same
        # host when it is a well-formed authority, else the profile's primary host.
        url = f"{scheme}://{authority or _authority(host, self.primary)}{path}"
        all_headers = [["Host", host]] + headers
        if method in UNSAFE and cookie:
            all_headers.append(["Cookie", f"csrftoken={CSRF_TOKEN}"])
            all_headers.append(["X-CSRFToken", CSRF_TOKEN])
        req = self._push({
            "id": f"{self.config}/{family}/{len(self.requests):04d}",
            "family": family,
            "method": method,
            "url": url,
            "headers": all_headers,
            "peer": peer,
        })
        if req is not None:
            twin = normalized_twin(req, self.profile)
            if twin is not None:
                self._push(twin)

    def _push(self, req: dict) -> dict | None:
        # Originals are deduplicated; a twin always follows its original (two originals
        # may share the same normalized twin).
        if "twin_of" not in req:
            key = repr((req["method"], req["url"], req["headers"], req["peer"]))
            if key in self.seen:
                return None
            self.seen.add(key)
        self.requests.append(req)
        return req


_ORIGIN = re.compile(r"(?i)(https?)://(\[[0-9a-f:.]+\]|[^/:?#@\[\]\\ ]+)(?::([0-9]+))?")
_DEFAULT_PORT = {"http": 80, "https": 443}


def canonical_origin(value: str) -> str:
    """An Origin as hardened compares it (decision 29): lowercase scheme and host, no
    trailing dot, no default port. Values that are not `scheme://host[:port]` are
    returned unchanged."""
    m = _ORIGIN.fullmatch(value)
    if not m:
        return value
    scheme, host, port = m.group(1).lower(), m.group(2).lower(), m.group(3)
    if not host.startswith("["):
        host = host.rstrip(".") if host.endswith(".") and host != "." else host
    if port is not None and port.isdigit() and int(port) == _DEFAULT_PORT[scheme]:
        port = None
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def canonical_referer(value: str) -> str:
    """A Referer as hardened reads it: scheme and netloc lowercased."""
    m = re.match(r"(?i)(https?://)([^/?#]*)(.*)", value, re.S)
    if not m:
        return value
    return m.group(1).lower() + m.group(2).lower() + m.group(3)


def canonical_host(value: str, secure: bool) -> str:
    """A Host as hardened compares it with an Origin: lowercase, no trailing dot, no
    default port."""
    m = re.fullmatch(r"(\[[^\]]*\]|[^:]*)(?::([0-9]*))?", value)
    if not m or m.group(1) == "":
        return value
    host, port = m.group(1).lower(), m.group(2)
    if host.endswith(".") and not host.startswith("["):
        host = host[:-1]
    if port is not None and port.isdigit() and int(port) == (443 if secure else 80):
        port = None
    return host + (f":{port}" if port is not None else "")


def _trusted_peer(profile: dict, peer: str) -> bool:
    return peer in profile["trusted_peers"]


def normalized_twin(req: dict, profile: dict) -> dict | None:
    """The request as hardened effectively sees it: Origin, Host and Referer normalized
    (decision 29), X-Forwarded-Proto from an untrusted peer removed (decision 25), and
    with ssl_redirect the trusted proxy's scheme made the URL's (decision 42).
    `None` when that is the request itself. Django's answer to the twin is what an
    exclusion for those decisions compares hardened's answer with."""
    kinds: list[str] = []
    headers: list[list[str]] = []
    xfp = next((v for n, v in req["headers"] if n.lower() == "x-forwarded-proto"), None)
    drop_xfp = xfp is not None and not _trusted_peer(profile, req["peer"])
    if drop_xfp:
        kinds.append("no-xfp")
    secure = req["url"].startswith("https:")
    if xfp is not None and not drop_xfp and profile.get("proxy_header", True):
        secure = xfp.split(",", 1)[0].strip() == "https"
    # With ssl_redirect the Django fragment believes no proxy header (decision 42); the
    # twin carries the scheme hardened takes from a trusted proxy in its URL instead.
    proxy_scheme = (profile.get("ssl_redirect") and xfp is not None and not drop_xfp
                    and secure != req["url"].startswith("https:"))
    if proxy_scheme:
        kinds.append("proxy-scheme")
    canonical = False
    host = None
    for n, v in req["headers"]:
        low = n.lower()
        if low == "x-forwarded-proto" and (drop_xfp or proxy_scheme):
            continue
        if low == "origin":
            c = canonical_origin(v)
        elif low == "referer":
            c = canonical_referer(v)
        elif low == "host":
            c = canonical_host(v, secure)
            host = c
        else:
            c = v
        canonical |= c != v
        headers.append([n, c])
    if canonical:
        kinds.append("canonical")
    if not kinds:
        return None
    scheme, rest = req["url"].split("://", 1)
    if proxy_scheme:
        scheme = "https" if secure else "http"
    path = rest[rest.index("/"):] if "/" in rest else "/"
    url = f"{scheme}://{_authority(host or '', profile['primary'])}{path}"
    return {
        "id": req["id"] + "~" + "+".join(kinds),
        "family": req["family"],
        "method": req["method"],
        "url": url,
        "headers": headers,
        "peer": req["peer"],
        "twin": kinds,
        "twin_of": req["id"],
    }


def host_variants(profile: dict) -> list[str]:
    out: list[str] = []
    for h in profile["hosts"]:
        bare = _bare(h)
        port = h[len(bare):]
        out += [h, h.upper(), bare + "." + port, bare + ".:8000", "sub." + h,
                "x" + h, bare + ".evil.com" + port, bare + ":", bare + ":abc",
                bare + ":80:80", "user@" + h, " " + h, h + " ", bare + port + "/"]
        if "." in bare and not bare.startswith("["):
            out.append(bare.replace(".", "_", 1) + port)
    out += list(profile["foreign"])
    out += ["", "exa mple.com", "ex_ample.com", "[::1]", "[::1]:8000", "[2001:DB8::1]",
            "[::ffff:127.0.0.1]", "[::1", "[]:80", "[g::1]", "localhost", "LOCALHOST:8000",
            "xn--caf-dma.com", "café.com", "*.example.com", "example.com:0",
            "example.com:99999", "-example.com", "example..com", "evil.com:8000",
            "127.0.0.1:8000", "10.0.0.5"]
    return out


def gen_host(b: _Builder, profile: dict, rng: random.Random) -> None:
    variants = host_variants(profile)
    combos = [(v, s) for v in variants for s in ("http", "https")]
    for v in variants:  # coverage: each variant once
        b.add("host", "GET", rng.choice(["http", "https"]), v)
    for v, s in rng.sample(combos, min(EXTRA["host"], len(combos))):
        b.add("host", rng.choice(["GET", "POST", "HEAD"]), s, v)
    # Two Host headers (a WSGI server joins them with a comma).
    primary = profile["primary"]
    for second in (primary, profile["foreign"][0]):
        for scheme in ("http", "https"):
            b.add("host", "GET", scheme, primary, "/", [["Host", second]])


def origin_variants(profile: dict, scheme: str, host: str) -> list[tuple[str, str | None]]:
    """(label, Origin) pairs for a request to `scheme://host`."""
    other = "http" if scheme == "https" else "https"
    bare = _bare(host)
    port = host[len(bare):]
    default = ":443" if scheme == "https" else ":80"
    out: list[tuple[str, str | None]] = [
        ("none", None),
        ("same-origin", f"{scheme}://{host}"),
        ("same-origin-other-scheme", f"{other}://{host}"),
        ("same-origin-uppercase", f"{scheme}://{host.upper()}"),
        ("same-origin-other-port", f"{scheme}://{bare}:8081"),
        ("null", "null"),
        ("trailing-slash", f"{scheme}://{host}/"),
        ("subdomain", f"{scheme}://evil.{host}"),
        ("empty", ""),
        ("garbage", "not an origin"),
    ]
    if not port:
        out.append(("same-origin-default-port", f"{scheme}://{bare}{default}"))
        out.append(("same-origin-trailing-dot", f"{scheme}://{bare}."))
    for o in profile["trusted"]:
        out.append(("trusted", o))
    for o in profile["trusted"][:2]:
        out.append(("trusted-uppercase", o.upper().replace("HTTP", "http", 1)))
        out.append(("trusted-with-port", o + ":9443" if o.count(":") == 1 else o + "0"))
    for o in profile["cors_only"]:
        out.append(("cors-only", o))
    for o in profile["untrusted"]:
        out.append(("untrusted", o))
    return out


def referer_variants(profile: dict, scheme: str, host: str) -> list[tuple[str, str | None]]:
    trusted = profile["trusted"]
    out: list[tuple[str, str | None]] = [
        ("none", None),
        ("same-host-https", f"https://{host}/form"),
        ("same-host-http", f"http://{host}/form"),
        ("same-host-other-port", f"https://{_bare(host)}:8444/form"),
        ("same-host-uppercase", f"https://{host.upper()}/form"),
        ("untrusted-https", "https://evil.com/page"),
        ("untrusted-subdomain", f"https://evil.{host}/page"),
        ("malformed", "not a url"),
        ("malformed-no-netloc", "https:///path"),
        ("malformed-scheme-relative", f"//{host}/x"),
        ("malformed-bad-ipv6", "https://[::1/x"),
        ("empty", ""),
        ("ftp", f"ftp://{host}/x"),
    ]
    for o in trusted:
        netloc = o.split("://", 1)[1]
        out.append(("trusted-https", f"https://{netloc}/page?x=1"))
        out.append(("trusted-http", f"http://{netloc}/page"))
    for o in profile["cors_only"][:2]:
        out.append(("cors-only-https", "https://" + o.split("://", 1)[1] + "/"))
    return out


def _schemes(profile: dict) -> list[tuple[str, list[list[str]], str]]:
    """(url scheme, extra headers, peer) ways to make insecure and secure requests."""
    out = [("http", [], profile["trusted_peers"][0]), ("https", [], profile["trusted_peers"][0])]
    if profile.get("proxy"):
        for peer in profile["trusted_peers"]:
            out.append(("http", [["X-Forwarded-Proto", "https"]], peer))
    return out


def gen_csrf(b: _Builder, profile: dict, rng: random.Random) -> None:
    hosts = profile["hosts"][:3]
    ways = _schemes(profile)
    for scheme, extra, peer in ways:
        secure = scheme == "https" or bool(extra)
        effective = "https" if secure else "http"
        for host in hosts:
            for label, origin in origin_variants(profile, effective, host):
                h = list(extra)
                if origin is not None:
                    h.append(["Origin", origin])
                if host == hosts[0] or label in ("same-origin", "none", "trusted"):
                    b.add("csrf", rng.choice(UNSAFE), scheme, host, "/submit", h, peer)
            for label, referer in referer_variants(profile, effective, host):
                if host != hosts[0] and label not in ("same-host-https", "trusted-https"):
                    continue
                h = list(extra)
                if referer is not None:
                    h.append(["Referer", referer])
                b.add("csrf", rng.choice(UNSAFE), scheme, host, "/submit", h, peer)
    # Origin wins over Referer; Sec-Fetch-Site; safe methods are never checked.
    host = profile["primary"]
    for scheme in ("http", "https"):
        for sfs in ("cross-site", "same-site", "same-origin", "none"):
            b.add("csrf", rng.choice(UNSAFE), scheme, host, "/submit",
                  [["Sec-Fetch-Site", sfs]])
            b.add("csrf", "POST", scheme, host, "/submit",
                  [["Sec-Fetch-Site", sfs], ["Origin", f"{scheme}://{host}"]])
        b.add("csrf", "POST", scheme, host, "/submit",
              [["Origin", profile["untrusted"][0]], ["Referer", profile["trusted"][0] + "/"]])
        b.add("csrf", "POST", scheme, host, "/submit",
              [["Origin", profile["trusted"][0]], ["Referer", "https://evil.com/"]])
        b.add("csrf", "POST", scheme, host, "/submit",
              [["Origin", profile["trusted"][0]], ["Origin", profile["trusted"][0]]])
        for m in SAFE:
            b.add("csrf", m, scheme, host, "/submit",
                  [["Origin", profile["untrusted"][0]], ["Referer", "http://evil.com/"]])
    # Random sample of the full product.
    combos = []
    for scheme, extra, peer in ways:
        effective = "https" if scheme == "https" or extra else "http"
        for host in hosts:
            for _, origin in origin_variants(profile, effective, host):
                for _, referer in referer_variants(profile, effective, host):
                    combos.append((scheme, extra, peer, host, origin, referer))
    for scheme, extra, peer, host, origin, referer in rng.sample(combos, EXTRA["csrf"]):
        h = list(extra)
        if origin is not None:
            h.append(["Origin", origin])
        if referer is not None:
            h.append(["Referer", referer])
        b.add("csrf", rng.choice(UNSAFE), scheme, host, "/submit", h, peer)
    # Token-authenticated API clients: no Origin, Referer, Sec-Fetch-Site or Cookie
    # (fixed methods: the random stream of the later families stays as it was).
    for scheme, extra, peer in ways:
        for method, auth in (("POST", "Token t0"), ("DELETE", "Bearer t0")):
            b.add("csrf", method, scheme, host, "/submit",
                  list(extra) + [["Authorization", auth]], peer, cookie=False)
        # With a cookie, Django's Referer rule holds on both sides.
        b.add("csrf", "PUT", scheme, host, "/submit",
              list(extra) + [["Authorization", "Token t0"]], peer)


def gen_cors(b: _Builder, profile: dict, rng: random.Random) -> None:
    host = profile["primary"]
    origins = [o for _, o in origin_variants(profile, "https", host) if o is not None]
    for origin in origins:
        scheme = rng.choice(["http", "https"])
        b.add("cors", rng.choice(["GET", "HEAD"]), scheme, host, "/api/items",
              [["Origin", origin]])
        b.add("cors", "OPTIONS", scheme, host, "/api/items",
              [["Origin", origin], ["Access-Control-Request-Method", rng.choice(UNSAFE)]])
    # Preflights with request headers, for foreign hosts, without Origin; plain OPTIONS.
    trusted = profile["trusted"][0]
    untrusted = profile["untrusted"][0]
    for scheme in ("http", "https"):
        for origin in (trusted, untrusted):
            b.add("cors", "OPTIONS", scheme, host, "/api/items",
                  [["Origin", origin], ["Access-Control-Request-Method", "PUT"],
                   ["Access-Control-Request-Headers", "content-type, x-csrftoken"]])
            b.add("cors", "OPTIONS", scheme, profile["foreign"][0], "/api/items",
                  [["Origin", origin], ["Access-Control-Request-Method", "POST"]])
            b.add("cors", "OPTIONS", scheme, host, "/api/items", [["Origin", origin]])
            b.add("cors", "OPTIONS", scheme, "exa mple.com", "/",
                  [["Origin", origin], ["Access-Control-Request-Method", "POST"]])
            b.add("cors", "GET", scheme, profile["foreign"][0], "/", [["Origin", origin]])
            b.add("cors", "POST", scheme, host, "/api/items", [["Origin", origin]])
        b.add("cors", "OPTIONS", scheme, host, "/api/items",
              [["Access-Control-Request-Method", "POST"]])
        b.add("cors", "OPTIONS", scheme, host, "/api/items", [])
    combos = [(o, m, s) for o in origins for m in SAFE + UNSAFE for s in ("http", "https")]
    for origin, method, scheme in rng.sample(combos, EXTRA["cors"]):
        b.add("cors", method, scheme, host, "/api/items", [["Origin", origin]])


def gen_tls(b: _Builder, profile: dict, rng: random.Random) -> None:
    paths = ["/", "/a/b?x=1&y=2", "/caf%C3%A9", "/x%2Fy", "/?next=/a%20b", "/search?q=%E2%9C%93"]
    xfps = ["https", "http", "https, http", "http, https", "HTTPS", " https", "https "]
    peers = profile["trusted_peers"] + profile["untrusted_peers"]
    hosts = profile["hosts"][:3]
    for host in hosts:
        for scheme in ("http", "https"):
            b.add("tls", "GET", scheme, host, rng.choice(paths))
    for path in paths:
        b.add("tls", "GET", "http", profile["primary"], path)
    b.add("tls", "POST", "http", profile["primary"], "/submit",
          [["Origin", "https://evil.com"]])
    b.add("tls", "GET", "http", profile["foreign"][0], "/")
    for peer in peers:
        for xfp in xfps:
            b.add("tls", "GET", "http", profile["primary"], rng.choice(paths),
                  [["X-Forwarded-Proto", xfp]], peer)
        b.add("tls", "GET", "https", profile["primary"], "/",
              [["X-Forwarded-Proto", "http"]], peer)
        b.add("tls", "POST", "http", profile["primary"], "/submit",
              [["X-Forwarded-Proto", "https"]], peer)
    for health in profile.get("health", []):
        for path in (health, health + "/x", "/" + health, health + "?probe=1", health.upper()):
            for host in (profile["primary"], profile["foreign"][0], "10.0.0.5", "exa mple.com"):
                for scheme in ("http", "https"):
                    b.add("tls", "GET", scheme, host, path)
    combos = [(h, s, p, x) for h in hosts for s in ("http", "https") for p in peers
              for x in [None] + xfps]
    for host, scheme, peer, xfp in rng.sample(combos, min(EXTRA["tls"], len(combos))):
        h = [["X-Forwarded-Proto", xfp]] if xfp is not None else []
        b.add("tls", rng.choice(["GET", "POST", "HEAD"]), scheme, host, rng.choice(paths),
              h, peer)


FAMILIES = {"host": gen_host, "csrf": gen_csrf, "cors": gen_cors, "tls": gen_tls}


def generate(config: str, seed: int) -> list[dict]:
    """The corpus for one configuration."""
    profile = PROFILES[config]
    b = _Builder(config, profile)
    for name, gen in FAMILIES.items():
        gen(b, profile, _rng(seed, config, name))
    return b.requests
