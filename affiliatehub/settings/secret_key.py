"""The production SECRET_KEY must be a real secret: it signs sessions, password-reset links and
CSRF tokens, and salts click IP hashes. A weak one refuses to start instead of warning."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

MIN_LENGTH = 50
MIN_UNIQUE_CHARACTERS = 5
INSECURE_PREFIXES = ("django-insecure", "insecure")
# Placeholders copied from examples and templates, refused wherever they appear in the key.
PLACEHOLDERS = (
    "changeme",
    "change-me",
    "change_me",
    "replaceme",
    "replace-me",
    "replace_me",
    "your-secret-key",
    "your_secret_key",
    "secret-key",
    "secret_key",
    "secretkey",
)
PLACEHOLDER_KEYS = frozenset(
    {"secret", "password", "django", "development", "dev", "test", "default"}
)

GENERATE = 'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(64))"'


def secret_key_weakness(key: str) -> str | None:
    """Why `key` is not fit for production, or None when it is. Never quotes the key."""
    normalised = key.strip().lower()
    if not normalised:
        return "SECRET_KEY is not set."
    if normalised.startswith(INSECURE_PREFIXES):
        return "SECRET_KEY is a development key (it starts with 'insecure' or 'django-insecure')."
    if normalised in PLACEHOLDER_KEYS or any(word in normalised for word in PLACEHOLDERS):
        return "SECRET_KEY is a placeholder (such as 'changeme' or 'secret'), not a secret."
    if len(key) < MIN_LENGTH:
        return f"SECRET_KEY is too short ({len(key)} characters; at least {MIN_LENGTH})."
    if len(set(key)) < MIN_UNIQUE_CHARACTERS:
        return f"SECRET_KEY has fewer than {MIN_UNIQUE_CHARACTERS} different characters."
    return None


def require_strong_secret_key(key: str) -> None:
    """Raise ImproperlyConfigured (the process does not start) for a weak or default key."""
    weakness = secret_key_weakness(key)
    if weakness:
        raise ImproperlyConfigured(f"{weakness} {GENERATE}")
