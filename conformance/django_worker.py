"""Runs a request corpus through a real Django stack and prints one outcome per line.

    python conformance/django_worker.py --settings FRAGMENT.py --requests CORPUS.jsonl

One process per configuration (Django can be configured once per process). The settings
fragment is executed and its UPPER_CASE names become Django settings; the harness then
adds what a project would have: the middleware stack, a URLconf with one view answering
200 for every path and method, a CSRF failure view that marks its 403s, and quiet
logging that records which `django.security.*` logger fired.

Each request is turned into a WSGI environ exactly as a WSGI server would build it
(`wsgi.url_scheme` https for TLS connections, `HTTP_*` for headers, `REMOTE_ADDR` the
peer) and handed to `django.core.handlers.wsgi.WSGIHandler`, so the real middleware
code decides. Output, per request, JSON: `{"status", "headers": [[name, value]],
"reached_view", "csrf_reason", "security_loggers"}`.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import types
from urllib.parse import unquote_to_bytes, urlsplit

# The middleware stack of a typical project, in Django's recommended order.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Settings the harness owns: they describe the test project, not the security policy.
HARNESS_SETTINGS = {
    "ROOT_URLCONF": "conformance_urls",
    "MIDDLEWARE": MIDDLEWARE,
    "INSTALLED_APPS": ["corsheaders"],
    "DATABASES": {},
    # CommonMiddleware must not redirect on its own (it would hide the verdicts).
    "APPEND_SLASH": False,
    "PREPEND_WWW": False,
    "CSRF_FAILURE_VIEW": "conformance_urls.csrf_failure",
    "LOGGING_CONFIG": None,
    "USE_TZ": True,
}

VIEW_MARKER = "X-Conformance-View"
CSRF_MARKER = "X-Conformance-Csrf-Reason"


class _Recorder(logging.Handler):
    """Records the names of the `django.security.*` loggers that fired."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.names.append(record.name)


def _install_urlconf() -> None:
    from django.http import HttpResponse, HttpResponseForbidden
    from django.urls import re_path

    def view(request):  # every path, every method
        response = HttpResponse("ok\n", content_type="text/plain")
        response[VIEW_MARKER] = "1"
        return response

    def csrf_failure(request, reason=""):
        response = HttpResponseForbidden("CSRF: " + reason)
        response[CSRF_MARKER] = reason or "-"
        return response

    module = types.ModuleType("conformance_urls")
    module.urlpatterns = [re_path(r"", view)]
    module.csrf_failure = csrf_failure
    sys.modules["conformance_urls"] = module


def load_fragment(path: str) -> dict:
    """Executes a settings fragment and returns its UPPER_CASE names."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    namespace: dict = {"__file__": path, "__name__": "conformance_settings"}
    exec(compile(source, path, "exec"), namespace)  # noqa: S102 - our own generated file
    return {k: v for k, v in namespace.items() if k.isupper() and not k.startswith("_")}


def configure(fragment: dict) -> None:
    import django
    from django.conf import settings

    conf = dict(fragment)
    conf.setdefault("SECRET_KEY", "conformance-only-" + "x" * 50)
    conf.update(HARNESS_SETTINGS)
    settings.configure(**conf)
    django.setup()
    _install_urlconf()
    if settings.DEBUG:
        _fast_debug_pages()


def _fast_debug_pages() -> None:
    """With DEBUG on, Django renders a full traceback page for every 400 (~0.1 s each).
    Only the status and the headers the middleware adds on the way out matter here, so
    the page is replaced by an empty one with the same status and content type."""
    from django.core.handlers import exception
    from django.http import HttpResponse

    def technical_500_response(request, exc_type, exc_value, tb, status_code=500):
        return HttpResponse(status=status_code, content_type="text/html; charset=utf-8")

    exception.debug.technical_500_response = technical_500_response


def environ_for(spec: dict) -> dict:
    """The WSGI environ a server would build for this request."""
    url = urlsplit(spec["url"])
    scheme = url.scheme
    default_port = "443" if scheme == "https" else "80"
    path = url.path or "/"
    environ = {
        "REQUEST_METHOD": spec.get("method", "GET"),
        "SCRIPT_NAME": "",
        # PEP 3333: the percent-decoded path, bytes carried as latin-1.
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port) if url.port else default_port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": spec.get("peer", "127.0.0.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    has_host = False
    for name, value in spec.get("headers", []):
        # PEP 3333: header bytes reach the application as latin-1 strings.
        value = value.encode("utf-8").decode("latin-1")
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            meta = key
        else:
            meta = "HTTP_" + key
        if meta == "HTTP_HOST":
            has_host = True
        if meta in environ:  # repeated header: servers join with a comma
            environ[meta] = environ[meta] + "," + value
        else:
            environ[meta] = value
    if not has_host:
        environ["HTTP_HOST"] = url.netloc
    return environ


def run(fragment_path: str, requests_path: str, out) -> None:
    configure(load_fragment(fragment_path))
    from django.core.handlers.wsgi import WSGIHandler

    recorder = _Recorder()
    for name in ("django.security", "django.request"):
        logger = logging.getLogger(name)
        logger.handlers = [recorder]
        logger.propagate = False
        logger.setLevel(logging.DEBUG)

    handler = WSGIHandler()
    with open(requests_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            spec = json.loads(line)
            recorder.names = []
            captured: dict = {}

            def start_response(status, headers, exc_info=None):
                captured["status"] = int(status.split(" ", 1)[0])
                captured["headers"] = headers

            result = handler(environ_for(spec), start_response)
            try:
                for _ in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            headers = [(n, v) for n, v in captured["headers"]]
            reached = any(n.lower() == VIEW_MARKER.lower() for n, _ in headers)
            csrf_reason = next(
                (v for n, v in headers if n.lower() == CSRF_MARKER.lower()), None
            )
            out.write(
                json.dumps(
                    {
                        "status": captured["status"],
                        "headers": [
                            [n, v]
                            for n, v in headers
                            if n.lower() not in (VIEW_MARKER.lower(), CSRF_MARKER.lower())
                        ],
                        "reached_view": reached,
                        "csrf_reason": csrf_reason,
                        "security_loggers": sorted(
                            {n for n in recorder.names if n.startswith("django.security.")}
                        ),
                    }
                )
                + "\n"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--settings", required=True, help="Django settings fragment")
    parser.add_argument("--requests", required=True, help="corpus, JSON lines")
    args = parser.parse_args()
    run(args.settings, args.requests, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
