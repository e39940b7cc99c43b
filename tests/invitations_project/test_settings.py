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
    # The block makes the secrets with a command; the test makes them the same way.
    assert values["SECRET_KEY"].startswith("$(")
    for name, value in values.items():
        if "$(" in value:  # what the command prints, after any fixed prefix ("tracking:")
            values[name] = value.split("$(", 1)[0] + secrets.token_urlsafe(50)
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
    result = run(["manage.py", "check"], {"SECRET_KEY": secrets.token_urlsafe(50), name: value})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert f'Environment variable "{name}" invalid' in last_line
    assert says in last_line


def example_environment() -> dict[str, str]:
    """deploy/env.example's NAME=value lines, as the systemd units read them."""
    lines = (ROOT / "deploy" / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


SECRETS_CHECKED = ["SECRET_KEY", "DOSSIER_WEBHOOK_SECRET", "ANYMAIL_WEBHOOK_SECRET", "METRICS_TOKEN", "JWT_SIGNING_KEY"]


def good_secrets() -> dict[str, str]:
    made = {name: secrets.token_urlsafe(40) for name in SECRETS_CHECKED}
    # The tracking webhooks' HTTP Basic credential: user:password.
    made["ANYMAIL_WEBHOOK_SECRET"] = "tracking:" + made["ANYMAIL_WEBHOOK_SECRET"]
    return made


def test_with_good_secrets_a_production_process_starts():
    result = run(["manage.py", "check"], good_secrets())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", SECRETS_CHECKED)
@pytest.mark.parametrize(
    "value, says",
    [
        ("change-me", "is a placeholder"),
        ("Change-Me-to-a-long-random-value-of-forty-characters", "is a placeholder"),
        ("short-but-random-9f3a", "shorter than 32 characters"),
        ("a" * 50, "fewer than 12 different characters"),
        ("x:0123456789abcdefghijklmnopqrstuvwxyz-K7q", "run of consecutive characters"),
    ],
)
def test_with_debug_off_start_up_refuses_a_placeholder_or_short_secret_naming_it(name, value, says):
    result = run(["manage.py", "check"], {**good_secrets(), name: value})
    assert result.returncode != 0
    assert name in result.stderr and says in result.stderr
    assert value not in result.stderr  # the refusal never prints the secret


@pytest.mark.parametrize(
    "value, says",
    [
        ("Kq7vR2mX9pL4wZ8nB3cT6yH1aJ5sD0fGw", "must be user:password"),
        (":Kq7vR2mX9pL4wZ8nB3cT6yH1aJ5sD0fG", "must be user:password"),
        ("tracking:", "shorter than 32 characters"),
    ],
)
def test_with_debug_off_the_tracking_webhook_secret_must_be_user_colon_password(value, says):
    result = run(["manage.py", "check"], {**good_secrets(), "ANYMAIL_WEBHOOK_SECRET": value})
    assert result.returncode != 0
    assert "ANYMAIL_WEBHOOK_SECRET" in result.stderr and says in result.stderr
    assert value not in result.stderr


@pytest.mark.parametrize("name", [n for n in SECRETS_CHECKED if n in example_environment()])
def test_every_placeholder_of_the_example_environment_file_is_refused(name):
    value = example_environment()[name]
    result = run(["manage.py", "check"], {**good_secrets(), name: value})
    assert result.returncode != 0
    assert f"{name} is a placeholder" in result.stderr


def test_the_example_environment_file_as_it_stands_does_not_start_a_production_process():
    env = {**example_environment(), "PROMETHEUS_MULTIPROC_DIR": ""}
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "is a placeholder" in result.stderr


def test_with_debug_on_placeholders_are_allowed_for_development():
    result = run(["manage.py", "check"], {"DEBUG": "1", "METRICS_TOKEN": "change-me"})
    assert result.returncode == 0, result.stderr


PRINT_PRIVATE_URLS = (
    "import django; django.setup(); from django.conf import settings as s; print(s.WEBHOOK_ALLOW_PRIVATE_URLS)"
)


@pytest.mark.parametrize(
    "env, allowed",
    [
        ({"DEBUG": "1"}, "True"),  # the embedded default
        ({}, "False"),  # DEBUG off, whatever the database: SQLite here
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/invitations"}, "False"),
        ({"DEBUG": "1", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/invitations"}, "False"),
        ({"WEBHOOK_ALLOW_PRIVATE_URLS": "1"}, "True"),
    ],
)
def test_private_webhook_urls_are_allowed_only_in_the_embedded_default_unless_set(env, allowed):
    result = run(["-c", PRINT_PRIVATE_URLS], {**good_secrets(), **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == allowed


def test_the_metrics_directory_is_made_private_and_one_others_may_write_is_refused(tmp_path):
    made = tmp_path / "metrics"
    result = run(["manage.py", "check"], {**good_secrets(), "PROMETHEUS_MULTIPROC_DIR": str(made)})
    assert result.returncode == 0, result.stderr
    assert made.is_dir() and (made.stat().st_mode & 0o777) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # what /tmp is
    result = run(["manage.py", "check"], {**good_secrets(), "PROMETHEUS_MULTIPROC_DIR": str(shared)})
    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR" in result.stderr and "may be written by other users" in result.stderr


def test_the_default_metrics_directory_is_the_deployments_own_not_a_fixed_tmp_path():
    code = "import django; django.setup(); from django.conf import settings as s; print(s.PROMETHEUS_MULTIPROC_DIR)"
    result = run(["-c", code], {**good_secrets(), "REDIS_URL": "redis://127.0.0.1:6379/15"})
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == ROOT / "var" / "metrics"
    assert (path.stat().st_mode & 0o777) == 0o700
