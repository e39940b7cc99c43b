"""The recipient's side: the link in the message. HTML pages, not the JSON API."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.principals import Actor
from invitations.exceptions import InvitationLinkExpired, InvitationLinkWithdrawn, InvitationNotFound
from invitations.selectors import invitation_flow_url, invitation_get_for_link
from invitations.services import invitation_link_open

RECIPIENT = Actor(kind="recipient", label="recipient:link")


def _page(request: HttpRequest, template: str, *, status: int) -> HttpResponse:
    response = render(request, template, status=status)
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
    except InvitationLinkExpired:
        return _page(request, "invitations/link_expired.html", status=410)
    except InvitationLinkWithdrawn:
        return _page(request, "invitations/link_withdrawn.html", status=410)
    response = HttpResponseRedirect(invitation_flow_url(invitation=invitation))
    response["Referrer-Policy"] = "no-referrer"
    return response
