from urllib.parse import parse_qs, urlsplit

import pytest

from apps.affiliates.models import Click, Creative
from apps.affiliates.services import affiliate_suspend, creative_reject, hash_ip
from tests.factories import TrackingLinkFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_click_redirects_with_token_and_keeps_landing_query(client):
    link = TrackingLinkFactory(
        landing_url="https://brand.example/welcome?lang=en&x=&ah_token=stale#signup"
    )
    response = client.get(
        f"/t/{link.code}/?sub1=fb&sub2=adset-7&sub5=" + "z" * 400,
        HTTP_USER_AGENT="Mozilla/5.0",
        REMOTE_ADDR="198.51.100.4",
    )
    assert response.status_code == 302
    click = Click.objects.get()
    target = urlsplit(response["Location"])
    assert (target.scheme, target.netloc, target.path, target.fragment) == (
        "https",
        "brand.example",
        "/welcome",
        "signup",
    )
    assert parse_qs(target.query, keep_blank_values=True) == {
        "lang": ["en"],
        "x": [""],
        "ah_token": [click.token],
    }
    assert (click.link, click.sub1, click.sub2, click.sub3, len(click.sub5)) == (
        link,
        "fb",
        "adset-7",
        "",
        255,
    )
    assert click.ip_hash == hash_ip("198.51.100.4")
    assert click.user_agent == "Mozilla/5.0"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_each_click_gets_its_own_token(client):
    link = TrackingLinkFactory()
    first = client.get(f"/t/{link.code}/")
    second = client.get(f"/t/{link.code}/")
    assert first["Location"] != second["Location"]
    assert Click.objects.count() == 2


def assert_not_found(response):
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["type"].endswith("tracking-link-not-found")


def test_unknown_link_is_404_problem(client):
    assert_not_found(client.get("/t/nosuchcode/"))
    assert not Click.objects.exists()


def test_inactive_link_is_404(client):
    link = TrackingLinkFactory(is_active=False)
    assert_not_found(client.get(f"/t/{link.code}/"))
    assert not Click.objects.exists()


def test_suspended_affiliate_link_is_404(client):
    link = TrackingLinkFactory()
    affiliate_suspend(affiliate=link.affiliate)
    assert_not_found(client.get(f"/t/{link.code}/"))
    assert not Click.objects.exists()


def test_link_with_withdrawn_creative_approval_is_404(client):
    link = TrackingLinkFactory()
    creative_reject(creative=link.creative, acting_user=UserFactory(), reason="withdrawn")
    assert (
        link.creative.__class__.objects.get(pk=link.creative_id).status == Creative.Status.REJECTED
    )
    assert_not_found(client.get(f"/t/{link.code}/"))


def test_post_is_not_allowed(client):
    link = TrackingLinkFactory()
    assert client.post(f"/t/{link.code}/").status_code == 405
