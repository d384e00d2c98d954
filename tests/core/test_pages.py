"""The pages a new user opens first: the landing page, the API docs (offline), the favicon."""

from __future__ import annotations

import logging

import pytest

from apps.core.logging import ExpectedResponsesWithoutTraceback

pytestmark = pytest.mark.django_db


def test_the_landing_page_points_to_the_admin_the_docs_and_health(client):
    page = client.get("/")
    assert page.status_code == 200
    for href in ("/admin/", "/admin/health/", "/api/docs/", "/api/redoc/", "/healthz"):
        assert f'href="{href}"'.encode() in page.content


def test_the_api_docs_load_swagger_ui_and_redoc_from_our_own_static_files(client):
    for path in ("/api/docs/", "/api/redoc/"):
        page = client.get(path)
        assert page.status_code == 200
        html = page.content.decode()
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html


def test_the_schema_says_how_to_get_a_key(client):
    schema = client.get("/api/schema/").content.decode()
    assert "apikey_create" in schema and "registrations:write" in schema


def test_the_favicon_is_ours(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")


def test_expected_refusals_are_logged_without_a_traceback():
    try:
        raise PermissionError("no")
    except PermissionError:
        import sys

        exc_info = sys.exc_info()
    refused = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Forbidden", (), exc_info
    )
    refused.status_code = 403
    broken = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Server error", (), exc_info
    )
    broken.status_code = 500
    quiet = ExpectedResponsesWithoutTraceback()
    assert quiet.filter(refused) and refused.exc_info is None
    assert quiet.filter(broken) and broken.exc_info is not None


def test_a_refused_page_says_why_and_who_you_are(client, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("ret1", password="x", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="Retention")[0])
    client.force_login(user)
    page = client.get("/admin/health/")
    if page.status_code == 200:  # the health page is open to this role; any admin-only view will do
        page = client.get("/admin/auth/user/add/")
    assert page.status_code == 403
    html = page.content.decode()
    assert "This needs a permission you do not have" in html
    assert "ret1" in html and "Retention" in html
