"""manage.py integration_poll SLUG [--since ISO --until ISO]: poll now, or backfill a range."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.integrations.models import Integration, ReconciliationRun
from apps.integrations.polling.public import PollError, integration_poll


def _aware(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--{name}: not an ISO 8601 time: {value!r}") from exc
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


class Command(BaseCommand):
    help = "Poll an integration's source now (its next window), or backfill --since/--until."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--since", help="Backfill start, ISO 8601 (UTC when no offset).")
        parser.add_argument("--until", help="Backfill end, ISO 8601 (default: now).")

    def handle(self, *args, slug, since=None, until=None, **options):
        integration = Integration.objects.filter(slug=slug).first()
        if integration is None:
            raise CommandError(f"No integration {slug!r}.")
        if until and not since:
            raise CommandError("--until needs --since.")
        start = _aware(since, "since") if since else None
        end = (_aware(until, "until") if until else timezone.now()) if since else None
        try:
            run = integration_poll(
                integration_id=integration.pk,
                trigger=ReconciliationRun.Trigger.BACKFILL
                if since
                else ReconciliationRun.Trigger.MANUAL,
                since=start,
                until=end,
                requested_by="manage.py integration_poll",
            )
        except PollError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"run #{run.pk} {run.status}: window {run.window_start.isoformat()} .. "
            f"{run.window_end.isoformat()}, "
            f"pages {run.pages}, polled {run.polled}, already received {run.already_received} "
            f"({run.previously_polled} by earlier polls), recovered {run.recovered}, failed "
            f"{run.failed}, "
            f"skipped {run.skipped}"
        )
        if run.status != ReconciliationRun.Status.SUCCEEDED:
            raise CommandError(f"Poll failed: {run.error}")
