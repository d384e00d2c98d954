"""Alerting: evaluate rules against the health figures, fire and resolve alerts, acknowledge.

Idempotent by construction: an alert is opened with INSERT ... ON CONFLICT DO NOTHING against
the partial unique constraint (one open alert per rule and scope), and resolved by a
conditional UPDATE, so two evaluators running at once fire and resolve each alert once.
Webhook notifications are outbox rows of the outbound delivery engine, written in the alert's
transaction; e-mails are sent by a Celery task after commit, outside any transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.audit import audit_record
from apps.integrations.outbound import delivery_enqueue, subscriber_envelope
from apps.monitoring.health import ALL, HealthReport, health_report
from apps.monitoring.models import Alert, AlertRule, Metric

logger = logging.getLogger(__name__)

FIRED, RESOLVED = "fired", "resolved"


class AlertError(ValueError):
    """The requested move on an alert is not possible (shown to the user)."""


@dataclass
class EvaluationResult:
    fired: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # no data or too few samples


def _message(rule: AlertRule, scope: str, value: Decimal) -> str:
    label = Metric(rule.metric).label
    return f"{label} for {scope} over {rule.window} is {value} ({rule.get_comparison_display()} {rule.threshold})."[:500]


def alert_rules_evaluate(*, now: dt.datetime | None = None) -> EvaluationResult:
    """Evaluate every active rule once; open alerts on breach, resolve them on recovery."""
    now = now or timezone.now()
    rules = list(AlertRule.objects.filter(is_active=True).select_related("integration", "webhook_endpoint").order_by("pk"))
    reports: dict[str, HealthReport] = {}
    result = EvaluationResult()
    for rule in rules:
        report = reports.get(rule.window) or reports.setdefault(rule.window, health_report(window=rule.window, now=now))
        scope_key = rule.integration.slug if rule.integration_id else ALL
        scope = report.scope(scope_key)
        value, samples = (scope.figures().get(rule.metric, (None, 0)) if scope else (None, 0))
        if value is None or samples < rule.min_samples:
            # No data is not a recovery either: an open alert stays open until a real figure is good.
            result.skipped += 1
            continue
        value = Decimal(str(value))
        if rule.breached(value):
            alert_id = alert_fire(rule=rule, scope=scope_key, value=value, now=now)
            if alert_id:
                result.fired.append(alert_id)
            else:
                result.unchanged += 1
        else:
            resolved = alert_resolve(rule=rule, scope=scope_key, value=value, now=now)
            if resolved:
                result.resolved.append(resolved)
            else:
                result.unchanged += 1
    return result


def alert_fire(*, rule: AlertRule, scope: str, value: Decimal, now: dt.datetime) -> int | None:
    """Open an alert for (rule, scope) unless one is open; the new alert's id, or None."""
    with transaction.atomic():
        try:
            with transaction.atomic():  # savepoint: the partial unique constraint decides
                alert = Alert.objects.create(
                    rule=rule, integration_id=rule.integration_id, scope=scope, value=value,
                    threshold=rule.threshold, message=_message(rule, scope, value), fired_at=now,
                )
        except IntegrityError:
            # Already open: keep its figure current, nothing else.
            Alert.objects.filter(rule=rule, scope=scope, resolved_at__isnull=True).update(value=value)
            return None
        audit_record(action="alert.fired", instance=alert, actor=None, actor_label="monitoring",
                     after={"rule": rule.name, "scope": scope, "value": str(value)})
        _notify(alert, FIRED, rule)
        alert_id = alert.pk
    return alert_id


def alert_resolve(*, rule: AlertRule, scope: str, value: Decimal, now: dt.datetime) -> int | None:
    """Close the open alert of (rule, scope), if any; its id, or None."""
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(rule=rule, scope=scope, resolved_at__isnull=True)
            .first()
        )
        if alert is None:
            return None
        alert.resolved_at, alert.value = now, value
        alert.save(update_fields=["resolved_at", "value"])
        audit_record(action="alert.resolved", instance=alert, actor=None, actor_label="monitoring",
                     after={"rule": rule.name, "scope": scope, "value": str(value)})
        _notify(alert, RESOLVED, rule)
    return alert.pk


def _notify(alert: Alert, event: str, rule: AlertRule) -> None:
    """Inside the alert's transaction: the webhook goes through the outbound engine's outbox
    (signed, retried, dead-lettered there); the e-mail is sent by a task after commit."""
    if rule.webhook_endpoint_id:
        payload = subscriber_envelope(f"alert.{event}", alert_payload(alert))
        delivery_enqueue(
            endpoint=rule.webhook_endpoint, event_type=f"alert.{event}", payload=payload,
            idempotency_key=f"monitoring-alert:{alert.pk}:{event}", topic="monitoring.alert", subject=str(alert.pk),
        )
    if rule.notify_email.strip():
        from apps.monitoring import tasks

        alert_id = alert.pk
        transaction.on_commit(lambda: tasks.email_alert.delay(alert_id, event))


def alert_payload(alert: Alert) -> dict:
    return {
        "alert_id": alert.pk,
        "rule": alert.rule.name,
        "metric": alert.rule.metric,
        "window": alert.rule.window,
        "scope": alert.scope,
        "value": str(alert.value),
        "threshold": str(alert.threshold),
        "message": alert.message,
        "fired_at": alert.fired_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def alert_email_send(*, alert_id: int, event: str) -> bool:
    """Send the e-mail for one alert event, once (recorded on the alert). Runs outside any
    transaction (a Celery task); True when sent now, False when it had been sent already."""
    alert = Alert.objects.select_related("rule").get(pk=alert_id)
    if any(n.get("channel") == "email" and n.get("event") == event and n.get("ok") for n in alert.notifications):
        return False
    recipients = [a.strip() for a in alert.rule.notify_email.split(",") if a.strip()]
    subject = f"[AffiliateHub] {'ALERT' if event == FIRED else 'Recovered'}: {alert.rule.name} ({alert.scope})"
    body = f"{alert.message}\n\nFired at {alert.fired_at:%Y-%m-%d %H:%M:%S %Z}."
    if alert.resolved_at:
        body += f"\nRecovered at {alert.resolved_at:%Y-%m-%d %H:%M:%S %Z} (value {alert.value})."
    send_mail(subject, body, None, recipients)
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert_id)
        locked.notifications = [*locked.notifications, {
            "channel": "email", "event": event, "ok": True, "at": timezone.now().isoformat(), "to": recipients}]
        locked.save(update_fields=["notifications"])
    return True


def alert_acknowledge(*, alert: Alert, acting_user) -> Alert:
    """Mark an alert as seen by `acting_user` (audited). Acknowledging twice changes nothing."""
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.acknowledged_at is not None:
            return locked
        locked.acknowledged_at, locked.acknowledged_by = timezone.now(), acting_user
        locked.save(update_fields=["acknowledged_at", "acknowledged_by"])
        audit_record(action="alert.acknowledged", instance=locked, actor=acting_user,
                     after={"acknowledged_at": locked.acknowledged_at.isoformat()})
    return locked
