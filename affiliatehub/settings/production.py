"""Production: external PostgreSQL and broker are required, secure cookies, no debug."""

from django.core.exceptions import ImproperlyConfigured

from affiliatehub.settings.base import *  # noqa: F403
from affiliatehub.settings.base import EMBEDDED_BROKER, EMBEDDED_DATABASE, SECRET_KEY

if EMBEDDED_DATABASE or EMBEDDED_BROKER:
    raise ImproperlyConfigured("Production needs DATABASE_URL and CELERY_BROKER_URL.")
if SECRET_KEY.startswith("insecure"):
    raise ImproperlyConfigured("Set SECRET_KEY in production.")

DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
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
