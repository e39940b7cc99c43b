"""Browser tests' fixtures and helpers: Debian's Chromium, headless, driven by Playwright against
the live server. Nothing downloads a browser; without Chromium these tests fail, never skip."""

import os

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from invitations.models import Invitation

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "agent-password"


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes between
    # browser steps are still plain synchronous calls, so Django's async-safety guard is lifted here only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, username: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username.upper(), ignore_case=True)


def row_checkbox(page: Page, invitation: Invitation):
    return page.locator("#result_list tbody tr", has=page.locator(f"text={invitation.token}")).locator(
        "input.action-select"
    )
