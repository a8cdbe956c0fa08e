"""A one-view Django project for the gateway's tests, served by gunicorn.

Every path answers JSON with what Django makes of the request: `is_secure()` (with
`SECURE_PROXY_SSL_HEADER` as behind a TLS-terminating proxy), the client address, the
path, the cookies and every `HTTP_*` variable.
"""

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="gateway-tests-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz",
    ALLOWED_HOSTS=["example.com", "localhost", "127.0.0.1"],
    ROOT_URLCONF=__name__,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    USE_TZ=True,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import re_path  # noqa: E402


def echo(request):
    return JsonResponse(
        {
            "is_secure": request.is_secure(),
            "remote_addr": request.META.get("REMOTE_ADDR"),
            "x_forwarded_for": request.META.get("HTTP_X_FORWARDED_FOR"),
            "path": request.path,
            "cookies": request.COOKIES,
            "meta": {k: v for k, v in request.META.items() if k.startswith("HTTP_")},
        }
    )


urlpatterns = [re_path(r"", echo)]

application = get_wsgi_application()
