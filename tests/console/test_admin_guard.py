"""The support console is guarded like the API: logins throttled per IP and per username (django-axes),
the job dashboard for superusers or holders of its permission only, and optional TOTP two-factor."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from tests.factories import StaffUserFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "agent-password"


def log_in(client: Client, username: str, password: str, ip: str = "198.51.100.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.fixture
def agent():
    return StaffUserFactory(permissions=("invitations.view_invitation",))


def test_after_ten_failed_logins_from_one_ip_the_right_password_is_refused_too(client, agent):
    with time_machine.travel(T0, tick=False):
        for n in range(9):
            assert log_in(client, f"someone{n}", "wrong").status_code == 200  # the form again, with its error
        assert log_in(client, "someone9", "wrong").status_code == 429  # the tenth locks the address
        refused = log_in(client, agent.username, PASSWORD)
        assert refused.status_code == 429
        page = refused.content.decode()
        assert "Login locked" in page and "15 minutes" in page
        assert refused["Retry-After"] == "900"
        # Another address is not locked out.
        assert logged_in(log_in(Client(), agent.username, PASSWORD, ip="198.51.100.8"))
    with time_machine.travel(T0 + timedelta(minutes=16), tick=False):
        assert logged_in(log_in(client, agent.username, PASSWORD))


def test_after_ten_failed_logins_for_one_username_from_many_ips_it_is_locked_everywhere(agent):
    with time_machine.travel(T0, tick=False):
        for n in range(10):
            log_in(Client(), agent.username, "wrong", ip=f"203.0.113.{n + 1}")
        refused = log_in(Client(), agent.username, PASSWORD, ip="203.0.113.200")
        assert refused.status_code == 429
        assert "Login locked" in refused.content.decode()
        # Other accounts from a fresh address still log in.
        other = StaffUserFactory()
        assert logged_in(log_in(Client(), other.username, PASSWORD, ip="203.0.113.201"))


def test_nine_failures_do_not_lock_and_a_success_starts_the_count_again(client, agent):
    with time_machine.travel(T0, tick=False):
        for _ in range(9):
            log_in(client, agent.username, "wrong")
        assert logged_in(log_in(client, agent.username, PASSWORD))
        client.logout()
        for _ in range(9):
            log_in(client, agent.username, "wrong")
        assert logged_in(log_in(client, agent.username, PASSWORD))


def _sample_path(pattern) -> str:
    route = str(pattern.pattern).lstrip("^").rstrip("$").replace("/?", "/")
    route = re.sub(r"\(\?P<\w+>[^)]*\)\??", "x", route)
    return "/admin/rq/" + re.sub(r"<(\w+):\w+>", lambda m: "0" if m.group(1) == "int" else "x", route)


RQ_PATHS = sorted({_sample_path(p) for p in get_admin_urlpatterns() + get_api_urlpatterns()}) + [
    "/admin/django_rq/dashboard/"
]


def test_every_job_dashboard_url_is_refused_to_staff_without_its_permission(client):
    staff = StaffUserFactory(permissions=("invitations.view_invitation", "invitations.resend_invitation"))
    client.force_login(staff)
    assert len(RQ_PATHS) > 20
    for path in RQ_PATHS:
        assert client.get(path).status_code == 403, path
        assert client.post(path).status_code == 403, path
    # The admin index does not offer the dashboard either.
    assert b"rq-dashboard-link" not in client.get("/admin/").content


@pytest.mark.parametrize("who", ["superuser", "permission"])
def test_the_job_dashboard_opens_for_a_superuser_or_a_holder_of_its_permission(client, admin_user, who):
    if who == "superuser":
        client.force_login(admin_user)
    else:
        staff = StaffUserFactory()
        staff.user_permissions.add(Permission.objects.get(content_type__app_label="django_rq", codename="admin"))
        client.force_login(staff)
    assert client.get("/admin/rq/").status_code == 200
    assert b"rq-dashboard-link" in client.get("/admin/").content


def test_the_job_dashboard_sends_a_visitor_who_is_not_logged_in_to_the_login_page(client):
    response = client.get("/admin/rq/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.fixture
def two_factor(settings):
    settings.ADMIN_OTP_REQUIRED = True  # the console's site reads it at each request


def test_with_two_factor_on_a_password_alone_does_not_open_the_admin(client, agent, two_factor):
    TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    response = log_in(client, agent.username, PASSWORD)
    assert response.status_code == 200  # the login form again: the code is missing
    assert client.get("/admin/").status_code == 302


def test_with_two_factor_on_the_password_and_the_current_code_open_the_admin(client, agent, two_factor):
    device = TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    response = client.post(
        LOGIN,
        {"username": agent.username, "password": PASSWORD, "otp_device": device.persistent_id, "otp_token": code},
        REMOTE_ADDR="198.51.100.7",
    )
    assert logged_in(response)
    assert client.get("/admin/").status_code == 200


def test_with_two_factor_on_a_wrong_code_counts_as_a_failed_login(client, agent, two_factor):
    device = TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    form = {"username": agent.username, "password": PASSWORD, "otp_device": device.persistent_id, "otp_token": "000000"}
    with time_machine.travel(T0, tick=False):
        for _ in range(10):
            client.post(LOGIN, form, REMOTE_ADDR="198.51.100.7")
        assert client.get("/admin/").status_code == 302


def test_the_totp_command_gives_a_staff_user_a_device_whose_codes_open_the_admin(agent, two_factor):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("totp_device_create", agent.username, stdout=out)
    assert "otpauth://totp/" in out.getvalue()
    device = TOTPDevice.objects.get(user=agent)
    code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    client = Client()
    form = {"username": agent.username, "password": PASSWORD, "otp_device": device.persistent_id, "otp_token": code}
    assert logged_in(client.post(LOGIN, form, REMOTE_ADDR="198.51.100.7"))


ADMIN_PATHS = ["/admin/", "/admin/invitations/invitation/", "/admin/rq/", "/admin/django_rq/dashboard/", *RQ_PATHS]


def test_with_two_factor_on_a_session_made_before_it_was_switched_on_opens_no_admin_url(client, admin_user, settings):
    # Logged in with a password alone while two-factor was off: the session is not OTP-verified.
    client.force_login(admin_user)
    assert client.get("/admin/rq/").status_code == 200
    settings.ADMIN_OTP_REQUIRED = True
    for path in ADMIN_PATHS:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path
    assert client.post("/admin/rq/").status_code == 302
    login_page = client.get("/admin/login/")
    assert login_page.status_code == 200 and b'name="otp_token"' in login_page.content  # where the code is given


def test_with_two_factor_on_a_verified_session_opens_the_job_dashboard(client, admin_user, two_factor):
    device = TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    admin_user.set_password(PASSWORD)
    admin_user.save()
    code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    form = {
        "username": admin_user.username,
        "password": PASSWORD,
        "otp_device": device.persistent_id,
        "otp_token": code,
    }
    assert logged_in(client.post(LOGIN, form, REMOTE_ADDR="198.51.100.7"))
    assert client.get("/admin/rq/").status_code == 200
    assert client.get("/admin/django_rq/dashboard/").status_code == 200
