"""Compliance adds an exclusion override for a self-excluded player (audited, not a superuser)."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.compliance.models import ExclusionOverride
from apps.core.models import AuditLog
from tests.browser.conftest import login, messages, screenshot
from tests.factories import PlayerFactory, SelfExclusionFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compliance_adds_an_exclusion_override(live_server, page):
    player = PlayerFactory()
    SelfExclusionFactory(player=player, starts_at=timezone.now() - dt.timedelta(days=2))
    officer = UserFactory(username="compliance-browser", roles=["Compliance"])
    assert not officer.is_superuser

    login(page, live_server, officer)
    page.goto(f"{live_server.url}/admin/compliance/exclusionoverride/add/")
    page.fill("#id_player", str(player.pk))
    page.select_option("#id_kind", "exclusion")
    page.fill(
        "#id_reason",
        "Exclusion entered by mistake; confirmed with the player by phone (ticket 4411)",
    )
    # Start and expiry keep their defaults: now and 30 days on.
    with page.expect_navigation():
        page.click("input[name=_save]")
    assert any("was added successfully" in m for m in messages(page)), messages(page)
    row = page.locator("#result_list tbody tr").first.inner_text()
    assert f"#{player.pk}" in row or str(player.pk) in row
    assert "ticket 4411" in row and "compliance-browser" in row
    screenshot(page, "compliance-exclusion-override")

    override = ExclusionOverride.objects.get()
    assert (override.player_id, override.kind, override.created_by) == (
        player.pk,
        "exclusion",
        officer,
    )
    assert override.expires_at - override.starts_at > dt.timedelta(days=29)
    assert ExclusionOverride.objects.active(at=timezone.now()).filter(pk=override.pk).exists()
    audit = AuditLog.objects.get(action="exclusion_override.created")
    assert audit.actor == officer and "ticket 4411" in audit.reason

    # Overrides are never edited: the change page is read-only.
    page.goto(f"{live_server.url}/admin/compliance/exclusionoverride/{override.pk}/change/")
    assert page.locator("#id_reason").count() == 0
    assert page.console_errors == []
