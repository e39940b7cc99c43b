"""The console's Delivery health page (/admin/delivery/health/) and its "Send these again".

The page reads ``delivery_health`` and ``delivery_outbox_now`` and draws their numbers; each failure
reason links to the invitation list filtered to exactly the invitations behind its count
(``FailedSendFilter``), and "Send these again" sends the failed ones among them again through the bulk
resend service, as ``resend_invitations --failed`` does: a dry run first, then a confirmation, then
one summary.
"""

from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from accounts.models import Organization
from accounts.principals import Actor
from delivery.health import (
    OUTCOMES,
    delivery_health,
    delivery_outbox_now,
    failed_send_invitations,
)
from delivery.services.rollups import delivery_stats_refresh_if_stale
from invitations.admin.actions import totals
from invitations.exceptions import ResendOutcome
from invitations.models import Invitation
from invitations.services import invitation_resend_bulk
from suppressions.models import Suppression

VIEW_PERMISSION = "invitations.view_invitation"
RESEND_PERMISSION = "invitations.resend_invitation"


class HealthForm(forms.Form):
    """What the page shows: a period, an organization or all, live or sandbox (GET parameters)."""

    period = forms.ChoiceField(
        choices=[("24h", "Last 24 hours, by hour"), ("7d", "Last 7 days, by day"), ("30d", "Last 30 days, by day")],
        required=False,
    )
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name"), required=False, empty_label="All organizations"
    )
    mode = forms.ChoiceField(choices=[("live", "Live"), ("sandbox", "Sandbox")], required=False)

    def scope(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        organization = data.get("organization")
        return {
            "period": data.get("period") or "24h",
            "organization": organization,
            "livemode": (data.get("mode") or "live") == "live",
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _scope_query(scope: dict) -> dict:
    query = {"period": scope["period"], "mode": "live" if scope["livemode"] else "sandbox"}
    if scope["organization"] is not None:
        query["organization"] = scope["organization"].pk
    return query


def _reason_query(reason: str, start: datetime, end: datetime) -> dict:
    return {"failure_reason": reason, "queued_from": _iso(start), "queued_to": _iso(end)}


def reason_link(*, reason: str, scope: dict, start: datetime, end: datetime) -> str:
    """The invitation list filtered to the invitations whose sends in [start, end) failed for ``reason``."""
    query = {**_reason_query(reason, start, end), "mode": "live" if scope["livemode"] else "sandbox"}
    if scope["organization"] is not None:
        query["organization__id__exact"] = scope["organization"].pk
    return reverse("admin:invitations_invitation_changelist") + "?" + urlencode(query)


def _suppression_label(reason: str) -> str:
    return Suppression.Reason(reason).label if reason in Suppression.Reason.values else reason


def health_view(request):
    """The Delivery health page."""
    # pygal is imported when a chart is drawn, not by every process that loads the URLs.
    from delivery.charts import outcomes_chart, rates_chart

    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    form = HealthForm(request.GET or None)
    scope = form.scope()
    delivery_stats_refresh_if_stale()
    organization_id = scope["organization"].pk if scope["organization"] is not None else None
    health = delivery_health(period=scope["period"], organization_id=organization_id, livemode=scope["livemode"])
    outbox = delivery_outbox_now(livemode=scope["livemode"], organization_id=organization_id)
    reasons = [
        {
            "reason": reason,
            "count": count,
            "link": reason_link(reason=reason, scope=scope, start=health.start, end=health.end),
            "send_again": reverse("delivery-health-send-again")
            + "?"
            + urlencode({**_scope_query(scope), **_reason_query(reason, health.start, health.end)}),
        }
        for reason, count in health.top_failure_reasons
    ]
    hourly = scope["period"] == "24h"
    context = {
        **admin.site.each_context(request),
        "title": "Delivery health",
        "form": form,
        "scope": scope,
        "health": health,
        "totals": health.totals,
        "outcomes": OUTCOMES,
        "bucket_rows": [
            (bucket.start.strftime("%Y-%m-%d %H:%M" if hourly else "%Y-%m-%d"), bucket) for bucket in health.buckets
        ],
        "outcomes_chart": outcomes_chart(health),
        "channel_chart": rates_chart("Rates by channel", health.by_channel),
        "provider_chart": rates_chart("Rates by provider", health.by_provider),
        "reasons": reasons,
        "suppressions": [(_suppression_label(reason), count) for reason, count in health.suppressions_by_reason],
        "outbox": outbox,
        "can_send_again": request.user.has_perm(RESEND_PERMISSION),
    }
    return TemplateResponse(request, "admin/delivery/health.html", context)


def _reason_scope(request) -> tuple[dict, str, datetime, datetime]:
    """The scope, failure reason and [from, to) a Send these again names (the reason's link's own)."""
    params = request.POST if request.method == "POST" else request.GET
    form = HealthForm(params)
    start, end = (parse_datetime(params.get(name, "")) for name in ("queued_from", "queued_to"))
    if not form.is_valid() or "failure_reason" not in params or start is None or end is None:
        raise IncorrectLookupParameters("Send these again needs a failure reason, its period and its mode.")
    return form.scope(), params["failure_reason"], start, end


def send_again_view(request):
    """Send again the failed invitations behind a failure reason: the GET is a dry run to confirm, the
    POST sends and ends in one summary."""
    if not request.user.has_perm(RESEND_PERMISSION):
        raise PermissionDenied
    try:
        scope, reason, start, end = _reason_scope(request)
    except IncorrectLookupParameters as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("delivery-health"))
    organization = scope["organization"]
    invitations = failed_send_invitations(
        reason=reason,
        start=start,
        end=end,
        livemode=scope["livemode"],
        organization_id=organization.pk if organization is not None else None,
    ).filter(status=Invitation.Status.FAILED)
    cap = settings.ADMIN_RESEND_MAX_ROWS
    ids = list(invitations.order_by("pk").values_list("pk", flat=True)[: cap + 1])
    cut = len(ids) > cap
    ids = ids[:cap]
    back = reverse("delivery-health") + "?" + urlencode(_scope_query(scope))
    actor = Actor.for_staff(request.user)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        summary = invitation_resend_bulk(invitation_ids=ids, actor=actor, again=True, wait_for_busy=True)
        counts = Counter(result.outcome for result in summary.results)
        sent = counts[ResendOutcome.RESENT]
        text = f"Send these again: {sent} of {len(summary.results)} failed invitations sent again."
        others = totals(counts, {outcome: outcome.label for outcome in ResendOutcome if outcome != "resent"})
        if others:
            text += f" Not sent: {others}."
        messages.add_message(request, messages.SUCCESS if sent == len(summary.results) else messages.WARNING, text)
        return HttpResponseRedirect(back)
    preview = invitation_resend_bulk(invitation_ids=ids, actor=actor, dry_run=True, again=True)
    would = preview.counts
    context = {
        **admin.site.each_context(request),
        "title": "Send these again?",
        "reason": reason,
        "scope": scope,
        "start": start,
        "end": end,
        "selected": len(ids),
        "cut": cut,
        "cap": cap,
        "rows": [(outcome.label, would[outcome], preview.first_messages.get(outcome, "")) for outcome in ResendOutcome],
        "would_send": would[ResendOutcome.RESENT],
        "list_link": reason_link(reason=reason, scope=scope, start=start, end=end),
        "back": back,
        "hidden": {**_scope_query(scope), **_reason_query(reason, start, end)},
    }
    return TemplateResponse(request, "admin/delivery/send_again.html", context)
