"""A record's whole story on its admin page, in panels: a player's, an affiliate's, an event's, a
payout's.

Each app contributes the panels it knows for a subject ("player", "affiliate", "event") with
`story_panel`, from its own story_panels module, so the page shows everything without the
subject's app importing the apps above it (facts, compliance state, ledger lines, statements,
payouts...). A panel is shown to users who may view its model; it renders at most ROWS rows and
links to the full, filtered list for the rest. `StoryAdminMixin` puts the panels under a
ModelAdmin's change form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

ROWS = 25


SUBJECTS = ("player", "affiliate", "event", "payout")


@dataclass(frozen=True)
class StoryPanel:
    subject: str
    key: str
    title: str
    order: int
    permission: str  # "app_label.view_model": who may see the panel
    render: Callable[[object], SafeString]


_PANELS: dict[tuple[str, str], StoryPanel] = {}


def story_panel(*, key: str, title: str, order: int, permission: str, subject: str = "player"):
    """Register `render(obj) -> html` as a panel of `subject`'s page (idempotent per key)."""
    if subject not in SUBJECTS:
        raise ValueError(f"Unknown story subject {subject!r}; choose one of {', '.join(SUBJECTS)}.")

    def register(render: Callable[[object], SafeString]):
        _PANELS[(subject, key)] = StoryPanel(
            subject=subject, key=key, title=title, order=order, permission=permission, render=render
        )
        return render

    return register


def panels_for(user, subject: str = "player") -> list[StoryPanel]:
    return sorted(
        (p for p in _PANELS.values() if p.subject == subject and user.has_perm(p.permission)),
        key=lambda p: p.order,
    )


class StoryAdminMixin:
    """A ModelAdmin whose change page shows the `story_subject` panels below the form."""

    story_subject = "player"
    change_form_template = "core/admin/story_change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        panels = []
        if obj is not None:
            panels = [
                {"key": p.key, "title": p.title, "html": p.render(obj)}
                for p in panels_for(request.user, self.story_subject)
            ]
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "story_panels": panels}
        )


# --- small HTML helpers the panels share -----------------------------------------------------


def admin_url(model_label: str, pk=None, **filters) -> str | None:
    """The admin change page of one row, or the changelist filtered by `filters`."""
    app_label, model = model_label.split(".")
    try:
        if pk is not None:
            return reverse(f"admin:{app_label}_{model}_change", args=[pk])
        url = reverse(f"admin:{app_label}_{model}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(filters)}" if filters else url


def link(model_label: str, pk, text=None) -> SafeString | str:
    if pk is None:
        return "—"
    url = admin_url(model_label, pk)
    return (
        format_html('<a href="{}">{}</a>', url, text if text is not None else pk)
        if url
        else str(text or pk)
    )


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence],
    *,
    total: int,
    more_url: str | None = None,
    footer: Sequence | None = None,
    empty: str = "None.",
) -> SafeString:
    """A compact admin table; `rows` hold text or safe HTML, escaped as needed."""
    rows = list(rows)
    if not rows:
        return format_html('<p class="story-empty">{}</p>', empty)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
    )
    foot = (
        format_html(
            "<tfoot><tr>{}</tr></tfoot>",
            format_html_join("", "<td><strong>{}</strong></td>", ((c,) for c in footer)),
        )
        if footer
        else ""
    )
    more = ""
    if total > len(rows):
        more = (
            format_html(' <a href="{}">All {} →</a>', more_url, total)
            if more_url
            else f" ({total} in all)"
        )
    shown = (
        format_html('<p class="help">Showing {} of {}.{}</p>', len(rows), total, more)
        if total > len(rows)
        else ""
    )
    return format_html(
        '<table class="story-table"><thead><tr>{}</tr></thead><tbody>{}</tbody>{}</table>{}',
        head,
        body,
        foot,
        shown,
    )


def dl(pairs: Iterable[tuple[str, object]]) -> SafeString:
    """A definition list of (label, value) pairs."""
    return mark_safe(  # noqa: S308 - every part is escaped by format_html_join
        '<dl class="story-dl">' + format_html_join("", "<dt>{}</dt><dd>{}</dd>", pairs) + "</dl>"
    )
