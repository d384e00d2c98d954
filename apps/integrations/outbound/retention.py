"""Retention of outbound deliveries: their months are archived like inbound events.

A month of `integrations_outbounddelivery` older than AFFILIATEHUB_DELIVERY_RETENTION_MONTHS
(default unset: kept for ever) is archived by the daily partition task, once none of its
deliveries is pending, delivering or failed (retrying): each line of its
`outbound-deliveries/integrations_outbounddelivery/YYYY-MM.jsonl.gz` file is a delivery with its
attempts under "attempt_log"; the attempts are deleted in the transaction that drops the month.
OutboundDeliveryKey stays, so the same idempotency key years later still adds nothing, and
`archived_delivery_location` says which file holds a delivery that is no longer a row.
"""

from __future__ import annotations

from apps.core.partitions import month_start
from apps.integrations.inbound.public import ArchiveSpec, archive_holding, archive_spec_register
from apps.integrations.models import EventArchive
from apps.integrations.outbound.models import DELIVERY_TABLE, DeliveryStatus, OutboundDeliveryKey

# Statuses with work ahead: a month holding one is never archived.
UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING, DeliveryStatus.FAILED)

_LINE_SQL = """
SELECT t.id, (to_jsonb(t) || jsonb_build_object('attempt_log', COALESCE(
    (SELECT jsonb_agg(to_jsonb(a) ORDER BY a.number) FROM integrations_deliveryattempt a
     WHERE a.delivery_id = t.id), '[]'::jsonb)))::text
FROM "{name}" t ORDER BY t.id
"""
_DROP_ATTEMPTS_SQL = (
    'DELETE FROM integrations_deliveryattempt a USING "{name}" t WHERE a.delivery_id = t.id'
)

archive_spec_register(
    DELIVERY_TABLE,
    ArchiveSpec(
        folder="outbound-deliveries",
        unfinished=tuple(str(status) for status in UNFINISHED),
        retention_setting="AFFILIATEHUB_DELIVERY_RETENTION_MONTHS",
        line_sql=_LINE_SQL,
        drop_sql=(_DROP_ATTEMPTS_SQL,),
    ),
)


def archived_delivery_location(
    *, idempotency_key: str | None = None, delivery_id: int | None = None
) -> EventArchive | None:
    """The archive holding a delivery that is no longer a row, by key or by id."""
    if idempotency_key is not None:
        return archived_delivery_locations([idempotency_key]).get(idempotency_key)
    return archive_holding(table=DELIVERY_TABLE, row_id=delivery_id)


def archived_delivery_locations(idempotency_keys: list[str]) -> dict[str, EventArchive]:
    """{key: the archive holding its delivery} for those of `idempotency_keys` whose month was
    archived (two queries, whatever the number of keys)."""
    months = {
        key: month_start(created_at)
        for key, created_at in OutboundDeliveryKey.objects.filter(
            pk__in=idempotency_keys
        ).values_list("pk", "created_at")
    }
    archives = {
        archive.month: archive
        for archive in EventArchive.objects.filter(
            table=DELIVERY_TABLE, month__in=set(months.values())
        )
    }
    return {key: archives[month] for key, month in months.items() if month in archives}
