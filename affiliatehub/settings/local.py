"""Local development and the `make run` demo."""

from affiliatehub.settings.base import *  # noqa: F403
from affiliatehub.settings.base import env

DEBUG = env.bool("DEBUG", default=True)

# `make run`: the sandbox sends several requests a second; log only the failing ones.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {
        **LOGGING.get("loggers", {}),  # noqa: F405
        "django.server": {"level": env("DJANGO_SERVER_LOG_LEVEL", default="WARNING")},
    },
}

# `make run` serves static files straight from the apps and static/ (no collectstatic step).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT = None  # nothing collected: WhiteNoise reads the finders above

# The demo's sandbox (payment gateway, poll sources) answers on this machine: outbound requests
# to it pass the outbound address policy.
AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = env.list(
    "AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"]
)
# The `make run` demo's superuser and its demo staff (apps/sandbox/demo_staff.py, one per role,
# the two Finance users approving each other's work) sign in with the password in
# .data/admin-password alone: no authenticator app to set up before trying the back office.
# Every other account keeps the second-factor rule of base.py (README "Staff accounts");
# production never reads this file.
AFFILIATEHUB_OTP_EXEMPT_USERNAMES = env.list(
    "AFFILIATEHUB_OTP_EXEMPT_USERNAMES",
    default=[
        "admin",
        "finance-demo-maker",
        "finance-demo-checker",
        "retention-demo",
        "compliance-demo",
        "integrations-demo",
    ],
)
