"""A Django page behind `hardened serve` whose inline script carries the CSP nonce the
gateway passes in `X-CSP-Nonce` (the browser suite's `csp-nonce` case), served by
gunicorn.

The context processor `csp_nonce` is all a project needs: it exposes the header as the
template variable `csp_nonce` (the name Django 6.0's own `csp` context processor uses,
so templates move between the two unchanged). The page also echoes its `comment`
query parameter unescaped: a stored or reflected XSS on purpose, to show that an
injected script gets no nonce and does not run.

`/legacy` is the same page before its CSP rollout: it also carries an inline script
without the nonce (an old snippet nobody moved yet), which a strict CSP reports in
report-only mode and blocks once enforced (the `rollout-django` case).
"""

from pathlib import Path

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="browser-tests-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz",
    ALLOWED_HOSTS=["app.example.test", "localhost", "127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    USE_TZ=True,
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [Path(__file__).resolve().parent / "templates"],
            "OPTIONS": {"context_processors": [f"{__name__}.csp_nonce"]},
        }
    ],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402


def csp_nonce(request):
    """The nonce of this response's CSP, as the gateway passed it (empty without one)."""
    return {"csp_nonce": request.headers.get("X-CSP-Nonce", "")}


def page(request, legacy=False):
    context = {"comment": request.GET.get("comment", ""), "legacy": legacy}
    return render(request, "page.html", context)


urlpatterns = [path("", page), path("legacy", page, {"legacy": True})]

application = get_wsgi_application()
