"""Fixtures for delivery tests: providers' HTTP APIs stood in for (only what leaves the machine),
a Redis of our own that can be stopped, and workers over both queues."""

import django_rq
import pytest
import responses
from django.db import connections
from responses.registries import OrderedRegistry
from rq import SimpleWorker

POSTMARK_URL = "https://api.postmarkapp.com/email"
TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_TOKEN = "twilio-auth-token"
TWILIO_MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
WEBHOOK_AUTH = "hook:s3cret"


def postmark_accepted(message_id: str, to: str = "ana@example.com") -> dict:
    return {
        "To": to,
        "SubmittedAt": "2026-03-02T09:00:00.0000000Z",
        "MessageID": message_id,
        "ErrorCode": 0,
        "Message": "OK",
    }


@pytest.fixture
def postmark(settings):
    """Email goes through anymail's real Postmark backend; Postmark's HTTP API answers from here.

    Responses added to the returned mock are used in order, one per call.
    """
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "postmark-server-token", "WEBHOOK_SECRET": WEBHOOK_AUTH}
    with responses.RequestsMock(registry=OrderedRegistry, assert_all_requests_are_fired=False) as mock:
        yield mock


def twilio_message(sid: str, to: str = "+4915112345678", status: str = "queued") -> dict:
    return {
        "sid": sid,
        "account_sid": TWILIO_SID,
        "to": to,
        "from": "AutoDoc",
        "body": "...",
        "status": status,
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "price": None,
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json",
        "date_created": "Mon, 02 Mar 2026 09:00:00 +0000",
        "date_updated": "Mon, 02 Mar 2026 09:00:00 +0000",
        "date_sent": None,
    }


@pytest.fixture
def twilio(settings):
    """SMS goes through the real twilio client; Twilio's REST API answers from here, in order."""
    settings.SMS_BACKEND = "delivery.sms.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_WEBHOOK_BASE_URL = "https://invitations.example.com"
    with responses.RequestsMock(registry=OrderedRegistry, assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def run_all_queues(redis_conn):
    """A real rq worker in burst mode over the delivery and default queues (the sweeper runs on
    default); with_scheduler first enqueues the scheduled jobs that are due."""

    def run(*, with_scheduler: bool = True) -> int:
        queues = [django_rq.get_queue(name, commit_mode="auto") for name in ("delivery", "default")]
        worker = SimpleWorker(queues, connection=queues[0].connection)
        worker.work(burst=True, with_scheduler=with_scheduler)
        worker.refresh()
        return worker.successful_job_count + worker.failed_job_count

    return run


@pytest.fixture
def close_db_connections():
    """For threads and forked work horses: each opens its own connection."""
    yield
    connections.close_all()
