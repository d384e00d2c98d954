"""The partitioned event store (issue 18 §1): monthly partitions made ahead and on first use,
idempotency across months, archive-then-drop, and the read API and admin over the boundary."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import types

import orjson
import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from apps.integrations.inbound import archive, partitions, services, store
from apps.integrations.models import EventArchive, InboundEvent, InboundEventKey
from tests.integrations.conftest import load_fixture

UTC = dt.UTC


@pytest.fixture(autouse=True)
def _forget_partitions():
    partitions.partitions_forget()
    yield
    partitions.partitions_forget()


def _partition_of(event_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM integrations_inboundevent WHERE id = %s",
            [event_id],
        )
        return cursor.fetchone()[0]


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def _event(webhook_id: str, body: bytes = b'{"type": "x"}') -> services.IncomingEvent:
    return services.IncomingEvent(
        webhook_id=webhook_id,
        body_hash=hashlib.sha256(body).hexdigest(),
        payload=orjson.loads(body),
        event_type="deposit.created",
    )


def _store_at(monkeypatch, moment: dt.datetime, integration, *events, status=None, made_ahead=True):
    """Store events as if received at `moment`; its month's partition made ahead first, as the
    daily maintenance does (`made_ahead=False`: the month is missing)."""
    if made_ahead:
        partitions.partition_ensure(moment.date())
    monkeypatch.setattr(store, "timezone", types.SimpleNamespace(now=lambda: moment))
    results = services.inbound_events_store(
        integration_id=integration.pk, events=list(events), source="webhook"
    )
    monkeypatch.setattr(store, "timezone", timezone)
    if status:
        InboundEvent.objects.filter(pk__in=[r.event_id for r in results]).update(status=status)
    return results


def test_maintenance_creates_the_current_and_next_months(settings, db):
    settings.AFFILIATEHUB_EVENT_PARTITIONS_AHEAD = 2
    result = partitions.partitions_maintain(now=dt.datetime(2031, 11, 15, tzinfo=UTC))
    assert result == {"created": 3, "default_rows": 0}
    names = {p.name for p in partitions.partition_list()}
    assert {
        "integrations_inboundevent_p2031_11",
        "integrations_inboundevent_p2031_12",
        "integrations_inboundevent_p2032_01",
    } <= names
    assert "integrations_inboundevent_p2032_02" not in names
    # Idempotent: a second run creates nothing.
    again = partitions.partitions_maintain(now=dt.datetime(2031, 11, 30, tzinfo=UTC))
    assert again["created"] == 0


def test_the_store_asks_for_a_missing_month_and_the_task_makes_it(
    monkeypatch, integration, partition_requests, django_capture_on_commit_callbacks
):
    assert not _exists("integrations_inboundevent_p2033_04")
    with django_capture_on_commit_callbacks(execute=True):
        (result,) = _store_at(
            monkeypatch,
            dt.datetime(2033, 4, 2, tzinfo=UTC),
            integration,
            _event("a"),
            made_ahead=False,
        )
    assert result.outcome == services.ACCEPTED
    assert _partition_of(result.event_id) == "integrations_inboundevent_default"
    assert partition_requests == [("integrations_inboundevent", "2033-04-01")]
    assert partition_requests.run() == [True]
    assert _partition_of(result.event_id) == "integrations_inboundevent_p2033_04"
    assert partitions.default_partition_rows() == 0


def test_rows_in_the_default_partition_move_to_their_month(integration):
    # An ORM insert (not the store) for a month without a partition lands in the safety net.
    InboundEvent.objects.create(
        integration=integration,
        webhook_id="orm-1",
        body_hash="x",
        received_at=dt.datetime(2034, 7, 9, tzinfo=UTC),
    )
    assert partitions.default_partition_rows() == 1
    result = partitions.partitions_maintain(now=dt.datetime(2034, 1, 1, tzinfo=UTC))
    assert result["default_rows"] == 0
    event = InboundEvent.objects.get(webhook_id="orm-1")
    assert _partition_of(event.pk) == "integrations_inboundevent_p2034_07"


def test_a_duplicate_months_later_is_still_a_duplicate(monkeypatch, integration):
    (first,) = _store_at(
        monkeypatch, dt.datetime(2031, 1, 31, 23, 59, tzinfo=UTC), integration, _event("same")
    )
    (again,) = _store_at(
        monkeypatch, dt.datetime(2031, 4, 1, tzinfo=UTC), integration, _event("same")
    )
    (other,) = _store_at(
        monkeypatch, dt.datetime(2031, 4, 1, tzinfo=UTC), integration, _event("same", b'{"x": 1}')
    )
    assert first.outcome == services.ACCEPTED
    assert (again.outcome, again.event_id) == (services.DUPLICATE, first.event_id)
    assert (other.outcome, other.event_id) == (services.CONFLICT, first.event_id)
    assert InboundEvent.objects.filter(webhook_id="same").count() == 1
    assert _partition_of(first.event_id) == "integrations_inboundevent_p2031_01"
    assert not InboundEvent.objects.filter(received_at__gte=dt.datetime(2031, 2, 1, tzinfo=UTC))


def test_a_batch_repeating_an_id_stores_it_once(monkeypatch, integration):
    results = _store_at(
        monkeypatch,
        dt.datetime(2031, 6, 1, tzinfo=UTC),
        integration,
        _event("b1"),
        _event("b2"),
        _event("b1"),
    )
    assert [r.outcome for r in results] == [
        services.ACCEPTED,
        services.ACCEPTED,
        services.DUPLICATE,
    ]
    assert results[2].event_id == results[0].event_id
    assert InboundEventKey.objects.filter(integration=integration).count() == 2


def test_webhook_redelivered_in_another_month_answers_200(monkeypatch, post_webhook):
    envelope = load_fixture("deposit_created.json")
    monkeypatch.setattr(
        store,
        "timezone",
        types.SimpleNamespace(now=lambda: dt.datetime(2030, 5, 20, tzinfo=UTC)),
    )
    first = post_webhook(envelope, webhook_id="msg_months")
    monkeypatch.setattr(
        store, "timezone", types.SimpleNamespace(now=lambda: dt.datetime(2030, 9, 1, tzinfo=UTC))
    )
    second = post_webhook(envelope, webhook_id="msg_months")
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate", "event_id": first.json()["event_id"]}
    assert InboundEvent.objects.filter(webhook_id="msg_months").count() == 1


@pytest.fixture
def archived_month(monkeypatch, integration):
    """Three processed events in March 2025, archived; one event in April 2025 kept."""
    moment = dt.datetime(2025, 3, 10, tzinfo=UTC)
    stored = _store_at(
        monkeypatch,
        moment,
        integration,
        _event("old-1"),
        _event("old-2"),
        _event("old-3"),
        status="processed",
    )
    kept = _store_at(monkeypatch, dt.datetime(2025, 4, 2, tzinfo=UTC), integration, _event("new"))
    record = archive.archive_month(dt.date(2025, 3, 1), now=dt.datetime(2025, 4, 5, tzinfo=UTC))
    return types.SimpleNamespace(record=record, ids=[r.event_id for r in stored], kept=kept[0])


def test_archive_writes_the_month_then_drops_it(archived_month):
    record = archived_month.record
    assert record.rows == 3
    assert (record.min_id, record.max_id) == (min(archived_month.ids), max(archived_month.ids))
    assert record.path == "inbound-events/integrations_inboundevent/2025-03.jsonl.gz"
    assert not _exists("integrations_inboundevent_p2025_03")
    assert not InboundEvent.objects.filter(pk__in=archived_month.ids).exists()
    assert InboundEvent.objects.filter(pk=archived_month.kept.event_id).exists()
    # The stored file matches the recorded checksum and holds every row, every column.
    with archive.archive_storage().open(record.path, "rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == record.sha256
    assert len(data) == record.size_bytes
    rows = [orjson.loads(line) for line in gzip.decompress(data).splitlines()]
    assert [row["id"] for row in rows] == sorted(archived_month.ids)
    assert {row["webhook_id"] for row in rows} == {"old-1", "old-2", "old-3"}
    assert rows[0]["status"] == "processed"
    assert rows[0]["payload"] == {"type": "x"}
    # The reader finds one event by id or webhook id.
    (row,) = archive.archive_read(record, webhook_id="old-2")
    assert archive.archived_event_location(event_id=row["id"]) == record
    assert list(archive.archive_read(record, event_id=row["id"])) == [row]


def test_a_redelivery_of_an_archived_event_is_a_duplicate(monkeypatch, integration, archived_month):
    (again,) = _store_at(
        monkeypatch, dt.datetime(2030, 8, 1, tzinfo=UTC), integration, _event("old-1")
    )
    assert again.outcome == services.DUPLICATE
    assert again.status == services.ARCHIVED
    assert again.event_id in archived_month.ids
    assert not InboundEvent.objects.filter(webhook_id="old-1").exists()


def test_archive_read_refuses_a_file_that_does_not_match(archived_month):
    storage = archive.archive_storage()
    record = archived_month.record
    storage.delete(record.path)
    storage.save(record.path, ContentFile(gzip.compress(b'{"id": 1}\n')))
    with pytest.raises(archive.ArchiveCorrupt):
        list(archive.archive_read(record))


def test_archive_refuses_while_an_event_is_unfinished(monkeypatch, integration):
    results = _store_at(
        monkeypatch, dt.datetime(2030, 1, 5, tzinfo=UTC), integration, _event("p1"), _event("p2")
    )
    InboundEvent.objects.filter(pk=results[0].event_id).update(status="processed")
    for status in ("received", "failed", "parked"):
        InboundEvent.objects.filter(pk=results[1].event_id).update(status=status)
        with pytest.raises(archive.ArchiveRefused, match="unfinished"):
            archive.archive_month(dt.date(2030, 1, 1), now=dt.datetime(2030, 3, 1, tzinfo=UTC))
    assert _exists("integrations_inboundevent_p2030_01")
    assert not EventArchive.objects.exists()
    with pytest.raises(archive.ArchiveRefused, match="not before"):
        archive.archive_month(dt.date(2030, 3, 1), now=dt.datetime(2030, 3, 9, tzinfo=UTC))


def test_retention_archives_only_expired_finished_months(monkeypatch, settings, integration):
    settings.AFFILIATEHUB_EVENT_RETENTION_MONTHS = 1
    _store_at(
        monkeypatch, dt.datetime(2029, 9, 3, tzinfo=UTC), integration, _event("s"), status="dead"
    )
    _store_at(monkeypatch, dt.datetime(2029, 10, 3, tzinfo=UTC), integration, _event("o"))
    _store_at(
        monkeypatch,
        dt.datetime(2029, 11, 3, tzinfo=UTC),
        integration,
        _event("n"),
        status="processed",
    )
    result = archive.archive_due(now=dt.datetime(2029, 12, 20, tzinfo=UTC))
    # September is archived; October still holds a received event; November is kept (1 month).
    assert EventArchive.objects.filter(month=dt.date(2029, 9, 1)).exists()
    assert result["refused"] >= 1
    assert _exists("integrations_inboundevent_p2029_10")
    assert _exists("integrations_inboundevent_p2029_11")


def test_read_api_answers_410_for_an_archived_event(api_key_factory, archived_month):
    client = api_key_factory("events:read")
    archived_id = archived_month.ids[0]
    response = client.get(f"/api/v1/events/{archived_id}/")
    assert response.status_code == 410
    body = response.json()
    assert body["archive"] == {
        "file": archived_month.record.path,
        "month": "2025-03",
        "sha256": archived_month.record.sha256,
    }
    kept = client.get(f"/api/v1/events/{archived_month.kept.event_id}/")
    assert kept.status_code == 200
    assert kept.json()["webhook_id"] == "new"
    assert client.get("/api/v1/events/999999999/").status_code == 404
    bad = client.get("/api/v1/events/abc/")
    assert (bad.status_code, bad["Content-Type"]) == (404, "application/problem+json")
    # The list pages straight over the dropped month.
    listed = client.get("/api/v1/events/").json()
    assert [e["webhook_id"] for e in listed["results"]] == ["new"]


def test_admin_says_where_an_archived_event_is(admin_client, archived_month):
    archived_id = archived_month.ids[0]
    response = admin_client.get(
        f"/admin/integrations/inboundevent/{archived_id}/change/", follow=True
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert f"Event {archived_id} was archived in {archived_month.record.path}" in text
    search = admin_client.get("/admin/integrations/inboundevent/", {"q": "old-2"})
    assert f"was archived in {archived_month.record.path} (2025-03)" in search.content.decode()
