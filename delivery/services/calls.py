"""The provider calls of claimed sends: each through its channel's usable providers in order (a
send a provider failed before taking it goes on to the next one), emails in calls to Postmark's
batch API where it comes first, the calls overlapping on the process's provider pool."""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.utils import timezone

from delivery import channels, failover
from delivery.models import DeliveryAttempt, ProviderEvent
from ops.metrics import PROVIDER_SENDS

logger = logging.getLogger(__name__)

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _provider_pool() -> ThreadPoolExecutor:
    """The process's provider calls in flight, DELIVERY_CONCURRENCY at most, whichever job asks."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.DELIVERY_CONCURRENCY, thread_name_prefix="provider")
        return _pool


def provider_calls(attempts: list[DeliveryAttempt]) -> list[str | channels.DeliveryError]:
    """Each attempt's provider calls: its message id, or the DeliveryError it failed with. One runs
    here; more overlap on the process's provider pool (they touch no database), emails in calls to
    the provider's batch API where the first provider has one (``channels.email_batch_size``). A send
    a provider failed before taking it goes on to the next provider (``_call``); each attempt's
    ``provider`` names the last one it went to."""
    for attempt in attempts:
        # The provider of an earlier try (a lost or unsure one is looked for there first).
        attempt.earlier_provider = attempt.provider
    if len(attempts) == 1:
        return [_call(attempts[0])]
    # An email with an earlier, unrecorded try goes alone: the provider is asked about that try first.
    emails = [a for a in attempts if a.channel == "email" and channels.earlier_try_since(a) is None]
    usable = failover.usable("email") if len(emails) > 1 else []
    first = usable[0] if usable else None
    size = channels.email_batch_size(first.path) if first is not None else 1
    if first is None or size == 1:
        return list(_provider_pool().map(_call, attempts))
    pool = _provider_pool()
    batched = {a.pk for a in emails}
    singles = {a.pk: pool.submit(_call, a) for a in attempts if a.pk not in batched}
    chunks = [emails[start : start + size] for start in range(0, len(emails), size)]
    batches = [(chunk, pool.submit(_call_batch, chunk, first)) for chunk in chunks]
    outcomes = {pk: future.result() for pk, future in singles.items()}
    for chunk, future in batches:
        outcomes.update(zip((a.pk for a in chunk), future.result(), strict=True))
    # The sends a batch call failed before the provider took them go on to the next providers, one
    # by one, overlapping as any others.
    others = usable[1:]
    handed = [a for a in emails if isinstance(out := outcomes[a.pk], channels.DeliveryError) and _hand_over(out)]
    if handed and others:
        for attempt in handed:
            _note_handover(attempt, first.name, outcomes[attempt.pk])
        outcomes.update(zip((a.pk for a in handed), pool.map(lambda a: _call(a, others), handed), strict=True))
    return [outcomes[attempt.pk] for attempt in attempts]


def _hand_over(error: channels.DeliveryError) -> bool:
    """Whether a failed send may go to the next provider at once: it failed before the provider took
    it (connection refused, a 5xx or 429, its own "try later"). A refusal about the recipient, or a
    try whose outcome is unknown, never may."""
    return not error.permanent and not error.unsure


def _call(attempt: DeliveryAttempt, providers: list[failover.Provider] | None = None) -> str | channels.DeliveryError:
    """One attempt through its channel's usable providers, in order, until one takes it or refuses it
    for good, or a try's outcome is unknown. A provider an earlier try may have reached goes first."""
    if providers is None:
        providers = failover.usable(attempt.channel)
        earlier = attempt.earlier_provider if channels.earlier_try_since(attempt) is not None else ""
        providers.sort(key=lambda provider: provider.name != earlier)
    if not providers:
        return channels.DeliveryError("Every provider of this channel is resting after failures.", permanent=False)
    outcome: str | channels.DeliveryError = channels.DeliveryError("Not sent.", permanent=False)
    # The whole call, however many providers it tries, stays within half the delivery job's timeout:
    # past it, a failed try is retried with backoff rather than handed on.
    deadline = time.monotonic() + settings.RQ_QUEUES["delivery"]["DEFAULT_TIMEOUT"] / 2
    for number, provider in enumerate(providers):
        if number and time.monotonic() > deadline:
            return outcome
        attempt.provider = provider.name
        try:
            outcome = channels.send(attempt, provider.path)
        except channels.DeliveryError as exc:
            outcome = exc
        except Exception as exc:
            outcome = _unexpected(exc, [attempt])[0]
        if not _settled_by(provider, outcome, channel=attempt.channel):
            _note_handover(attempt, provider.name, outcome)
            continue  # on to the next provider
        return outcome
    return outcome


def _note_handover(attempt: DeliveryAttempt, provider: str, error: str | channels.DeliveryError) -> None:
    """Remember, on the instance, a try a provider failed before taking it (``_record_handovers``)."""
    vars(attempt).setdefault("handovers", []).append((provider, str(error)))


def record_handovers(attempts: list[DeliveryAttempt]) -> None:
    """Each try a provider failed before taking it, as an event of its attempt's timeline
    (handed_over, naming the provider and what it answered): one attempt, several tries."""
    now = timezone.now()
    events = [
        ProviderEvent(
            provider=provider,
            event_id=f"handover:{attempt.pk}:{attempt.tries}:{number}",
            attempt=attempt,
            kind=ProviderEvent.Kind.OTHER,
            provider_status="handed_over",
            description=f"{provider} failed the send before taking it: {error}"[:1024],
            outcome=ProviderEvent.Outcome.IGNORED,
            note="Handed to the next provider.",
            occurred_at=now,
            received_at=now,
        )
        for attempt in attempts
        for number, (provider, error) in enumerate(vars(attempt).get("handovers", []), start=1)
    ]
    if events:
        ProviderEvent.objects.bulk_create(events, ignore_conflicts=True)


def _settled_by(provider: failover.Provider, outcome: str | channels.DeliveryError, *, channel: str) -> bool:
    """Count the provider's answer (its rest, /metrics); whether it settles the send there."""
    if isinstance(outcome, str):
        failover.record_success(provider)
        PROVIDER_SENDS.labels(channel=channel, provider=provider.name, outcome="accepted").inc()
        return True
    if _hand_over(outcome):
        failover.record_failure(provider)
        PROVIDER_SENDS.labels(channel=channel, provider=provider.name, outcome="failed").inc()
        return False
    # Refused for its recipient (the provider works), or unknown: settled there either way.
    if outcome.permanent:
        failover.record_success(provider)
    PROVIDER_SENDS.labels(
        channel=channel, provider=provider.name, outcome="refused" if outcome.permanent else "unknown"
    ).inc()
    return True


def _call_batch(attempts: list[DeliveryAttempt], provider: failover.Provider) -> list[str | channels.DeliveryError]:
    """A batch to ``provider``'s batch API. The provider's failure counts once for the call."""
    for attempt in attempts:
        attempt.provider = provider.name
    try:
        outcomes = channels.send_email_batch(attempts, provider.path)
    except Exception as exc:
        outcomes = _unexpected(exc, attempts)
    handed = [i for i, outcome in enumerate(outcomes) if not isinstance(outcome, str) and _hand_over(outcome)]
    taken = [outcome for outcome in outcomes if isinstance(outcome, str)]
    if taken or len(handed) < len(outcomes):
        failover.record_success(provider)
    elif handed:
        failover.record_failure(provider)
    for outcome in outcomes:
        label = "accepted" if isinstance(outcome, str) else "failed" if _hand_over(outcome) else "refused"
        PROVIDER_SENDS.labels(channel="email", provider=provider.name, outcome=label).inc()
    return outcomes


def _unexpected(exc: Exception, attempts: list[DeliveryAttempt]) -> list[str | channels.DeliveryError]:
    """An error nobody classified (a bug, an SDK surprise): retried, bounded by the tries."""
    logger.exception("Unexpected error sending delivery attempts %s", ", ".join(str(a.pk) for a in attempts))
    error = channels.DeliveryError(f"The send failed unexpectedly ({exc.__class__.__name__}).", permanent=False)
    return [error] * len(attempts)
