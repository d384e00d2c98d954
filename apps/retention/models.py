"""Retention's models: the admin view of players with retention figures (a proxy of
players.Player) and the saved segments Retention re-runs.

Both moved here from monitoring with their data and history (migrations 0001/0002 of this app
and monitoring 0016): the segment table was renamed, the content types kept their rows, so
permissions, group grants and admin log entries followed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.players.models import Player


class RetentionPlayer(Player):
    """Admin view of players for retention work: aggregates, retention filters, exports."""

    class Meta:
        proxy = True
        verbose_name = "retention player"
        verbose_name_plural = "retention: players"


class RetentionSegment(models.Model):
    """A saved set of retention filters ("dormant German depositors of Acme, FTD in Q3") that
    Retention re-runs: `query` is the retention list's query string, checked when saved."""

    name = models.CharField(max_length=120, unique=True)
    query = models.TextField(
        help_text="The retention list's filters as a query string (dormant_days=30&country=DE…)."
    )
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "retention segment"

    def __str__(self) -> str:
        return self.name
