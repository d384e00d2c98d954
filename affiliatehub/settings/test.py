"""The test suite: real PostgreSQL (embedded unless DATABASE_URL is set), nothing external."""

import os

from affiliatehub.settings.base import *  # noqa: F403
from affiliatehub.settings.base import ALLOWED_HOSTS, DATABASES

# Several suites may share one server (parallel checkouts, CI): a suffix keeps them apart.
DATABASES["default"]["TEST"] = {"NAME": "test_affiliatehub" + os.environ.get("TEST_DB_SUFFIX", "")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
# The suite reads and writes one database: a DATABASE_REPLICA_URL in the environment (say, left
# from a topology run) is ignored; tests/core/test_replica.py routes to a replica alias of its own.
DATABASES.pop("replica", None)
# Django's test client calls itself "testserver"; only the suite accepts that host.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "event_archive": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}

# WhiteNoise serves from the finders here; no collected STATIC_ROOT to look in (or warn about).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# Every test client clicks from 127.0.0.1 and the cache outlives a test: the click throttle is
# off unless a test sets a rate (tests/affiliates/test_click_bounds.py).
AFFILIATEHUB_CLICK_THROTTLE_RATE = ""

# The outbound address policy stays on: only the tests' own HTTP servers (127.0.0.1, and
# pytest-django's live server at localhost; any port) are allowed; tests of the policy narrow or
# empty the list.
AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Second factor: the suite signs users in with force_login (tests/conftest.py, the role matrix)
# and through the login form (tests/browser), to test what each role may do, not how it signs
# in. Asking those sessions for a TOTP code would test nothing and need a device per user, so the
# rule is off by default here; tests/accounts switches it on ("approvers", the product's default)
# with the `settings` fixture and tests the enrolment, the redirects and the refused approvals.
AFFILIATEHUB_OTP_REQUIRED_FOR = "none"

# The suite's intake and processing tests pin the one-message-per-event contract (what each
# webhook publishes); tests/integrations/test_batch_claiming.py switches batch claiming (the
# production default) on and pins its contract: drains, per-player order, exactly once.
AFFILIATEHUB_INBOUND_CLAIM_BATCH = 0
