"""Affiliate postbacks on the wire (WEBHOOKS.md §6): the transport half.

- `postback_url_expand`: the tracker's URL template with its `{macro}` placeholders replaced by
  URL-encoded values (braces naming no given value are left as they are);
- one endpoint per template (`postback-template-<id>`, kind `postback`), so each tracker's
  health, its retries and a 410 (which disables the endpoint) count for that tracker only;
- `postback_enqueue`: one GET delivery per (template, player, event), idempotent on that key,
  written in the caller's transaction like every delivery (the outbox).

When to fire, which template and for whom (self-exclusion) is the domain's: apps.postbacks.
This module knows plain values only: ids, the URL template and the macro values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from apps.integrations.outbound.models import OutboundEndpoint
from apps.integrations.outbound.services.common import Kind
from apps.integrations.outbound.services.deliveries import delivery_enqueue

_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


def postback_url_expand(template: str, values: Mapping[str, str]) -> str:
    """Replace each `{name}` of `values` with its URL-encoded value; other braces stay."""

    def value_of(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return quote(str(values[name] or ""), safe="")

    return _PLACEHOLDER_RE.sub(value_of, template)


def _postback_endpoint(template_id: int, url_template: str) -> OutboundEndpoint:
    """Each template is an endpoint of its own, so its health (and a 410) is tracked per tracker."""
    name = f"postback-template-{template_id}"
    endpoint = OutboundEndpoint.objects.filter(name=name).first()
    if endpoint is None:
        endpoint, _ = OutboundEndpoint.objects.get_or_create(
            name=name, defaults={"kind": Kind.POSTBACK, "url": url_template[:2000]}
        )
    return endpoint


def postback_enqueue(
    *,
    template_id: int,
    url_template: str,
    event: str,
    player_id: int,
    values: Mapping[str, str],
) -> bool:
    """Queue the GET of one conversion's postback to one template's tracker, once.

    `values` are the macro values, every macro the template may name (an absent one is left in
    the URL as written). Returns True when queued, False when this template already had this
    player's `event` postback queued (sent or not).
    """
    _, created = delivery_enqueue(
        endpoint=_postback_endpoint(template_id, url_template),
        event_type=f"postback.{event}",
        payload={"player_id": player_id, "template_id": template_id, "values": dict(values)},
        idempotency_key=f"postback:{template_id}:{player_id}:{event}",
        url=postback_url_expand(url_template, values),
        method="GET",
        topic="postback",
        subject=f"player:{player_id}",
    )
    return created
