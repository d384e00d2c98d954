"""Production: external PostgreSQL and broker, a real SECRET_KEY, HTTPS only, no debug.

`manage.py check --deploy` passes without warnings with the defaults below; every switch is an
environment variable (docs/operations.md, "Production settings")."""

from django.core.exceptions import ImproperlyConfigured

from affiliatehub.settings.base import *  # noqa: F403
from affiliatehub.settings.base import EMBEDDED_BROKER, EMBEDDED_DATABASE, SECRET_KEY, env
from affiliatehub.settings.secret_key import require_strong_secret_key

if EMBEDDED_DATABASE or EMBEDDED_BROKER:
    raise ImproperlyConfigured("Production needs DATABASE_URL and CELERY_BROKER_URL.")
require_strong_secret_key(SECRET_KEY)

DEBUG = False

# HTTPS: redirect plain HTTP (except /healthz, which load balancers probe over HTTP) and tell
# browsers to use HTTPS only. Set SECURE_SSL_REDIRECT=false when the proxy in front redirects.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# The header a TLS-terminating proxy sets to say the client used HTTPS ("X-Forwarded-Proto:
# https"); empty when nothing sits in front (a client could otherwise claim HTTPS itself).
_proxy_ssl_header = env("SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = env("SECURE_REFERRER_POLICY", default="same-origin")
X_FRAME_OPTIONS = "DENY"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    "event_archive": EVENT_ARCHIVE_STORAGE,  # noqa: F405
}

# Celery: one message at a time per worker process, late acks, and a visibility timeout (Redis,
# SQS) well above the longest retry countdown (AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS, 6 h), so a
# delayed retry is never redelivered early. Trade events use their own "trades" queue.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    "visibility_timeout": max(
        CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 0),  # noqa: F405
        AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS * 2,  # noqa: F405
    ),
}
