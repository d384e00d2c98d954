"""One poll run per integration at a time through a lease on the PollConfig row
(apps/integrations/polling/lease.py): single statements, so it holds behind a transaction-pooling
PgBouncer; concurrent takers exclude each other, a dead run's lease expires, every run releases
its lease however it ends, and a run that lost its lease stops."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone

from apps.integrations.models import PollConfig, ReconciliationRun
from apps.integrations.polling.lease import PollLease, lease_ttl
from apps.integrations.polling.services import PollBusy, integration_poll, poll_config_save

from .factories import IntegrationFactory
from .polling_source import PollSource, envelope

pytestmark = pytest.mark.django_db(transaction=True)
NOW = timezone.now()


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.AFFILIATEHUB_POLL_RETRY_BASE_SECONDS = 0.01
    settings.AFFILIATEHUB_POLL_RETRY_CAP_SECONDS = 0.05


@pytest.fixture
def source():
    server = PollSource().start()
    server.items = [envelope(f"e{i}", NOW - dt.timedelta(minutes=30 - i)) for i in range(8)]
    yield server
    server.stop()


@pytest.fixture
def integration():
    return IntegrationFactory(slug="crm-lease")


@pytest.fixture
def config(integration, source):
    return poll_config_save(integration=integration, url=source.url, page_size=3)


def _lease_row(config):
    return PollConfig.objects.values("lease_owner", "lease_until").get(pk=config.pk)


def _db_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def test_the_ttl_covers_one_page_with_every_retry(config, settings):
    settings.AFFILIATEHUB_POLL_RETRY_CAP_SECONDS = 20
    config.timeout_seconds, config.max_attempts = 30, 4
    assert lease_ttl(config) == dt.timedelta(seconds=4 * (30 + 20) + 60)

    lease = PollLease(config)
    before = _db_now()
    assert lease.take()
    row = _lease_row(config)
    assert row["lease_owner"] == lease.owner
    assert before + lease.ttl <= row["lease_until"] <= _db_now() + lease.ttl


def test_concurrent_takers_exclude_each_other(config):
    takers = 8
    barrier = threading.Barrier(takers)
    results: list[bool] = []

    def take():
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            results.append(PollLease(config).take())
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=take) for _ in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * (takers - 1) + [True]


def test_a_live_lease_is_not_taken_and_a_released_one_is(config):
    first, second = PollLease(config), PollLease(config)
    assert first.take()
    assert not second.take()
    assert not second.renew()  # renewing a lease one does not hold changes nothing
    second.release()
    assert _lease_row(config)["lease_owner"] == first.owner
    first.release()
    assert _lease_row(config) == {"lease_owner": "", "lease_until": None}
    assert second.take()


def test_a_dead_runs_lease_expires_and_its_run_is_abandoned(integration, config):
    dead = PollLease(config)
    assert dead.take()
    stale = ReconciliationRun.objects.create(
        integration=integration,
        trigger="schedule",
        window_start=NOW - dt.timedelta(hours=1),
        window_end=NOW,
    )
    with pytest.raises(PollBusy):  # while the lease lasts, the dead worker still counts
        integration_poll(integration_id=integration.pk, trigger="manual")

    PollConfig.objects.filter(pk=config.pk).update(lease_until=Now() - dt.timedelta(seconds=1))
    run = integration_poll(integration_id=integration.pk)

    assert run.status == "succeeded", run.error
    stale.refresh_from_db()
    assert stale.status == "failed" and stale.error.startswith("Abandoned")
    assert _lease_row(config) == {"lease_owner": "", "lease_until": None}
    assert not dead.renew()  # the dead worker, were it to wake, finds its lease gone


def test_the_lease_is_renewed_as_each_page_arrives_and_released_at_the_end(
    integration, config, monkeypatch
):
    seen = []
    renew = PollLease.renew

    def recording_renew(self):
        renewed = renew(self)
        seen.append((renewed, _lease_row(config), self.owner))
        return renewed

    monkeypatch.setattr(PollLease, "renew", recording_renew)
    run = integration_poll(integration_id=integration.pk)

    assert run.status == "succeeded" and run.pages == 3
    assert [renewed for renewed, _, _ in seen] == [True, True, True]
    assert all(row["lease_owner"] == owner for _, row, owner in seen)
    untils = [row["lease_until"] for _, row, _ in seen]
    assert untils == sorted(untils) and len(set(untils)) == 3
    assert _lease_row(config) == {"lease_owner": "", "lease_until": None}


@pytest.mark.parametrize("failure", ["page", "unexpected"])
def test_the_lease_is_released_when_the_run_fails(integration, source, config, failure):
    if failure == "page":
        source.fail_page = 1
        run = integration_poll(integration_id=integration.pk, sleep=lambda s: None)
        assert run.status == "failed" and "HTTP 503" in run.error
    else:

        class Broken:
            def get(self, *args, **kwargs):
                raise ZeroDivisionError("a bug in the adapter")

        with pytest.raises(ZeroDivisionError):
            integration_poll(integration_id=integration.pk, session=Broken())
        assert ReconciliationRun.objects.get(integration=integration).status == "failed"
    assert _lease_row(config) == {"lease_owner": "", "lease_until": None}
    source.fail_page = None
    assert integration_poll(integration_id=integration.pk).status == "succeeded"


def test_a_run_that_lost_its_lease_stops_and_leaves_the_window_open(
    integration, config, monkeypatch
):
    renew = PollLease.renew
    calls = []
    other = PollLease(config)

    def stalled_then_renew(self):
        calls.append(self.owner)
        if len(calls) == 2:  # the worker stalled past its lease and another run took it
            PollConfig.objects.filter(pk=config.pk).update(
                lease_until=Now() - dt.timedelta(seconds=1)
            )
            assert other.take()
        return renew(self)

    monkeypatch.setattr(PollLease, "renew", stalled_then_renew)
    run = integration_poll(integration_id=integration.pk)

    assert run.status == "failed" and "PollLeaseLost" in run.error
    assert run.pages == 1  # the page that arrived after the lease was lost is not stored
    config.refresh_from_db()
    assert config.last_window_end is None
    assert config.lease_owner == other.owner  # its release did not free the other run's lease
