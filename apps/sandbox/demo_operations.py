"""The integrations half of the demo: events parked for identifiers nobody has mapped yet, a
dead letter, a reconciliation run that recovered what the webhooks missed, and the alerts that
all this makes fire (evaluated by the same service Celery beat runs every minute)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.integrations.inbound.public import inbound_event_process
from apps.integrations.models import InboundEvent, ReconciliationRun
from apps.integrations.polling.public import store_polled_page
from apps.monitoring.models import Alert
from apps.monitoring.services import alert_rules_evaluate
from apps.sandbox.demo_feed import DemoFeed
from apps.sandbox.world import CRM, PAYMENTS


def parked_and_dead_add(*, feed: DemoFeed, now: dt.datetime) -> None:
    """Two deposits for payment accounts no system has told us about (they park until a mapping
    arrives), and a gateway confirmation for a payout the hub never made (refused at once: a dead
    letter for Integrations to look into and replay once it is sorted out)."""
    for n, (account, amount) in enumerate((("P-990001", "75.00"), ("P-990002", "220.00")), start=1):
        feed.add(
            PAYMENTS,
            "deposit.created",
            {
                "deposit_id": f"DD-UNMAPPED-{n}",
                "player_id": account,
                "amount": amount,
                "currency": "EUR",
            },
            at=now - dt.timedelta(hours=5 * n),
        )
    feed.add(
        PAYMENTS,
        "payout.confirmed",
        {"payout_reference": "PO-209912-DEMO000001", "gateway_reference": "SBX-UNKNOWN-1"},
        at=now - dt.timedelta(hours=2),
    )


def reconciliation_with_delta(*, feed: DemoFeed, now: dt.datetime) -> ReconciliationRun:
    """A daily reconciliation of the sandbox CRM: the page polled holds the last events it sent,
    three of which never arrived by webhook (revenue reports the demo kept back). Stored the way a
    poll stores a page (store_polled_page: anti-join, store the missing, count them on the run),
    without the HTTP fetch, which cannot run inside the seed's transaction."""
    crm = feed.integrations[CRM]
    sent = [event for event, _ in feed.sent if event.slug == CRM][-12:]
    kept_back = [
        {
            "id": f"demo-missed-{n}",
            "type": "revenue.reported",
            "timestamp": (now - dt.timedelta(hours=n)).isoformat(),
            "data": data,
        }
        for n, data in enumerate(_missed_reports(sent), start=1)
    ]
    page = [{"id": e.webhook_id, **e.envelope()} for e in sent] + kept_back
    window_start = min(dt.datetime.fromisoformat(item["timestamp"]) for item in page)
    run = ReconciliationRun.objects.create(
        integration=crm,
        trigger=ReconciliationRun.Trigger.DAILY,
        window_start=window_start,
        window_end=now,
        requested_by="demo_seed",
    )
    store_polled_page(integration=crm, run=run, events=page)
    # What integration_poll's _finish records once the pages are stored.
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=ReconciliationRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    recovered = InboundEvent.objects.filter(integration=crm, webhook_id__startswith="demo-missed-")
    for event_id in recovered.order_by("pk").values_list("pk", flat=True):
        inbound_event_process(event_id=event_id)  # as the worker would, right after the poll
    run.refresh_from_db()
    return run


def _missed_reports(sent) -> list[dict]:
    """Restatements of three reports already sent (a later report for the same player and day)."""
    reports = [e.data for e in sent if e.event_type == "revenue.reported"][:3]
    return [{**data, "report_id": f"{data['report_id']}-R", "bonuses": "0.00"} for data in reports]


def alerts_evaluate(*, now: dt.datetime) -> int:
    """Evaluate the alert rules once, as beat does every minute: the dead letter and the parked
    events open their alerts."""
    alert_rules_evaluate(now=now)
    return Alert.objects.filter(resolved_at__isnull=True).count()
