"""Integrations and their signing secrets: services, commands, rotation with a grace period,
admin."""

import datetime as dt
import io
import json
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditLog
from apps.integrations.accounts import (
    IntegrationError,
    integration_create,
    integration_rotate_secret,
)
from apps.integrations.models import Integration, IntegrationSecret

from .conftest import load_fixture, sign

pytestmark = pytest.mark.django_db


def post(client, slug, secret, webhook_id):
    body = json.dumps(load_fixture("deposit_created.json")).encode()
    now = int(time.time())
    return client.post(
        f"/api/v1/webhooks/{slug}/",
        body,
        content_type="application/json",
        HTTP_WEBHOOK_ID=webhook_id,
        HTTP_WEBHOOK_TIMESTAMP=str(now),
        HTTP_WEBHOOK_SIGNATURE=sign(secret, webhook_id, now, body),
    )


def test_create_returns_the_secret_once_and_audits():
    integration, secret = integration_create(slug="acme-crm", kind="crm")
    assert secret.startswith("whsec_")
    assert integration.id_system == "acme-crm"  # defaults to the slug
    assert integration.secrets.get().secret == secret
    log = AuditLog.objects.get(action="integration.created")
    assert secret not in json.dumps(log.after)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"slug": "Bad Slug", "kind": "crm"}, "Invalid slug"),
        ({"slug": "ok", "kind": "casino"}, "Unknown kind"),
        ({"slug": "ok", "kind": "crm", "id_system": "Has Spaces"}, "Invalid identifier system"),
    ],
)
def test_create_rejects_bad_input(kwargs, message):
    with pytest.raises(IntegrationError, match=message):
        integration_create(**kwargs)


def test_create_rejects_duplicates():
    integration_create(slug="acme", kind="crm")
    with pytest.raises(IntegrationError, match="already exists"):
        integration_create(slug="acme", kind="payments")


def test_rotation_keeps_the_old_secret_valid_during_the_grace_period(client, settings):
    settings.AFFILIATEHUB_INTEGRATION_CACHE_SECONDS = 5
    integration, old = integration_create(slug="rot", kind="crm")
    assert post(client, "rot", old, "m1").status_code == 202

    new = integration_rotate_secret(integration=integration, grace=dt.timedelta(hours=24))
    assert new != old
    assert post(client, "rot", new, "m2").status_code == 202
    assert post(client, "rot", old, "m3").status_code == 202  # still in grace

    previous = IntegrationSecret.objects.get(secret=old)
    assert previous.expires_at > timezone.now() + dt.timedelta(hours=23)
    assert AuditLog.objects.filter(action="integration.secret_rotated").exists()

    # The grace period ends.
    IntegrationSecret.objects.filter(pk=previous.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    from apps.integrations.inbound import verification

    verification.forget()
    assert post(client, "rot", old, "m4").status_code == 401
    assert post(client, "rot", new, "m5").status_code == 202


def test_rotation_in_another_process_is_seen_without_waiting_for_the_cache(client, settings):
    settings.AFFILIATEHUB_INTEGRATION_CACHE_SECONDS = 3600
    integration, old = integration_create(slug="rot2", kind="crm")
    assert post(client, "rot2", old, "m1").status_code == 202  # cached now
    new = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    IntegrationSecret.objects.create(
        integration=integration, secret=new
    )  # as another process would
    assert post(client, "rot2", new, "m2").status_code == 202


def test_rotating_twice_does_not_extend_an_earlier_expiry():
    integration, first = integration_create(slug="rot3", kind="crm")
    integration_rotate_secret(integration=integration, grace=dt.timedelta(hours=1))
    first_expiry = IntegrationSecret.objects.get(secret=first).expires_at
    integration_rotate_secret(integration=integration, grace=dt.timedelta(hours=24))
    assert IntegrationSecret.objects.get(secret=first).expires_at == first_expiry
    assert (
        IntegrationSecret.objects.filter(integration=integration, expires_at__isnull=True).count()
        == 1
    )


def test_commands_print_the_secret_once():
    out = io.StringIO()
    call_command(
        "integration_create", "mt5-live", "--kind", "trading", "--id-system", "mt5-live", stdout=out
    )
    secret = out.getvalue().strip().splitlines()[-1]
    integration = Integration.objects.get(slug="mt5-live")
    assert integration.kind == "trading" and integration.secrets.get().secret == secret

    out = io.StringIO()
    call_command("integration_rotate_secret", "mt5-live", stdout=out)
    new = out.getvalue().strip().splitlines()[-1]
    assert new.startswith("whsec_") and new != secret


@pytest.mark.parametrize(
    "args, message",
    [
        (["integration_create", "x", "--kind", "bank"], "Unknown kind"),
        (["integration_create", "Not A Slug", "--kind", "crm"], "Invalid slug"),
        (["integration_rotate_secret", "missing"], "No integration 'missing'"),
    ],
)
def test_commands_refuse_bad_input_clearly(args, message):
    with pytest.raises(CommandError, match=message):
        call_command(*args)


def test_admin_rotate_action_shows_the_new_secret_once_and_audits(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    integration, old = integration_create(slug="adm", kind="crm")
    changelist = reverse("admin:integrations_integration_changelist")
    response = client.post(
        changelist,
        {"action": "rotate_signing_secret", "_selected_action": [integration.pk]},
        follow=True,
    )
    page = response.content.decode()
    new = (
        IntegrationSecret.objects.filter(integration=integration, expires_at__isnull=True)
        .get()
        .secret
    )
    assert new in page and new != old
    log = AuditLog.objects.get(action="integration.secret_rotated")
    assert log.actor == user
    # Never displayed again: not on the change page, not in the list.
    assert (
        new
        not in client.get(
            reverse("admin:integrations_integration_change", args=[integration.pk])
        ).content.decode()
    )
    assert new not in client.get(changelist).content.decode()


def test_admin_lists_with_filters(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    integration_create(slug="pay", kind="payments")
    integration_create(slug="crm", kind="crm")
    page = client.get(
        reverse("admin:integrations_integration_changelist") + "?kind__exact=payments"
    ).content.decode()
    assert ">pay<" in page and ">crm<" not in page
    for name in ("inboundevent", "deadletterevent", "parkedevent", "inboundconflict"):
        assert client.get(reverse(f"admin:integrations_{name}_changelist")).status_code == 200
