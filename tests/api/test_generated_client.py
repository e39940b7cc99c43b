"""The schema lists every field and endpoint the contract added, and a client generated from it by
openapi-python-client uses them typed: mypy checks a client's code against the generated package,
which then talks to the web process as the Procfile starts it."""

import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.faults.support import Children, service_environment, start_gunicorn
from tests.invitations_project.test_slow_clients import wait_until_answering

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_CODE = Path(__file__).parent / "generated_client" / "uses_the_new_fields.py"
BIN = Path(sys.executable).parent


def test_a_generated_client_uses_the_new_fields_typed_against_the_web_process(tmp_path, live_key):
    children = Children()
    env = service_environment(WEB_CONCURRENCY="1", SECURE_SSL_REDIRECT="0")
    port = start_gunicorn(children, env=env, log=tmp_path / "web.log")
    try:
        wait_until_answering(port)
        base_url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base_url}/v1/openapi.json", timeout=30) as answer:
            (tmp_path / "openapi.json").write_bytes(answer.read())
        path = f"{BIN}:/usr/bin:/bin"
        generated = subprocess.run(
            [str(BIN / "openapi-python-client"), "generate", "--path", "openapi.json"]
            + ["--output-path", "invitations_client", "--meta", "none"],
            cwd=tmp_path,
            env={"PATH": path, "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert generated.returncode == 0, generated.stdout + generated.stderr
        assert "Warning" not in generated.stdout, generated.stdout
        shutil.copy(CLIENT_CODE, tmp_path / "client.py")
        typed = subprocess.run(
            # The generated package is checked for what it declares, not for its own insides.
            [str(BIN / "mypy"), "--strict", "--follow-imports=silent", "--no-incremental", "client.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert typed.returncode == 0, typed.stdout + typed.stderr
        ran = subprocess.run(
            [sys.executable, "client.py", base_url, live_key], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0 and ran.stdout.strip() == "ok", ran.stdout + ran.stderr
    finally:
        children.stop_all()
