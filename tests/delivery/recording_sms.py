"""An SMS provider double for the worker-killed tests.

rq's forking worker runs each job in a child process, so provider calls are recorded in Redis
where the test can read them. Like a provider that honours idempotency keys, it delivers a key
once; and it can kill its own process right before or right after the provider call.
"""

import os
import signal

import django_rq

from delivery.sms import BaseSmsBackend, SmsMessage

CALLS_KEY = "test:sms:calls"
DELIVERED_KEY = "test:sms:delivered"
CRASH_KEY = "test:sms:crash"


def connection():
    return django_rq.get_connection("delivery")


class RecordingSmsBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> str:
        conn = connection()
        crash = conn.getdel(CRASH_KEY)
        if crash == b"before-call":
            os.kill(os.getpid(), signal.SIGKILL)
        conn.rpush(CALLS_KEY, message.idempotency_key)
        conn.sadd(DELIVERED_KEY, message.idempotency_key)
        if crash == b"after-call":
            os.kill(os.getpid(), signal.SIGKILL)
        return f"rec-{message.idempotency_key}"
