import logging
from unittest import mock

import pytest

from apps.core import views


@pytest.fixture(autouse=True)
def _no_failures_logged_yet():
    views._logged_failures.clear()
    yield
    views._logged_failures.clear()


def refused(message):
    def check():
        raise ConnectionError(message)

    return check


@pytest.mark.django_db
def test_healthz_reports_each_component_and_the_overall_status(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_healthz_is_503_without_the_error_text_which_is_logged_once(client, caplog):
    failing_broker = refused("Error 111 connecting to 127.0.0.1:6391. Connection refused.")
    with mock.patch.dict(views.HEALTH_CHECKS, broker=failing_broker), caplog.at_level(logging.INFO):
        responses = [client.get("/healthz") for _ in range(3)]
    for response in responses:
        assert response.status_code == 503
        assert response.json() == {
            "status": "failing",
            "checks": {"database": "ok", "broker": "failing"},
        }
        assert "6391" not in response.content.decode() and "Error" not in response.content.decode()
    logged = [r for r in caplog.records if r.name == "affiliatehub.healthz"]
    assert len(logged) == 1  # not once per poll
    assert logged[0].levelno == logging.WARNING and logged[0].exc_info is None
    assert (
        "broker failing: ConnectionError: Error 111 connecting to 127.0.0.1:6391"
        in logged[0].getMessage()
    )


@pytest.mark.django_db
def test_healthz_logs_a_changed_error_and_the_recovery(client, caplog):
    with caplog.at_level(logging.INFO):
        with mock.patch.dict(views.HEALTH_CHECKS, database=refused("timeout")):
            client.get("/healthz")
        with mock.patch.dict(views.HEALTH_CHECKS, database=refused("authentication failed")):
            client.get("/healthz")
        assert client.get("/healthz").status_code == 200
        client.get("/healthz")
    messages = [r.getMessage() for r in caplog.records if r.name == "affiliatehub.healthz"]
    assert messages == [
        "Health check database failing: ConnectionError: timeout",
        "Health check database failing: ConnectionError: authentication failed",
        "Health check database ok again",
    ]
