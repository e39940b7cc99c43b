"""Schemathesis against the published OpenAPI description, through the real WSGI application.

Every generated request, valid or deliberately invalid, must get an answer that is not a 5xx and
that matches the description: status documented, body shaped as documented, headers as documented.
"""

from datetime import timedelta

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.models import ApiKey
from invitations.models import Invitation
from invitations_project.wsgi import application
from tests.factories import InvitationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wsgi_app_shares_the_test_transaction")]


# Bounded so the whole fuzzing run stays well under a minute.
MAX_EXAMPLES_PER_OPERATION = 25

# Loaded from the running application at collection time: generating it needs no database.
# The service refuses a URL, a header or a body past its limits with 414, 431 or 413 before looking at
# its values, as every operation documents: for invalid data those are refusals too.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "414",
                    "415",
                    "422",
                    "428",
                    "429",
                    "431",
                ]
            }
        }
    }
)
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", application, config=CONFIG)


# Real invitations in every state the rules care about, so generated paths also reach them.
ELIGIBLE = [f"adi_FuzzEligible{n}" for n in range(5)]
KNOWN_TOKENS = [
    *ELIGIBLE,
    "adi_FuzzPending",
    "adi_FuzzDelivered",
    "adi_FuzzFailed",
    "adi_FuzzExpired",
    "adi_FuzzMaxAttempts",
    "adi_FuzzCoolingDown",
    "adi_FuzzLiveMode",  # the other mode: must answer 404
    "adi_FuzzOtherTenant",  # another organization's: must answer 404
    "FuzzEligible0",  # without the prefix
]


@pytest.fixture
def known_invitations(organization, other_organization):
    now = timezone.now()
    sandbox = {"organization": organization, "livemode": False}
    for token in ELIGIBLE:
        InvitationFactory(**sandbox, token=token)
    InvitationFactory(**sandbox, token="adi_FuzzPending", status=Invitation.Status.PENDING, sent_at=None)
    InvitationFactory(**sandbox, token="adi_FuzzDelivered", status=Invitation.Status.DELIVERED)
    InvitationFactory(**sandbox, token="adi_FuzzFailed", status=Invitation.Status.FAILED, error_message="Mailbox full")
    InvitationFactory(**sandbox, token="adi_FuzzExpired", expires_at=now - timedelta(minutes=1))
    InvitationFactory(**sandbox, token="adi_FuzzMaxAttempts", delivery_attempts=10)
    InvitationFactory(**sandbox, token="adi_FuzzCoolingDown", sent_at=now - timedelta(seconds=10))
    InvitationFactory(organization=organization, livemode=True, token="adi_FuzzLiveMode")
    InvitationFactory(organization=other_organization, livemode=False, token="adi_FuzzOtherTenant")


# A sandbox key known in advance, so the auth provider below can attach it to every generated request;
# schemathesis then knows the credentials are the test's, not data to mutate.
SANDBOX_KEY = "private_sandbox_FuzzingOnlyKey0123456789abcdefghijklmn"


@schema.auth()
class SandboxKey:
    def get(self, case, context):
        return SANDBOX_KEY

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture
def sandbox_key_in_db(organization):
    ApiKey.objects.create(
        organization=organization,
        livemode=False,
        name="fuzzing",
        prefix=SANDBOX_KEY[:22],
        key_hash=ApiKey.hash_secret(SANDBOX_KEY),
    )


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters or "token" not in path_parameters:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, *({**path_parameters, "token": token} for token in KNOWN_TOKENS)])


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,  # every run starts fresh; a failure prints the request that reproduces it
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_never_answers_5xx_and_always_answers_as_documented(case, sandbox_key_in_db, known_invitations):
    # Creating and resending apply business rules a schema cannot state (a real phone number, an existing
    # workflow, an unexpired invitation), and so does the usage period (to after from): refusing
    # schema-valid input with 422 is their contract there.
    rules_beyond_schema = case.method == "POST" or case.path == "/v1/billing/usage"
    excluded = [positive_data_acceptance] if rules_beyond_schema else []
    case.call_and_validate(excluded_checks=excluded)
