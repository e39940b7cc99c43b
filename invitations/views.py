"""The recipient's side: the link in the message. HTML pages, not the JSON API."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.principals import Actor
from invitations.exceptions import (
    InvitationLinkExpired,
    InvitationLinkGone,
    InvitationLinkWithdrawn,
    InvitationNotFound,
)
from invitations.languages import canonical_tag, language_for
from invitations.selectors import invitation_flow_url, invitation_get_for_link
from invitations.services import invitation_link_open

RECIPIENT = Actor.recipient("link")
GONE_TEMPLATES = {
    InvitationLinkExpired: "invitations/link_expired.html",
    InvitationLinkWithdrawn: "invitations/link_withdrawn.html",
}


def _page(request: HttpRequest, template: str, *, status: int, locale: str | None = None) -> HttpResponse:
    """A page in the invitation's language; for a link that names none, the browser's."""
    language = language_for(locale) if locale else language_for(translation.get_language_from_request(request))
    with translation.override(language):
        response = render(request, template, status=status)
    response["Content-Language"] = canonical_tag(language)
    # The token is in the URL: keep these pages out of indexes and referrers.
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def invitation_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET records the open and redirects to the flow; HEAD (link scanners, previews) only looks."""
    try:
        if request.method == "HEAD":
            invitation = invitation_get_for_link(token=token)
        else:
            invitation = invitation_link_open(token=token, actor=RECIPIENT)
    except InvitationNotFound:
        return _page(request, "invitations/link_not_found.html", status=404)
    except InvitationLinkGone as gone:
        template = GONE_TEMPLATES[type(gone)]
        return _page(request, template, status=410, locale=gone.locale)
    response = HttpResponseRedirect(invitation_flow_url(invitation=invitation))
    response["Referrer-Policy"] = "no-referrer"
    return response
