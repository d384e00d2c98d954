"""The signing-secret format (Standard Webhooks: `whsec_` + base64 of 32 random bytes), shared by
the secrets integrations sign their webhooks with and those of our outbound endpoints."""

from __future__ import annotations

import base64
import secrets

SECRET_PREFIX = "whsec_"


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
