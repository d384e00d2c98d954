"""The enrolment QR code, drawn on the server as inline SVG (no image request, no third party
ever sees the secret)."""

from __future__ import annotations

import segno
from django.utils.safestring import SafeString, mark_safe


def qr_svg(data: str) -> SafeString:
    svg = segno.make(data, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", title="Authenticator QR code"
    )
    return mark_safe(svg)  # noqa: S308  (segno's own markup; the data is URL-encoded by django-otp)
