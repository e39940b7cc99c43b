"""`scripts/serve` makes its demo admin and sandbox key once, on an empty database, and a restart
changes neither: run here exactly as README says, twice, on the test PostgreSQL database."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.models import ApiKey, Organization, SandboxRecipient
from tests.helpers import free_port as _free_port

ROOT = Path(__file__).resolve().parents[2]


def serve_once(database_url: str) -> str:
    """Start scripts/serve, wait until it answers HTTP, stop it; return what it printed."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DATABASE_URL=database_url, PORT=str(port), DEBUG="1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        ["scripts/serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                time.sleep(0.2)
        else:
            raise AssertionError("scripts/serve did not start listening")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    return output


@pytest.mark.django_db(transaction=True)
def test_serve_twice_on_one_postgresql_database_keeps_the_admins_password_and_the_keys():
    settings_dict = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    first = serve_once(database_url)
    assert "Login:        admin / " in first and "Sandbox key:  private_sandbox_" in first
    admin = get_user_model().objects.get(username="admin")
    password_hash = admin.password
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1
    assert list(SandboxRecipient.objects.values_list("recipient", flat=True)) == ["ana@example.com"]

    second = serve_once(database_url)
    assert "Login:" not in second and "private_sandbox_" not in second
    assert "nothing was made or changed" in second
    admin.refresh_from_db()
    assert admin.password == password_hash
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1
    assert Organization.objects.count() == 1


@pytest.mark.django_db
def test_the_demo_is_not_made_on_a_database_that_already_has_an_organization(django_user_model):
    from django.core.management import call_command

    Organization.objects.create(slug="acme", name="Acme")
    call_command("bootstrap_demo")
    assert not django_user_model.objects.exists()
    assert not ApiKey.objects.exists()
