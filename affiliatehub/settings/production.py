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
