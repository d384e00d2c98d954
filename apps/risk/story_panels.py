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
