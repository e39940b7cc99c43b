"""The id of the request being answered, for the log lines it writes and the jobs it queues.

``RequestIdMiddleware`` (requestlog) sets it for the length of a request; a job queued meanwhile
carries it in its rq ``meta``, so a worker's log lines name the request that asked for the work.
"""

import logging
import secrets
import string
from contextvars import ContextVar

from rq import get_current_job

REQUEST_ID_PREFIX = "req_"
_ALPHABET = string.ascii_letters + string.digits
# 24 characters of a 62-letter alphabet: about 143 random bits.
_RANDOM_CHARS = 24

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def new_request_id() -> str:
    return REQUEST_ID_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))


def request_id() -> str | None:
    """The id of the request this code runs for: the web request, or the one that queued this job."""
    value = current_request_id.get()
    if value is not None:
        return value
    job = get_current_job()
    if job is not None:
        return job.meta.get("request_id")
    return None


def job_meta(job_options: dict) -> dict:
    """``job_options`` with the current request's id added to the job's meta (when there is one)."""
    value = request_id()
    if value is None:
        return job_options
    return {**job_options, "meta": {**job_options.get("meta", {}), "request_id": value}}


class RequestIdFilter(logging.Filter):
    """Gives every log record a ``request_id`` ("-" outside any request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs an error answer after the middleware has returned; its record holds the request.
        record.request_id = request_id() or getattr(getattr(record, "request", None), "request_id", None) or "-"
        return True
