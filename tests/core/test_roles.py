import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from apps.core.roles import (
    COMPLIANCE,
    FINANCE,
    INTEGRATIONS,
    RETENTION,
    ROLES,
    roles_for_state,
    sync_roles,
)
from tests.factories import AffiliateFactory, UserFactory

pytestmark = pytest.mark.django_db


def perms(role):
    return UserFactory(roles=[role]).get_all_permissions()


def test_migrations_grant_every_role_its_base_permissions():
    # Later apps may add their own permissions to a role (e.g. commissions for Finance).
    for name, labels in ROLES.items():
        group = Group.objects.get(name=name)
        granted = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        assert set(labels) <= granted, name


def test_retention_reads_players_but_cannot_change_affiliates_or_see_api_keys(client):
    granted = perms(RETENTION)
    assert {"players.view_player", "affiliates.view_affiliate"} <= granted
    assert (
        not {"affiliates.change_affiliate", "core.view_apikey", "mappings.view_identifiermapping"}
        & granted
    )
    client.force_login(UserFactory(username="retention", roles=[RETENTION]))
    assert client.get(reverse("admin:core_apikey_changelist")).status_code == 403
    affiliate = AffiliateFactory()
    response = client.post(
        reverse("admin:affiliates_affiliate_change", args=[affiliate.pk]),
        {"name": "Renamed", "email": affiliate.email, "payout_currency": "EUR"},
    )
    assert response.status_code == 403
    affiliate.refresh_from_db()
    assert affiliate.name != "Renamed"


def test_compliance_approves_creatives_and_records_compliance_facts():
    granted = perms(COMPLIANCE)
    assert {
        "affiliates.change_creative",
        "affiliates.change_affiliate",
        "compliance.add_kycrecord",
        "compliance.add_selfexclusion",
        "compliance.change_brandlicence",
        "core.view_auditlog",
    } <= granted
    assert (
        not {"core.view_apikey", "mappings.change_identifiermapping", "affiliates.add_trackinglink"}
        & granted
    )


def test_finance_only_reads_affiliates_players_mappings_and_compliance():
    granted = perms(FINANCE)
    assert {"core.view_auditlog", "affiliates.view_affiliate", "players.view_player"} <= granted
    domain = ("affiliates.", "players.", "mappings.", "compliance.", "core.")
    assert [
        p for p in granted if p.startswith(domain) and not p.split(".")[1].startswith("view_")
    ] == []
    assert "core.view_apikey" not in granted


def test_integrations_manage_keys_and_mappings_but_not_creatives():
    granted = perms(INTEGRATIONS)
    assert {
        "core.view_apikey",
        "core.change_apikey",
        "mappings.add_identifiermapping",
        "mappings.view_resolutionstat",
    } <= granted
    assert (
        not {
            "affiliates.change_creative",
            "affiliates.change_affiliate",
            "compliance.add_kycrecord",
        }
        & granted
    )


def test_sync_roles_removes_permissions_not_listed():
    group = Group.objects.get(name=RETENTION)
    group.permissions.add(Permission.objects.get(codename="view_apikey"))
    sync_roles(global_apps)
    assert not group.permissions.filter(codename="view_apikey").exists()


def test_roles_for_state_drops_models_missing_from_the_state():
    class State:
        def get_models(self):
            return [m for m in global_apps.get_models() if m._meta.app_label != "mappings"]

    filtered = roles_for_state(State())
    assert "mappings.view_identifiermapping" not in filtered[COMPLIANCE]
    assert "affiliates.change_creative" in filtered[COMPLIANCE]


def test_finance_and_retention_read_the_player_facts_after_every_merge(client):
    facts = {
        "players.view_deposit",
        "players.view_revenuereport",
        "players.view_trade",
        "players.view_purchase",
        "players.view_chargeback",
    }
    finance, retention = perms(FINANCE), perms(RETENTION)
    assert facts <= finance
    # The tail re-sync kept what retention, commissions, payouts and monitoring merged in.
    assert {
        "commissions.view_clawbackcase",
        "payouts.approve_payout",
        "retention.view_retentionplayer",
    } <= finance
    assert {
        "players.view_deposit",
        "players.view_revenuereport",
        "retention.view_retentionplayer",
    } <= retention
    assert (
        not {"players.view_trade", "players.view_purchase", "players.view_chargeback"} & retention
    )
    assert not {p.replace("view_", "change_") for p in facts} & (finance | retention)
    assert not facts & perms(INTEGRATIONS)
    client.force_login(UserFactory(username="retention-facts", roles=[RETENTION]))
    assert client.get(reverse("admin:players_deposit_changelist")).status_code == 200
    assert client.get(reverse("admin:players_trade_changelist")).status_code == 403
