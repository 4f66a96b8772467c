"""Declarative base, column types and mixins shared by every model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import DateTime, FromClause, MetaData, Table, TextualSelect, TypeDecorator, bindparam, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, registry, scoped_session
from sqlalchemy.sql.compiler import IdentifierPreparer

from . import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class IdMixin:
    """UUID primary key made in Python, so ids exist before flush."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(default=clock.utcnow)


def insert_ignoring_conflicts(session: Session | scoped_session[Any], model: type[Base]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING in the session's database dialect, for batches of
    any size (executemany, or `.values(rows)`); compiled on every execution, so a request's
    own few rows go through `insert_or_ignore` / `insert_rows_or_ignore` instead."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(model).on_conflict_do_nothing()


def insert_or_ignore(
    session: Session | scoped_session[Any], model: type[Base], values: dict[str, Any]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was new.

    Atomic on both backends, so concurrent requests cannot both "create" a row
    that a unique constraint allows only once.
    """
    return bool(insert_rows_or_ignore(session, model, [values]))


def insert_rows_or_ignore(
    session: Session | scoped_session[Any], model: type[Base], rows: list[dict[str, Any]]
) -> list[Any]:
    """`insert_or_ignore` of several rows (with the same columns) in one statement; the
    primary keys of the rows that went in. Compiled once per row count: for the few rows of
    one request, not for batches (`insert_ignoring_conflicts`)."""
    if not rows:
        return []
    table = model.__table__
    rows = [_with_defaults(table, row) for row in rows]
    names = tuple(rows[0])
    assert all(tuple(row) == names for row in rows), "rows of one insert name the same columns"
    dialect = session.get_bind().dialect
    stmt = _insert_or_ignore_statement(dialect.identifier_preparer, table, names, len(rows))
    params = {f"{name}_{i}": row[name] for i, row in enumerate(rows) for name in names}
    return list(session.execute(stmt, params).all())


def _with_defaults(table: FromClause, values: dict[str, Any]) -> dict[str, Any]:
    """The values with the columns' Python-side defaults (a new id among them, where the
    id is made in Python) filled in, as an ORM or Core insert would."""
    values = dict(values)
    for column in table.c:
        default = column.default
        if column.name not in values and default is not None:
            values[column.name] = default.arg(None) if default.is_callable else default.arg
    return values


@lru_cache(maxsize=512)
def _insert_or_ignore_statement(
    quoting: IdentifierPreparer, table: Table, names: tuple[str, ...], count: int
) -> TextualSelect:
    # SQLAlchemy compiles its dialects' own ON CONFLICT inserts afresh on every execution
    # (they are not cacheable): a large part of a webhook's intake. As text with
    # typed binds it is compiled once per table, column set and row count; PostgreSQL and
    # SQLite (3.35+) read the same SQL. RETURNING tells reliably which rows went in
    # (rowcount is -1 under psycopg here).
    keys = table.primary_key.columns.values()
    columns = ", ".join(quoting.quote(name) for name in names)
    values = ", ".join("(" + ", ".join(f":{name}_{i}" for name in names) + ")" for i in range(count))
    # Names from our own table, quoted by the dialect; every value is bound.
    into = f"INSERT INTO {quoting.format_table(table)} ({columns}) VALUES {values}"  # noqa: S608
    sql = f"{into} ON CONFLICT DO NOTHING RETURNING {', '.join(quoting.quote(k.name) for k in keys)}"
    binds = (bindparam(f"{name}_{i}", type_=table.c[name].type) for i in range(count) for name in names)
    return text(sql).bindparams(*binds).columns(*keys)


def insert_or_add(
    session: Session | scoped_session[Any], model: type[Base], key: dict[str, Any], deltas: dict[str, Any]
) -> Any:
    """INSERT the row of `key` with `deltas` as its values, or add the deltas to the row
    there (`x = x + delta`): atomic on both backends, so parallel writers lose nothing.
    Returns the delta columns as they now are."""
    table = model.__table__
    values = _with_defaults(table, {**key, **deltas})
    dialect = session.get_bind().dialect
    stmt = _insert_or_add_statement(
        dialect.identifier_preparer, table, tuple(values), tuple(key), tuple(deltas)
    )
    return session.execute(stmt, values).one()


@cache
def _insert_or_add_statement(
    quoting: IdentifierPreparer,
    table: Table,
    names: tuple[str, ...],
    keys: tuple[str, ...],
    deltas: tuple[str, ...],
) -> TextualSelect:
    # Text for the reason _insert_or_ignore_statement gives; the same quoting and binds.
    name, into = quoting.format_table(table), ", ".join(quoting.quote(n) for n in names)
    values = ", ".join(":" + n for n in names)
    target = ", ".join(quoting.quote(n) for n in keys)
    add = ", ".join(
        f"{quoting.quote(n)} = {name}.{quoting.quote(n)} + excluded.{quoting.quote(n)}" for n in deltas
    )
    back = ", ".join(quoting.quote(n) for n in deltas)
    # Names from our own table, quoted by the dialect; every value is bound.
    sql = (
        f"INSERT INTO {name} ({into}) VALUES ({values})"  # noqa: S608
        f" ON CONFLICT ({target}) DO UPDATE SET {add} RETURNING {back}"
    )
    binds = (bindparam(n, type_=table.c[n].type) for n in names)
    return text(sql).bindparams(*binds).columns(*(table.c[n] for n in deltas))
