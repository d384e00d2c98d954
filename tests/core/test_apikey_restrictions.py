"""API keys' expiry, address allow-list, revocation and last use, from the API's side first,
then the admin and the service edges."""

import datetime as dt
import re
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.models import ApiKey, AuditLog
from apps.core.services import ApiKeyError, apikey_create, apikey_record_use, apikey_revoke
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"
PROBLEM = "application/problem+json"


def issue(**options):
    issued = apikey_create(name=options.pop("name", "partner"), scopes=["events:read"], **options)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return issued, client


def assert_problem(response, status, detail_part, plaintext):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and detail_part in body["detail"]
    text = response.content.decode()
    assert plaintext not in text and plaintext[4:12] not in text  # neither the key nor its prefix


def test_a_key_works_until_it_expires(settings):
    settings.AFFILIATEHUB_API_THROTTLE_RATE = ""
    issued, client = issue(expires_at=timezone.now() + dt.timedelta(hours=1))
    assert client.get(URL).status_code == 200
    ApiKey.objects.filter(pk=issued.api_key.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get(URL)
    assert_problem(response, 401, "expired", issued.plaintext)
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("allowed", "inside", "outside"),
    [
        (["203.0.113.0/24"], "203.0.113.77", "203.0.114.1"),
        (["198.51.100.7"], "198.51.100.7", "198.51.100.8"),
        (["2001:db8:abcd::/48"], "2001:db8:abcd:12::1", "2001:db8:abce::1"),
        (["2001:db8::5"], "2001:db8::5", "2001:db8::6"),
        (["10.0.0.0/8", "2001:db8::/32"], "::ffff:10.1.2.3", "192.0.2.1"),
    ],
)
def test_a_key_with_an_allow_list_works_only_from_inside_it(settings, allowed, inside, outside):
    settings.AFFILIATEHUB_API_THROTTLE_RATE = ""
    issued, client = issue(allowed_ips=allowed)
    assert client.get(URL, REMOTE_ADDR=inside).status_code == 200
    response = client.get(URL, REMOTE_ADDR=outside)
    assert_problem(response, 403, "may not be used from this address", issued.plaintext)
    assert outside in response.json()["detail"]
    assert all(
        network not in response.json()["detail"] for network in allowed
    )  # no hint at the list


def test_an_allow_list_reads_the_client_address_behind_a_trusted_proxy(settings):
    settings.AFFILIATEHUB_API_THROTTLE_RATE = ""
    settings.AFFILIATEHUB_TRUSTED_PROXIES = ["10.0.0.1"]
    _issued, client = issue(allowed_ips=["203.0.113.0/24"])
    via_proxy = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert client.get(URL, **via_proxy).status_code == 200
    not_via_proxy = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert client.get(URL, **not_via_proxy).status_code == 403


def test_a_revoked_key_is_refused_and_the_revocation_audited():
    actor = UserFactory(username="sec-officer")
    issued, client = issue()
    assert client.get(URL).status_code == 200
    apikey_revoke(api_key=issued.api_key, acting_user=actor, reason="Leaked in a ticket")
    assert_problem(client.get(URL), 401, "Unknown or revoked API key", issued.plaintext)
    entry = AuditLog.objects.get(action="apikey.revoked", object_id=str(issued.api_key.pk))
    assert (entry.actor, entry.before, entry.after, entry.reason) == (
        actor,
        {"is_active": True},
        {"is_active": False},
        "Leaked in a ticket",
    )
    apikey_revoke(api_key=issued.api_key, acting_user=actor)
    assert AuditLog.objects.filter(action="apikey.revoked").count() == 1


def test_last_use_is_recorded_at_most_once_a_minute(django_assert_num_queries):
    issued, client = issue()
    client.get(URL, REMOTE_ADDR="192.0.2.10")
    key = ApiKey.objects.get(pk=issued.api_key.pk)
    assert key.last_used_ip == "192.0.2.10"
    first_use = key.last_used_at
    assert first_use is not None and timezone.now() - first_use < dt.timedelta(seconds=10)

    client.get(URL, REMOTE_ADDR="192.0.2.11")
    key.refresh_from_db()
    assert (key.last_used_at, key.last_used_ip) == (
        first_use,
        "192.0.2.10",
    )  # within the minute: no write

    later = first_use + dt.timedelta(seconds=61)
    with django_assert_num_queries(0):
        assert (
            apikey_record_use(api_key=key, address=None, now=first_use + dt.timedelta(seconds=30))
            is False
        )
    stale = ApiKey.objects.get(pk=key.pk)
    assert apikey_record_use(api_key=key, address=None, now=later) is True
    # Another process holding the old row: the UPDATE's own condition stops the second write.
    assert apikey_record_use(api_key=stale, address=None, now=later) is False
    key.refresh_from_db()
    assert (key.last_used_at, key.last_used_ip) == (later, None)


def test_refused_requests_do_not_count_as_use():
    issued, client = issue(allowed_ips=["192.0.2.0/24"])
    client.get(URL, REMOTE_ADDR="198.51.100.1")
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at is None


def test_allow_lists_are_validated_and_normalised():
    issued, _client = issue(allowed_ips=["10.0.0.7", "2001:DB8::/32", "10.0.0.7"])
    assert issued.api_key.allowed_ips == ["10.0.0.7/32", "2001:db8::/32"]
    with pytest.raises(
        ApiKeyError, match=re.escape("Not an IP address or CIDR network: 10.0.0.300, example.com")
    ):
        apikey_create(name="bad", scopes=[], allowed_ips=["10.0.0.300", "example.com"])
    key = issued.api_key
    key.allowed_ips = ["192.0.2.0/33"]
    with pytest.raises(ValidationError):
        key.full_clean()
    with pytest.raises(ApiKeyError, match="future"):
        apikey_create(name="old", scopes=[], expires_at=timezone.now() - dt.timedelta(days=1))


def test_the_command_issues_a_limited_key_and_shows_it_once():
    out = StringIO()
    call_command(
        "apikey_create",
        "limited",
        "--scopes",
        "events:read",
        "--expires-in-days",
        "30",
        "--allowed-ips",
        "203.0.113.0/24",
        "2001:db8::/48",
        stdout=out,
    )
    key = ApiKey.objects.get(name="limited")
    assert key.allowed_ips == ["203.0.113.0/24", "2001:db8::/48"]
    assert (
        dt.timedelta(days=29, hours=23) < key.expires_at - timezone.now() <= dt.timedelta(days=30)
    )
    assert "Accepted only from 203.0.113.0/24, 2001:db8::/48." in out.getvalue()
    assert out.getvalue().strip().splitlines()[-1].startswith("ahk_")
    with pytest.raises(CommandError, match="positive"):
        call_command(
            "apikey_create",
            "x",
            "--scopes",
            "events:read",
            "--expires-in-days",
            "0",
            stdout=StringIO(),
        )


def test_the_admin_lists_filters_limits_and_revokes_keys(client):
    creator = UserFactory(username="key-issuer", is_superuser=True)
    issued, api = issue(name="crm-prod", allowed_ips=["192.0.2.0/24"], acting_user=creator)
    api.get(URL, REMOTE_ADDR="192.0.2.44")
    apikey_create(
        name="old-partner",
        scopes=["players:read"],
        expires_at=timezone.now() + dt.timedelta(days=3),
    )
    client.force_login(creator)
    url = reverse("admin:core_apikey_changelist")

    html = client.get(url).content.decode()
    assert (
        "crm-prod" in html
        and issued.api_key.prefix in html
        and "192.0.2.44" in html
        and "key-issuer" in html
    )
    assert issued.plaintext not in html
    assert (
        "old-partner"
        not in client.get(url, {"expiry": "never", "scope": "events:read"}).content.decode()
    )
    assert "old-partner" in client.get(url, {"expiry": "soon"}).content.decode()
    assert "crm-prod" in client.get(url, {"q": "key-issuer"}).content.decode()

    change = reverse("admin:core_apikey_change", args=[issued.api_key.pk])
    response = client.post(
        change,
        {
            "expires_at_0": "2099-01-01",
            "expires_at_1": "00:00:00",
            "allowed_ips": "192.0.2.0/24,2001:db8::/48",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key = ApiKey.objects.get(pk=issued.api_key.pk)
    assert key.allowed_ips == ["192.0.2.0/24", "2001:db8::/48"] and key.expires_at.year == 2099
    edit = AuditLog.objects.get(action="apikey.changed", object_id=str(key.pk))
    assert edit.after["allowed_ips"] == ["192.0.2.0/24", "2001:db8::/48"] and edit.actor == creator
    invalid = client.post(
        change, {"expires_at_0": "", "expires_at_1": "", "allowed_ips": "not-an-address"}
    )
    assert (
        invalid.status_code == 200
        and "Not an IP address or CIDR network: not-an-address" in invalid.content.decode()
    )

    response = client.post(
        url, {"action": "revoke_keys", "_selected_action": [key.pk]}, follow=True
    )
    assert "Revoked 1 API key(s)." in response.content.decode()
    assert ApiKey.objects.get(pk=key.pk).is_active is False
    revoked = AuditLog.objects.get(action="apikey.revoked", object_id=str(key.pk))
    assert (revoked.before, revoked.after, revoked.actor) == (
        {"is_active": True},
        {"is_active": False},
        creator,
    )
