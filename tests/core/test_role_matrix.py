"""Each role does its main job without a superuser, and only its job (README's role table).

Pages are opened and actions run as a user holding nothing but the role's group, as the
migrations leave it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.integrations.models import InboundEvent
from tests.factories import UserFactory
from tests.integrations.factories import InboundEventFactory

pytestmark = pytest.mark.django_db

ROLES = ("Finance", "Retention", "Compliance", "Integrations")

# (what the role does, admin URL name, the roles that may open it)
PAGES = [
    ("prepare and approve payouts", "admin:payouts_payout_changelist", {"Finance"}),
    ("manage plans", "admin:commissions_plan_add", {"Finance"}),
    ("assign plans", "admin:commissions_planassignment_add", {"Finance"}),
    ("close a period", "admin:commissions_periodclose_add", {"Finance"}),
    ("review clawbacks", "admin:commissions_clawbackcase_changelist", {"Finance", "Compliance"}),
    ("manage exclusion overrides", "admin:compliance_exclusionoverride_add", {"Compliance"}),
    ("see KYC reports", "admin:compliance_kycrecord_changelist", {"Compliance"}),
    (
        "filter players for retention",
        "admin:retention_retentionplayer_changelist",
        {"Retention", "Finance"},
    ),
    (
        "export retention players",
        "admin:retention_retentionplayer_export",
        {"Retention", "Finance"},
    ),
    ("save retention segments", "admin:retention_retentionsegment_add", {"Retention"}),
    ("see dead letters", "admin:integrations_deadletterevent_changelist", {"Integrations"}),
    ("see parked events", "admin:integrations_parkedevent_changelist", {"Integrations"}),
    ("read the integration health page", "monitoring-dashboard", {"Integrations"}),
    ("read the retention cohort report", "retention-cohorts", {"Retention", "Finance"}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("job", "url_name", "allowed"), PAGES, ids=[p[0] for p in PAGES])
def test_each_role_opens_the_pages_of_its_job_and_no_others(client, role, job, url_name, allowed):
    client.force_login(UserFactory(roles=[role]))
    status = client.get(reverse(url_name)).status_code
    assert status == (200 if role in allowed else 403), f"{role} / {job}: {status}"


def _run_action(client, role, url_name, action, event):
    client.force_login(UserFactory(roles=[role]))
    return client.post(
        reverse(url_name), {"action": action, "_selected_action": [event.pk]}, follow=True
    )


@pytest.mark.parametrize("role", ROLES)
def test_only_integrations_replays_a_dead_letter(client, role):
    event = InboundEventFactory(status="dead", last_error="boom")
    page = _run_action(
        client, role, "admin:integrations_deadletterevent_changelist", "replay_events", event
    )
    event.refresh_from_db()
    if role == "Integrations":
        assert event.status == "received" and b"Replayed 1 event" in page.content
    else:
        assert event.status == "dead"


@pytest.mark.parametrize("role", ROLES)
def test_only_integrations_reruns_parked_events(client, role):
    event = InboundEventFactory(status="parked", parked_system="crm", parked_external_id="C-9")
    page = _run_action(
        client, role, "admin:integrations_parkedevent_changelist", "rerun_parked", event
    )
    if role == "Integrations":
        assert b"Re-queued 1 parked event" in page.content
    else:
        assert b"Re-queued" not in page.content


def test_an_event_page_is_read_only_even_for_who_may_replay_it(client):
    event = InboundEventFactory(status="dead")
    client.force_login(UserFactory(roles=["Integrations"]))
    page = client.get(reverse("admin:integrations_deadletterevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content and b"View dead letter" in page.content
    assert InboundEvent.objects.get(pk=event.pk).status == "dead"


def test_staff_with_no_role_open_no_report(client):
    client.force_login(UserFactory(is_staff=True))
    for name in ("monitoring-dashboard", "retention-cohorts"):
        page = client.get(reverse(name))
        assert page.status_code == 403 and b"role" in page.content
