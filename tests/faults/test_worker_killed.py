"""An rq worker killed with SIGKILL in the middle of a send: the message is delivered exactly once.

The worker is the production command, `manage.py rqworker delivery`, in a process of its own, run
with both worker classes: the default, which runs jobs in the worker process, and rq's forking
`rq.Worker`, which runs each job in a work horse. The SMS provider, the only thing that leaves the machine, is stood in
for by files (tests/faults/file_sms.py) that stop the send at a chosen point, where the test kills
the worker's whole session: rq puts a work horse in a process group of its own, so killing the
worker's group alone would leave it running. The attempt stays `sending` under its claim; once the
claim's lease (DELIVERY_SENDING_TIMEOUT_SECONDS) is over the sweeper enqueues it again and a
restarted worker sends it with the same idempotency key, which the provider honours.
"""

import signal
import time
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from accounts.principals import Actor
from bench import harness
from bench.fake_providers import FakePostmark
from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from invitations.services import invitation_create, invitation_resend_bulk
from tests.factories import InvitationFactory
from tests.faults import file_sms
from tests.faults.cutting_proxy import CuttingProxy
from tests.faults.manage_later import CLOCK_AHEAD_ENV
from tests.faults.support import database_url, kill_session, procfile_command, report, service_environment, sweep, tally

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

PHONE = "+4915112345678"
# The UPDATE that records a batch's acceptances (client-side binding: the value is in the text).
ACCEPTANCES_WRITTEN = b"\"status\" = 'accepted'"
IN_PROCESS = "rq.SimpleWorker"
FORKING = "rq.Worker"


@pytest.mark.parametrize("worker_class", [IN_PROCESS, FORKING])
@pytest.mark.parametrize(
    "point, provider_calls",
    [
        # Killed after claiming, before calling the provider: the takeover makes the only call.
        (file_sms.BEFORE_CALL, 1),
        # Killed after the provider took the message, before its acceptance was recorded: the
        # takeover calls again with the same idempotency key and the provider delivers nothing new.
        (file_sms.AFTER_CALL, 2),
    ],
)
def test_a_worker_killed_mid_send_is_taken_over_after_the_lease_and_delivers_once(
    children, organization, settings, tmp_path, point, provider_calls, worker_class
):
    provider = tmp_path / "sms-provider"
    provider.mkdir()
    env = service_environment(
        SMS_BACKEND="tests.faults.file_sms.FileSmsBackend",
        RQ_WORKER_CLASS=worker_class,
        **{file_sms.DIRECTORY_ENV: str(provider)},
    )
    invitation = invitation_create(
        organization=organization, livemode=True, channel="sms", recipient=PHONE, actor=Actor.system("test")
    )
    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    key = f"delivery-attempt-{attempt.pk}"
    assert django_rq.get_queue("delivery").count == 1

    file_sms.hold(provider, point)
    worker = children.start(
        [harness.PYTHON, "manage.py", "rqworker", "delivery", "--burst"], env=env, log=tmp_path / "worker.log"
    )
    horse = file_sms.wait_for_hold(provider, point)
    killed = kill_session(worker.pid)
    assert worker.wait(timeout=10) == -signal.SIGKILL
    assert {worker.pid, horse} <= set(killed)
    # The process that was sending: the worker itself, or the work horse it forked.
    assert (horse == worker.pid) is (worker_class == IN_PROCESS)

    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.SENDING, 1)
    calls_at_kill = file_sms.calls(provider)
    assert calls_at_kill == ([] if point == file_sms.BEFORE_CALL else [key])
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING

    lease_end = attempt.claimed_at + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
    before_lease_end = sweep(at=lease_end - timedelta(seconds=1))
    assert before_lease_end.startswith("Enqueued 0 delivery attempts"), before_lease_end
    after_lease_end = sweep(at=lease_end + timedelta(seconds=1))
    assert after_lease_end == "Enqueued 1 delivery attempts (queued: 0, retry overdue: 0, stuck sending: 1)"

    # A worker started after the lease is over (its clock ahead by the lease; nothing waits for it).
    (provider / f"hold-{point}").unlink()
    restarted = children.start(
        [harness.PYTHON, "-m", "tests.faults.manage_later", "rqworker", "delivery", "--burst"],
        env={**env, CLOCK_AHEAD_ENV: str(settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 2)},
        log=tmp_path / "restarted-worker.log",
    )
    assert restarted.wait(timeout=60) == 0, (tmp_path / "restarted-worker.log").read_text()

    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries, attempt.provider_message_id) == (
        DeliveryAttempt.Status.ACCEPTED,
        2,
        f"file-{key}",
    )
    calls = file_sms.calls(provider)
    delivered = file_sms.delivered(provider)
    assert calls == [key] * provider_calls
    assert delivered == [key]
    lost, duplicates = tally({key}, delivered)
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 1)
    assert InvitationEvent.objects.filter(invitation=invitation, reason="provider_accepted").count() == 1
    billed = BillingEvent.objects.filter(source_id=f"attempt:{attempt.pk}").count()
    assert billed == 1

    report(
        f"{worker_class} SIGKILLed {'before' if point == file_sms.BEFORE_CALL else 'after'} the provider call",
        {
            "killed": f"worker session {worker.pid} ({len(killed)} processes, the sender {horse} among them)",
            "at the kill": f"attempt sending (tries 1), provider calls {len(calls_at_kill)}",
            "sweep 1 s before the lease ends": before_lease_end,
            "sweep 1 s after the lease ends": after_lease_end,
            "restarted worker": f"attempt accepted (tries {attempt.tries}), invitation {invitation.status}",
            "provider calls": f"{len(calls)}, all with key {key}",
            "delivered by the provider": len(delivered),
            "billing events": billed,
        },
        lost=lost,
        duplicates=duplicates,
    )


@pytest.mark.parametrize("fault", ["worker killed", "database cut"])
def test_a_batch_postmark_took_whose_acceptance_was_never_written_is_sent_once(
    children, organization, settings, tmp_path, fault
):
    """The Procfile's delivery worker SIGKILLed while a slow Postmark holds its batch, or its
    PostgreSQL connection cut as it writes the acceptances: either way Postmark took every message
    and the attempts stay `sending`. After the lease each is taken over, found by Postmark's outbound
    message search by its metadata, and recorded as that message: none is sent again."""
    provider = FakePostmark(latency=3 if fault == "worker killed" else 0.05)
    proxy = None
    env = service_environment(
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL_POSTMARK_SERVER_TOKEN="postmark-server-token",
        ANYMAIL_POSTMARK_API_URL=provider.url + "/",
    )
    now = timezone.now()
    invitations = [
        InvitationFactory(
            organization=organization,
            recipient=f"held{n}@example.com",
            created_at=now - timedelta(hours=1),
            sent_at=now - timedelta(minutes=10),
        )
        for n in range(20)
    ]
    try:
        invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=Actor.system("test"))
        assert [len(job.args[0]) for job in django_rq.get_queue("delivery").get_jobs()] == [20]
        if fault == "worker killed":
            worker = children.start(
                [*procfile_command("delivery"), "--processes", "1"], env=env, log=tmp_path / "worker.log"
            )
            assert provider.received.wait(timeout=60), (tmp_path / "worker.log").read_text()
            kill_session(worker.pid)
            while provider.in_flight:  # Postmark finishes the batch it holds, answering nobody
                time.sleep(0.1)
        else:
            db = settings.DATABASES["default"]
            proxy = CuttingProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
            cut = proxy.cut_when(ACCEPTANCES_WRITTEN)
            worker = children.start(
                [harness.PYTHON, "manage.py", "rqworker", "delivery", "--burst"],
                env={**env, "DATABASE_URL": database_url(host="127.0.0.1", port=proxy.port)},
                log=tmp_path / "worker.log",
            )
            worker.wait(timeout=60)
            assert cut.fired.is_set(), (tmp_path / "worker.log").read_text()
        assert provider.batch_calls == 1 and len(provider.messages) == 20
        provider.latency = 0.05
        attempts = list(DeliveryAttempt.objects.order_by("pk"))
        assert {(a.status, a.tries) for a in attempts} == {(DeliveryAttempt.Status.SENDING, 1)}

        lease_end = max(a.claimed_at for a in attempts) + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
        swept = sweep(at=lease_end + timedelta(seconds=1))
        assert swept == "Enqueued 20 delivery attempts (queued: 0, retry overdue: 0, stuck sending: 20)"
        restarted = children.start(
            [harness.PYTHON, "-m", "tests.faults.manage_later", "rqworker", "delivery", "--burst"],
            env={**env, CLOCK_AHEAD_ENV: str(settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 2)},
            log=tmp_path / "restarted-worker.log",
        )
        assert restarted.wait(timeout=60) == 0, (tmp_path / "restarted-worker.log").read_text()
    finally:
        provider.stop()
        if proxy is not None:
            proxy.close()

    delivered = [message["Metadata"]["delivery_attempt_id"] for message in provider.messages]
    lost, duplicates = tally({str(a.pk) for a in attempts}, delivered)
    assert (lost, duplicates) == (0, 0)
    assert provider.lookups == 20
    message_ids = {message_id for message_id, _message in provider.sent}
    for attempt in DeliveryAttempt.objects.all():
        assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 2)
        assert attempt.provider_message_id in message_ids
    assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.SENT}
    billed = BillingEvent.objects.filter(source_id__in=[f"attempt:{a.pk}" for a in attempts]).count()
    assert billed == 20
    report(
        f"Postmark took a batch of 20; then the delivery worker's {fault}",
        {
            "then": "the attempts stayed sending",
            "after the lease": swept,
            "searches by metadata": provider.lookups,
            "messages Postmark made": len(provider.messages),
            "billing events": billed,
        },
        lost=lost,
        duplicates=duplicates,
    )
