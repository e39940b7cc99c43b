"""Idempotency-Key on every POST under /v1: one store, applied in one place.

A POST with a key runs its handler in one transaction that starts by claiming the key and ends by
storing the 2xx answer: the effect, the claim and the answer commit together or not at all. A
request that fails (an error answer, an exception, a lost connection, a killed process) leaves no
claim behind, so the key can simply be tried again.

The claim is one statement: a transaction-scoped advisory lock on the key taken with try (never
waited for), and the row inserted only when the lock was had. A request that finds the lock held
answers 409 ``idempotency_key_in_use`` at once; one that finds the row gets its answer again
(``Idempotent-Replayed: true``), or a 422 ``idempotency_key_reused`` when its method, path or body
differ. An answer past IDEMPOTENCY_KEY_TTL_HOURS is taken over as if the key were new.
"""

import hashlib
import json
import re
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from api import error_codes as codes
from api.errors import ApiError, ValidationFailed
from api.models import IdempotentRequest

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_RE = re.compile(r"[\x20-\x7e]{1,255}")


class IdempotencyKeyReused(ApiError):
    code = codes.IDEMPOTENCY_KEY_REUSED
    default_message = "This Idempotency-Key was already used for a request with another method, path or body."


class IdempotencyKeyInUse(ApiError):
    code = codes.IDEMPOTENCY_KEY_IN_USE
    default_message = "A request with this Idempotency-Key is still running; retry once it has finished."


class Replay(Exception):
    """Raised by the claim when a stored answer is to be sent again."""

    def __init__(self, stored: IdempotentRequest):
        self.stored = stored


def request_fingerprint(*, method: str, path: str, body) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def _lock_id(claim: IdempotentRequest) -> int:
    digest = hashlib.blake2b(
        f"{claim.organization_id}:{claim.livemode}:{claim.key}".encode(), digest_size=8, person=b"idem-key"
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def _claim_row(claim: IdempotentRequest, *, expired_before) -> bool:
    """Insert the claim, or take over the key's row when its answer is past its time; True when this
    request now holds the key. Must run inside the request's transaction.

    Raw SQL: the ORM has no conditional upsert (ON CONFLICT ... DO UPDATE ... WHERE) that says
    whether this statement won the row, nor a transaction-scoped advisory lock guarding it."""
    table = IdempotentRequest._meta.db_table
    values: list[Any] = [claim.organization_id, claim.livemode, claim.key, claim.fingerprint, claim.created_at]
    upsert = (
        f"INSERT INTO {table} AS held (organization_id, livemode, key, fingerprint, created_at) {{source}} "
        "ON CONFLICT (organization_id, livemode, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
        "created_at = EXCLUDED.created_at, response_status = NULL, response_body = NULL "
        "WHERE held.created_at < %s RETURNING id"
    )
    # Raw SQL, the one place in the product: see the docstring (a conditional upsert that says whether
    # it won the row, guarded by a transaction-scoped advisory lock; the ORM can say neither).
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Only the holder of the key's lock may write its row; the others never wait for it.
            cursor.execute(
                upsert.format(source="SELECT %s, %s, %s, %s, %s WHERE pg_try_advisory_xact_lock(%s)"),
                [*values, _lock_id(claim), expired_before],
            )
        else:
            # SQLite (the embedded default) lets one writer in at a time anyway.
            cursor.execute(upsert.format(source="VALUES (%s, %s, %s, %s, %s)"), [*values, expired_before])
        row = cursor.fetchone()
    if row is None:
        return False
    claim.pk = row[0]
    return True


def tenant_of(caller) -> tuple[int, bool] | None:
    """The caller's organization id and mode, when it acts for a tenant (an API key or a dashboard
    user; the authentication classes above this package make such callers)."""
    organization, livemode = getattr(caller, "organization", None), getattr(caller, "livemode", None)
    if organization is None or not isinstance(livemode, bool):
        return None
    return organization.pk, livemode


def idempotency_claim(*, tenant: tuple[int, bool], key: str, fingerprint: str) -> IdempotentRequest:
    """Claim ``key`` for this request, in its transaction; raise Replay, IdempotencyKeyReused or
    IdempotencyKeyInUse when another request holds it."""
    now = timezone.now()
    organization_id, livemode = tenant
    claim = IdempotentRequest(
        organization_id=organization_id,
        livemode=livemode,
        key=key,
        fingerprint=fingerprint,
        created_at=now,
    )
    if _claim_row(claim, expired_before=now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)):
        return claim
    held = IdempotentRequest.objects.filter(organization_id=organization_id, livemode=livemode, key=key).first()
    if held is None:
        # Another request holds the lock and has not committed its row yet.
        raise IdempotencyKeyInUse()
    if held.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    raise Replay(held)


def _store_answer(claim: IdempotentRequest, *, status: int, body) -> None:
    IdempotentRequest.objects.filter(pk=claim.pk).update(response_status=status, response_body=body)


class IdempotentApiMixin(APIView):
    """For a DRF view: honour Idempotency-Key on POST and PATCH for an authenticated organization.

    Runs after authentication, permissions and throttles (``initial``), so a refused caller never
    touches the store. A view whose answer shows a secret names its fields in ``idempotency_omits``:
    the stored answer leaves them out (no secret is kept at rest), and so does a replay.
    """

    idempotency_omits: tuple[str, ...] = ()
    idempotent_methods = frozenset({"POST", "PATCH"})

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.headers.get(HEADER)
        handler_name = request.method.lower()
        if request.method not in self.idempotent_methods or key is None or tenant_of(request.user) is None:
            return
        if not hasattr(self, handler_name):
            return  # DRF answers 405
        if not KEY_RE.fullmatch(key):
            raise ValidationFailed(fields={HEADER: ["Use 1 to 255 printable ASCII characters."]})
        # An empty body is {} whatever its Content-Type says, as the views that take none read it.
        has_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
        body = request.data if has_body else {}
        fingerprint = request_fingerprint(method=request.method, path=request.get_full_path(), body=body)
        # DRF looks the handler up on the view after `initial`; this view object serves one request.
        setattr(self, handler_name, partial(self._run_claimed, getattr(self, handler_name), key, fingerprint))

    def _stored_body(self, data):
        if isinstance(data, dict) and self.idempotency_omits:
            return {name: value for name, value in data.items() if name not in self.idempotency_omits}
        return data

    def _run_claimed(self, handler, key: str, fingerprint: str, request, *args, **kwargs):
        with transaction.atomic():
            tenant = tenant_of(request.user)
            assert tenant is not None  # initial() claims only for a tenant's caller
            claim = idempotency_claim(tenant=tenant, key=key, fingerprint=fingerprint)
            response = handler(request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                _store_answer(claim, status=response.status_code, body=self._stored_body(response.data))
            else:
                # An error answer changed nothing and keeps nothing, the claim included.
                transaction.set_rollback(True)
        return response

    def handle_exception(self, exc):
        if isinstance(exc, Replay):
            return Response(
                exc.stored.response_body, status=exc.stored.response_status, headers={REPLAYED_HEADER: "true"}
            )
        return super().handle_exception(exc)
