"""A Django project behind `hardened serve` with `gateway.csrf: upstream`, for the CLI's
tests (served by gunicorn).

Its security settings are the fragment `hardened show --format django` generated next
to it (`security_settings.py`), imported as settings.py would import it. Django checks
CSRF (CsrfViewMiddleware); `/hooks/<id>` is `@csrf_exempt`, declared here only. A CSRF
failure answers `django-csrf-failure: <reason>`, so a test can tell Django's refusal from
the gateway's.
"""

import importlib

from django.conf import settings

fragment = importlib.import_module("security_settings")
security = {k: getattr(fragment, k) for k in dir(fragment) if k.isupper()}

settings.configure(
    SECRET_KEY="django-upstream-tests-only-not-secret-0123456789abcdefghijklmnop",
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ],
    INSTALLED_APPS=[],
    USE_TZ=True,
    CSRF_FAILURE_VIEW=__name__ + ".csrf_failure",
    **security,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, HttpResponseForbidden  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


def csrf_failure(request, reason=""):
    return HttpResponseForbidden("django-csrf-failure: " + reason)


@csrf_exempt
def hook(request, id):
    return HttpResponse("hook " + id)


def form(request):
    return HttpResponse("form accepted")


urlpatterns = [path("hooks/<str:id>", hook), path("form", form)]

application = get_wsgi_application()
