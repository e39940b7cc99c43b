"""The id of the request being answered, for the log lines it writes and the jobs it queues.

``RequestIdMiddleware`` (requestlog) sets it for the length of a request; a job queued meanwhile
carries it in its rq ``meta``, so a worker's log lines name the request that asked for the work.
"""

import secrets
import string
from contextlib import contextmanager
from contextvars import ContextVar

from rq import get_current_job

REQUEST_ID_PREFIX = "req_"
_ALPHABET = string.ascii_letters + string.digits
# 24 characters of a 62-letter alphabet: about 143 random bits.
_RANDOM_CHARS = 24

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
# What else log lines name while this runs: organization, credential, attempt_id.
_log_context: ContextVar[dict | None] = ContextVar("log_context", default=None)


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


def log_fields() -> dict:
    """request_id and whatever ``log_context`` added, for the log lines written now."""
    return {**(_log_context.get() or {}), "request_id": request_id()}


def log_context_add(**fields) -> None:
    """Name ``fields`` in every log line for the rest of this request or job (set up by
    ``log_context``)."""
    context = _log_context.get()
    if context is not None:
        context.update(fields)


@contextmanager
def log_context(**fields):
    """A scope (a request, a job) whose log lines carry ``fields`` and what is added later."""
    context = dict(fields)
    token = _log_context.set(context)
    try:
        yield context
    finally:
        _log_context.reset(token)
