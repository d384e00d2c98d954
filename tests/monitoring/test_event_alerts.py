"""One alert system (issue 14 §5): the outbound engine's event alerts are monitoring.Alert rows,
raised through apps.core.alerts, listed and acknowledged with the rule alerts."""

import datetime as dt
import importlib

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse

from apps.core import alerts
from apps.core.models import AuditLog
from apps.integrations.outbound import services as outbound
from apps.monitoring.models import Alert
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint():
    return outbound.endpoint_create(
        name="crm-hook",
        kind="subscriber",
        url="http://127.0.0.1:9/",
        event_types=["payout.failed"],
    )


def test_a_disabled_endpoint_raises_an_open_event_alert(endpoint):
    assert outbound.endpoint_disable(endpoint=endpoint, reason="410 Gone")
    alert = Alert.objects.get()
    assert (alert.kind, alert.endpoint, alert.rule, alert.scope) == (
        "endpoint_disabled",
        endpoint,
        None,
        "crm-hook",
    )
    assert alert.message == "410 Gone" and alert.is_open
    assert alert.title == "Outbound endpoint disabled"


def test_the_alert_is_written_with_the_change_or_not_at_all(endpoint):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbound.endpoint_disable(endpoint=endpoint, reason="410 Gone")
        raise RuntimeError("the caller's transaction fails")
    assert not Alert.objects.exists()


def test_acknowledging_an_event_alert_closes_it_from_the_one_alert_list(client, endpoint):
    outbound.endpoint_disable(endpoint=endpoint, reason="gone")
    engineer = UserFactory(roles=["Integrations"])
    client.force_login(engineer)
    url = reverse("admin:monitoring_alert_changelist")
    listing = client.get(url).content.decode()
    assert "Outbound endpoint disabled" in listing and "crm-hook" in listing
    alert = Alert.objects.get()
    response = client.post(
        url, {"action": "acknowledge", "_selected_action": [alert.pk]}, follow=True
    )
    assert "1 alert(s) acknowledged." in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_by == engineer and alert.resolved_at == alert.acknowledged_at
    assert AuditLog.objects.filter(action="alert.acknowledged", object_id=str(alert.pk)).exists()


def test_open_event_alerts_show_on_the_health_page_and_in_metrics(client, endpoint):
    outbound.endpoint_disable(endpoint=endpoint, reason="gone")
    client.force_login(UserFactory(roles=["Integrations"]))
    html = client.get(reverse("monitoring-dashboard")).content.decode()
    assert "Outbound endpoint disabled" in html and "crm-hook" in html
    body = client.get("/metrics").content.decode()
    assert 'affiliatehub_alerts_open{rule="endpoint_disabled"} 1.0' in body


def test_an_event_alert_needs_its_endpoint_in_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(kind="endpoint_disabled", scope="x", message="m")


def test_raising_without_a_receiver_fails_loudly():
    with pytest.raises(ValueError, match="Unknown alert kind"):
        alerts.alert_raise(kind="nope", message="m", scope="s", refs={})
    receivers = alerts.alert_raised.receivers
    alerts.alert_raised.receivers = []
    alerts.alert_raised.sender_receivers_cache.clear()
    try:
        with pytest.raises(Exception, match="No alert receiver"):
            alerts.alert_raise(kind=alerts.DELIVERY_DEAD, message="m", scope="s", refs={})
    finally:
        alerts.alert_raised.receivers = receivers
        alerts.alert_raised.sender_receivers_cache.clear()


def test_the_migration_carries_outbound_alerts_over(endpoint):
    """monitoring 0014 copies integrations.OutboundAlert rows (the table is created here, in the
    test's transaction, from the migration state where both models exist)."""
    state = MigrationLoader(connection).project_state(("monitoring", "0014_alert_carry_over"))
    historical = state.apps
    OutboundAlert = historical.get_model("integrations", "OutboundAlert")
    # The delivery table is partitioned since (integrations 0013): no foreign key can name it.
    OutboundAlert._meta.get_field("delivery").db_constraint = False
    with connection.schema_editor() as editor:
        editor.create_model(OutboundAlert)
    user = UserFactory()
    seen_at = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    old_open = OutboundAlert.objects.create(
        kind="delivery_dead", endpoint_id=endpoint.pk, message="dead one"
    )
    OutboundAlert.objects.create(
        kind="endpoint_disabled",
        endpoint_id=endpoint.pk,
        message="disabled",
        acknowledged_at=seen_at,
        acknowledged_by_id=user.pk,
    )
    migration = importlib.import_module("apps.monitoring.migrations.0014_alert_carry_over")
    migration.carry_over(historical, None)

    carried = {a.message: a for a in Alert.objects.all()}
    assert set(carried) == {"dead one", "disabled"}
    assert carried["dead one"].is_open and carried["dead one"].fired_at == old_open.created_at
    assert carried["dead one"].scope == "crm-hook"
    closed = carried["disabled"]
    assert (closed.kind, closed.acknowledged_by_id, closed.resolved_at) == (
        "endpoint_disabled",
        user.pk,
        seen_at,
    )
