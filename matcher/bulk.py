"""Bulk writes: one DBAPI executemany per table (ingest, labels), whole columns for the matcher's tables,
and process settings for a long load.

``insert_many`` turns row dicts into driver parameters itself (defaults filled in, each column
type's bind processor applied) instead of going through SQLAlchemy's per-row statement machinery,
which was half of the ingest time for rich records (IATI activities with ~25 child rows).
``insert_params`` does the same without a connection, so that a classification worker process can
prepare the rows its parent writes.

``insert_columns`` takes whole columns rather than row dicts: a full rebuild writes ~700,000
dimension rows, and building a dict per row then a tuple per row was most of the write time.
SQLite gets one ``executemany``, PostgreSQL one ``COPY ... FROM STDIN`` (an order of magnitude
faster than row inserts there).

``relaxed_gc`` tunes the garbage collector for the length of one load and puts it back afterwards.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, Sequence

from pydantic_core import PydanticUndefined
from sqlalchemy import JSON, Boolean, text
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, SQLModel

# Cyclic GC during a load: the youngest generation is collected after 200,000 new containers instead
# of 700.  An ingest allocates millions of short-lived dicts that reference counting frees anyway
# (an IATI load leaves a few hundred objects in cycles); with the defaults every record was scanned
# several times, a tenth of the ingest time in each process.  Cyclic garbage still goes, later.
INGEST_GC_THRESHOLD = (200_000, 5, 10)


def insert_many(session: Session, model: type[SQLModel], rows: Iterable[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts by column name; missing columns get the model's default) with one executemany."""
    conn = session.connection()
    plan = _insert_plan(model, conn.dialect)
    params = _params(plan, rows)
    if params:
        conn.exec_driver_sql(plan.sql, params)


def insert_params(dialect, model: type[SQLModel], rows: Iterable[dict[str, Any]]) -> tuple[str, list[tuple]]:
    """The INSERT statement of ``model`` for ``dialect`` and the driver parameters of ``rows`` (no connection)."""
    plan = _insert_plan(model, dialect)
    return plan.sql, _params(plan, rows)


def write_params(session: Session, model: type[SQLModel], params: list[tuple]) -> None:
    """Write rows prepared by ``insert_params`` (for this session's dialect): one executemany on SQLite,
    one ``COPY ... FROM STDIN`` on PostgreSQL (several times cheaper for the server than row inserts)."""
    if not params:
        return
    conn = session.connection()
    plan = _insert_plan(model, conn.dialect)
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(plan.sql, params)
        return
    _copy_rows(conn, model.__table__.name, list(plan.defaults), params)  # type: ignore[attr-defined]


def _copy_rows(conn, table: str, columns: list[str], rows: Iterable[Sequence[Any]]) -> None:
    """``COPY table (columns) FROM STDIN`` of ``rows`` on a PostgreSQL (psycopg 3) connection."""
    quote = conn.dialect.identifier_preparer.quote
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def insert_columns(session: Session, model: type[SQLModel], columns: dict[str, Sequence[Any]]) -> int:
    """Insert one row per position of the equally long ``columns`` ({column name: values}); returns rows written.

    Columns not given get the database default (an autoincrement id) or NULL.  Values go through each
    column type's bind processor, as in ``insert_many``.
    """
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    if not n:
        return 0
    conn = session.connection()
    dialect = conn.dialect
    table = model.__table__  # type: ignore[attr-defined]
    values = []
    for name in names:
        given = columns[name]
        col = given.tolist() if hasattr(given, "tolist") else list(given)  # numpy scalars -> Python values
        if len(col) != n:
            raise ValueError(f"column {name} has {len(col)} values, expected {n}")
        proc = table.c[name].type._cached_bind_processor(dialect)
        values.append([None if v is None else proc(v) for v in col] if proc is not None else col)
    rows = list(zip(*values))
    quote = dialect.identifier_preparer.quote
    cols = ", ".join(quote(c) for c in names)
    if dialect.name == "postgresql":
        _copy_rows(conn, table.name, names, rows)
    else:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({cols}) VALUES ({', '.join(mark for _ in names)})",
                             rows)
    return n


@dataclass(frozen=True)
class _InsertPlan:
    sql: str  # INSERT statement in the driver's paramstyle
    defaults: dict[str, Any]  # every column -> the model's default
    values: Callable[[dict[str, Any]], tuple]  # a complete row dict -> its values in column order
    processors: list[tuple[int, Callable[[Sequence], list]]]  # (column position, column's values -> bound values)


def _params(plan: _InsertPlan, rows: Iterable[dict[str, Any]]) -> list[tuple]:
    """Driver parameters of ``rows``: defaults filled in, then processed column by column (None stays NULL)."""
    defaults, values = plan.defaults, plan.values
    params = [values({**defaults, **r}) for r in rows]
    if not params or not plan.processors:
        return params
    columns = list(zip(*params))
    for i, process in plan.processors:
        columns[i] = process(columns[i])
    return list(zip(*columns))


_PLANS: dict[tuple[type, str], _InsertPlan] = {}


def _insert_plan(model: type[SQLModel], dialect) -> _InsertPlan:
    """How to insert rows of ``model`` with ``dialect``'s driver (compiled once per table and dialect)."""
    key = (model, dialect.name)
    if key not in _PLANS:
        table = model.__table__  # type: ignore[attr-defined]
        fields = model.model_fields
        names, defaults, processors = [], {}, []
        for col in table.columns:
            if col.primary_key and col.autoincrement in (True, "auto") and str(col.type).upper() == "INTEGER":
                continue  # left to the database
            f = fields.get(col.name)
            default = f.get_default(call_default_factory=True) if f is not None else None
            defaults[col.name] = None if default is PydanticUndefined else default
            proc = col.type._cached_bind_processor(dialect)
            if proc is not None:
                processors.append((len(names), _column_processor(col.type, dialect, proc)))
            names.append(col.name)
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in names)}) "
               f"VALUES ({', '.join(mark for _ in names)})")
        _PLANS[key] = _InsertPlan(sql, defaults, itemgetter(*names), processors)
    return _PLANS[key]


def _column_processor(coltype, dialect, proc: Callable[[Any], Any]) -> Callable[[Sequence], list]:
    """A column's values -> what the driver binds: ``proc`` for each value but None (NULL).

    On SQLite the commonest values take a direct path with the same result, a few times cheaper:
    dates as ``YYYY-MM-DD`` (SQLite DATE's default format is ``date.isoformat``), booleans as 0/1,
    JSON through the engine's serializer.
    """
    impl = coltype.dialect_impl(dialect)
    if dialect.name == "sqlite":
        if isinstance(impl, sqlite.DATE) and getattr(impl, "_storage_format", None) == sqlite.DATE._storage_format:
            return lambda col: [v.isoformat() if v.__class__ is date else None if v is None else proc(v) for v in col]
        if type(coltype) is Boolean:
            coerce = bool if dialect.supports_native_boolean else int
            return lambda col: [coerce(v) if v.__class__ is bool else None if v is None else proc(v) for v in col]
        if (type(coltype) is JSON and dialect._json_serializer is not None
                and coltype._str_impl.bind_processor(dialect) is None):
            dumps = dialect._json_serializer
            return lambda col: [dumps(v) if v.__class__ in _JSON_CONTAINERS else None if v is None else proc(v)
                                for v in col]
    return lambda col: [None if v is None else proc(v) for v in col]


_JSON_CONTAINERS = (dict, list)


_GC_LOCK = threading.Lock()
_gc_users = 0  # loads inside relaxed_gc now, in any thread
_gc_saved: tuple = ((700, 10, 10), False)  # what the first of them found: thresholds, whether it froze the heap


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Objects that exist before a load stay out of the cyclic GC, and young ones are collected rarely.

    New garbage is still collected; the previous thresholds come back when the last load running in
    this process ends (loads in several threads -- concurrent API uploads -- overlap: the first one in
    saves the settings, the last one out puts them back), and an application that froze its heap
    itself keeps its own freeze.
    """
    global _gc_users, _gc_saved
    with _GC_LOCK:
        if _gc_users == 0:
            freeze = not gc.get_freeze_count()
            _gc_saved = (gc.get_threshold(), freeze)
            if freeze:
                gc.freeze()
            gc.set_threshold(*INGEST_GC_THRESHOLD)
        _gc_users += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_users -= 1
            if _gc_users == 0:
                before, froze = _gc_saved
                gc.set_threshold(*before)
                if froze:
                    gc.unfreeze()


@contextmanager
def indexes_rebuilt(session: Session, models: Iterable[type[SQLModel]]):
    """Drop the secondary indexes of these tables for a bulk rewrite and build them again at the end.

    Building an index once from sorted rows is several times faster than keeping it up to date row by row:
    on a 100,000-recommendation store, rewriting coverage, rec_dimension and gap_cell took 5.5 s with their
    indexes in place and 2.1 s this way.  Call inside an open transaction that has already written (on
    SQLite a DDL statement outside a transaction would commit at once): if the block fails, rolling back
    restores the indexes.
    """
    conn = session.connection()
    indexes = [i for m in models for i in sorted(m.__table__.indexes, key=lambda i: i.name)]  # type: ignore[attr-defined]
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def driver_executemany(conn, sql: str, rows: list[tuple]) -> None:
    """One statement for many rows of positional parameters, straight to the driver (``{p}``: its placeholder)."""
    if rows:
        conn.exec_driver_sql(sql.format(p="?" if conn.dialect.paramstyle == "qmark" else "%s"), rows)


def temporary_rows(conn, name: str, columns: dict[str, str], rows: list[tuple]) -> None:
    """A temporary table ``name`` of ``rows`` (``columns``: {name: PostgreSQL type}), for joining a list of keys
    on an index.  On SQLite the columns other than the first keep no declared type: a declared INTEGER next to
    an expression such as ``length(...)`` keeps SQLite from using an index range on it.  The table lives until
    the transaction ends on PostgreSQL (ON COMMIT DROP; a failed statement leaves nothing to clean up), and on
    SQLite until it is replaced or the connection closes (it is dropped first if an earlier run left it)."""
    if conn.dialect.name == "postgresql":
        cols = ", ".join(f"{c} {t}" for c, t in columns.items())
        conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{name}"))
        conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({cols}) ON COMMIT DROP"))
    else:
        conn.execute(text(f"DROP TABLE IF EXISTS temp.{name}"))
        first, *rest = columns.items()
        cols = ", ".join([f"{first[0]} {first[1]}"] + [c for c, _ in rest])
        conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({cols})"))
    marks = ", ".join("{p}" for _ in columns)
    driver_executemany(conn, f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", rows)

