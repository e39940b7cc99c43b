"""Several writes in one PostgreSQL statement: each a data-modifying statement of its own, run as one
WITH query, so a change and the rows that go with it (its audit row, its outbox row, its events) cost
one round trip and no ORM compilation. PostgreSQL only: the callers keep their ORM path for the
embedded SQLite."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

from django.db import connections
from django.db.models import Field, Model


@dataclass(frozen=True)
class Write:
    """One statement of a combined write, named for the others to read (``FROM name``) and for its
    caller to find what it returned. ``returning`` is one SQL expression over the rows it wrote;
    ``writes_run`` gives back their values, in the order written."""

    name: str
    sql: str
    params: list = field(default_factory=list)
    returning: str = ""


def _cast(model_field: Field, connection) -> str:
    return _cast_type(model_field, connection.alias)


@cache
def _cast_type(model_field: Field, alias: str) -> str:
    """The column's type for a cast: a varchar without its length, since a cast to one truncates."""
    db_type = model_field.db_type(connections[alias]) or "text"
    return "varchar" if db_type.startswith("varchar(") else db_type


def _fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    found = [model._meta.get_field(name) for name in names]
    for model_field in found:
        if not isinstance(model_field, Field) or not model_field.concrete:
            raise TypeError(f"{model.__name__}.{model_field.name} is not a column")
    return [model_field for model_field in found if isinstance(model_field, Field)]


def rows_insert(name: str, objs: Sequence[Model], fields: Sequence[str], connection, *, returning: str = "") -> Write:
    """``INSERT`` of these unsaved instances' ``fields``, their values prepared as Django's own
    INSERT prepares them (``auto_now`` and ``auto_now_add`` included). Many rows go a column to an
    array, one parameter per column however many rows (``UNNEST``, as Django's bulk_create does on
    PostgreSQL), returned in the order given; one row goes as a VALUES row, cheaper to send alone.
    ``returning`` as in Write."""
    model = type(objs[0])
    model_fields = _fields(model, fields)
    if any(f.get_internal_type() == "JSONField" for f in model_fields):
        raise TypeError(f"{model.__name__}: JSON columns are not written here (an array of jsonb)")
    qn = connection.ops.quote_name
    columns: list[list] = [[] for _ in model_fields]
    for obj in objs:
        for column, model_field in zip(columns, model_fields, strict=True):
            column.append(model_field.get_db_prep_save(model_field.pre_save(obj, True), connection))
    if len(objs) == 1:
        values = ", ".join(f"%s::{_cast(model_field, connection)}" for model_field in model_fields)
        rows, params = f"VALUES ({values})", [column[0] for column in columns]
    else:
        arrays = ", ".join(f"%s::{_cast(model_field, connection)}[]" for model_field in model_fields)
        rows, params = f"SELECT * FROM UNNEST({arrays})", columns
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in model_fields)}) {rows}"
    if returning:
        sql += f" RETURNING {returning}"
    return Write(name, sql, params, returning)


def rows_update(name: str, objs: Sequence[Model], fields: Sequence[str], connection) -> Write:
    """``UPDATE`` of these saved instances' ``fields`` to their current values, each row its own
    values, joined to them by primary key (what Django's bulk_update writes as a CASE per row and field)."""
    model = type(objs[0])
    pk = model._meta.pk
    model_fields = _fields(model, fields)
    qn = connection.ops.quote_name
    columns = [pk, *model_fields]
    row = "(" + ", ".join(f"%s::{_cast(column, connection)}" for column in columns) + ")"
    params: list = []
    for obj in objs:
        params.append(pk.get_db_prep_save(obj.pk, connection))
        for model_field in model_fields:
            params.append(model_field.get_db_prep_save(getattr(obj, model_field.attname), connection))
    names = [f"v{i}" for i in range(len(columns))]
    sets = ", ".join(f"{qn(f.column)} = new.{n}" for f, n in zip(model_fields, names[1:], strict=True))
    sql = (
        f"UPDATE {qn(model._meta.db_table)} AS old SET {sets} "
        f"FROM (VALUES {', '.join([row] * len(objs))}) AS new ({', '.join(names)}) "
        f"WHERE old.{qn(pk.column)} = new.v0"
    )
    return Write(name, sql, params)


def writes_run(connection, writes: Sequence[Write]) -> dict[str, list]:
    """Run the writes as one statement; the values each one's ``returning`` gave, by its name.

    PostgreSQL runs every statement of a WITH to completion, each on the snapshot the statement
    began with: a write may read another's RETURNING (``FROM name``) but not see its rows in the
    tables themselves."""
    returned = [write for write in writes if write.returning]
    ctes = ", ".join(f"{write.name} AS ({write.sql})" for write in writes)
    reads = ", ".join(f"(SELECT array_agg({write.returning}) FROM {write.name})" for write in returned) or "1"
    params = [param for write in writes for param in write.params]
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {ctes} SELECT {reads}", params)
        values = cursor.fetchone()
    return {write.name: list(value or []) for write, value in zip(returned, values, strict=False)}


class Pending(Protocol):
    """Rows to write in the caller's transaction: combined into another statement on PostgreSQL
    (``writes``, then ``written`` with what they returned), or saved on their own (``save``)."""

    def writes(self, connection) -> list[Write]: ...

    def written(self, returned: dict[str, list]) -> None: ...

    def save(self) -> None: ...


def combinable(using: str) -> bool:
    """Whether writes can share one statement on this database: PostgreSQL's data-modifying WITH."""
    return connections[using].vendor == "postgresql"


def pending_run(*pending: Pending, using: str, writes: Sequence[Write] = ()) -> dict[str, list]:
    """Write ``writes`` and every pending's rows: one statement where the database can, else each
    pending saved on its own (and ``writes``, which only PostgreSQL can run, refused)."""
    if not combinable(using):
        if writes:
            raise ValueError("Combined writes need PostgreSQL; save them through the ORM here.")
        for each in pending:
            each.save()
        return {}
    connection = connections[using]
    combined = [*writes, *(write for each in pending for write in each.writes(connection))]
    returned = writes_run(connection, combined) if combined else {}
    for each in pending:
        each.written(returned)
    return returned
