"""The console's index: apps named in words, the job queues listed once, no link to a site it lacks."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_index_names_apps_in_words_and_lists_the_queue_dashboard_once(admin_user):
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    for package_name in ("Axes", "AXES", "Otp_Totp", "OTP_TOTP", "Django_Rq", "DJANGO_RQ"):
        assert f">{package_name}<" not in page, package_name
    assert "Login lockouts" in page and "Two-factor devices" in page and "Suppressions" in page
    assert page.count('href="/admin/rq/"') == 1 and "app-django_rq" not in page


def test_no_view_site_link_leads_to_a_page_the_service_does_not_have(admin_user):
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert "View site" not in page
    assert client.get("/").status_code == 404
