"""The API's pagination: `page` from 1, `per_page`, and {"total", "totalPages", "page", "perPage",
"totalCapped"}.

Two things keep a page cheap however long the list: the count stops at LIST_COUNT_CAP (past it,
`total` is the cap and `totalCapped` says so; pages past it still answer), and a page reads its ids
first (an index-only walk past the offset) and only then its rows, so the rows skipped are index
entries, not table rows.
"""

import math

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers


def page_of(qs: QuerySet, *, page: int, per_page: int) -> tuple[list, dict]:
    cap = settings.LIST_COUNT_CAP
    counted = qs.order_by()[: cap + 1].count()
    capped = counted > cap
    total = min(counted, cap)
    offset = (page - 1) * per_page
    rows = []
    if capped or offset < total:
        ids = list(qs.values_list("pk", flat=True)[offset : offset + per_page])
        rows = list(qs.filter(pk__in=ids)) if ids else []
    pagination = {
        "total": total,
        "totalPages": math.ceil(total / per_page),
        "page": page,
        "perPage": per_page,
        "totalCapped": capped,
    }
    return rows, pagination


PAGINATION_FIELDS = {
    "total": serializers.IntegerField(min_value=0, help_text="How many match; LIST_COUNT_CAP at most."),
    "totalPages": serializers.IntegerField(min_value=0),
    "page": serializers.IntegerField(min_value=1),
    "perPage": serializers.IntegerField(min_value=1, max_value=100),
    "totalCapped": serializers.BooleanField(
        help_text="true when more match than were counted: total is then a lower bound, and later pages still answer."
    ),
}


def page_schema(name: str, item) -> serializers.Serializer:
    """The OpenAPI shape of a page of ``item`` serializers: {"data": [...], "pagination": {...}}."""
    return inline_serializer(
        name, {"data": item(many=True), "pagination": inline_serializer(f"{name}Pagination", PAGINATION_FIELDS)}
    )
