"""`affiliatehub.settings.production` as a deployment starts it: `check --deploy` is clean with
the environment a deployment sets, and a weak SECRET_KEY stops the process with a clear reason.

Run in subprocesses (settings are read once per process); nothing connects to the database or
the broker named here."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from affiliatehub.settings.secret_key import require_strong_secret_key, secret_key_weakness

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(64)


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECURE_", "AFFILIATEHUB_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="affiliatehub.settings.production",
        DATABASE_URL="postgresql://affiliatehub:pw@127.0.0.1:1/affiliatehub",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="hub.example.com",
        DEBUG="true",  # production ignores it
    )
    env.update(overrides)
    return env


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_a_deployments_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("key", ["changeme", "django-insecure-" + "x" * 60, "secret", "a" * 60])
def test_a_weak_secret_key_refuses_to_start(key):
    result = manage("check", "--deploy", SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY" in result.stderr
    assert f"SECRET_KEY={key}" not in result.stderr


def test_https_is_enforced_except_for_healthz():
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "from django.test import Client\n"
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
        "s.DEBUG)\n"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS, "
        "s.SECURE_REFERRER_POLICY)\n"
        "print(s.SECURE_PROXY_SSL_HEADER, 'testserver' in s.ALLOWED_HOSTS)\n"
        "c = Client(HTTP_HOST='hub.example.com')\n"
        "admin = c.get('/admin/')\n"
        "print(admin.status_code, admin['Location'])\n"
        "print(c.get('/metrics', HTTP_X_FORWARDED_PROTO='https', "
        "REMOTE_ADDR='203.0.113.9')['Strict-Transport-Security'])\n"
        "print(c.get('/healthz').status_code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=production_env(CELERY_BROKER_URL="redis://127.0.0.1:1/0"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "31536000 True True False",
        "True True DENY same-origin",
        "('HTTP_X_FORWARDED_PROTO', 'https') False",
        "301 https://hub.example.com/admin/",
        "max-age=31536000; includeSubDomains; preload",
        "503",  # answered over plain HTTP (nothing listens on the database and broker ports)
    ]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "not set"),
        ("insecure-dev-key-change-me-in-production", "development key"),
        ("django-insecure-0b9#x2@k!v7q$z1m5n8c3w6e4r9t2y7u1i0o3p5a8s6d4f2g1h", "development key"),
        ("changeme", "placeholder"),
        ("CHANGE-ME-Qm4nX8vR2tL6wZ0pJ3kH7sD1fG5bN9cV4xM8zA2qW6eR0tY3uI7oP", "placeholder"),
        ("secret", "placeholder"),
        ("my-secret-key-Qm4nX8vR2tL6wZ0pJ3kH7sD1fG5bN9cV4xM8zA2qW6eR0tY3uI7oP", "placeholder"),
        ("Qm4nX8vR2tL6wZ0pJ3kH7sD1fG5bN9cV4xM8z", "too short"),
        ("ab" * 40, "fewer than 5 different characters"),
    ],
)
def test_weak_secret_keys_are_named_for_what_is_wrong(key, reason):
    weakness = secret_key_weakness(key)
    assert weakness is not None and reason in weakness
    if len(key) > 10:
        assert key not in weakness  # the reason never quotes the key


def test_a_strong_secret_key_passes():
    assert secret_key_weakness(STRONG_KEY) is None
    require_strong_secret_key(STRONG_KEY)
