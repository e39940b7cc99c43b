"""The API's pagination: `page` from 1, `per_page`, and {"total", "totalPages", "page", "perPage"}."""

import math

from django.db.models import QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers


def page_of(qs: QuerySet, *, page: int, per_page: int) -> tuple[list, dict]:
    total = qs.count()
    offset = (page - 1) * per_page
    rows = list(qs[offset : offset + per_page]) if offset < total else []
    return rows, {"total": total, "totalPages": math.ceil(total / per_page), "page": page, "perPage": per_page}


def page_schema(name: str, item) -> serializers.Serializer:
    """The OpenAPI shape of a page of ``item`` serializers: {"data": [...], "pagination": {...}}."""
    return inline_serializer(
        name,
        {
            "data": item(many=True),
            "pagination": inline_serializer(
                f"{name}Pagination",
                {n: serializers.IntegerField() for n in ("total", "totalPages", "page", "perPage")},
            ),
        },
    )
