"""Alerting: evaluate rules against the health figures, fire and resolve alerts, acknowledge.

Rules on the health report's figures judge one scope (an integration, or all together); the
source rules (volume against the usual for the time of day, silence, failed polls; figures
from apps.monitoring.sources) judge every integration on its own, one alert per source.

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
from apps.core.enqueue import task_named
from apps.integrations.outbound.public import delivery_enqueue, subscriber_envelope
from apps.monitoring import sources
from apps.monitoring.health import ALL, HealthReport, health_report
from apps.monitoring.models import Alert, AlertRule, Metric

EMAIL_ALERT_TASK = "monitoring.email_alert"  # apps.monitoring.tasks.email_alert

logger = logging.getLogger(__name__)

FIRED, RESOLVED = "fired", "resolved"


@dataclass
class EvaluationResult:
    fired: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # no data, too few samples, or a baseline too small to fire on


def _message(rule: AlertRule, scope: str, value: Decimal) -> str:
    label = Metric(rule.metric).label
    return (
        f"{label} for {scope} over {rule.window} is {value} ({rule.get_comparison_display()} "
        f"{rule.threshold})."
    )[:500]


@dataclass(frozen=True)
class SourceFigure:
    """One source metric of one integration: the value, what it rests on, and how to say it."""

    integration_id: int
    scope: str
    value: Decimal | None
    samples: float
    message: str


def alert_rules_evaluate(*, now: dt.datetime | None = None) -> EvaluationResult:
    """Evaluate every active rule once; open alerts on breach, resolve them on recovery."""
    now = now or timezone.now()
    rules = list(
        AlertRule.objects.filter(is_active=True)
        .select_related("integration", "webhook_endpoint")
        .order_by("pk")
    )
    reports: dict[str, HealthReport] = {}
    figures: dict[tuple[str, int], list[SourceFigure]] = {}
    result = EvaluationResult()
    for rule in rules:
        if rule.per_source:
            key = (rule.metric, rule.baseline_days)
            if key not in figures:
                figures[key] = _source_figures(rule, now)
            for figure in figures[key]:
                if rule.integration_id in (None, figure.integration_id):
                    _judge_source(rule, figure, now, result)
            continue
        report = reports.get(rule.window) or reports.setdefault(
            rule.window, health_report(window=rule.window, now=now)
        )
        scope_key = rule.integration.slug if rule.integration_id else ALL
        scope = report.scope(scope_key)
        value, samples = scope.figures().get(rule.metric, (None, 0)) if scope else (None, 0)
        if value is None or samples < rule.min_samples:
            # No data is not a recovery either: an open alert stays open until a real figure is
            # good.
            result.skipped += 1
            continue
        value = Decimal(str(value))
        if rule.breached(value):
            _record(result, fired=alert_fire(rule=rule, scope=scope_key, value=value, now=now))
        else:
            _record(
                result, resolved=alert_resolve(rule=rule, scope=scope_key, value=value, now=now)
            )
    return result


def _record(
    result: EvaluationResult, *, fired: int | None = None, resolved: int | None = None
) -> None:
    if fired:
        result.fired.append(fired)
    elif resolved:
        result.resolved.append(resolved)
    else:
        result.unchanged += 1


def _judge_source(
    rule: AlertRule, figure: SourceFigure, now: dt.datetime, result: EvaluationResult
) -> None:
    """A source fires only on a baseline worth the name (`min_samples`), so a normally quiet hour
    stays quiet; it recovers as soon as its figure is good again, whatever the baseline, because
    volume coming back is a recovery even in a quiet hour."""
    if figure.value is None:
        result.skipped += 1
        return
    if rule.breached(figure.value):
        if figure.samples < rule.min_samples:
            result.skipped += 1
            return
        _record(
            result,
            fired=alert_fire(
                rule=rule,
                scope=figure.scope,
                value=figure.value,
                now=now,
                integration_id=figure.integration_id,
                message=figure.message,
            ),
        )
    else:
        _record(
            result,
            resolved=alert_resolve(rule=rule, scope=figure.scope, value=figure.value, now=now),
        )


def _source_figures(rule: AlertRule, now: dt.datetime) -> list[SourceFigure]:
    """The rule's metric for every source (one query); messages use the rule's parameters."""
    if rule.metric == Metric.POLL_FAILURES_IN_A_ROW:
        return [
            SourceFigure(
                integration_id=row.integration_id,
                scope=row.slug,
                value=Decimal(row.in_a_row),
                samples=row.in_a_row,
                message=(
                    f"{row.slug}: {row.in_a_row} poll run(s) failed in a row (alert at "
                    f"{rule.threshold:g})."
                    + (f" Last error: {row.last_error}" if row.last_error else "")
                )[:500],
            )
            for row in sources.poll_failures()
        ]
    activity = sources.source_activity(now=now, baseline_days=rule.baseline_days)
    out = []
    for row in activity:
        usual = (
            f"its usual {row.baseline:.0f} (median of this hour of the day over "
            f"{row.baseline_days} day(s))"
            if row.baseline is not None
            else "no usual volume yet"
        )
        if rule.metric == Metric.SILENT_MINUTES:
            minutes = row.silent_minutes(now)
            value, message = (
                minutes,
                (
                    f"{row.slug} has sent nothing for {minutes} minutes (last event "
                    f"{row.last_pushed_at:%Y-%m-%d %H:%M} "
                    f"UTC; alert at {rule.threshold:g}); {usual}."
                ),
            )
        else:
            value = row.percent_of_baseline
            message = (
                f"{row.slug} sent {row.volume:.0f} events in the last 60 minutes, {value} % of "
                f"{usual} "
                f"(alert {rule.get_comparison_display()} {rule.threshold:g} %)."
            )
        out.append(
            SourceFigure(
                integration_id=row.integration_id,
                scope=row.slug,
                value=value,
                samples=row.baseline or 0,
                message=message[:500],
            )
        )
    return out


def alert_fire(
    *,
    rule: AlertRule,
    scope: str,
    value: Decimal,
    now: dt.datetime,
    integration_id: int | None = None,
    message: str | None = None,
) -> int | None:
    """Open an alert for (rule, scope) unless one is open; the new alert's id, or None.

    `integration_id` and `message` for per-source rules (default: the rule's integration, the
    generic wording)."""
    with transaction.atomic():
        try:
            with transaction.atomic():  # savepoint: the partial unique constraint decides
                alert = Alert.objects.create(
                    rule=rule,
                    integration_id=integration_id or rule.integration_id,
                    scope=scope,
                    value=value,
                    threshold=rule.threshold,
                    message=message or _message(rule, scope, value),
                    fired_at=now,
                )
        except IntegrityError:
            # Already open: keep its figure current, nothing else.
            Alert.objects.filter(rule=rule, scope=scope, resolved_at__isnull=True).update(
                value=value
            )
            return None
        audit_record(
            action="alert.fired",
            instance=alert,
            actor=None,
            actor_label="monitoring",
            after={"rule": rule.name, "scope": scope, "value": str(value)},
        )
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
        audit_record(
            action="alert.resolved",
            instance=alert,
            actor=None,
            actor_label="monitoring",
            after={"rule": rule.name, "scope": scope, "value": str(value)},
        )
        _notify(alert, RESOLVED, rule)
    return alert.pk


def _notify(alert: Alert, event: str, rule: AlertRule) -> None:
    """Inside the alert's transaction: the webhook goes through the outbound engine's outbox
    (signed, retried, dead-lettered there); the e-mail is sent by a task after commit."""
    if rule.webhook_endpoint_id:
        payload = subscriber_envelope(f"alert.{event}", alert_payload(alert))
        delivery_enqueue(
            endpoint=rule.webhook_endpoint,
            event_type=f"alert.{event}",
            payload=payload,
            idempotency_key=f"monitoring-alert:{alert.pk}:{event}",
            topic="monitoring.alert",
            subject=str(alert.pk),
        )
    if rule.notify_email.strip():
        alert_id = alert.pk
        transaction.on_commit(lambda: task_named(EMAIL_ALERT_TASK).delay(alert_id, event))


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
    if any(
        n.get("channel") == "email" and n.get("event") == event and n.get("ok")
        for n in alert.notifications
    ):
        return False
    recipients = [a.strip() for a in alert.rule.notify_email.split(",") if a.strip()]
    subject = (
        f"[AffiliateHub] {'ALERT' if event == FIRED else 'Recovered'}: {alert.rule.name} "
        f"({alert.scope})"
    )
    body = f"{alert.message}\n\nFired at {alert.fired_at:%Y-%m-%d %H:%M:%S %Z}."
    if alert.resolved_at:
        body += f"\nRecovered at {alert.resolved_at:%Y-%m-%d %H:%M:%S %Z} (value {alert.value})."
    send_mail(subject, body, None, recipients)
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert_id)
        locked.notifications = [
            *locked.notifications,
            {
                "channel": "email",
                "event": event,
                "ok": True,
                "at": timezone.now().isoformat(),
                "to": recipients,
            },
        ]
        locked.save(update_fields=["notifications"])
    return True


def alert_acknowledge(*, alert: Alert, acting_user) -> Alert:
    """Mark an alert as seen by `acting_user` (audited). Acknowledging twice changes nothing.
    An event alert has no figure to recover: acknowledging it also closes it."""
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.acknowledged_at is not None:
            return locked
        locked.acknowledged_at, locked.acknowledged_by = timezone.now(), acting_user
        fields = ["acknowledged_at", "acknowledged_by"]
        if locked.kind != Alert.Kind.RULE and locked.resolved_at is None:
            locked.resolved_at = locked.acknowledged_at
            fields.append("resolved_at")
        locked.save(update_fields=fields)
        audit_record(
            action="alert.acknowledged",
            instance=locked,
            actor=acting_user,
            after={
                "acknowledged_at": locked.acknowledged_at.isoformat(),
                "resolved_at": locked.resolved_at.isoformat() if locked.resolved_at else None,
            },
        )
    return locked


def alert_record_event(*, kind: str, message: str, scope: str, refs: dict, **kwargs) -> Alert:
    """Write an event alert raised through apps.core.alerts.alert_raise() (the receiver of its
    signal, connected in MonitoringConfig.ready()); runs in the raiser's transaction."""
    fields = {name: refs.get(name) for name in ("integration_id", "endpoint_id", "delivery_id")}
    return Alert.objects.create(kind=kind, message=message, scope=scope[:80], **fields)
