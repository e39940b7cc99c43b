"""PostgreSQL (or the embedded SQLite), Redis behind the job queues and the shared cache, the worker pools."""

from typing import Any

from invitations_project.settings.base import BASE_DIR
from invitations_project.settings.environment import env, validate

# --- Database -----------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", "")
if DATABASE_URL:
    # Django's PostgreSQL connection pool (psycopg_pool), one per process: a request (on a thread of
    # its own under ASGI) or a job borrows a connection and gives it back at its end. A borrower waits
    # at most DB_POOL_TIMEOUT_SECONDS for one, and is never lent one the server has dropped (the pool
    # checks it first). Parameters are bound client-side and nothing is prepared on the server, so a
    # pooler in transaction mode (PgBouncer) can stand in front.
    DATABASES = {"default": env.dj_db_url("DATABASE_URL", conn_max_age=0, conn_health_checks=True)}
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        pool={
            "min_size": 1,
            "max_size": env.int("DB_POOL_MAX_SIZE", 10, validate=validate.Range(min=1, max=1000)),
            "timeout": env.float("DB_POOL_TIMEOUT_SECONDS", 10, validate=validate.Range(min=0.1)),
        },
        prepare_threshold=None,
    )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # The embedded default's one file (SQLITE_PATH to keep it elsewhere).
            "NAME": env.path("SQLITE_PATH", BASE_DIR / "db.sqlite3"),
            "OPTIONS": {"timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# How long an API or webhook request may wait for the database in all before it is answered 503.
DB_REQUEST_TIMEOUT_SECONDS = env.float("DB_REQUEST_TIMEOUT_SECONDS", 10, validate=validate.Range(min=0.1))

# --- Redis: job queues and the shared cache -----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", "")
# Without Redis, delivery jobs run inline right after the transaction commits.
DELIVERY_INLINE = env.bool("DELIVERY_INLINE", not REDIS_URL)
_rq_url = REDIS_URL or "redis://127.0.0.1:6379/0"
# A Redis host that drops packets, or a Redis that accepts connections and answers nothing (frozen,
# swapping), must not hang a request at commit: give up on the enqueue, the sweeper enqueues later.
# rq workers raise their own connection's read timeout above their blocking dequeue by themselves.
for _option, _seconds in (("socket_connect_timeout", 2), ("socket_timeout", 5)):
    if f"{_option}=" not in _rq_url:
        _rq_url += ("&" if "?" in _rq_url else "?") + f"{_option}={_seconds}"
RQ_QUEUES: dict[str, dict[str, Any]] = {
    "delivery": {"URL": _rq_url, "DEFAULT_TIMEOUT": 60},
    # Sandbox sends wait apart from live ones; the delivery workers take a live job first.
    "delivery-sandbox": {"URL": _rq_url, "DEFAULT_TIMEOUT": 60},
    "webhooks": {"URL": _rq_url, "DEFAULT_TIMEOUT": 300},
    "default": {"URL": _rq_url, "DEFAULT_TIMEOUT": 300},
}
# One pool of worker processes per queue (`manage.py runworkers QUEUE`), so delivery never waits
# behind webhooks or the periodic jobs. Each process runs one job at a time (rq's SimpleWorker): a
# delivery batch overlaps its provider calls (DELIVERY_CONCURRENCY), a webhooks dispatcher its tries
# (WEBHOOK_DISPATCH_THREADS); lone sends go as many at once as there are delivery processes.
_PROCESSES = validate.Range(min=1, max=256)
# A pool's workers take from its queues in order: a live send before any sandbox one.
WORKER_POOLS: dict[str, dict[str, Any]] = {
    "delivery": {
        "processes": env.int("DELIVERY_WORKER_PROCESSES", 4, validate=_PROCESSES),
        "queues": ["delivery", "delivery-sandbox"],
    },
    "webhooks": {"processes": env.int("WEBHOOKS_WORKER_PROCESSES", 1, validate=_PROCESSES), "queues": ["webhooks"]},
    "default": {"processes": env.int("DEFAULT_WORKER_PROCESSES", 1, validate=_PROCESSES), "queues": ["default"]},
}
RQ = {
    "COMMIT_MODE": "on_db_commit",
    # rq's own worker that runs each job in its process (no fork per job); RQ_WORKER_CLASS=rq.Worker
    # forks a work horse per job instead.
    "WORKER_CLASS": env.str("RQ_WORKER_CLASS", "") or "rq.SimpleWorker",
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "inv"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
