"""The affiliate's page: its risk cases, with what each holds (issue 17 §7)."""

from __future__ import annotations

from apps.core.display import format_money
from apps.core.story import ROWS, admin_url, link, story_panel, table
from apps.risk.models import RiskCase
from apps.risk.selectors import held_amounts


def held_text(amounts: dict) -> str:
    return ", ".join(format_money(a, c) for c, a in sorted(amounts.items())) or "nothing"


@story_panel(
    subject="affiliate",
    key="risk_cases",
    title="Risk cases",
    order=45,
    permission="risk.view_riskcase",
)
def affiliate_risk_cases(affiliate):
    qs = RiskCase.objects.filter(affiliate=affiliate)
    cases = list(qs.order_by("-opened_at", "-pk")[:ROWS])
    held = held_amounts([c.pk for c in cases])
    rows = [
        (
            link("risk.riskcase", c.pk, c.label),
            c.get_status_display(),
            c.score,
            c.opened_at.strftime("%Y-%m-%d %H:%M"),
            held_text(held.get(c.pk, {})),
            "yes" if c.payout_hold_id and c.is_live else "",
        )
        for c in cases
    ]
    return table(
        ("Case", "Status", "Score", "Opened", "Held now", "Payouts held"),
        rows,
        total=qs.count(),
        more_url=admin_url("risk.riskcase", affiliate__id__exact=affiliate.pk),
        empty="No risk cases.",
    )


@story_panel(
    subject="payout",
    key="risk_cases",
    title="Risk cases of this affiliate",
    order=10,
    permission="risk.view_riskcase",
)
def payout_risk_cases(payout):
    """On the payout's page (where Finance approves it): the affiliate's open cases and what
    they hold, so "is anything about this affiliate suspicious?" is answered where it is asked."""
    cases = list(
        RiskCase.objects.filter(
            affiliate_id=payout.affiliate_id, status__in=RiskCase.LIVE
        ).order_by("-opened_at")
    )
    held = held_amounts([c.pk for c in cases])
    rows = [
        (
            link("risk.riskcase", c.pk, c.label),
            c.get_status_display(),
            c.score,
            held_text(held.get(c.pk, {})),
            "yes" if c.payout_hold_id else "",
        )
        for c in cases
    ]
    return table(
        ("Case", "Status", "Score", "Held now", "Payouts held"),
        rows,
        total=len(rows),
        empty="No open risk case for this affiliate.",
    )
