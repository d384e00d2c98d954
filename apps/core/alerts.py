"""Raising an alert from any layer: one alert system, kept by apps.monitoring.

Alerts are rows of `monitoring.Alert`, listed in one admin (Integration health > Alerts) and on
the health page. Rule alerts are fired by monitoring's own rule evaluation; *event* alerts
(something happened that a person must look at: a dead-lettered outbound delivery, a disabled
endpoint) are raised by code in layers below monitoring, which may not import it (the
`apps.integrations` contract in pyproject.toml). They call `alert_raise()`, which sends the
`alert_raised` signal; `apps.monitoring.apps.MonitoringConfig.ready()` connects the receiver
that writes the row (`apps.monitoring.services.alert_record_event`).

Receivers run synchronously, inside the caller's transaction: the alert is written with the
change that caused it, or not at all. With no receiver connected `alert_raise()` raises,
so an alert is never dropped silently.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

# Event alert kinds (monitoring.Alert.Kind holds the same values with their labels).
DELIVERY_DEAD = "delivery_dead"
ENDPOINT_DISABLED = "endpoint_disabled"
EVENT_KINDS = (DELIVERY_DEAD, ENDPOINT_DISABLED)

# Sent with kind, message, scope and `refs` (the related rows' ids by field name, e.g.
# {"endpoint_id": 3, "delivery_id": 17}).
alert_raised = Signal()


def alert_raise(*, kind: str, message: str, scope: str, refs: dict[str, int | None]) -> None:
    """Record an event alert in the caller's transaction (see the module docstring)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"Unknown alert kind {kind!r}; one of {EVENT_KINDS}.")
    if not alert_raised.has_listeners():
        raise ImproperlyConfigured(
            "No alert receiver is connected: apps.monitoring must be installed (its ready() "
            "connects apps.monitoring.services.alert_record_event)."
        )
    alert_raised.send(sender=None, kind=kind, message=message, scope=scope, refs=refs)
