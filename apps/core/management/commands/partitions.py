"""manage.py partitions status|maintain

Every monthly-partitioned table (apps.core.partitions: inbound events, outbound deliveries,
revenue reports, trades): list each table's partitions and its default partition's rows, or
create the coming months' partitions and empty the default partitions (what the daily beat task
does before its retention step; `inbound_events maintain` also archives expired months).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.core.partitions import (
    PartitionBusy,
    partitions_maintain_all,
    partitions_status,
    table_spec,
)


class Command(BaseCommand):
    help = "Monthly partitions of every partitioned table: status, or maintain."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="Each table's partitions and default partition rows.")
        sub.add_parser("maintain", help="Create the coming months; empty the default partitions.")

    def handle(self, *args, action, **options):
        if action == "maintain":
            try:
                maintained = partitions_maintain_all()
            except PartitionBusy as exc:
                raise CommandError(f"{exc} Run it again in a moment.") from exc
            for table, result in maintained.items():
                self.stdout.write(
                    f"{table}: created {result['created']}, default rows {result['default_rows']}"
                )
            return
        for table, (parts, default_rows) in partitions_status().items():
            spec = table_spec(table)
            span = f"{parts[0].month:%Y-%m} .. {parts[-1].month:%Y-%m}" if parts else "none"
            self.stdout.write(
                f"{table} (by month of {spec.key}): {len(parts)} partitions, {span}; "
                f"default partition rows: {default_rows}"
            )
