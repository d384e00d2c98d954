"""WSGI entry point.

Requests under /api/v1/webhooks/ (the inbound webhook endpoints, the hottest path) go to a
Django handler without the middleware that only serves browser sessions: sessions, CSRF,
authentication, messages and staff sign-in (second factor, lock-out). The webhook views never
use them (no session, no user, no messages, csrf_exempt), and none of them changes a response
that does not use them, so the answers are the same; every other middleware (security headers,
CommonMiddleware,
X-Frame-Options, anything added later) still runs. Everything else gets the full stack.
tests/integrations/test_wsgi_dispatch.py sends the same requests through both and compares.
"""

import gc
import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "affiliatehub.settings.local")

django_application = get_wsgi_application()

WEBHOOK_PATH_PREFIX = "/api/v1/webhooks/"
# Middleware the webhook endpoints do without.
BROWSER_ONLY_MIDDLEWARE = frozenset(
    {
        # static files never live under the webhook path
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        # Staff sign-in: the second factor of a session's user, the lock-out page of a sign-in.
        "django_otp.middleware.OTPMiddleware",
        "apps.accounts.middleware.SecondFactorMiddleware",
        "axes.middleware.AxesMiddleware",
    }
)


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler, with settings.MIDDLEWARE minus BROWSER_ONLY_MIDDLEWARE."""

    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [path for path in full if path not in BROWSER_ONLY_MIDDLEWARE]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


webhook_application = WebhookHandler()

# Everything loaded so far lives as long as the process: take it out of the cyclic garbage
# collector's generations, so a full collection during a request walks only what requests
# allocate (shorter pauses in the latency tail; the Instagram/Python `gc.freeze()` recipe).
gc.freeze()


def application(environ, start_response):
    if environ.get("PATH_INFO", "").startswith(WEBHOOK_PATH_PREFIX):
        return webhook_application(environ, start_response)
    return django_application(environ, start_response)
