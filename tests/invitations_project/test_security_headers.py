"""Every page carries the Content-Security-Policy (no inline or foreign script anywhere), and an HTTPS
answer carries HSTS; both come from the settings' secure defaults."""

import pytest

from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/admin/login/", "/docs/", "/i/{token}", "/i/adi_doesnotexist", "/v1/autodoc/invitations"]
)
def test_every_page_has_a_policy_that_allows_scripts_from_this_origin_only(client, organization, path):
    invitation = InvitationFactory(organization=organization)
    response = client.get(path.format(token=invitation.token))
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"


def test_an_https_answer_carries_hsts_with_subdomains(client, settings):
    assert settings.SECURE_HSTS_SECONDS == 31_536_000
    response = client.get("/admin/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
