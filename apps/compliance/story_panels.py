"""The player page's compliance panel: KYC, self-exclusions, overrides and the licence for the
player's brand and country, so Compliance sees the whole state without leaving the player."""

from __future__ import annotations

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.compliance.models import ExclusionOverride, KycRecord, SelfExclusion
from apps.compliance.selectors import brand_is_licensed, kyc_current_status, player_is_self_excluded
from apps.core.story import ROWS, admin_url, dl, link, story_panel, table

_FLAG_YES = mark_safe('<strong class="story-flag">yes</strong>')
_FLAG_UNLICENSED = mark_safe('<strong class="story-flag">not licensed</strong>')


def _at(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


@story_panel(
    key="compliance", title="Compliance state", order=5, permission="compliance.view_kycrecord"
)
def compliance(player):
    now = timezone.now()
    excluded = player_is_self_excluded(player=player, at=now)
    licensed = brand_is_licensed(player.brand, player.country)
    overrides = list(ExclusionOverride.objects.filter(player=player).order_by("-starts_at")[:ROWS])
    active = [
        o
        for o in overrides
        if o.starts_at <= now < o.expires_at and (o.revoked_at is None or o.revoked_at > now)
    ]
    summary = dl(
        [
            ("KYC", kyc_current_status(player=player) or "no KYC report"),
            ("Self-excluded now", _FLAG_YES if excluded else "no"),
            (
                f"Licence for {player.brand} in {player.country}",
                "licensed" if licensed else _FLAG_UNLICENSED,
            ),
            (
                "Overrides in force",
                ", ".join(f"{o.get_kind_display()} until {_at(o.expires_at)}" for o in active)
                or "none",
            ),
        ]
    )
    kyc = KycRecord.objects.filter(player=player).order_by("-updated_at")
    kyc_rows = [
        (
            link("compliance.kycrecord", k.pk, k.get_status_display()),
            _at(k.updated_at),
            k.source,
            "current" if k.is_current else "",
        )
        for k in kyc[:ROWS]
    ]
    exclusions = SelfExclusion.objects.filter(player=player).order_by("-starts_at")
    exclusion_rows = [
        (
            link("compliance.selfexclusion", e.pk, e.scheme),
            _at(e.starts_at),
            _at(e.ends_at),
            _at(e.ended_at),
        )
        for e in exclusions[:ROWS]
    ]
    override_rows = [
        (
            link("compliance.exclusionoverride", o.pk, o.get_kind_display()),
            _at(o.starts_at),
            _at(o.expires_at),
            _at(o.revoked_at),
            o.reason,
        )
        for o in overrides
    ]
    return format_html(
        "{}<h3>KYC reports</h3>{}<h3>Self-exclusions</h3>{}<h3>Overrides</h3>{}",
        summary,
        table(
            ("Status", "Updated", "Source", ""),
            kyc_rows,
            total=kyc.count(),
            more_url=admin_url("compliance.kycrecord", player__id__exact=player.pk),
            empty="No KYC reports.",
        ),
        table(
            ("Scheme", "Starts", "Planned end", "Ended"),
            exclusion_rows,
            total=exclusions.count(),
            more_url=admin_url("compliance.selfexclusion", player__id__exact=player.pk),
            empty="Never self-excluded.",
        ),
        table(
            ("Kind", "From", "Expires", "Revoked", "Reason"),
            override_rows,
            total=len(override_rows),
            empty="No overrides.",
        ),
    )
