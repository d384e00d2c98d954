"""Sign-in lock-out (django-axes): after the configured failures for one username from one
address, even the right password is refused, with a page saying so, until the cool-off passes
or an administrator lifts it. Other addresses, other users and the API are not affected."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from apps.accounts.lockout import client_ip_address
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LOGIN_URL = reverse("admin:login")
PASSWORD = "pw-for-tests-only"


@pytest.fixture
def staff(db):
    return UserFactory(username="finance-1", roles=["Finance"])


def sign_in(client, username, password, ip="10.0.0.1"):
    return client.post(
        LOGIN_URL, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip
    )


def signed_in(client) -> bool:
    return client.get(reverse("admin:index")).status_code == 200


def fail_times(client, username, count, ip="10.0.0.1"):
    for _ in range(count):
        sign_in(client, username, "wrong password", ip=ip)


def test_the_right_password_is_refused_after_five_failures_with_the_lockout_page(client, staff):
    fail_times(client, staff.username, 4)
    assert AccessAttempt.objects.get(username=staff.username).failures_since_start == 4
    fail_times(client, staff.username, 1)

    response = sign_in(client, staff.username, PASSWORD)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in locked" in page and "finance-1" in page
    assert "after 5 failed sign-in attempts" in page and "Try again in 30 minutes" in page
    assert "Ask an administrator" in page
    assert not signed_in(client)
    assert (
        AccessFailureLog.objects.filter(username=staff.username, ip_address="10.0.0.1").count() == 6
    )


def test_four_failures_still_let_the_right_password_in(client, staff):
    fail_times(client, staff.username, 4)
    assert sign_in(client, staff.username, PASSWORD).status_code == 302
    assert signed_in(client)
    assert not AccessAttempt.objects.filter(
        username=staff.username
    ).exists()  # success forgets them


def test_the_limit_and_cool_off_are_settings(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 2
    fail_times(client, staff.username, 2)
    page = sign_in(client, staff.username, PASSWORD).content.decode()
    assert "after 2 failed sign-in attempts" in page


def test_another_address_and_another_user_are_not_locked(client, staff):
    colleague = UserFactory(username="finance-2", roles=["Finance"])
    fail_times(client, staff.username, 5, ip="10.0.0.1")

    assert sign_in(client, colleague.username, PASSWORD, ip="10.0.0.1").status_code == 302
    client.logout()
    assert sign_in(client, staff.username, PASSWORD, ip="10.0.0.2").status_code == 302
    assert signed_in(client)


def test_axes_reset_lifts_the_lockout(client, staff):
    fail_times(client, staff.username, 5)
    assert sign_in(client, staff.username, PASSWORD).status_code == 429

    call_command("axes_reset", verbosity=0)

    assert sign_in(client, staff.username, PASSWORD).status_code == 302
    assert signed_in(client)


def test_a_superuser_sees_and_deletes_lockouts_in_the_admin(client, admin_client, staff):
    fail_times(client, staff.username, 5)
    attempt = AccessAttempt.objects.get(username=staff.username)

    listing = admin_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and "finance-1" in listing.content.decode()
    admin_client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )

    assert not AccessAttempt.objects.exists()
    assert sign_in(client, staff.username, PASSWORD).status_code == 302


def test_the_api_answers_keys_while_a_lockout_holds(client, staff, api_key_factory):
    fail_times(client, staff.username, 5, ip="127.0.0.1")
    api = api_key_factory("payouts:read")
    assert api.get("/api/v1/payouts/").status_code == 200
    assert (
        api_key_factory().get("/api/v1/payouts/").status_code == 403
    )  # keys still decide, nothing else


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        ([], "6.6.6.6", "10.0.0.9"),  # exposed directly: the header is anyone's to write
        (["10.0.0.9"], "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # one proxy: what it appended
        (["10.0.0.0/8"], "6.6.6.6, 203.0.113.7, 10.1.1.1", "203.0.113.7"),  # two, both trusted
        (["192.0.2.1"], "203.0.113.7", "10.0.0.9"),  # the peer is no trusted proxy
    ],
)
def test_the_client_address_behind_proxies_is_read_from_the_trusted_end(
    settings, proxies, forwarded, expected
):
    settings.AFFILIATEHUB_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip_address(request) == expected
