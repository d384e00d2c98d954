"""Outbound endpoints: created, changed, re-pointed (the gateway's URL needs a second person),
disabled and enabled, all audited; and each endpoint's recent success rate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.alerts import ENDPOINT_DISABLED, alert_raise
from apps.core.audit import audit_record, snapshot
from apps.integrations.outbound.models import (
    SUBSCRIBER_EVENT_TYPES,
    DeliveryAttempt,
    EndpointUrlChange,
    OutboundDelivery,
    OutboundEndpoint,
)
from apps.integrations.outbound.services.common import Kind, OutboundError, Status, logger
from apps.integrations.outbound.services.deliveries import enqueue_many
from apps.integrations.signing import generate_secret

# ---------------------------------------------------------------------------------------------
# Endpoints


def endpoint_create(
    *,
    name: str,
    kind: str,
    url: str,
    event_types: Iterable[str] = (),
    secret: str | None = None,
    acting_user=None,
) -> OutboundEndpoint:
    """Create an endpoint. Subscribers get a fresh `whsec_` secret unless one is given."""
    if kind not in Kind.values:
        raise OutboundError(
            f"Unknown endpoint kind {kind!r}; choose one of {', '.join(Kind.values)}."
        )
    event_types = sorted(set(event_types))
    unknown = [t for t in event_types if t not in SUBSCRIBER_EVENT_TYPES]
    if unknown:
        raise OutboundError(
            f"Unknown event types {unknown}; subscribers may receive "
            f"{', '.join(SUBSCRIBER_EVENT_TYPES)}."
        )
    if kind == Kind.SUBSCRIBER:
        secret = secret or generate_secret()
        if not secret.startswith("whsec_"):
            raise OutboundError("A subscriber secret starts with whsec_.")
    with transaction.atomic():
        endpoint = OutboundEndpoint.objects.create(
            name=name, kind=kind, url=url, event_types=event_types, secret=secret or ""
        )
        audit_record(
            action="outbound_endpoint.created",
            instance=endpoint,
            actor=acting_user,
            actor_label="" if acting_user else "system",
            after=snapshot(endpoint, ["name", "kind", "url", "event_types"]),
        )
    return endpoint


def endpoint_update(*, endpoint: OutboundEndpoint, acting_user=None, **changes) -> OutboundEndpoint:
    """Change an endpoint's url, event types or name (audited).

    A person may not re-point the payment gateway alone: for a gateway endpoint, a URL change by a
    staff user goes through `endpoint_url_change_request` and a second person's approval. System
    callers (acting_user None: deployment commands run by whoever operates the servers) may."""
    allowed = {"url", "event_types", "name"}
    unknown = set(changes) - allowed
    if unknown:
        raise OutboundError(f"Cannot change {', '.join(sorted(unknown))} here.")
    if (
        "url" in changes
        and acting_user is not None
        and endpoint.kind == OutboundEndpoint.Kind.GATEWAY
        and changes["url"] != endpoint.url
    ):
        raise OutboundError(
            "The payment gateway's URL changes only with a second person's approval: "
            "request the change, and another user approves it."
        )
    if "event_types" in changes:
        bad = [t for t in changes["event_types"] if t not in SUBSCRIBER_EVENT_TYPES]
        if bad:
            raise OutboundError(f"Unknown event types {bad}.")
        changes["event_types"] = sorted(set(changes["event_types"]))
    with transaction.atomic():
        locked = OutboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = snapshot(locked, sorted(changes))
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            action="outbound_endpoint.updated",
            instance=locked,
            actor=acting_user,
            actor_label="" if acting_user else "system",
            before=before,
            after=snapshot(locked, sorted(changes)),
        )
    return locked


def endpoint_url_change_request(
    *, endpoint: OutboundEndpoint, url: str, acting_user
) -> EndpointUrlChange:
    """Ask to point the payment-gateway endpoint at `url`; a second person approves (audited)."""
    with transaction.atomic():
        locked = OutboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.kind != OutboundEndpoint.Kind.GATEWAY:
            raise OutboundError(
                "Only the payment gateway's URL needs an approval; change this one directly."
            )
        if url == locked.url:
            raise OutboundError("That is already the gateway's URL.")
        if locked.url_changes.filter(status=EndpointUrlChange.Status.PENDING).exists():
            raise OutboundError("A change of this endpoint's URL is already waiting for approval.")
        change = EndpointUrlChange.objects.create(
            endpoint=locked, url_before=locked.url, url_after=url, requested_by=acting_user
        )
        audit_record(
            action="outbound_endpoint.url_change_requested",
            instance=locked,
            actor=acting_user,
            before={"url": locked.url},
            after={"url": url},
        )
    return change


def endpoint_url_change_approve(*, change: EndpointUrlChange, acting_user) -> OutboundEndpoint:
    """A second person approves: the endpoint now points at the requested URL (audited)."""
    with transaction.atomic():
        locked = (
            EndpointUrlChange.objects.select_for_update()
            .select_related("endpoint")
            .get(pk=change.pk)
        )
        _decidable(locked, acting_user)
        endpoint = OutboundEndpoint.objects.select_for_update().get(pk=locked.endpoint_id)
        if endpoint.url != locked.url_before:
            raise OutboundError(
                "The endpoint's URL changed since this request was made: reject it and ask again."
            )
        endpoint.url = locked.url_after
        endpoint.save(update_fields=["url", "updated_at"])
        locked.status, locked.decided_by, locked.decided_at = (
            EndpointUrlChange.Status.APPROVED,
            acting_user,
            timezone.now(),
        )
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            action="outbound_endpoint.url_change_approved",
            instance=endpoint,
            actor=acting_user,
            before={"url": locked.url_before},
            after={"url": locked.url_after},
            reason=f"requested by {locked.requested_by}",
        )
    return endpoint


def endpoint_url_change_reject(
    *, change: EndpointUrlChange, acting_user, reason: str
) -> EndpointUrlChange:
    with transaction.atomic():
        locked = EndpointUrlChange.objects.select_for_update().get(pk=change.pk)
        _decidable(locked, acting_user)
        locked.status, locked.decided_by, locked.decided_at = (
            EndpointUrlChange.Status.REJECTED,
            acting_user,
            timezone.now(),
        )
        locked.reason = reason
        locked.save(update_fields=["status", "decided_by", "decided_at", "reason"])
        audit_record(
            action="outbound_endpoint.url_change_rejected",
            instance=locked.endpoint,
            actor=acting_user,
            before={"url": locked.url_before},
            after={"url": locked.url_before},
            reason=reason,
        )
    return locked


def _decidable(change: EndpointUrlChange, acting_user) -> None:
    if change.status != EndpointUrlChange.Status.PENDING:
        raise OutboundError(f"This request is already {change.get_status_display().lower()}.")
    if acting_user is None or acting_user.pk == change.requested_by_id:
        raise OutboundError(
            "The person who asked for a gateway URL change cannot approve or reject it: "
            "another user decides."
        )


def endpoint_disable(
    *, endpoint: OutboundEndpoint, reason: str, acting_user=None, actor_label: str = ""
) -> bool:
    """Disable an endpoint with its reason and an alert. False when it was already disabled."""
    with transaction.atomic():
        locked = OutboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if not locked.is_active:
            return False
        locked.is_active, locked.disabled_reason, locked.disabled_at = (
            False,
            reason[:300],
            timezone.now(),
        )
        locked.save(update_fields=["is_active", "disabled_reason", "disabled_at", "updated_at"])
        alert_raise(
            kind=ENDPOINT_DISABLED,
            message=reason,
            scope=locked.name,
            refs={"endpoint_id": locked.pk},
        )
        audit_record(
            action="outbound_endpoint.disabled",
            instance=locked,
            actor=acting_user,
            actor_label=actor_label or ("" if acting_user else "outbound engine"),
            reason=reason,
        )
    logger.error("Outbound endpoint %s (%s) disabled: %s", locked.name, locked.url, reason)
    return True


def endpoint_enable(*, endpoint: OutboundEndpoint, acting_user=None) -> OutboundEndpoint:
    """Enable an endpoint again; its waiting deliveries are sent at once."""
    with transaction.atomic():
        locked = OutboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.is_active:
            return locked
        before = snapshot(locked, ["is_active", "disabled_reason"])
        locked.is_active, locked.disabled_reason, locked.disabled_at = True, "", None
        locked.failing_since = None
        locked.save(
            update_fields=[
                "is_active",
                "disabled_reason",
                "disabled_at",
                "failing_since",
                "updated_at",
            ]
        )
        audit_record(
            action="outbound_endpoint.enabled", instance=locked, actor=acting_user, before=before
        )
        now = timezone.now()
        waiting = list(
            OutboundDelivery.objects.filter(
                endpoint=locked, status__in=[Status.PENDING, Status.FAILED]
            ).values_list("pk", flat=True)
        )
        OutboundDelivery.objects.filter(pk__in=waiting).update(next_attempt_at=now)
        transaction.on_commit(lambda: enqueue_many(waiting))
    return locked


def endpoint_health(endpoint_ids: Iterable[int], *, since: dt.datetime) -> dict[int, dict]:
    """Per endpoint: attempts and successes since `since`, success rate (None without attempts)."""
    from django.db.models import Count

    rows = (
        DeliveryAttempt.objects.filter(delivery__endpoint_id__in=list(endpoint_ids), at__gte=since)
        .values("delivery__endpoint_id")
        .annotate(
            total=Count("id"),
            ok=Count("id", filter=Q(response_code__gte=200, response_code__lt=300)),
        )
    )
    health = {}
    for row in rows:
        total, ok = row["total"], row["ok"]
        health[row["delivery__endpoint_id"]] = {
            "attempts": total,
            "successes": ok,
            "success_rate": ok / total if total else None,
        }
    return health
