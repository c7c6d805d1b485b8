"""Shared fixtures: a fresh, migrated store on every configured backend.

Tests that take ``db_url`` or ``engine`` run once per backend: SQLite always, PostgreSQL when
``UPR_ALIGN_TEST_POSTGRES_URL`` is set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test);
without it the PostgreSQL variant is skipped with that reason shown in the summary.  Each
PostgreSQL test gets its own schema, dropped afterwards, so the database is left as found.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PG_ENV = "UPR_ALIGN_TEST_POSTGRES_URL"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, monkeypatch):
    """URL of an empty database on one backend; also set as UPR_ALIGN_DATABASE_URL for the CLI."""
    from matcher import settings as settings_mod
    from matcher import store

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        cleanup = None
    else:
        base = os.environ.get(PG_ENV)
        if not base:
            pytest.skip(f"PostgreSQL not configured: set {PG_ENV} to run this test on PostgreSQL")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}options=-csearch_path%3D{schema}"

        def cleanup():
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    monkeypatch.setenv("UPR_ALIGN_DATABASE_URL", url)
    settings_mod.get_settings.cache_clear()
    yield url
    store.dispose_engines()
    settings_mod.get_settings.cache_clear()
    if cleanup:
        cleanup()


@pytest.fixture
def engine(db_url):
    """A migrated engine on the backend of ``db_url``."""
    from matcher import get_engine

    return get_engine(db_url)


@pytest.fixture
def sqlite_engine(tmp_path, monkeypatch):
    """A migrated store in a SQLite file of its own, set as the default database (for tests whose subject does not
    depend on the backend)."""
    from matcher import get_engine, settings as settings_mod, store

    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("UPR_ALIGN_DATABASE_URL", url)
    settings_mod.get_settings.cache_clear()
    yield get_engine(url)
    store.dispose_engines()
    settings_mod.get_settings.cache_clear()


@pytest.fixture
def reader_client(sqlite_engine):
    """The API on an empty SQLite store (for calls that do not touch the store), with a reader key in ``.reader``."""
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from api.app import create_app
    from matcher.keys import create_key

    with Session(sqlite_engine) as session:
        reader = create_key(session, "reader", "test reader")[0]
    c = TestClient(create_app(sqlite_engine), raise_server_exceptions=False)
    c.reader = reader
    return c


@pytest.fixture
def shared_data():
    """The real data folder beside the repository (../shared/data); skip when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} not present")
    return SHARED


def table_counts(engine) -> dict:
    """Rows per recommendation table: compared before/after an ingest that must change nothing."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from matcher.models import ImportBatch, ItemTag, Recommendation, RecommendingState

    with Session(engine) as s:
        return {m.__name__: s.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (Recommendation, RecommendingState, ItemTag, ImportBatch)}


def rec_at(session, paragraph: str, upr_session: int):
    """The one recommendation stored for a paragraph number of a UPR session."""
    from sqlalchemy import select

    from matcher.models import Recommendation

    return session.execute(select(Recommendation).where(Recommendation.paragraph == paragraph,
                                                        Recommendation.session == upr_session)).scalar_one()


DEMO = Path(__file__).resolve().parents[1] / "demo" / "data"


def build_kenya(engine) -> None:
    """The Kenya test store: 166 UPR Info recommendations, a UN INFO API slice and 11 IATI activities (real)."""
    from matcher import import_file

    for kind, path in (("upr", DEMO / "uprinfo_kenya_session8.csv"), ("cf", DATA / "uninfo_api_KEN_slice.json"),
                       ("iati", DATA / "iati_dportal_covid_ke_slice.xml")):
        assert import_file(engine, path, kind=kind).ok, path


@pytest.fixture
def kenya(engine):
    """A migrated store on each backend holding the Kenya test data (not yet matched)."""
    build_kenya(engine)
    return engine
