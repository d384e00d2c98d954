"""Every AffiliateHub setting, with its default and its type, read in one place.

The project's own knobs are flat Django settings named `AFFILIATEHUB_<NAME>`, each set from the
environment variable of the same name in affiliatehub/settings/base.py (docs/operations.md,
"Settings"). Code reads them only through this module: `conf.integer("AFFILIATEHUB_…")`,
`conf.duration(…)`, … A setting missing from the settings module falls back to the default
below; a name missing from DEFAULTS is a programming error (KeyError), so a typo cannot
silently read a default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # --- Domain -------------------------------------------------------------------------------
    # Salt of the click IP hashes (clicks keep a hash, never the address); empty = SECRET_KEY.
    "AFFILIATEHUB_CLICK_IP_SALT": "",
    # Operator time zone of statement periods (DOMAIN.md "Statements and payouts"); empty =
    # TIME_ZONE.
    "AFFILIATEHUB_OPERATOR_TIME_ZONE": "",
    # Retention cohorts: a player with no activity for this many days counts as churned.
    "AFFILIATEHUB_RETENTION_CHURN_DAYS": 30,
    # Maker-checker: the approver of a payout must not be the one who prepared it.
    "AFFILIATEHUB_PAYOUT_MAKER_CHECKER": True,
    # When the FX rate becomes final: "statement_approval" or "disbursement".
    "AFFILIATEHUB_PAYOUT_FX_LOCK": "statement_approval",
    # The OutboundEndpoint (kind gateway) payout requests go to, by name; empty = the only
    # active gateway endpoint.
    "AFFILIATEHUB_PAYOUT_GATEWAY_ENDPOINT": "",
    # The request header the edge puts the visitor's country in (e.g. "CF-IPCountry"), recorded
    # on clicks for the geo-mismatch risk rule; empty: clicks carry no country.
    "AFFILIATEHUB_CLICK_COUNTRY_HEADER": "",
    # --- Risk queue (docs/business-rules.md) ---------------------------------------------------
    # Run the per-event rules in the inbound pipeline (off: only the nightly pass runs).
    "AFFILIATEHUB_RISK_EVENT_RULES": True,
    # A case whose score reaches this also holds the affiliate's payouts (PayoutHold).
    "AFFILIATEHUB_RISK_PAYOUT_HOLD_SCORE": 60,
    # --- Webhook intake (WEBHOOKS.md §1) ------------------------------------------------------
    "AFFILIATEHUB_WEBHOOK_MAX_BODY_BYTES": 1024 * 1024,
    "AFFILIATEHUB_WEBHOOK_BATCH_MAX_BODY_BYTES": 16 * 1024 * 1024,
    "AFFILIATEHUB_WEBHOOK_BATCH_MAX_EVENTS": 5000,
    "AFFILIATEHUB_WEBHOOK_TOLERANCE_SECONDS": 300,
    # Per-integration request rate, "<count>/<second|minute|hour>"; empty disables throttling.
    "AFFILIATEHUB_WEBHOOK_THROTTLE_RATE": "120000/minute",
    # Cache alias holding throttle counters: use a shared cache (Redis) with several web nodes.
    "AFFILIATEHUB_WEBHOOK_THROTTLE_CACHE": "default",
    # How long a web process reuses an integration and its secrets (0 = every request reads).
    "AFFILIATEHUB_INTEGRATION_CACHE_SECONDS": 5,
    # Secret rotation: how long the previous secret keeps verifying.
    "AFFILIATEHUB_SECRET_ROTATION_GRACE": dt.timedelta(hours=24),
    # --- Inbound processing -------------------------------------------------------------------
    # Processing retries: exponential backoff with full jitter, then dead letter.
    "AFFILIATEHUB_EVENT_RETRY_BASE_SECONDS": 30,
    "AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS": 6 * 3600,
    "AFFILIATEHUB_EVENT_MAX_ATTEMPTS": 8,
    # Outbox sweeper: a received event untouched this long is re-enqueued.
    "AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS": 60,
    "AFFILIATEHUB_SWEEP_BATCH_SIZE": 1000,
    # Parked events are re-run this often (a safety net; parking.py closes the park/unpark race),
    # and dead-lettered when their identifier stays unknown longer than the maximum age.
    "AFFILIATEHUB_PARK_RECHECK_SECONDS": 3600,
    "AFFILIATEHUB_PARK_MAX_AGE": dt.timedelta(days=7),
    # Publishing never holds a webhook's answer: a broker silent this long counts as down, and
    # this process leaves it alone for the back-off before trying again.
    "AFFILIATEHUB_PUBLISH_TIMEOUT": 0.25,
    "AFFILIATEHUB_PUBLISH_BACKOFF_SECONDS": 2.0,
    # Publish processing tasks with the direct publisher (Redis brokers only).
    "AFFILIATEHUB_DIRECT_PUBLISH": True,
    # Batch claiming: a drain task claims this many ready events at a time and processes each in
    # its own transaction; 0 = one Celery message per event (docs/operations.md, "Scaling").
    # None: 100 with a Redis broker (wake-ups coalesce there), 0 with any other broker.
    "AFFILIATEHUB_INBOUND_CLAIM_BATCH": None,
    # --- Inbound event store (docs/operations.md, "Inbound event partitions") ------------------
    # How many months after the current one the beat creates partitions ahead (every
    # partitioned table: apps.core.partitions).
    "AFFILIATEHUB_EVENT_PARTITIONS_AHEAD": 3,
    # Retention of raw inbound events, in whole months before the current one; None keeps them
    # for ever. Older months are archived (STORAGES["event_archive"]) then their partition is
    # dropped, once every event in them is processed, dead or invalid.
    "AFFILIATEHUB_EVENT_RETENTION_MONTHS": None,
    # Retention of outbound deliveries, the same way: months whose deliveries all succeeded or
    # are dead are archived then dropped; never a month with one pending or retrying.
    "AFFILIATEHUB_DELIVERY_RETENTION_MONTHS": None,
    # --- Polling ------------------------------------------------------------------------------
    # Retries of a failed page request: exponential backoff from the base, capped.
    "AFFILIATEHUB_POLL_RETRY_BASE_SECONDS": 2.0,
    "AFFILIATEHUB_POLL_RETRY_CAP_SECONDS": 120.0,
    # --- Outbound delivery (WEBHOOKS.md §6) ---------------------------------------------------
    # Delay before attempt n+1 (seconds): "at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h".
    "AFFILIATEHUB_OUTBOUND_RETRY_SCHEDULE": (0, 5, 300, 1800, 7200, 18000, 36000, 36000),
    # Jitter: each delay is spread by +/- this fraction so retries of many messages do not align.
    "AFFILIATEHUB_OUTBOUND_JITTER": 0.1,
    "AFFILIATEHUB_OUTBOUND_TIMEOUT_SECONDS": 15,
    # An endpoint failing (no success) this long is disabled with an alert.
    "AFFILIATEHUB_OUTBOUND_DISABLE_AFTER": dt.timedelta(days=5),
    # Retries due within this many seconds get a Celery countdown; later ones are left to the
    # sweeper (beat), so no message ever waits in the broker near its visibility timeout.
    "AFFILIATEHUB_OUTBOUND_MAX_COUNTDOWN_SECONDS": 300,
    # The sweeper re-enqueues pending rows older than this (their first message was lost) and
    # reclaims rows left `delivering` by a dead worker after timeout + this.
    "AFFILIATEHUB_OUTBOUND_STUCK_AFTER_SECONDS": 30,
    "AFFILIATEHUB_OUTBOUND_SWEEP_BATCH_SIZE": 1000,
    # Retry-After is honoured up to this many seconds.
    "AFFILIATEHUB_OUTBOUND_MAX_RETRY_AFTER_SECONDS": 24 * 3600,
    # Hosts exempt from the outbound address policy ("name" or "name:port").
    "AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS": (),
    # --- Read API, clicks ---------------------------------------------------------------------
    # Per-key rate ("<count>/<second|minute|hour|day>", empty = off).
    "AFFILIATEHUB_API_THROTTLE_RATE": "600/minute",
    # New rows are held back this long so a cursor never passes an uncommitted transaction.
    "AFFILIATEHUB_API_SETTLE_SECONDS": 2.0,
    # An API key's last use is written at most once per this many seconds.
    "AFFILIATEHUB_API_KEY_LAST_USED_INTERVAL": 60,
    # Click redirects (/t/<code>/) per client, counted on the IP's hash; empty = off.
    "AFFILIATEHUB_CLICK_THROTTLE_RATE": "120/minute",
    # URL prefixes whose safe requests read from the replica when DATABASE_REPLICA_URL is set.
    "AFFILIATEHUB_REPLICA_READ_PATHS": ("/api/v1/", "/admin/health/", "/admin/retention/cohorts/"),
    # --- Operations and staff -----------------------------------------------------------------
    "AFFILIATEHUB_METRICS_TOKEN": "",
    "AFFILIATEHUB_METRICS_ALLOWED_IPS": ("127.0.0.1", "::1"),
    "AFFILIATEHUB_TRUSTED_PROXIES": (),
    # Who must use a second factor: "approvers", "all" or "none".
    "AFFILIATEHUB_OTP_REQUIRED_FOR": "approvers",
    "AFFILIATEHUB_OTP_EXEMPT_USERNAMES": (),
}


def get(name: str) -> Any:
    """The setting's value, or its default when the settings module does not set it."""
    default = DEFAULTS[name]
    return getattr(settings, name, default)


def text(name: str) -> str:
    value = get(name)
    return "" if value is None else str(value)


def integer(name: str) -> int:
    return int(get(name))


def number(name: str) -> float:
    return float(get(name))


def flag(name: str) -> bool:
    return bool(get(name))


def seconds(name: str) -> float:
    """A duration given as seconds (int/float) or a timedelta, in seconds."""
    value = get(name)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def duration(name: str) -> dt.timedelta:
    return dt.timedelta(seconds=seconds(name))


def items(name: str) -> tuple:
    """A list setting (comma-separated in the environment) as a tuple."""
    value = get(name)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, Sequence | set | frozenset):
        return tuple(value)
    return (value,)


# Settings with a fallback on another Django setting when left empty.


def click_ip_salt() -> str:
    return text("AFFILIATEHUB_CLICK_IP_SALT") or settings.SECRET_KEY


def operator_time_zone() -> str:
    return text("AFFILIATEHUB_OPERATOR_TIME_ZONE") or settings.TIME_ZONE
