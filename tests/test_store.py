"""Schema migrations: the models and the migrated database agree; unknown schemas are refused."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from matcher import SchemaError, make_engine, migrate
from matcher.store import head_revision


# SQLite cannot reflect an index on an expression: the expression index is checked by name below
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrations_match_models(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], f"models and migrations diverge: {diff}"


def test_expression_indexes_exist(engine):
    """Indexes on expressions (which autogenerate cannot compare on SQLite) are in the migrated store."""
    expected = {i.name for t in SQLModel.metadata.tables.values() for i in t.indexes
                if any(not hasattr(e, "name") or e.name is None for e in i.expressions)}
    assert "ix_coverage_length" in expected
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
        else:
            names = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
                        .scalars())
    assert expected <= names


def test_migrate_is_idempotent_and_reports_state(db_url):
    eng = make_engine(db_url)
    try:
        assert migrate(eng) == "created"
        assert migrate(eng) == "current"
        with eng.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    finally:
        eng.dispose()


def test_newer_schema_is_refused(db_url):
    eng = make_engine(db_url)
    try:
        migrate(eng)
        with eng.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        with pytest.raises(SchemaError, match="newer upr-align"):
            migrate(eng)
    finally:
        eng.dispose()


def test_tables_without_version_are_refused(db_url):
    eng = make_engine(db_url)
    try:
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE recommendation (id VARCHAR(64) PRIMARY KEY)"))
        with pytest.raises(SchemaError, match="no schema version"):
            migrate(eng)
    finally:
        eng.dispose()


def test_older_database_is_upgraded_keeping_its_rows(db_url):
    from alembic import command

    from matcher.store import _alembic_config

    eng = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with eng.begin() as conn:  # a database written by the first release
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
            conn.execute(text(
                "INSERT INTO recommendation (id, state_under_review_name, text, text_original, response, source_type,"
                " source_file, source_sha256, content_hash, updated_at) VALUES ('r1', 'Kenya', 'Ratify', 'Ratify',"
                " 'accepted', 'uprinfo', 'f.csv', 'x', 'h', '2026-01-01 00:00:00')"))
        assert migrate(eng) == "upgraded from 0001"
        with eng.connect() as conn:
            assert conn.execute(text("SELECT text, extra FROM recommendation")).all() == [("Ratify", None)]
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    finally:
        eng.dispose()
