"""manage.py inbound_events status|maintain|archive YYYY-MM|read YYYY-MM [--id N | --webhook-id X]

The inbound event store's months (docs/operations.md, "Inbound event partitions"): list the
partitions and archives, create the coming months' partitions (what the daily beat task does),
archive one month now (refused while it holds unfinished events), or print an archived month's
events as JSON lines after checking the file against its recorded SHA-256.
"""

from __future__ import annotations

import datetime as dt

import orjson
from django.core.management.base import BaseCommand, CommandError

from apps.core.partitions import PartitionBusy
from apps.integrations.inbound.public import (
    ArchiveCorrupt,
    ArchiveRefused,
    archive_due,
    archive_month,
    archive_read,
    default_partition_rows,
    partition_list,
    partitions_maintain,
)
from apps.integrations.models import EventArchive, InboundEvent


def _month(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError as exc:
        raise CommandError(f"Not a month (YYYY-MM): {value!r}") from exc


class Command(BaseCommand):
    help = "Inbound event partitions and archives: status, maintain, archive a month, read one."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="Partitions, the default partition's rows, archives.")
        sub.add_parser("maintain", help="Partitions ahead, empty default, archive expired months.")
        archive = sub.add_parser("archive", help="Archive one month now and drop its partition.")
        archive.add_argument("month")
        read = sub.add_parser("read", help="Print an archived month's events (JSON lines).")
        read.add_argument("month")
        read.add_argument("--id", type=int, dest="event_id")
        read.add_argument("--webhook-id")

    def handle(self, *args, action, **options):
        if action == "status":
            for part in partition_list():
                self.stdout.write(f"{part.name}  [{part.start:%Y-%m-%d}, {part.end:%Y-%m-%d})")
            self.stdout.write(f"default partition rows: {default_partition_rows()}")
            for archive in EventArchive.objects.all():
                self.stdout.write(
                    f"archived {archive.month:%Y-%m}: {archive.rows} rows in {archive.path} "
                    f"sha256 {archive.sha256}"
                )
        elif action == "maintain":
            try:
                result = {**partitions_maintain(), **archive_due()}
            except PartitionBusy as exc:
                raise CommandError(f"{exc} Run it again in a moment.") from exc
            self.stdout.write(", ".join(f"{key} {value}" for key, value in result.items()))
        elif action == "archive":
            try:
                archive = archive_month(_month(options["month"]))
            except ArchiveRefused as refusal:
                raise CommandError(str(refusal)) from refusal
            self.stdout.write(
                f"Archived {archive.rows} events to {archive.path} (sha256 {archive.sha256})."
            )
        else:
            archive = EventArchive.objects.filter(
                table=InboundEvent._meta.db_table, month=_month(options["month"])
            ).first()
            if archive is None:
                raise CommandError(f"No archive of {options['month']}.")
            try:
                for row in archive_read(
                    archive, event_id=options["event_id"], webhook_id=options["webhook_id"]
                ):
                    self.stdout.write(orjson.dumps(row).decode())
            except ArchiveCorrupt as corrupt:
                raise CommandError(str(corrupt)) from corrupt
