"""Polling connectors and reconciliation (WEBHOOKS.md §5).

A run polls one integration's source over one window, page by page, and stores every event
through the same idempotent inbound store as webhooks (source `poll`). It is also the
reconciliation of that window: each page's ids are anti-joined as the page arrives (one query
per page), so events already received are only counted, never re-validated or re-written; only
the missing ones are kept and go through the store, flagged as recovered (missed by webhooks).

Rules kept here:
- HTTP happens outside any database transaction (the next page is fetched in a helper thread
  while the current one is stored). Each page is stored in one transaction (PageStore): its
  missing events, their RecoveredEvent rows and the run's counters, so the counts always match
  what is stored; a page is never stored in part, and when a run fails, the pages received
  before the failure are stored first. A page's lookup runs (on a second connection, outside
  any transaction) while the page before it is stored; at most two pages are held at once.
- A window counts as done (`PollConfig.last_window_end`) only when every page of it is stored.
  A failed run leaves the window to the next run, whose overlap makes the store skip what the
  failed run already stored.
- One run per integration at a time: a lease on the PollConfig row (apps/integrations/polling/
  lease.py), taken, renewed per page and released in single statements, so it works through a
  transaction-pooling PgBouncer; a dead worker's lease expires by itself.
- Page requests are retried with exponential backoff and jitter (tenacity), honouring
  Retry-After; 4xx other than 408/429 are not retried. A source the outbound address policy
  refuses (apps/core/outbound_policy.py: a private, loopback or metadata address) fails the
  run at once, with the policy's reason as its error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable

import requests
import tenacity
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.core import conf
from apps.core.audit import audit_record, snapshot
from apps.core.outbound_policy import OutboundAddressRefused, policy_session
from apps.integrations.models import (
    Integration,
    PollConfig,
    ReconciliationRun,
)
from apps.integrations.polling.adapters import (
    PageFormatError,
    PolledPage,
    WindowRequest,
    adapter_for,
)
from apps.integrations.polling.lease import PollLease
from apps.integrations.polling.pages import PageStore
from apps.integrations.polling.threads import prefetching

logger = logging.getLogger(__name__)

Trigger = ReconciliationRun.Trigger
POLL_TASK = "integrations.poll_integration"
DAILY_TASK = "integrations.reconcile_all"
DAILY_TASK_NAME = "integrations: daily reconciliation"
MAX_PAGES_PER_RUN = 100_000
MAX_ERROR_CHARS = 4000
READ_CHUNK_BYTES = 1 << 20  # a page's body is read in chunks of this size


class PollError(RuntimeError):
    """A poll could not run or could not finish (the message is shown on the run)."""


class PollBusy(PollError):
    """Another run of the same integration holds the lease."""


class PollLeaseLost(PollError):
    """This run's lease expired (its worker stalled past it) and another run took it."""


class PollHttpError(PollError):
    def __init__(self, status: int, detail: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {detail[:300]}")
        self.status = status
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------------
# Configuration and schedule

_CONFIG_FIELDS = {
    "url",
    "auth_header_name",
    "auth_header_value",
    "adapter",
    "server",
    "page_size",
    "window_overlap",
    "event_types",
    "interval_minutes",
    "initial_lookback",
    "timeout_seconds",
    "max_attempts",
    "enabled",
}


def _audit_view(config: PollConfig) -> dict:
    data = snapshot(config, sorted(_CONFIG_FIELDS - {"auth_header_value"}))
    data["auth_header_value"] = config.masked_auth_value
    return data


def poll_config_save(
    *, integration: Integration, acting_user=None, actor_label: str = "", **fields
) -> PollConfig:
    """Create or change an integration's poll configuration and keep its periodic task in step."""
    unknown = set(fields) - _CONFIG_FIELDS
    if unknown:
        raise PollError(f"Unknown poll settings: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        config = PollConfig.objects.select_for_update().filter(integration=integration).first()
        before = _audit_view(config) if config else None
        if config is None:
            config = PollConfig(integration=integration)
        for name, value in fields.items():
            setattr(config, name, value)
        config.full_clean(exclude=["integration", "periodic_task"])
        config.save()
        poll_schedule_sync(config=config)
        audit_record(
            action="integration.poll_config_saved",
            instance=config,
            actor=acting_user,
            actor_label=actor_label or ("" if acting_user else "system"),
            before=before,
            after=_audit_view(config),
        )
    return config


def poll_schedule_sync(*, config: PollConfig) -> PeriodicTask:
    """The beat entry running this integration's poll every `interval_minutes` (enabled with the
    config and the integration), and the daily reconciliation across integrations."""
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=config.interval_minutes, period=IntervalSchedule.MINUTES
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=f"integrations: poll {config.integration.slug}",
        defaults={
            "task": POLL_TASK,
            "interval": interval,
            "crontab": None,
            "kwargs": json.dumps(
                {"integration_id": config.integration_id, "trigger": Trigger.SCHEDULE}
            ),
            "enabled": bool(config.enabled and config.integration.is_active),
            "description": "Polling connector (PollConfig); change the interval on the poll "
            "configuration.",
        },
    )
    if config.periodic_task_id != task.pk:
        config.periodic_task = task
        config.save(update_fields=["periodic_task", "updated_at"])
    daily_reconciliation_schedule()
    return task


def daily_reconciliation_schedule() -> PeriodicTask:
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    task, _ = PeriodicTask.objects.get_or_create(
        name=DAILY_TASK_NAME,
        defaults={
            "task": DAILY_TASK,
            "crontab": crontab,
            "enabled": True,
            "description": "Re-polls the last 24 h of every polled integration and records the "
            "delta.",
        },
    )
    return task


# --------------------------------------------------------------------------------------------
# Runs


def poll_window(*, config: PollConfig, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """From the last completed window's end minus the overlap (first run: the initial lookback)
    to now."""
    if config.last_window_end is None:
        return now - config.initial_lookback, now
    return min(config.last_window_end - config.window_overlap, now - config.window_overlap), now


def integration_poll(
    *,
    integration_id: int,
    trigger: str = Trigger.SCHEDULE,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    requested_by: str = "",
    session: requests.Session | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ReconciliationRun | None:
    """Poll one integration over a window and reconcile it. Returns the run (None when a scheduled
    poll has nothing to do: disabled or busy). Backfills and manual polls raise PollError
    instead."""
    if connection.in_atomic_block:
        raise PollError("Polls make HTTP requests: call integration_poll outside transactions.")
    config = (
        PollConfig.objects.select_related("integration")
        .filter(integration_id=integration_id)
        .first()
    )
    scheduled = trigger in (Trigger.SCHEDULE, Trigger.DAILY)
    if config is None:
        raise PollError(f"Integration #{integration_id} has no poll configuration.")
    if not config.integration.is_active or (scheduled and not config.enabled):
        if scheduled:
            return None
        raise PollError(f"Integration {config.integration.slug} is disabled.")
    if (since is None) != (until is None) and trigger == Trigger.BACKFILL:
        raise PollError("A backfill needs both since and until.")
    lease = PollLease(config)
    if not lease.take():
        if scheduled:
            logger.info("Poll of %s skipped: another run is in progress.", config.integration.slug)
            return None
        raise PollBusy(f"A poll of {config.integration.slug} is already running.")
    try:
        _abandon_stale_runs(integration_id)
        now = timezone.now()
        if since is None:
            if trigger == Trigger.DAILY:
                since, until = now - dt.timedelta(days=1) - config.window_overlap, now
            else:
                since, until = poll_window(config=config, now=now)
        until = until or now
        if since >= until:
            raise PollError(f"Empty window: {since.isoformat()} is not before {until.isoformat()}.")
        run = ReconciliationRun.objects.create(
            integration_id=integration_id,
            trigger=trigger,
            window_start=since,
            window_end=until,
            requested_by=requested_by[:200],
        )
        try:
            _run_pages(run=run, config=config, lease=lease, session=session, sleep=sleep)
        except Exception as exc:
            _finish(run, config, error=exc)
            if isinstance(
                exc,
                PollError | requests.RequestException | PageFormatError | OutboundAddressRefused,
            ):
                logger.warning("Poll of %s failed: %s", config.integration.slug, exc)
                return run
            raise
        _finish(run, config)
        return run
    finally:
        lease.release()


def _abandon_stale_runs(integration_id: int) -> None:
    """Runs left `running` by a worker that died: we hold the lease, so none of them is alive (one
    whose worker stalled past its lease stops at its next renewal)."""
    ReconciliationRun.objects.filter(
        integration_id=integration_id, status=ReconciliationRun.Status.RUNNING
    ).update(
        status=ReconciliationRun.Status.FAILED,
        finished_at=timezone.now(),
        error="Abandoned: the worker stopped mid-run.",
    )


def _finish(
    run: ReconciliationRun, config: PollConfig, *, error: BaseException | None = None
) -> None:
    now = timezone.now()
    with transaction.atomic():
        if error is None:
            run.status = ReconciliationRun.Status.SUCCEEDED
        if error is None and run.trigger != Trigger.BACKFILL:
            # The window is done: only now may the next run start after it. (A backfill of an
            # old range says nothing about the windows the schedule has covered.)
            PollConfig.objects.filter(pk=config.pk).filter(
                Q(last_window_end__isnull=True) | Q(last_window_end__lt=run.window_end)
            ).update(last_window_end=run.window_end)
        if error is not None:
            run.status = ReconciliationRun.Status.FAILED
            run.error = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
        run.finished_at = now
        run.save(update_fields=["status", "error", "finished_at"])
    run.refresh_from_db()


def _run_pages(
    *, run: ReconciliationRun, config: PollConfig, lease: PollLease, session, sleep
) -> None:
    """Fetch the window's pages and reconcile them. The next page is fetched (in one helper
    thread, which never touches the database) while the current one is stored, so the source's
    latency and the database's work overlap; at most two pages are in memory. The lease is
    renewed as each page arrives, before it is stored."""
    adapter = adapter_for(config)
    http = session or policy_session()
    headers = {"Accept": adapter.accept, "User-Agent": "AffiliateHub-poller/1"}
    if config.auth_header_name and config.auth_header_value:
        headers[config.auth_header_name] = config.auth_header_value
    store = PageStore(integration=config.integration, run=run)

    def fetch(cursor: str | None) -> PolledPage:
        request = WindowRequest(
            since=run.window_start,
            until=run.window_end,
            event_types=tuple(config.event_types),
            page_size=config.page_size,
            cursor=cursor,
        )
        return adapter.parse(_fetch(http, config, adapter.params(request), headers, sleep=sleep))

    seen_cursors: set[str] = set()
    with store, prefetching(fetch) as prefetch:
        following = prefetch(None)
        try:
            for _ in range(MAX_PAGES_PER_RUN):
                page = following.result()
                if not lease.renew():
                    raise PollLeaseLost(
                        f"The poll lease of {config.integration.slug} expired and another run "
                        "took it; this run stopped."
                    )
                cursor = page.next_cursor
                if cursor is not None and cursor in seen_cursors:
                    store.add(page.events, skipped=page.skipped, ids=page.ids)
                    raise PageFormatError(
                        f"The source repeated cursor {cursor!r}; stopping to avoid a loop."
                    )
                if cursor is not None:
                    seen_cursors.add(cursor)
                    following = prefetch(cursor)
                store.add(page.events, skipped=page.skipped, ids=page.ids)
                if cursor is None:
                    store.flush()
                    return
            raise PollError(
                f"More than {MAX_PAGES_PER_RUN} pages in one window; poll a shorter window."
            )
        except BaseException:
            following.cancel()
            # the pages received before the failure are kept (a failing page: none of it)
            store.flush()
            raise


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, PollHttpError):
        return exc.status in (408, 429) or exc.status >= 500
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _fetch(
    http: requests.Session, config: PollConfig, params: dict, headers: dict, *, sleep
) -> bytes:
    base = conf.number("AFFILIATEHUB_POLL_RETRY_BASE_SECONDS")
    cap = conf.number("AFFILIATEHUB_POLL_RETRY_CAP_SECONDS")
    backoff = tenacity.wait_exponential_jitter(multiplier=base, max=cap, jitter=base)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        computed = backoff(state)
        if isinstance(exc, PollHttpError) and exc.retry_after is not None:
            return min(cap, max(computed, exc.retry_after))
        return computed

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(config.max_attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(_retryable),
        reraise=True,
        sleep=sleep or tenacity.nap.sleep,
        before_sleep=lambda state: logger.info(
            "Poll of %s: attempt %d failed (%s); retrying.",
            config.integration.slug,
            state.attempt_number,
            state.outcome.exception(),
        ),
    )
    for attempt in retrying:
        with attempt:
            response = http.get(
                config.url,
                params=params,
                headers=headers,
                timeout=config.timeout_seconds,
                stream=True,
            )
            if response.status_code != 200:
                raise PollHttpError(response.status_code, response.text, _retry_after(response))
            # Read in large chunks: `response.content` reads 10 kB at a time, and a page of
            # 10,000 events (~1.7 MB) took ~30% longer to read that way (2026-12-08). Read
            # errors are requests' own, as with `content` (iter_content wraps urllib3's).
            return b"".join(response.iter_content(chunk_size=READ_CHUNK_BYTES))
    raise AssertionError("unreachable")  # pragma: no cover - reraise=True raises the last error


# --------------------------------------------------------------------------------------------
# Daily reconciliation


def reconciliation_due_integration_ids() -> list[int]:
    """Integrations the daily reconciliation polls: enabled configs of active integrations."""
    return list(
        PollConfig.objects.filter(enabled=True, integration__is_active=True)
        .order_by("integration_id")
        .values_list("integration_id", flat=True)
    )
