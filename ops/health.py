"""Probes for load balancers and orchestrators, outside the API's authentication and throttles.

GET /healthz answers 200 while the process serves and touches nothing. GET /readyz answers 200 when
PostgreSQL answers with every migration applied and Redis answers, else 503 naming what failed.
"""

import django_rq
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

_migrations_applied = False  # once true in a process it stays true: a deploy migrates, never un-migrates


def _database() -> str:
    global _migrations_applied
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        connection.ensure_connection()
        if not connection.is_usable():
            raise DatabaseError("the connection does not answer")
        if not _migrations_applied:
            executor = MigrationExecutor(connection)
            if executor.migration_plan(executor.loader.graph.leaf_nodes()):
                return "migrations not applied"
            _migrations_applied = True
    except DatabaseError as exc:
        connection.close_if_unusable_or_obsolete()
        return f"unreachable: {exc.__class__.__name__}"
    return "ok"


# The embedded default has no Redis: its jobs run inline, after commit, in the web process.
REDIS_NOT_USED = "not used: jobs run inline"


def _redis() -> str:
    if not settings.REDIS_URL:
        return REDIS_NOT_USED
    try:
        django_rq.get_connection("delivery").ping()
    except RedisError as exc:
        return f"unreachable: {exc.__class__.__name__}"
    return "ok"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    # Each check by the name of what it checked: the embedded default's database is SQLite.
    checks = {connections[DEFAULT_DB_ALIAS].vendor: _database(), "redis": _redis()}
    ready = all(state in ("ok", REDIS_NOT_USED) for state in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
