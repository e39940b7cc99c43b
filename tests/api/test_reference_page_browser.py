"""The API reference page, rendered by a real headless Chromium from this service alone."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def rendered_dom(url: str) -> str:
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_the_reference_page_renders_every_operation_from_the_served_schema(live_server):
    dom = rendered_dom(f"{live_server.url}/docs/")
    for summary in (
        "List invitations, newest first",
        "Create an invitation and queue its delivery",
        "Get one invitation",
        "Resend an invitation",
    ):
        assert summary in dom
    assert "/v1/autodoc/invitations/{token}/resend" in dom
    assert "Authorize" in dom  # the security schemes were read
