"""Headless Chromium (Debian's package) driven by Playwright against pytest-django's live_server."""

import os
import shutil
from pathlib import Path

import pytest
from django.apps import apps as django_apps

from apps.core.roles import sync_roles
from apps.monitoring.roles import merged_roles

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)
if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(autouse=True)
def staff_roles(transactional_db):
    """The role groups, as the migrations leave them.

    live_server needs transaction=True, and a TransactionTestCase empties every table after each
    test; post_migrate brings back permissions, not the groups the data migrations made. Without
    this, every browser test after the first logs in with a role that grants nothing.
    """
    sync_roles(django_apps, merged_roles())


@pytest.fixture(scope="session")
def browser():
    os.environ.setdefault(
        "DJANGO_ALLOW_ASYNC_UNSAFE", "true"
    )  # live_server + sync Playwright in one process
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.console_errors = []
    # Failed loads are judged by URL below (the browser's own /favicon.ico probe is no error of
    # ours).
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and not msg.text.startswith("Failed to load resource")
            and page.console_errors.append(msg.text)
        ),
    )
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and not r.url.endswith("/favicon.ico")
            and page.console_errors.append(f"{r.status} {r.url}")
        ),
    )
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, live_server, user, password="pw-for-tests-only"):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    # Wait for the redirect: the next goto must not race the login POST (or its session cookie).
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "/admin/login/" not in page.url, f"login failed for {user.username}"


def run_action(page, action: str, *, select_all: bool = True):
    """Pick rows on an admin changelist (all of them by default) and run an action by its name."""
    if select_all:
        page.check("#action-toggle")
    page.select_option("select[name=action]", action)
    with page.expect_navigation():
        page.click("button[name=index]")


def messages(page) -> list[str]:
    return page.locator("ul.messagelist li").all_inner_texts()
