"""Every change to money is audited with its values (issue 12 §4): admin saves, inline rows and
deletions through AuditedAdminMixin, and services/commands through audited_save, in the same
transaction as the change. The audit log filters by object and exports."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import reverse

from apps.commissions.models import InstrumentGroup, InstrumentSymbol, Plan, PlanTier
from apps.compliance.models import Jurisdiction
from apps.core.audit import audited_save
from apps.core.models import AuditLog
from tests.commissions.factories import PlanFactory, PlanTierFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


def form_data(response) -> dict:
    """The POST a browser would send for an admin change form as rendered (inlines included)."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += list(formset.forms)
        for name, field in formset.management_form.fields.items():
            data[f"{formset.prefix}-{name}"] = (
                formset.management_form[name].value() or field.initial or 0
            )
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = value
    return data


def audit_rows(instance):
    return AuditLog.objects.filter(
        object_type=instance._meta.label_lower, object_id=str(instance.pk)
    ).order_by("id")


def test_a_plan_edit_in_the_admin_is_audited_with_before_and_after(client, superuser):
    plan = PlanFactory(kind=Plan.Kind.REVSHARE, revshare_percent=Decimal("25"))
    tier = PlanTierFactory(plan=plan, threshold=Decimal("0"), percent=Decimal("25"))
    client.force_login(superuser)
    url = reverse("admin:commissions_plan_change", args=[plan.pk])
    data = form_data(client.get(url))
    data["revshare_percent"] = "30"
    data["tiers-0-percent"] = "35"
    response = client.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else ""
    )

    # The plan itself changes through plan_update (issue 13's versioned terms): the row holds its
    # terms before and after; the inline tier is audited by the admin mixin.
    (plan_row,) = audit_rows(plan)
    assert plan_row.action == "plan.updated" and plan_row.actor == superuser
    assert (
        Decimal(plan_row.before["revshare_percent"]) == 25
        and Decimal(plan_row.after["revshare_percent"]) == 30
    )
    (tier_row,) = audit_rows(tier)
    assert tier_row.before == {"percent": "25.0000"} and tier_row.after == {"percent": "35"}


def test_deleting_a_tier_inline_is_audited_with_its_values(client, superuser):
    plan = PlanFactory(kind=Plan.Kind.REVSHARE)
    tier = PlanTierFactory(plan=plan, threshold=Decimal("1000"), percent=Decimal("30"))
    client.force_login(superuser)
    url = reverse("admin:commissions_plan_change", args=[plan.pk])
    data = form_data(client.get(url)) | {"tiers-0-DELETE": "on"}
    assert client.post(url, data).status_code == 302
    assert not PlanTier.objects.exists()
    (row,) = AuditLog.objects.filter(action="plantier.deleted")
    assert (
        row.object_id == str(tier.pk) and row.before["percent"] == "30.0000" and row.after is None
    )


def test_an_instrument_moved_to_another_group_in_the_list_is_audited(client, superuser):
    majors, metals = (
        InstrumentGroup.objects.create(code="fxm", name="FX"),
        InstrumentGroup.objects.create(code="met", name="Metals"),
    )
    symbol = InstrumentSymbol.objects.create(symbol="AUDITTEST", group=majors)
    client.force_login(superuser)
    response = client.post(
        reverse("admin:commissions_instrumentsymbol_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": symbol.pk,
            "form-0-group": metals.pk,
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    (row,) = audit_rows(symbol)
    assert (row.before, row.after) == ({"group_id": majors.pk}, {"group_id": metals.pk})


def test_an_unchanged_save_writes_no_audit_row(client, superuser):
    jurisdiction = Jurisdiction.objects.create(code="MT", name="Malta")
    client.force_login(superuser)
    url = reverse("admin:compliance_jurisdiction_change", args=[jurisdiction.pk])
    assert client.post(url, form_data(client.get(url))).status_code == 302
    assert not audit_rows(jurisdiction).exists()


def test_services_and_commands_audit_through_the_same_helper_and_roll_back_together():
    jurisdiction = audited_save(
        Jurisdiction(code="GB", name="Great Britain"), actor_label="demo_seed"
    )
    (created,) = audit_rows(jurisdiction)
    assert created.action == "jurisdiction.created" and created.after["name"] == "Great Britain"
    with pytest.raises(RuntimeError), transaction.atomic():
        jurisdiction.name = "United Kingdom"
        audited_save(jurisdiction, actor_label="demo_seed")
        raise RuntimeError("the surrounding operation fails")
    assert (
        Jurisdiction.objects.get(code="GB").name == "Great Britain"
        and audit_rows(jurisdiction).count() == 1
    )


def test_the_audit_log_filters_by_object_and_exports(client, superuser):
    plan, other = PlanFactory(), PlanFactory()
    for target in (plan, other):
        target.cpa_amount = Decimal("250")
        audited_save(target, actor=superuser)
    client.force_login(superuser)
    changelist = reverse("admin:core_auditlog_changelist")
    page = client.get(changelist, {"object_type": "commissions.plan", "object_id": str(plan.pk)})
    assert page.status_code == 200 and list(page.context["cl"].queryset) == list(audit_rows(plan))

    export = client.post(
        reverse("admin:core_auditlog_export"),
        {
            "format": "0",
            "resource": "0",
            **{
                f"auditlogresource_{f}": "on"
                for f in ("id", "action", "object_type", "object_id", "before", "after")
            },
        },
    )
    assert export.status_code == 200, export.content[:500]
    body = export.content.decode()
    assert "plan.changed" in body and '"cpa_amount": "250' in body.replace('""', '"')


def test_the_audit_list_shows_what_changed_briefly():
    from apps.core.admin import AuditLogAdmin

    row = AuditLog(
        action="payout.submitted_for_approval",
        object_type="payouts.payout",
        object_id="1",
        before={"amount": "123456.78000000", "status": "draft", "destination": None},
        after={
            "amount": "123456.78000000",
            "status": "pending_approval",
            "destination": {"kind": "skrill", "details": {"email": "x" * 80}},
        },
    )
    shown = AuditLogAdmin(AuditLog, admin.site).changes(row)
    assert shown.startswith('destination: null → {"kind":"skrill"')
    assert "status: draft → pending_approval" in shown
    assert "amount" not in shown  # unchanged
    assert "…" in shown  # the long destination is cut
    fee = AuditLog(before={"fee": "10.50000000"}, after={"fee": "12.00000000"})
    assert AuditLogAdmin(AuditLog, admin.site).changes(fee) == "fee: 10.50 → 12.00"
