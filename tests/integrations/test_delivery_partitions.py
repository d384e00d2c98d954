"""Outbound deliveries partitioned by month of creation (issue 18 §1): partitions made ahead and
on first use, the idempotency key across months and archives, retention that never drops a
month with deliveries still to send, and the admin over the archive boundary."""

from __future__ import annotations

import datetime as dt
import gzip
import types

import orjson
import pytest
from django.db import connection
from django.utils import timezone

from apps.core import partitions
from apps.integrations.inbound import archive
from apps.integrations.models import (
    DeliveryAttempt,
    EventArchive,
    OutboundDelivery,
    OutboundDeliveryKey,
)
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.retention import archived_delivery_location
from apps.integrations.outbound.services import deliveries
from apps.monitoring.models import Alert

pytestmark = pytest.mark.django_db
UTC = dt.UTC
TABLE = "integrations_outbounddelivery"


@pytest.fixture(autouse=True)
def _forget_partitions():
    partitions.partitions_forget()
    yield
    partitions.partitions_forget()


@pytest.fixture
def endpoint():
    return outbound.endpoint_create(
        name="crm", kind="subscriber", url="https://crm.example.com/hooks", event_types=[]
    )


def _partition_of(delivery_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [delivery_id])
        return cursor.fetchone()[0]


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def _enqueue_at(monkeypatch, moment, endpoint, key, *, status=None, made_ahead=True):
    """Enqueue a delivery as if at `moment`; its month's partition made ahead first, as the
    daily maintenance does (`made_ahead=False`: the month is missing)."""
    if made_ahead:
        partitions.partition_ensure(TABLE, moment.date())
    monkeypatch.setattr(deliveries, "timezone", types.SimpleNamespace(now=lambda: moment))
    monkeypatch.setattr(deliveries, "enqueue_send", lambda delivery_id: None)
    delivery, created = outbound.delivery_enqueue(
        endpoint=endpoint, event_type="player.attributed", payload={"k": key}, idempotency_key=key
    )
    monkeypatch.setattr(deliveries, "timezone", timezone)
    if status:
        OutboundDelivery.objects.filter(pk=delivery.pk).update(status=status)
    return delivery, created


def test_maintenance_creates_the_coming_months_of_every_partitioned_table(settings, db):
    settings.AFFILIATEHUB_EVENT_PARTITIONS_AHEAD = 1
    result = partitions.partitions_maintain_all(now=dt.datetime(2036, 5, 15, tzinfo=UTC))
    assert result[TABLE] == {"created": 2, "default_rows": 0}
    assert result["integrations_inboundevent"]["created"] == 2
    names = {part.name for part in partitions.partition_list(TABLE)}
    assert {f"{TABLE}_p2036_05", f"{TABLE}_p2036_06"} <= names
    assert f"{TABLE}_p2036_07" not in names
    again = partitions.partitions_maintain_all(now=dt.datetime(2036, 5, 31, tzinfo=UTC))
    assert again[TABLE]["created"] == 0


def test_enqueueing_asks_for_a_missing_month_and_the_task_makes_it(
    monkeypatch, endpoint, partition_requests, django_capture_on_commit_callbacks
):
    assert not _exists(f"{TABLE}_p2037_02")
    with django_capture_on_commit_callbacks(execute=True):
        delivery, created = _enqueue_at(
            monkeypatch, dt.datetime(2037, 2, 3, tzinfo=UTC), endpoint, "a", made_ahead=False
        )
    assert created
    assert _partition_of(delivery.pk) == f"{TABLE}_default"
    assert partition_requests == [(TABLE, "2037-02-01")]
    assert partition_requests.run() == [True]
    assert _partition_of(delivery.pk) == f"{TABLE}_p2037_02"
    key = OutboundDeliveryKey.objects.get(pk="a")
    assert (key.delivery_id, key.created_at) == (delivery.pk, delivery.created_at)
    assert partitions.default_partition_rows(TABLE) == 0


def test_the_same_key_months_later_is_still_the_same_delivery(monkeypatch, endpoint):
    first, created = _enqueue_at(
        monkeypatch, dt.datetime(2037, 1, 31, 23, 59, tzinfo=UTC), endpoint, "payout:PO-9"
    )
    again, created_again = _enqueue_at(
        monkeypatch, dt.datetime(2037, 5, 1, tzinfo=UTC), endpoint, "payout:PO-9"
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert OutboundDelivery.objects.filter(idempotency_key="payout:PO-9").count() == 1
    assert _partition_of(first.pk) == f"{TABLE}_p2037_01"


def test_rows_in_the_default_partition_move_to_their_month(endpoint):
    # An ORM insert (not the enqueueing) for a month without a partition lands in the safety net.
    OutboundDelivery.objects.create(
        endpoint=endpoint,
        event_type="x",
        idempotency_key="orm-1",
        message_id="msg_1",
        url=endpoint.url,
        created_at=dt.datetime(2038, 3, 9, tzinfo=UTC),
    )
    assert partitions.default_partition_rows(TABLE) == 1
    result = partitions.partitions_maintain(TABLE, now=dt.datetime(2038, 1, 1, tzinfo=UTC))
    assert result["default_rows"] == 0
    assert _partition_of(OutboundDelivery.objects.get(idempotency_key="orm-1").pk) == (
        f"{TABLE}_p2038_03"
    )


@pytest.fixture
def archived_month(monkeypatch, endpoint):
    """A succeeded delivery (with an attempt) and a dead one (with an alert) in March 2035,
    archived; a delivery in April 2035 kept."""
    moment = dt.datetime(2035, 3, 10, tzinfo=UTC)
    done, _ = _enqueue_at(monkeypatch, moment, endpoint, "k-done", status="succeeded")
    dead, _ = _enqueue_at(monkeypatch, moment, endpoint, "k-dead", status="dead")
    DeliveryAttempt.objects.create(
        delivery=done, number=1, at=moment, duration_ms=5, response_code=200
    )
    alert = Alert.objects.create(
        kind="delivery_dead", message="dead", scope="crm", endpoint=endpoint, delivery=dead
    )
    kept, _ = _enqueue_at(monkeypatch, dt.datetime(2035, 4, 2, tzinfo=UTC), endpoint, "k-new")
    record = archive.archive_month(
        dt.date(2035, 3, 1), now=dt.datetime(2035, 4, 5, tzinfo=UTC), table=TABLE
    )
    return types.SimpleNamespace(record=record, done=done, dead=dead, kept=kept, alert=alert)


def test_archive_writes_deliveries_with_their_attempts_then_drops_the_month(archived_month):
    record = archived_month.record
    assert record.path == f"outbound-deliveries/{TABLE}/2035-03.jsonl.gz"
    assert record.rows == 2
    assert not _exists(f"{TABLE}_p2035_03")
    assert not OutboundDelivery.objects.filter(created_at__lt=dt.datetime(2035, 4, 1, tzinfo=UTC))
    assert OutboundDelivery.objects.filter(pk=archived_month.kept.pk).exists()
    assert not DeliveryAttempt.objects.filter(delivery_id=archived_month.done.pk).exists()
    with archive.archive_storage().open(record.path, "rb") as handle:
        rows = [orjson.loads(line) for line in gzip.decompress(handle.read()).splitlines()]
    by_key = {row["idempotency_key"]: row for row in rows}
    assert by_key["k-done"]["status"] == "succeeded"
    assert [a["response_code"] for a in by_key["k-done"]["attempt_log"]] == [200]
    assert by_key["k-dead"]["attempt_log"] == []
    # The alert keeps its text and lets go of the dropped delivery.
    archived_month.alert.refresh_from_db()
    assert archived_month.alert.delivery_id is None
    assert archived_delivery_location(delivery_id=archived_month.done.pk) == record
    assert archived_delivery_location(idempotency_key="k-dead") == record


def test_the_key_of_an_archived_delivery_adds_nothing(monkeypatch, endpoint, archived_month):
    again, created = _enqueue_at(
        monkeypatch, dt.datetime(2036, 8, 1, tzinfo=UTC), endpoint, "k-done"
    )
    assert not created
    assert again.pk == archived_month.done.pk
    assert again._state.adding and again.status == ""  # a stand-in: the row is archived
    assert not OutboundDelivery.objects.filter(idempotency_key="k-done").exists()


def test_archive_refuses_a_month_with_deliveries_still_to_send(monkeypatch, endpoint):
    moment = dt.datetime(2034, 1, 5, tzinfo=UTC)
    _enqueue_at(monkeypatch, moment, endpoint, "done", status="succeeded")
    waiting, _ = _enqueue_at(monkeypatch, moment, endpoint, "waiting")
    for status in ("pending", "delivering", "failed"):
        OutboundDelivery.objects.filter(pk=waiting.pk).update(status=status)
        with pytest.raises(archive.ArchiveRefused, match="unfinished"):
            archive.archive_month(
                dt.date(2034, 1, 1), now=dt.datetime(2034, 3, 1, tzinfo=UTC), table=TABLE
            )
    assert _exists(f"{TABLE}_p2034_01")
    assert not EventArchive.objects.exists()


def test_retention_is_off_by_default_and_skips_unfinished_months(monkeypatch, settings, endpoint):
    _enqueue_at(monkeypatch, dt.datetime(2033, 9, 3, tzinfo=UTC), endpoint, "s", status="dead")
    _enqueue_at(monkeypatch, dt.datetime(2033, 10, 3, tzinfo=UTC), endpoint, "o", status="failed")
    now = dt.datetime(2033, 12, 20, tzinfo=UTC)
    assert archive.archive_due(now=now, table=TABLE) == {"archived": 0, "refused": 0}
    settings.AFFILIATEHUB_DELIVERY_RETENTION_MONTHS = 1
    result = archive.archive_due_all(now=now)[TABLE]
    # September is archived; October still holds a delivery being retried; November is kept.
    assert EventArchive.objects.filter(table=TABLE, month=dt.date(2033, 9, 1)).exists()
    assert result["refused"] >= 1
    assert _exists(f"{TABLE}_p2033_10")


def test_admin_says_where_an_archived_delivery_is(admin_client, archived_month):
    delivery_id = archived_month.done.pk
    response = admin_client.get(
        f"/admin/integrations/outbounddelivery/{delivery_id}/change/", follow=True
    )
    text = response.content.decode()
    assert f"Delivery {delivery_id} was archived in {archived_month.record.path}" in text
    search = admin_client.get("/admin/integrations/outbounddelivery/", {"q": "k-dead"})
    assert f"was archived in {archived_month.record.path} (2035-03)" in search.content.decode()
    kept = admin_client.get(
        f"/admin/integrations/outbounddelivery/{archived_month.kept.pk}/change/"
    )
    assert kept.status_code == 200


def test_archives_of_many_keys_are_found_in_two_queries(archived_month, django_assert_num_queries):
    from apps.integrations.outbound.retention import archived_delivery_locations

    with django_assert_num_queries(2):
        found = archived_delivery_locations(["k-done", "k-dead", "k-new", "no-such-key"])
    # k-new's month was kept, no-such-key was never enqueued: neither is in an archive.
    assert found == {"k-done": archived_month.record, "k-dead": archived_month.record}
