"""The API's pagination: `page` from 1, `per_page`, and {"total", "totalPages", "page", "perPage"}."""

import math

from django.db.models import QuerySet


def page_of(qs: QuerySet, *, page: int, per_page: int) -> tuple[list, dict]:
    total = qs.count()
    offset = (page - 1) * per_page
    rows = list(qs[offset : offset + per_page]) if offset < total else []
    return rows, {"total": total, "totalPages": math.ceil(total / per_page), "page": page, "perPage": per_page}
