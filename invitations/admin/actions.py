"""The console's actions on invitations, through the invitation services: Resend and Cancel (the page's buttons and the
bulk actions, each bulk run ending in one summary of totals) and Correct the recipient (a form,
then a confirmation). Each calls the same service as the API, with the staff user as actor."""

from collections import Counter

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.principals import Actor
from api.errors import ApiError
from invitations.exceptions import ResendOutcome
from invitations.models import Invitation
from invitations.services import (
    InvitationResendResult,
    invitation_cancel_many,
    invitation_resend_bulk,
    invitation_update,
)

RESEND_PERMISSION = "invitations.resend_invitation"
# A bulk Resend of this many or fewer names each refused invitation and why; more are counted by reason.
NAMED_REFUSALS_UP_TO = 20
CANCEL_PERMISSION = "invitations.cancel_invitation"


def _one_message(result: InvitationResendResult) -> tuple[int, str]:
    """The message level and text for one invitation's resend (the page's button)."""
    name = f"Invitation {result.token}"
    if result.outcome == ResendOutcome.RESENT:
        return messages.SUCCESS, f"{name}: resent; send attempt {result.delivery_attempts} queued."
    if result.outcome == ResendOutcome.NOT_FOUND:
        return messages.WARNING, f"{name}: no longer exists."
    if result.outcome == ResendOutcome.ERROR:
        # Its transaction rolled back: nothing half-done.
        return messages.ERROR, f"{name}: not resent; an unexpected error occurred and was logged. Try again."
    return messages.WARNING, f"{name}: not resent. {result.message}"


def totals(counts: Counter, labels: dict[str, str]) -> str:
    """ "3 cooldown, 1 suppressed (recipient)": the counts that are not zero, in ``labels``' order."""
    return ", ".join(f"{counts[key]} {label}" for key, label in labels.items() if counts[key])


class CorrectionForm(forms.Form):
    channel = forms.ChoiceField(choices=Invitation.Channel.choices)
    recipient = forms.CharField(max_length=254, help_text="An email address, or a phone number in E.164 (+49…).")


class InvitationActionsMixin(admin.ModelAdmin):
    """For InvitationAdmin: the views and actions that change an invitation."""

    def has_resend_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(RESEND_PERMISSION)

    def has_cancel_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(CANCEL_PERMISSION)

    def _capped(self, request, queryset) -> list[int]:
        """The selection's ids, at most ADMIN_RESEND_MAX_ROWS of them; says so when that cut it."""
        cap = settings.ADMIN_RESEND_MAX_ROWS
        ids = list(queryset.select_related(None).order_by("pk").values_list("pk", flat=True)[: cap + 1])
        if len(ids) > cap:
            self.message_user(
                request,
                f"The selection was cut to its first {cap} invitations (the console's limit at once); run the "
                "action again for the rest, or ask an operator to run the resend_invitations command.",
                messages.WARNING,
            )
        return ids[:cap]

    def _confirmation(self, request, queryset, *, action: str, verb: str, explanation: str) -> TemplateResponse:
        count = min(queryset.count(), settings.ADMIN_RESEND_MAX_ROWS)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb} invitations?",
            "opts": self.opts,
            "count": count,
            "action": action,
            "verb": verb,
            "explanation": explanation,
            "sample": list(queryset.order_by("pk").values_list("token", "status", "recipient")[:20]),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/invitations/invitation/bulk_confirmation.html", context)

    # --- Cancel -------------------------------------------------------------------------------------

    def cancel(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirmation(
                request,
                queryset,
                action="cancel",
                verb="Cancel",
                explanation="This cannot be undone: each one that can still be withdrawn (pending, sent, delivered, "
                "opened or failed) is canceled, its queued sends dropped, and its link will say it was withdrawn; "
                "the others are counted and left as they are.",
            )
        results = invitation_cancel_many(invitation_ids=self._capped(request, queryset), actor=self._actor(request))
        refused = Counter(str(result.refusal) for result in results if result.refusal is not None)
        canceled = len(results) - sum(refused.values())
        text = f"Cancel: {canceled} of {len(results)} invitations canceled."
        if refused:
            text += f" Not canceled: {sum(refused.values())} (already started, completed, rejected or canceled)."
        self.message_user(request, text, messages.SUCCESS if not refused else messages.WARNING)
        return None

    def cancel_view(self, request, object_id):
        """The page's Cancel button: a GET asks to confirm (a cancel cannot be undone), the POST cancels."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        invitation = self.get_object(request, unquote(object_id))
        if invitation is None:
            return self._missing(request, object_id)
        if request.method == "POST":
            [result] = invitation_cancel_many(invitation_ids=[invitation.pk], actor=self._actor(request))
            if result.refusal is None:
                self.message_user(request, f"Invitation {result.token}: canceled.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"Invitation {result.token}: not canceled. {result.refusal}", messages.WARNING
                )
            return self._back_to(invitation)
        return self._page(request, invitation, "cancel_confirmation.html", f"Cancel invitation {invitation.token}?")

    # --- Resend -------------------------------------------------------------------------------------

    def resend(self, request, queryset):
        if not self.has_resend_permission(request):
            raise PermissionDenied
        count = queryset.count()
        if count > settings.ADMIN_RESEND_CONFIRM_ABOVE and request.POST.get("confirm") != "yes":
            return self._confirmation(
                request,
                queryset,
                action="resend",
                verb="Resend",
                explanation="Each one that the rules allow (status sent, not expired, under the attempt cap, out of "
                "its cooldown, recipient not suppressed) gets a fresh delivery; the others are counted by reason "
                "and left as they are.",
            )
        summary = invitation_resend_bulk(
            invitation_ids=self._capped(request, queryset), actor=self._actor(request), wait_for_busy=True
        )
        counts = Counter(result.outcome for result in summary.results)
        resent = counts[ResendOutcome.RESENT]
        text = f"Resend: {resent} of {len(summary.results)} invitations resent."
        not_resent = totals(counts, {outcome: outcome.label for outcome in ResendOutcome if outcome != "resent"})
        if not_resent:
            text += f" Not resent: {not_resent}."
        self.message_user(request, text, messages.SUCCESS if resent == len(summary.results) else messages.WARNING)
        if len(summary.results) <= NAMED_REFUSALS_UP_TO:
            # A few: each one refused, by name, with its reason in words.
            for result in summary.results:
                if result.outcome != ResendOutcome.RESENT:
                    level, line = _one_message(result)
                    self.message_user(request, line, level)
        return None

    def _posted(self, request, object_id):
        """A page button's POST by staff who may resend: (the invitation, None), or (None, the answer)."""
        if request.method != "POST":
            return None, HttpResponseNotAllowed(["POST"])
        if not self.has_resend_permission(request):
            raise PermissionDenied
        invitation = self.get_object(request, unquote(object_id))
        return (invitation, None) if invitation is not None else (None, self._missing(request, object_id))

    def resend_view(self, request, object_id):
        invitation, answer = self._posted(request, object_id)
        if invitation is None:
            return answer
        summary = invitation_resend_bulk(invitation_ids=[invitation.pk], actor=self._actor(request), wait_for_busy=True)
        level, text = _one_message(summary.results[0])
        self.message_user(request, text, level)
        return self._back_to(invitation)

    def send_again_view(self, request, object_id):
        """Send a failed invitation again to its own recipient (a correction to the same address):
        the way forward once the address works again, its suppression lifted."""
        invitation, answer = self._posted(request, object_id)
        if invitation is None:
            return answer
        try:
            invitation_update(
                invitation=invitation,
                actor=self._actor(request),
                channel=invitation.channel,
                recipient=invitation.recipient,
            )
        except ApiError as refusal:
            self.message_user(
                request, f"Invitation {invitation.token}: not sent. {_refusal_text(refusal)}", messages.ERROR
            )
        else:
            self.message_user(
                request, f"Invitation {invitation.token}: a send to {invitation.recipient} is queued.", messages.SUCCESS
            )
        return self._back_to(invitation)

    # --- Correct the recipient ----------------------------------------------------------------------

    def correct_view(self, request, object_id):
        """A form for the corrected recipient; then a page to confirm the new send; then the service."""
        if not self.has_resend_permission(request):
            raise PermissionDenied
        invitation = self.get_object(request, unquote(object_id))
        if invitation is None:
            return self._missing(request, object_id)
        form = CorrectionForm(
            request.POST or None, initial={"channel": invitation.channel, "recipient": invitation.recipient}
        )
        template = "correct_form.html"
        if request.method == "POST" and form.is_valid():
            if request.POST.get("confirm") == "yes":
                try:
                    invitation_update(
                        invitation=invitation,
                        actor=self._actor(request),
                        channel=form.cleaned_data["channel"],
                        recipient=form.cleaned_data["recipient"],
                    )
                except ApiError as refusal:
                    form.add_error(None, _refusal_text(refusal))
                else:
                    self.message_user(
                        request,
                        f"Invitation {invitation.token}: recipient corrected; a send to "
                        f"{form.cleaned_data['recipient']} is queued.",
                        messages.SUCCESS,
                    )
                    return self._back_to(invitation)
            else:
                template = "correct_confirmation.html"
        return self._page(request, invitation, template, f"Correct the recipient of {invitation.token}", form=form)

    # --- Shared -------------------------------------------------------------------------------------

    @staticmethod
    def _actor(request) -> Actor:
        return Actor.for_staff(request.user)

    def _page(self, request, invitation, template: str, title: str, **extra) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "title": title, "opts": self.opts, "original": invitation}
        return TemplateResponse(request, f"admin/invitations/invitation/{template}", {**context, **extra})

    @staticmethod
    def _back_to(invitation):
        return redirect(reverse("admin:invitations_invitation_change", args=[invitation.pk]))

    def _missing(self, request, object_id: str):
        """A Resend, Cancel or Correct for an invitation that is gone: say so on the list."""
        self.message_user(request, f"No invitation with id {object_id!r}; it may have been deleted.", messages.WARNING)
        return redirect(reverse("admin:invitations_invitation_changelist"))


def _refusal_text(refusal: ApiError) -> str:
    fields = refusal.extra.get("fields")
    if isinstance(fields, dict):
        return " ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in fields.items())
    return refusal.message
