"""The recipient's error pages as a browser shows them: headless Chromium against a live server."""

import shutil
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import InvitationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def chromium(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Chromium is required for browser tests (.ci/run installs it)"
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_an_expired_link_renders_as_a_readable_page_in_a_browser(live_server, organization, tmp_path):
    invitation = InvitationFactory(organization=organization, expires_at=timezone.now() - timedelta(days=1))
    url = f"{live_server.url}/i/{invitation.token}"

    dom = chromium("--dump-dom", url).stdout
    assert "<title>This invitation has expired</title>" in dom
    assert "<h1>This invitation has expired</h1>" in dom
    assert "<main>" in dom

    screenshot = tmp_path / "expired.png"
    chromium("--window-size=390,700", f"--screenshot={screenshot}", url)
    assert screenshot.read_bytes().startswith(b"\x89PNG")


def test_an_unknown_link_renders_as_a_not_found_page_in_a_browser(live_server, db):
    dom = chromium("--dump-dom", f"{live_server.url}/i/adi_doesnotexist00000000000").stdout
    assert "<h1>We could not find this invitation</h1>" in dom
    assert '"error"' not in dom
