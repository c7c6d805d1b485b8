"""The store: engine creation for SQLite or PostgreSQL, schema migrations, sessions."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from . import models  # noqa: F401  (registers tables)
from .settings import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaError(RuntimeError):
    """The database cannot be used by this version of upr-align (and was left untouched)."""


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest schema revision this version of upr-align knows."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()  # type: ignore[return-value]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    # WAL: readers (the API) never wait for a writer (an import) and vice versa; a second writer waits
    # up to 30 s for the first instead of failing with "database is locked"
    cur.execute("PRAGMA busy_timeout=30000")
    if getattr(dbapi_conn, "in_transaction", False) is False:
        cur.execute("PRAGMA journal_mode=WAL")
    # in WAL mode NORMAL never corrupts the store; a power cut may lose the last commits, never half of one.
    # FULL waited for an fsync at every commit: a tenth of a cold rebuild (one commit per classified page)
    cur.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB page cache instead of 2: a full match writes ~1 million index entries in one transaction,
    # and with the default cache SQLite spilled and re-read index pages throughout
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    """A new engine for ``url`` (default: settings.database_url)."""
    url = url or get_settings().database_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, json_serializer=_json_dumps)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, json_serializer=_json_dumps)
    return engine


def _json_dumps(value) -> str:
    """JSON for JSON columns: orjson (several times faster than json on the ingest hot path)."""
    return orjson.dumps(value, default=str).decode()


def migrate(engine: Engine) -> str:
    """Bring the schema to head; refuse a database this version cannot safely use.

    Returns what was done: "created", "upgraded from <rev>" or "current".
    """
    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        ours = set(SQLModel.metadata.tables) & set(inspect(conn).get_table_names())
    if current == head:
        return "current"
    if current is None and ours:
        raise SchemaError(
            f"{engine.url.render_as_string(hide_password=True)} has upr-align tables ({', '.join(sorted(ours))}) "
            "but no schema version: it was not created by upr-align's migrations. Use a new database file."
        )
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaError(
            f"the database schema is at revision {current}, which this version of upr-align does not know "
            f"(newest known: {head}); it was written by a newer upr-align. Upgrade upr-align."
        )
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return "created" if current is None else f"upgraded from {current}"


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (default: settings), migrated to head on first use."""
    url = url or get_settings().database_url
    if url not in _ENGINES:
        engine = make_engine(url)
        migrate(engine)
        _ENGINES[url] = engine
    return _ENGINES[url]


def dispose_engines() -> None:
    """Close every pooled connection (tests, and servers shutting down)."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session on the (migrated) store; committed on success, rolled back on any error."""
    with Session(get_engine(url)) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


MATERIALISE_LOCK = 7_305_001  # PostgreSQL advisory lock key of the materialised views (any constant of ours)


def lock_materialised(session: Session) -> None:
    """Hold, until the transaction ends, the right to change links and the views derived from them.

    An incremental match and a review add differences to stored gap cells: two of them at once on
    PostgreSQL (the API runs reviews, uploads and matches in parallel threads) would each read the old
    counts and the second would overwrite the first.  Take this before reading what will be changed; every
    later statement then sees what the previous holder committed (READ COMMITTED).  On SQLite writers are
    serialised by the database itself (a transaction that has written holds the write lock).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MATERIALISE_LOCK})

