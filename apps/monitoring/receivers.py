"""Monitoring's answers to signals of the layers below."""

from __future__ import annotations

from django.db import connection

from apps.monitoring.models import Alert


def alerts_release_archived_deliveries(sender: str, partition: str, **kwargs) -> None:
    """An outbound delivery month is about to be dropped (archived): the alerts naming its
    deliveries keep their text and lose the link (Alert.delivery has no database constraint)."""
    if sender != "integrations_outbounddelivery":
        return
    table = Alert._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{table}" SET delivery_id = NULL '  # noqa: S608 - our tables' names
            f'WHERE delivery_id IN (SELECT id FROM "{partition}")'
        )
