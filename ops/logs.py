"""Log lines: one JSON object a line in production (LOG_FORMAT=json, the default with DEBUG off), or
plain text; either way with the request id and, once known, the organization, the credential's
label and the delivery attempt, and with recipient addresses masked and secrets cut out.

Masking works on the finished line, so it covers messages, arguments and tracebacks alike: an email
address keeps its first character and its domain (a***@example.com), a phone number its first four
and last two digits (+4479******23); API keys, webhook secrets, bearer tokens and JWTs are replaced.
"""

import logging
import re

from pythonjsonlogger.json import JsonFormatter

from ops.context import log_fields

EMAIL_RE = re.compile(r"(?<![\w.+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
PHONE_RE = re.compile(r"(?<![\w+])\+(\d{4})(\d{2,9})(\d{2})(?!\d)")
SECRET_RES = (
    (re.compile(r"\bprivate_(?:sandbox_)?[A-Za-z0-9_-]{8,}"), "private_[secret]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]{8,}"), "whsec_[secret]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "[jwt]"),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [secret]"),
)


def mask(text: str) -> str:
    for pattern, replacement in SECRET_RES:
        text = pattern.sub(replacement, text)
    text = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return PHONE_RE.sub(lambda m: f"+{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}", text)


class ContextFilter(logging.Filter):
    """Gives every record the request's (or the job's) fields: request_id, organization, credential,
    attempt_id ("-" or None when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = log_fields()
        request = getattr(record, "request", None)
        if fields.get("request_id") is None and request is not None:
            # django.request logs an error answer after the middleware has returned; its record holds the request.
            fields = {**getattr(request, "log_context", {}), "request_id": getattr(request, "request_id", None)}
        record.request_id = fields.get("request_id") or "-"
        for name in ("organization", "credential", "attempt_id"):
            setattr(record, name, fields.get(name))
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """time, level, logger, message, request_id, organization, credential, attempt_id (and any extra)."""

    FIELDS = ("asctime", "levelname", "name", "message", "request_id", "organization", "credential", "attempt_id")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        kwargs.setdefault("reserved_attrs", [*JsonFormatter().reserved_attrs, "request"])
        super().__init__(list(self.FIELDS), *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))
