"""Reconciliation runs: the daily window, the admin's runs list and drill-down to recovered
events."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.integrations.models import PollConfig
from apps.integrations.polling.services import (
    integration_poll,
    poll_config_save,
    reconciliation_due_integration_ids,
)
from tests.factories import UserFactory

from .factories import InboundEventFactory, IntegrationFactory
from .polling_source import PollSource, envelope

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def source():
    server = PollSource().start()
    yield server
    server.stop()


def test_daily_reconciliation_covers_the_last_day_and_only_enabled_active_integrations(source):
    a, b, c = (
        IntegrationFactory(slug="rec-a"),
        IntegrationFactory(slug="rec-b"),
        IntegrationFactory(slug="rec-c", is_active=False),
    )
    for integration in (a, b, c):
        poll_config_save(integration=integration, url=source.url)
    PollConfig.objects.filter(integration=b).update(enabled=False)
    assert reconciliation_due_integration_ids() == [a.pk]

    PollConfig.objects.filter(integration=a).update(last_window_end=timezone.now())
    source.items = [envelope("yesterday", timezone.now() - dt.timedelta(hours=20))]
    run = integration_poll(integration_id=a.pk, trigger="daily")
    assert run.trigger == "daily" and run.recovered == 1
    assert run.window_end - run.window_start == dt.timedelta(days=1, minutes=15)
    assert integration_poll(integration_id=b.pk, trigger="daily") is None  # disabled: nothing to do


def test_admin_lists_runs_and_drills_down_to_recovered_events(client, source):
    integration = IntegrationFactory(slug="rec-admin")
    poll_config_save(
        integration=integration, url=source.url, auth_header_value="Bearer very-secret-token"
    )
    received = InboundEventFactory(integration=integration, webhook_id="seen")
    source.items = [
        envelope("seen", timezone.now() - dt.timedelta(hours=1)),
        envelope("missed", timezone.now() - dt.timedelta(hours=1)),
    ]
    run = integration_poll(integration_id=integration.pk)
    assert (run.already_received, run.recovered) == (1, 1)

    client.force_login(UserFactory(is_superuser=True))
    runs = client.get("/admin/integrations/reconciliationrun/")
    assert runs.status_code == 200
    link = f"/admin/integrations/inboundevent/?recovered_by_run={run.pk}"
    assert link in runs.content.decode()
    events = client.get(link)
    assert events.status_code == 200
    page = events.content.decode()
    assert (
        "missed" in page and f"/admin/integrations/inboundevent/{received.pk}/change/" not in page
    )
    assert client.get("/admin/integrations/reconciliationrun/?with_delta=true").status_code == 200

    config_page = client.get(
        f"/admin/integrations/pollconfig/{integration.poll_config.pk}/change/"
    ).content.decode()
    assert "very-secret-token" not in config_page and "Bear…en" in config_page
