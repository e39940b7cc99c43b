"""The API's pagination: `page` from 1, `per_page`, and {"total", "totalPages", "page", "perPage",
"totalCapped"}.

Two things keep a page cheap however long the list: the count stops at LIST_COUNT_CAP (past it,
`total` is the cap and `totalCapped` says so; pages past it still answer), and a page reads its ids
first (an index-only walk past the offset) and only then its rows, so the rows skipped are index
entries, not table rows.
"""

import math

import django_filters
from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from api.fields import SingleValuedQuerySerializer, refuse_repeated
from api.filters import filter_rows


class PageQuerySerializer(SingleValuedQuerySerializer):
    """A list's page; its filters, when it has some, are a FilterSet (``api.filters``)."""

    page = serializers.IntegerField(min_value=1, max_value=10_000_000, default=1)
    per_page = serializers.IntegerField(min_value=1, max_value=100, default=20)


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


def page_of_query(
    qs: QuerySet, params, *, filterset_class: type[django_filters.FilterSet] | None = None
) -> tuple[list, dict]:
    """The page the query parameters ``params`` ask for, of ``qs`` narrowed by ``filterset_class``.

    Each parameter is given once (400 otherwise); a bad page or filter value is a 422 naming it.
    """
    filter_names = list(filterset_class.base_filters) if filterset_class is not None else []
    refuse_repeated(params, [*PageQuerySerializer().fields, *filter_names])
    paging = PageQuerySerializer(data=params)
    paging.is_valid(raise_exception=True)
    if filterset_class is not None:
        qs = filter_rows(filterset_class, params, qs)
    return page_of(qs, page=paging.validated_data["page"], per_page=paging.validated_data["per_page"])


class PaginationSerializer(serializers.Serializer):
    """Every list's `pagination`, one component (Pagination) in the schema."""

    total = serializers.IntegerField(min_value=0, help_text="How many match; LIST_COUNT_CAP at most.")
    totalPages = serializers.IntegerField(min_value=0)
    page = serializers.IntegerField(min_value=1)
    perPage = serializers.IntegerField(min_value=1, max_value=100)
    totalCapped = serializers.BooleanField(
        help_text="true when more match than were counted: total is then a lower bound, and later pages still answer."
    )

    class Meta:
        ref_name = "Pagination"


def page_schema(name: str, item) -> serializers.Serializer:
    """The OpenAPI shape of a page of ``item`` serializers: {"data": [...], "pagination": {...}}."""
    return inline_serializer(name, {"data": item(many=True), "pagination": PaginationSerializer()})
