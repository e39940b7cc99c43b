"""PostgreSQL (or the embedded SQLite), Redis behind the job queues and the shared cache, the worker pools."""

from invitations_project.settings.base import BASE_DIR
from invitations_project.settings.environment import NOT_NEGATIVE, env, validate

# --- Database -----------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", "")
if DATABASE_URL:
    # Persistent connections, in web processes and in workers alike (the worker keeps its connection
    # between jobs as a web process does between requests): a connection is reopened after
    # DB_CONN_MAX_AGE seconds, and checked with one cheap query before its first use in a request or
    # a job, so one PostgreSQL dropped while it sat idle is replaced instead of failing the work.
    DATABASES = {
        "default": env.dj_db_url(
            "DATABASE_URL",
            conn_max_age=env.int("DB_CONN_MAX_AGE", 60, validate=NOT_NEGATIVE),
            conn_health_checks=True,
        )
    }
    # Parameters bound by the server, and a statement run DB_PREPARE_THRESHOLD times on a connection
    # prepared there: PostgreSQL then plans it once per connection instead of on every request (the
    # lock of a resend cost more to plan than to run). 0 turns preparing off (a pooler in transaction
    # mode older than PgBouncer 1.21 cannot keep prepared statements).
    _prepare_threshold = env.int("DB_PREPARE_THRESHOLD", 5, validate=NOT_NEGATIVE)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=_prepare_threshold or None
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
RQ_QUEUES = {
    "delivery": {"URL": _rq_url, "DEFAULT_TIMEOUT": 60},
    "webhooks": {"URL": _rq_url, "DEFAULT_TIMEOUT": 300},
    "default": {"URL": _rq_url, "DEFAULT_TIMEOUT": 300},
}
# Jobs one ThreadedWorker runs at once when it serves queues that have no pool of their own below.
RQ_WORKER_THREADS = env.int("RQ_WORKER_THREADS", 16, validate=validate.Range(min=1, max=256))
# One pool of worker processes per queue (`manage.py runworkers QUEUE`), so delivery never waits
# behind webhooks or the periodic jobs: each pool's processes, and the jobs each runs at once on
# threads. A webhooks job is a dispatcher with WEBHOOK_DISPATCH_THREADS tries of its own in flight.
_THREADS = validate.Range(min=1, max=256)
WORKER_POOLS = {
    "delivery": {
        "processes": env.int("DELIVERY_WORKER_PROCESSES", 2, validate=_THREADS),
        "threads": env.int("DELIVERY_WORKER_THREADS", RQ_WORKER_THREADS, validate=_THREADS),
    },
    "webhooks": {
        "processes": env.int("WEBHOOKS_WORKER_PROCESSES", 1, validate=_THREADS),
        "threads": env.int("WEBHOOKS_WORKER_THREADS", 1, validate=_THREADS),
    },
    "default": {
        "processes": env.int("DEFAULT_WORKER_PROCESSES", 1, validate=_THREADS),
        "threads": env.int("DEFAULT_WORKER_THREADS", 4, validate=_THREADS),
    },
}
RQ = {
    "COMMIT_MODE": "on_db_commit",
    # `rqworker` runs jobs in its own process and keeps its database connection between them (see
    # invitations_project/worker.py); RQ_WORKER_CLASS=rq.Worker forks a work horse per job instead.
    "WORKER_CLASS": env.str("RQ_WORKER_CLASS", "") or "jobs.workers.ThreadedWorker",
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
