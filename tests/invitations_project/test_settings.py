"""Settings are read and checked at start-up, and secure by default with DEBUG off. Each case runs
`manage.py` in a process of its own, with only the environment it names, as an operator would."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ("
    "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SESSION_COOKIE_SECURE', "
    "'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_HTTPONLY', 'SECURE_PROXY_SSL_HEADER')}))"
)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "invitations_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def readme_production_environment() -> dict[str, str]:
    """The `export NAME=value` lines of README's "The production environment" block."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The production environment", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    values = {}
    for name, value in re.findall(r"^export (\w+)=(\S+)", block, flags=re.MULTILINE):
        values[name] = value.strip("'\"")
    # The block makes the key with a command; the test makes one the same way.
    assert values["SECRET_KEY"].startswith("$(")
    values["SECRET_KEY"] = secrets.token_urlsafe(50)
    return values


def test_check_deploy_reports_nothing_under_the_readmes_production_environment():
    env = readme_production_environment()
    assert {"DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "ANYMAIL_WEBHOOK_SECRET"} <= set(env)
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_with_debug_off_https_and_secure_cookies_are_on_by_default():
    result = run(["-c", PRINT_SETTINGS], {"SECRET_KEY": secrets.token_urlsafe(50)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '{"SECURE_SSL_REDIRECT": true, "SECURE_HSTS_SECONDS": 31536000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": true, '
        '"SESSION_COOKIE_SECURE": true, "CSRF_COOKIE_SECURE": true, "SESSION_COOKIE_HTTPONLY": true, '
        '"CSRF_COOKIE_HTTPONLY": true, "SECURE_PROXY_SSL_HEADER": null}'
    )


def test_each_https_setting_can_be_turned_off_for_a_plain_http_run_on_loopback():
    env = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    }
    result = run(["-c", PRINT_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    assert '"SECURE_SSL_REDIRECT": false, "SECURE_HSTS_SECONDS": 0' in result.stdout
    assert '"SESSION_COOKIE_SECURE": false, "CSRF_COOKIE_SECURE": false' in result.stdout
    assert '"SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]' in result.stdout


@pytest.mark.parametrize("database", ["", "postgres://postgres@127.0.0.1:5432/invitations"], ids=["sqlite", "pg"])
def test_with_debug_off_the_process_refuses_to_start_without_a_secret_key(database):
    result = run(["manage.py", "check"], {"DATABASE_URL": database} if database else {})
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("DELIVERY_RETRY_INTERVALS", "60,soon", "DELIVERY_RETRY_INTERVALS"),
        ("DELIVERY_RETRY_INTERVALS", "60,-5", "none negative"),
        ("BILLING_PRICE_SEND_EMAIL", "0.01", "amount,currency"),
        ("BILLING_PRICE_SEND_SMS", "cheap,EUR", "'cheap' is not a decimal amount"),
        ("BILLING_PRICE_SEND_SMS", "0.05,euro", "three-letter currency"),
        ("RESEND_RATE_PER_IP", "thirty", "Must look like 30/m"),
        ("INVITATION_MAX_DELIVERY_ATTEMPTS", "0", "INVITATION_MAX_DELIVERY_ATTEMPTS"),
        ("DEBUG", "maybe", "Not a valid boolean"),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto", "HEADER,value"),
        ("TWILIO_API_BASE_URL", "api.twilio.com", "Not a valid URL"),
    ],
)
def test_a_bad_setting_stops_the_process_with_its_name_and_why(name, value, says):
    result = run(["manage.py", "check"], {"SECRET_KEY": "k" * 50, name: value})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert f'Environment variable "{name}" invalid' in last_line
    assert says in last_line
