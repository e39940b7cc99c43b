"""Import from CSV on the console's invitation list: a file (a header row, UTF-8, the columns
``channel``, ``recipient``, ``reference``, ``locale``, ``workflowToken``, ``sendAt``) for one
organization and mode; a preview of every row, valid or with its error; then Create, which makes the
valid ones through the batch create service (BATCH_CREATE_MAX at a time, all in one transaction) with
the staff user as actor, and ends in one summary. A file that is not CSV, too large, or with unknown columns is
refused whole, with nothing made."""

import csv
import io
import secrets
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.models import Organization
from accounts.principals import Actor
from api.errors import ApiError
from invitations.serializers import InvitationCreateInputSerializer
from invitations.services.batch import BatchItem, invitations_create_batch

COLUMNS = ("channel", "recipient", "reference", "locale", "workflowToken", "sendAt")
REQUIRED_COLUMNS = ("channel", "recipient")
IMPORT_PERMISSION = "invitations.add_invitation"
# A previewed file waits this long for its Create.
PENDING_SECONDS = 3600
CACHE_PREFIX = "invitations:csv-import:"


class ImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.order_by("name"))
    mode = forms.ChoiceField(choices=[("live", "Live"), ("sandbox", "Sandbox")], initial="sandbox")
    file = forms.FileField(
        help_text="CSV with a header row, UTF-8. Columns: channel and recipient, and any of reference, locale, "
        "workflowToken, sendAt."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.CSV_IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"This file is too large: {upload.size} bytes, more than {settings.CSV_IMPORT_MAX_BYTES}. "
                f"Split it into files of at most {settings.CSV_IMPORT_MAX_ROWS} rows."
            )
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("This file is not CSV: it is not UTF-8 text.") from None
        return read_csv(text)


@dataclass
class ParsedCsv:
    text: str
    rows: list[dict]


def read_csv(text: str) -> ParsedCsv:
    """The file's rows as create bodies (empty cells left out); a ValidationError says why the whole
    file is refused."""
    if "\x00" in text:
        raise forms.ValidationError("This file is not CSV: it holds binary data.")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, None)
        lines = [line for line in reader if any(cell.strip() for cell in line)]
    except csv.Error as exc:
        raise forms.ValidationError(f"This file is not CSV: {exc}.") from None
    if not header or not any(cell.strip() for cell in header):
        raise forms.ValidationError("The file is empty: it needs a header row and at least one row.")
    header = [cell.strip() for cell in header]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise forms.ValidationError(
            f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}: "
            f"the columns are {', '.join(COLUMNS)}."
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if missing or duplicated:
        problem = f"missing {', '.join(missing)}" if missing else f"repeated {', '.join(duplicated)}"
        raise forms.ValidationError(f"The header row is not usable: {problem}.")
    if not lines:
        raise forms.ValidationError("The file has a header row and no rows.")
    if len(lines) > settings.CSV_IMPORT_MAX_ROWS:
        raise forms.ValidationError(
            f"This file is too large: {len(lines)} rows, more than {settings.CSV_IMPORT_MAX_ROWS}. Split it."
        )
    rows = [{name: cell.strip() for name, cell in zip(header, line, strict=False) if cell.strip()} for line in lines]
    return ParsedCsv(text=text, rows=rows)


def _error_text(error: ApiError | None) -> str:
    if error is None:
        return ""
    fields = error.extra.get("fields")
    if isinstance(fields, dict):
        return " ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in fields.items())
    return error.message


def _run(*, organization: Organization, livemode: bool, rows: list[dict], actor: Actor, dry_run: bool):
    """Every row's outcome, the rows taken BATCH_CREATE_MAX at a time (their sends queued after the
    caller's transaction commits)."""
    size = settings.BATCH_CREATE_MAX
    outcomes: list[BatchItem] = []
    for start in range(0, len(rows), size):
        chunk = invitations_create_batch(
            organization=organization,
            livemode=livemode,
            items=rows[start : start + size],
            actor=actor,
            read_item=InvitationCreateInputSerializer.read,
            dry_run=dry_run,
        )
        outcomes += [
            BatchItem(index=start + item.index, invitation=item.invitation, error=item.error) for item in chunk
        ]
    return outcomes


class InvitationImportMixin(admin.ModelAdmin):
    """For InvitationAdmin: the Import from CSV view."""

    def has_import_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(IMPORT_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "has_import_permission": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        actor = Actor.for_staff(request.user)
        if request.method == "POST" and request.POST.get("pending"):
            return self._create(request, actor)
        form = ImportForm(request.POST or None, request.FILES or None)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import invitations from CSV",
            "opts": self.opts,
            "form": form,
            "columns": COLUMNS,
            "max_rows": settings.CSV_IMPORT_MAX_ROWS,
        }
        if request.method == "POST" and form.is_valid():
            organization, livemode = form.cleaned_data["organization"], form.cleaned_data["mode"] == "live"
            parsed: ParsedCsv = form.cleaned_data["file"]
            outcomes = _run(organization=organization, livemode=livemode, rows=parsed.rows, actor=actor, dry_run=True)
            valid = sum(1 for item in outcomes if item.error is None)
            pending = secrets.token_urlsafe(16)
            if valid:
                cache.set(
                    CACHE_PREFIX + pending,
                    {"organization": organization.pk, "livemode": livemode, "text": parsed.text},
                    PENDING_SECONDS,
                )
            context.update(
                organization=organization,
                livemode=livemode,
                pending=pending,
                valid=valid,
                invalid=len(outcomes) - valid,
                preview=[
                    (
                        item.index + 1,
                        [parsed.rows[item.index].get(column, "") for column in COLUMNS],
                        "valid" if item.error is None else _error_text(item.error),
                    )
                    for item in outcomes
                ],
            )
        return TemplateResponse(request, "admin/invitations/invitation/import.html", context)

    def _create(self, request, actor: Actor):
        key = CACHE_PREFIX + request.POST["pending"]
        pending = cache.get(key)
        # Deleted once: a second Create of the same preview (a double click, a resubmitted form) makes nothing.
        if pending is None or not cache.delete(key):
            self.message_user(
                request,
                "This import was already created, or its preview is over an hour old: nothing was made.",
                messages.WARNING,
            )
            return redirect(reverse("admin:invitations_invitation_import"))
        organization = Organization.objects.get(pk=pending["organization"])
        rows = read_csv(pending["text"]).rows
        try:
            # All or nothing: a failure part-way leaves no row made, and the same preview can be created again.
            with transaction.atomic():
                outcomes = _run(
                    organization=organization, livemode=pending["livemode"], rows=rows, actor=actor, dry_run=False
                )
        except Exception:
            cache.set(key, pending, PENDING_SECONDS)
            raise
        created = sum(1 for item in outcomes if item.invitation is not None)
        refused = len(outcomes) - created
        text = (
            f"Import from CSV for {organization.name} ({'live' if pending['livemode'] else 'sandbox'}): "
            f"{created} of {len(outcomes)} rows created."
        )
        if refused:
            first = next(item for item in outcomes if item.error is not None)
            text += f" Not created: {refused} (first: row {first.index + 1}, {_error_text(first.error)})."
        self.message_user(request, text, messages.SUCCESS if not refused else messages.WARNING)
        changelist = reverse("admin:invitations_invitation_changelist")
        return redirect(f"{changelist}?organization__id__exact={organization.pk}")
