"""One poll run per integration at a time, through any connection pooler: a lease on the
integration's PollConfig row (`lease_owner`, `lease_until`).

Every step is one autocommitted statement, so nothing depends on which server connection a
transaction-pooling PgBouncer hands out (a session advisory lock would: its unlock can reach
another server connection and the lock then lingers on the first):

- take: `UPDATE ... SET lease_owner = <run>, lease_until = now() + ttl WHERE pk = ... AND
  (lease_until IS NULL OR lease_until < now())`; one row updated means this run holds it. Two
  runs at once serialise on the row, and the second finds the lease taken.
- renew (once per page): `... SET lease_until = now() + ttl WHERE lease_owner = <run>`; no row
  means the lease expired and another run took it, and this run stops.
- release (at the end, also on error): `... SET lease_owner = '', lease_until = NULL WHERE
  lease_owner = <run>`.

A worker that dies holding the lease leaves it to expire: `ttl` covers one page, every attempt
of its request timing out with the longest backoff between them (the poll's `timeout_seconds`,
`max_attempts` and AFFILIATEHUB_POLL_RETRY_CAP_SECONDS), plus a margin for storing it. The
database's clock (`now()`) decides, never a worker's.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket

from django.db.models import DateTimeField, ExpressionWrapper, Q, Value
from django.db.models.functions import Now

from apps.core import conf
from apps.integrations.models import PollConfig

STORE_MARGIN = dt.timedelta(seconds=60)  # storing one page, on top of fetching it


def lease_ttl(config: PollConfig) -> dt.timedelta:
    """How long a lease lasts unrenewed: one page's request with every retry, plus a margin."""
    cap = conf.number("AFFILIATEHUB_POLL_RETRY_CAP_SECONDS")
    return dt.timedelta(seconds=config.max_attempts * (config.timeout_seconds + cap)) + STORE_MARGIN


def _until(ttl: dt.timedelta) -> ExpressionWrapper:
    return ExpressionWrapper(Now() + Value(ttl), output_field=DateTimeField())


class PollLease:
    """The lease of one run on one integration's poll. `take()` first; then `renew()` per page and
    `release()` at the end."""

    def __init__(self, config: PollConfig, *, ttl: dt.timedelta | None = None):
        self.config_id = config.pk
        self.ttl = ttl if ttl is not None else lease_ttl(config)
        # Who holds it, readable by an operator: host, process and a token unique to the run.
        self.owner = f"{socket.gethostname()[:30]}/{os.getpid()}/{secrets.token_hex(6)}"

    def _mine(self):
        return PollConfig.objects.filter(pk=self.config_id, lease_owner=self.owner)

    def take(self) -> bool:
        """Whether this run now holds the lease (False: another run's lease is still live)."""
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=Now())
        taken = (
            PollConfig.objects.filter(pk=self.config_id)
            .filter(free)
            .update(lease_owner=self.owner, lease_until=_until(self.ttl))
        )
        return taken == 1

    def renew(self) -> bool:
        """Extend the lease by its ttl from now; False when it was lost (expired and taken)."""
        return self._mine().update(lease_until=_until(self.ttl)) == 1

    def release(self) -> None:
        """Give the lease up (a no-op when it was lost)."""
        self._mine().update(lease_owner="", lease_until=None)
