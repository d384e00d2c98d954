"""Affiliate postback settings (imported at the bottom of apps/affiliates/models.py).

When to fire lives in apps.postbacks (it needs players, compliance, mappings and commissions,
which sit above this app), the sending in the outbound room (`postback_enqueue`); this module
only says where each affiliate wants to hear about which conversion.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel

# WEBHOOKS.md §6: the macros a template may use. Values are URL-encoded when expanded.
POSTBACK_MACROS = (
    "click_id",
    "token",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "event",
    "amount",
    "currency",
    "commission",
)


class PostbackTemplate(TimeStampedModel):
    """One S2S postback an affiliate's tracker wants for one conversion event.

    `url_template` is the tracker URL with macros, e.g.
    `https://tracker.example/pb?cid={click_id}&e={event}&sum={amount}&cur={currency}`.
    A template for a campaign overrides the affiliate-wide one (campaign empty) for that
    campaign's players. Never fired for a self-excluded player.
    """

    class Event(models.TextChoices):
        REGISTRATION = "registration", "Registration"
        FIRST_DEPOSIT = "first_deposit", "First deposit"
        QUALIFIED_CPA = "qualified_cpa", "Qualified CPA"

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.CASCADE, related_name="postback_templates"
    )
    campaign = models.ForeignKey(
        "affiliates.Campaign",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="postback_templates",
        help_text="Empty: every campaign of the affiliate without its own template.",
    )
    event = models.CharField(max_length=20, choices=Event.choices)
    url_template = models.CharField(
        max_length=2000,
        help_text="http(s) URL with macros: " + ", ".join("{" + m + "}" for m in POSTBACK_MACROS),
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["affiliate", "event", "campaign"]
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate", "campaign", "event"],
                nulls_distinct=False,
                name="postback_template_unique_scope",
            ),
            models.CheckConstraint(
                condition=Q(event__in=["registration", "first_deposit", "qualified_cpa"]),
                name="postback_template_event_valid",
            ),
            models.CheckConstraint(
                condition=Q(url_template__regex=r"^https?://"), name="postback_template_http_url"
            ),
        ]

    def __str__(self) -> str:
        scope = f"campaign {self.campaign_id}" if self.campaign_id else "all campaigns"
        return f"{self.affiliate_id} {self.get_event_display()} ({scope})"
