"""An SMS provider stood in for by files, for tests whose rq workers are separate processes.

Every call is appended to ``calls.log`` with its idempotency key. Like a real provider that honours
idempotency keys, a key it has already taken is not delivered again (``delivered.log`` holds each
key once) and the same message id comes back.

A test can stop a call at a chosen point and kill the process there: ``hold(directory, point)``
makes a FIFO named ``hold-<point>``; a call that reaches that point writes its pid into the FIFO
(``wait_for_hold`` in the test reads it) and then blocks until the test releases it or kills it.
The points are ``before-call`` (the attempt is claimed, the provider not yet called) and
``after-call`` (the provider took the message; its acceptance is not recorded yet).
"""

import fcntl
import os
import select
import time
from contextlib import contextmanager
from pathlib import Path

from delivery.sms import BaseSmsBackend, SmsMessage

DIRECTORY_ENV = "FAULTS_SMS_DIR"
BEFORE_CALL = "before-call"
AFTER_CALL = "after-call"


class FileSmsBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> str:
        directory = Path(os.environ[DIRECTORY_ENV])
        _stop_if_held(directory, BEFORE_CALL)
        with _provider_lock(directory):
            with open(directory / "calls.log", "a") as calls:
                calls.write(f"{message.idempotency_key}\t{message.to}\n")
            if message.idempotency_key not in delivered(directory):
                with open(directory / "delivered.log", "a") as out:
                    out.write(f"{message.idempotency_key}\t{message.to}\n")
        _stop_if_held(directory, AFTER_CALL)
        return f"file-{message.idempotency_key}"


@contextmanager
def _provider_lock(directory: Path):
    # Workers in several processes: the dedupe check and the append are one step.
    with open(directory / "provider.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _stop_if_held(directory: Path, point: str) -> None:
    fifo = directory / f"hold-{point}"
    if not fifo.exists():
        return
    with open(fifo, "w") as out:  # blocks until the test listens
        out.write(f"{os.getpid()}\n")
    with open(fifo) as release:  # blocks until the test releases this call, or kills its process
        release.read()


def _keys(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line.split("\t", 1)[0] for line in path.read_text().splitlines() if line]


def calls(directory: Path) -> list[str]:
    """The idempotency key of every provider call, in order."""
    return _keys(directory / "calls.log")


def delivered(directory: Path) -> list[str]:
    """The keys the provider delivered (each once)."""
    return _keys(directory / "delivered.log")


def hold(directory: Path, point: str) -> None:
    os.mkfifo(directory / f"hold-{point}")


def wait_for_hold(directory: Path, point: str, *, timeout: float = 30) -> int:
    """Wait until a call stops at ``point``; return the pid of the process making it."""
    fd = os.open(directory / f"hold-{point}", os.O_RDONLY | os.O_NONBLOCK)
    try:
        received = b""
        deadline = time.monotonic() + timeout
        while not received.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"No SMS call reached {point} within {timeout} s")
            received += os.read(fd, 64)
        return int(received)
    finally:
        os.close(fd)
