"""Where request log entries go on the hot path, and how they reach PostgreSQL.

With Redis, a request hands its entry to this process's buffer (a list append: no network, no
database on the request's path); a background thread appends the buffer to a capped Redis stream
in one pipelined round trip every REQUEST_LOG_SEND_INTERVAL_MS, and ``request_log_flush`` (the
periodic sweep, and each read of the log) moves the stream into PostgreSQL in batches. Without
Redis (the embedded default) the entry is written straight away. A store that is down loses the
entries, logs which, and never fails or slows a request.
"""

import atexit
import json
import logging
import os
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from redis.exceptions import RedisError

from accounts.models import Organization
from api.models import IdempotentRequest
from jobs.queueing import redis_for
from ops.metrics import REQUEST_LOG_DEAD_LETTERS
from requestlog.models import RequestLogEntry

logger = logging.getLogger(__name__)

STREAM_KEY = "requestlog:entries"
# Entries that could not be stored, with the reason: kept for a person to look at, never retried.
DEAD_LETTER_KEY = "requestlog:dead-letter"
DEAD_LETTER_MAX_ENTRIES = 10_000
FLUSH_BATCH = 1000
# Entries waiting in one process while Redis is unreachable, at most; past that they are dropped
# (and logged).
BUFFER_MAX = 10_000


def _uses_stream() -> bool:
    return not settings.DELIVERY_INLINE


def _redis():
    return redis_for("default")


class _Sender:
    """The process's buffer of entries and the thread that sends them to the stream."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: list[tuple[str, str]] = []  # (public id, JSON)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, public_id: str, payload: str) -> None:
        with self._lock:
            if len(self._entries) >= BUFFER_MAX:
                logger.warning("Request log entry %s lost: %d entries already wait for Redis", public_id, BUFFER_MAX)
                return
            self._entries.append((public_id, payload))
            if self._thread is None or self._pid != os.getpid():
                # First entry of this process (or of a child forked from it): start its sender.
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="request-log-sender", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(settings.REQUEST_LOG_SEND_INTERVAL_MS / 1000)
            self._wake.clear()
            self.send()

    def send(self) -> int:
        """Append what waits to the stream now; return how many entries were sent."""
        with self._lock:
            batch, self._entries = self._entries, []
        if not batch:
            return 0
        try:
            with _redis().pipeline(transaction=False) as pipe:
                for _public_id, payload in batch:
                    pipe.xadd(
                        STREAM_KEY, {"e": payload}, maxlen=settings.REQUEST_LOG_STREAM_MAX_ENTRIES, approximate=True
                    )
                pipe.execute()
        except (RedisError, OSError) as exc:
            shown = ", ".join(public_id for public_id, _ in batch[:20]) + (", …" if len(batch) > 20 else "")
            logger.warning("%d request log entries lost (%s): Redis is unavailable (%s)", len(batch), shown, exc)
            return 0
        return len(batch)


_sender = _Sender()
atexit.register(_sender.send)


def request_log_record(*, entry: dict) -> None:
    """Keep one entry (the model's fields, ``created_at`` a datetime); never raises, never waits."""
    if _uses_stream():
        _sender.add(entry["public_id"], json.dumps({**entry, "created_at": entry["created_at"].isoformat()}))
        return
    try:
        RequestLogEntry.objects.create(**entry)
    except DatabaseError as exc:
        logger.warning("Request log entry %s lost: the database is unavailable (%s)", entry["public_id"], exc)


def request_log_send() -> int:
    """Send this process's waiting entries to the stream now (before reading it, or on exit)."""
    return _sender.send()


def _entry(raw: bytes) -> RequestLogEntry:
    fields = json.loads(raw)
    fields["created_at"] = parse_datetime(fields["created_at"])
    return RequestLogEntry(**fields)


def request_log_flush() -> int:
    """Move what the stream holds into PostgreSQL; return how many entries were moved.

    Safe to run in several processes at once: an entry moved twice hits the unique request id and
    is skipped, and it leaves the stream only after its batch is stored. An entry PostgreSQL refuses
    on its own (or that cannot be read) goes to the dead-letter stream with the reason, counted in
    invitations_request_log_dead_letters_total: one bad entry never holds back the others.
    """
    if not _uses_stream():
        return 0
    request_log_send()
    redis = _redis()
    moved = 0
    start = "-"
    while True:
        items = redis.xrange(STREAM_KEY, min=start, count=FLUSH_BATCH)
        if not items:
            return moved
        entries, dead = [], []
        for stream_id, values in items:
            try:
                entries.append(_entry(values[b"e"]))
            except (KeyError, ValueError, TypeError) as exc:
                dead.append((stream_id, values, f"unreadable: {exc.__class__.__name__}"))
        # An organization deleted since its request was made takes its entries with it.
        known = set(
            Organization.objects.filter(pk__in={e.organization_id for e in entries}).values_list("pk", flat=True)
        )
        kept = [entry for entry in entries if entry.organization_id in known]
        try:
            with transaction.atomic():
                RequestLogEntry.objects.bulk_create(kept, ignore_conflicts=True)
        except (DatabaseError, UnicodeEncodeError):
            # One entry the database refuses fails the batch: store them one by one instead.
            by_id = {entry.public_id: stream_id for (stream_id, _), entry in zip(items, entries, strict=False)}
            for entry in kept:
                try:
                    with transaction.atomic():
                        RequestLogEntry.objects.bulk_create([entry], ignore_conflicts=True)
                except (DatabaseError, UnicodeEncodeError) as exc:
                    values = {b"e": json.dumps({"public_id": entry.public_id, "path": entry.path}).encode()}
                    dead.append((by_id.get(entry.public_id, b"?"), values, f"refused: {exc.__class__.__name__}"))
        _dead_letter(redis, dead)
        redis.xdel(STREAM_KEY, *[stream_id for stream_id, _ in items])
        moved += len(entries)
        if len(items) < FLUSH_BATCH:
            return moved
        start = "(" + items[-1][0].decode()


def _dead_letter(redis, dead: list[tuple[bytes, dict, str]]) -> None:
    """Keep what could not be stored, with why, in a capped stream of its own; count it."""
    for stream_id, values, reason in dead:
        logger.warning("Request log stream item %r moved to %s: %s", stream_id, DEAD_LETTER_KEY, reason)
        redis.xadd(
            DEAD_LETTER_KEY,
            {"entry": values.get(b"e", b""), "reason": reason, "stream_id": stream_id},
            maxlen=DEAD_LETTER_MAX_ENTRIES,
            approximate=True,
        )
        REQUEST_LOG_DEAD_LETTERS.inc()


def request_log_prune(*, now: datetime | None = None) -> tuple[int, int]:
    """Forget log entries past REQUEST_LOG_RETENTION_DAYS and idempotency keys past their 24 hours."""
    now = now or timezone.now()
    entries, _ = RequestLogEntry.objects.filter(
        created_at__lt=now - timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS)
    ).delete()
    keys, _ = IdempotentRequest.objects.filter(
        created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    ).delete()
    return entries, keys
