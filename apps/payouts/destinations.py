"""Payout destinations as people read them: masked everywhere except the approval page, one
line of text, and whether two destinations pay the same account."""

from __future__ import annotations

PAYEE_KEYS = (
    "kind",
    "currency",
    "details",
    "beneficiary_name",
    "beneficiary_address",
    "wallet_address",
)
KIND_LABELS = {"bank_wire": "Bank wire", "skrill": "Skrill", "neteller": "Neteller", "usdt": "USDT"}


def same_payee(a: dict | None, b: dict | None) -> bool:
    """Whether two destinations pay the same account (which method row holds it does not matter)."""
    if a is None or b is None:
        return a is b
    return all((a.get(key) or None) == (b.get(key) or None) for key in PAYEE_KEYS)


def mask(value) -> str:
    """Enough to recognise an account, not enough to use it: e-mails keep their first letter and
    domain, other values their first and last four characters."""
    text = str(value or "")
    if "@" in text:
        name, _, domain = text.partition("@")
        return f"{name[:1]}***@{domain}"
    if len(text) <= 8:
        return text[:2] + "*" * max(len(text) - 2, 0)
    return f"{text[:4]}…{text[-4:]}"


def _parts(destination: dict, masked: bool) -> list[str]:
    show = mask if masked else str
    parts = [
        f"{KIND_LABELS.get(destination.get('kind'), destination.get('kind'))} "
        f"{destination.get('currency', '')}"
    ]
    for key, value in sorted((destination.get("details") or {}).items()):
        if value not in ("", None):
            parts.append(f"{key}: {show(value) if key not in ('network', 'bic') else value}")
    for key in ("beneficiary_name", "beneficiary_address", "wallet_address"):
        if destination.get(key):
            parts.append(
                f"{key.replace('_', ' ')}: "
                f"{destination[key] if key == 'beneficiary_name' else show(destination[key])}"
            )
    return parts


def describe(destination: dict | None, *, masked: bool = True) -> str:
    """ "Skrill EUR, email: p***@wallet.example" (masked) or the full values."""
    if not destination:
        return "—"
    return ", ".join(_parts(destination, masked))
