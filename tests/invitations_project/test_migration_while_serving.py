"""A migration that changes a column's type while the web process serves (a rolling deploy's
`AlterField(max_length=...)`) leaves it answering: nothing is prepared on the server, so no cached
plan's result type can go stale."""

import psycopg
import pytest
from django.db import connection

from tests.faults.support import Children, service_environment, start_gunicorn
from tests.helpers import http_call

pytestmark = pytest.mark.django_db(transaction=True)


def admin_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True
    )


def test_a_column_type_change_while_serving_leaves_every_request_answered(organization, live_key, tmp_path):
    children = Children()
    try:
        port = start_gunicorn(children, env=service_environment(), log=tmp_path / "web.log", workers=1)
        body = {"channel": "email", "recipient": "ana@example.com", "reference": "crm-1"}
        for _ in range(8):  # the same statements, many times over, on the same pooled connections
            assert http_call(port, "POST", "/v1/autodoc/invitations", key=live_key, body=body)[0] == 201
            assert http_call(port, "GET", "/v1/autodoc/invitations", key=live_key)[0] == 200
        with admin_connection() as admin:
            admin.execute("ALTER TABLE invitations_invitation ALTER COLUMN reference TYPE varchar(300)")
        answers = [http_call(port, "GET", "/v1/autodoc/invitations", key=live_key) for _ in range(8)]
        answers += [http_call(port, "POST", "/v1/autodoc/invitations", key=live_key, body=body) for _ in range(4)]
        assert [status for status, _ in answers] == [200] * 8 + [201] * 4, answers
    finally:
        children.stop_all()
        with admin_connection() as admin:  # the schema as the migrations left it, for the tests after
            admin.execute("ALTER TABLE invitations_invitation ALTER COLUMN reference TYPE varchar(200)")
