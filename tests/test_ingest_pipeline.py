"""The ingest pipeline's machinery: background reading, bulk inserts, content hashes, GC settings.

Reading in a second process, the marshal transport, the SQLite bind shortcuts and the "v2" content
hash must change nothing that a user sees: the same rows, summaries and problems (in the same
order) as reading inline with SQLAlchemy's own processors, and the same idempotency.
"""
from __future__ import annotations

import gc
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text, update
from sqlmodel import Session

from ingest.donor import READER as DONOR
from ingest.iati import READER
from matcher import Source, import_file, prefetch
from matcher.bulk import _insert_plan, _params, relaxed_gc
from matcher.loading import CHILD_TABLES, ingest_file
from matcher.models import Activity, ImportBatch, ItemCountry, ItemTag, MoneyFact
from matcher.records import HASH_VERSION, ItemRecord, is_legacy_hash

from conftest import DATA

MAPPINGS = DATA.parents[1] / "mappings"
IATI_FILES = ["iati_dfid_albania_v201.xml", "iati_dportal_sample_slice.xml", "iati_legacy_1x_slice.xml",
              "iati_official_example_v203.xml", "iati_sdg_routes_v203.xml"]
# reader-stage problems (a 1.0x activity, an unknown 2.x version) between build-stage ones (bad
# percentages, an unknown country) and a loader problem (a repeated identifier)
MIXED = b"""<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03">
 <iati-activity><iati-identifier>XM-1</iati-identifier><title><narrative>One</narrative></title>
  <sector code="11110" percentage="lots"/></iati-activity>
 <iati-activity version="1.03"><iati-identifier>XM-OLD</iati-identifier><title>Old</title></iati-activity>
 <iati-activity><iati-identifier>XM-2</iati-identifier><title><narrative>Two</narrative></title>
  <recipient-country code="ZZ"/><budget><period-start iso-date="2020-01-01"/><value currency="EUR"
  value-date="2020-01-01">10.5</value></budget></iati-activity>
 <iati-activity><iati-identifier>XM-1</iati-identifier><title><narrative>Again</narrative></title></iati-activity>
 <iati-activity version="2.99"><iati-identifier>XM-3</iati-identifier><title><narrative>Three</narrative></title>
  <sector code="11110" percentage="150"/></iati-activity>
 <iati-activity><iati-identifier>XM-4</iati-identifier><title><narrative>Four</narrative></title>
  <recipient-region code="298" percentage="-1"/></iati-activity>
</iati-activities>
"""


def _rows(engine) -> dict:
    """Every stored item, tag, country and money fact, without ids, batch ids and timestamps."""
    volatile = {"id", "batch_id", "updated_at"}
    out = {}
    with Session(engine) as s:
        for model in (Activity, ItemTag, ItemCountry, MoneyFact):
            cols = [c for c in model.__table__.columns if c.name not in volatile]  # type: ignore[attr-defined]
            out[model.__tablename__] = sorted(map(repr, s.execute(select(*cols)).all()))
    return out


def _clear(engine) -> None:
    with Session(engine) as s:
        for model in (ItemTag, ItemCountry, MoneyFact, Activity, ImportBatch):
            s.execute(delete(model))
        s.commit()


def _ingest(engine, source: Source, background: bool):
    return ingest_file(engine, lambda: READER.read(source, options={}), file_name=source.name, source_type="iati",
                       background=background, prepare=READER.prepare)


@pytest.mark.parametrize("name", IATI_FILES + ["mixed.xml"])
def test_background_reader_gives_what_an_inline_read_gives(engine, name, monkeypatch):
    assert prefetch.available()  # Linux: the background path is really taken
    source = Source.of(MIXED, "mixed.xml") if name == "mixed.xml" else Source.of(DATA / name)
    monkeypatch.setenv("UPR_ALIGN_INGEST_CHUNK_ROWS", "2")  # loader problems between reader chunks
    from matcher.settings import get_settings

    get_settings.cache_clear()
    try:
        inline = _ingest(engine, source, background=False)
        stored_inline = _rows(engine)
        _clear(engine)
        background = _ingest(engine, source, background=True)
        assert background.as_dict() == inline.as_dict()  # counts and problems, in the same order
        assert _rows(engine) == stored_inline
    finally:
        get_settings.cache_clear()
    if name == "mixed.xml":
        # with chunks of two records, the repeated XM-1 is found when its chunk (XM-1, XM-3) is written
        assert [(p["row"].split("(")[-1].rstrip(")"), p["message"].split(" ")[0]) for p in inline.problems] == [
            ("XM-1", "percentage"), ("XM-OLD", "IATI"), ("XM-2", "recipient-country"), ("XM-3", "IATI"),
            ("XM-3", "percentage"), ("XM-1", "duplicate"), ("XM-4", "percentage")]


def test_background_reader_of_records_that_are_not_plain_data():
    """A reader streaming finished records (Decimals, dates) still works in the background: they are pickled."""
    source = Source.of(MAPPINGS / "donor_portfolio_template.csv")
    reader = DONOR
    inline = reader.read(source, options={})
    expected = [(r.id, r.row, r.children) for r in inline.records]
    batch = prefetch.read_in_background(lambda: reader.read(source, options={}))
    got = [(r.id, r.row, r.children) for r in batch.records]
    assert got == expected and any(f["amount"].__class__ is Decimal for _, _, ch in got for f in ch["money_fact"])
    assert (batch.read, batch.skipped, batch.problems) == (inline.read, inline.skipped, inline.problems)


def test_reader_failure_in_background_leaves_store_unchanged(engine):
    before = _rows(engine)
    data = (DATA / "iati_dfid_albania_v201.xml").read_bytes()[:30000]
    summary = _ingest(engine, Source.of(data, "cut.xml"), background=True)
    assert not summary.ok and "cut.xml" in summary.error and "not well-formed" in summary.error
    assert _rows(engine) == before


# --------------------------------------------------------------------------- content hashes
def _record(**row) -> ItemRecord:
    base = {"title": "Water", "start_date": date(2020, 1, 1), "source_file": "a.xml", "source_row": "line 3"}
    return ItemRecord("activity", "iati:X", {**base, **row},
                      children={"money_fact": [{"amount": Decimal("1.50"), "period_start": date(2020, 1, 1),
                                                "extra": {"ref": "T1"}}]})


def test_content_hash_is_versioned_stable_and_sees_every_stored_value():
    h = _record().content_hash()
    assert h.startswith(HASH_VERSION) and len(h) == 64 and not is_legacy_hash(h)
    assert _record().content_hash() == h  # the same values, built again
    assert _record(source_file="b.xml", source_row="line 9").content_hash() == h  # provenance is not content
    changed = [_record(title="Water "), _record(start_date=date(2020, 1, 2)), _record(hierarchy=1),
               _record(hierarchy=True), _record(hierarchy=1.0), _record(hierarchy="1")]
    assert len({h, *(r.content_hash() for r in changed)}) == 1 + len(changed)
    rec = _record()
    rec.children["money_fact"][0]["amount"] = Decimal("1.5")  # same number, written differently
    assert rec.content_hash() != h
    rec.children["money_fact"][0]["extra"] = {"ref": "T2"}
    assert rec.content_hash() != h
    assert _record(hierarchy=2 ** 70).content_hash() != _record(hierarchy=2 ** 70 + 1).content_hash()  # beyond orjson
    assert is_legacy_hash(_record().legacy_content_hash())


def test_rows_hashed_by_an_older_version_stay_unchanged_until_they_change(engine, tmp_path):
    path = DATA / "iati_dfid_albania_v201.xml"
    first = import_file(engine, path, kind="iati")
    legacy = {r.id: r.legacy_content_hash() for r in READER.read(Source.of(path), options={}).records}
    with Session(engine) as s:  # the store as upr-align wrote it before "v2" hashes
        for item_id, h in legacy.items():
            s.execute(update(Activity).where(Activity.id == item_id).values(content_hash=h))
        s.commit()
    before = _rows(engine)
    again = import_file(engine, path, kind="iati")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    assert _rows(engine) == before  # nothing rewritten, legacy hashes kept

    data = path.read_bytes()
    title = data.index(b"<narrative", data.index(b"<title"))
    end = data.index(b"</narrative>", title)
    edited = tmp_path / path.name
    edited.write_bytes(data[:end] + b" (revised)" + data[end:])
    changed = import_file(engine, edited, kind="iati")
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, first.inserted - 1)
    with Session(engine) as s:
        hashes = s.execute(select(Activity.title, Activity.content_hash)).all()
    assert [h.startswith(HASH_VERSION) for t, h in hashes if t.endswith("(revised)")] == [True]
    assert sum(is_legacy_hash(h) for _, h in hashes) == first.inserted - 1


# --------------------------------------------------------------------------- bulk inserts
def test_insert_parameters_equal_sqlalchemys_own_processing(engine):
    """The SQLite shortcuts (dates, booleans, JSON) bind exactly what the column types' processors bind."""
    dialect = engine.dialect
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    samples = {
        MoneyFact: [{"item_type": "activity", "item_id": "iati:X", "source_type": "iati", "kind": "budget",
                     "period_start": date(2020, 1, 1), "period_end": None, "amount": Decimal("-12.3456"),
                     "value_date": date(999, 12, 31), "amount_usd": Decimal("1E+3"), "usd_rate": 1.25,
                     "is_negative": True, "counted": False, "extra": {"a": [1, "x", None], "d": Decimal("2.5")}},
                    {"item_type": "activity", "item_id": "iati:Y", "source_type": "iati", "kind": "disbursement",
                     "amount": Decimal("0"), "extra": None}],
        Activity: [{"id": "iati:X", "iati_identifier": "X", "title": "T", "source_type": "iati", "source_file": "f",
                    "source_sha256": "s", "content_hash": "h", "updated_at": now, "titles": [{"lang": "fr", "text": "É"}],
                    "extra": {}, "dates": [], "start_date": date(2020, 2, 29), "is_child": False}],
    }
    for model, rows in samples.items():
        plan = _insert_plan(model, dialect)
        names = list(plan.defaults)
        expected = []
        for r in rows:
            values = []
            for name in names:
                v = r.get(name, plan.defaults[name])
                proc = model.__table__.columns[name].type._cached_bind_processor(dialect)  # type: ignore[attr-defined]
                values.append(proc(v) if proc is not None and v is not None else v)
            expected.append(tuple(values))
        assert _comparable(_params(plan, rows)) == _comparable(expected)


def _comparable(params: list[tuple]) -> list[tuple]:
    # psycopg's Json wrapper (PostgreSQL's JSON binding) has no equality of its own
    return [tuple(("json", v.obj) if type(v).__name__ == "Json" else v for v in row) for row in params]


def test_child_tables_have_insert_plans(engine):
    for model, _ in CHILD_TABLES.values():
        plan = _insert_plan(model, engine.dialect)
        assert "id" not in plan.defaults and plan.sql.startswith("INSERT INTO")


def test_relaxed_gc_puts_everything_back():
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    with relaxed_gc():
        assert gc.get_threshold() != thresholds and gc.get_freeze_count() > frozen
        # an application that froze its own heap keeps its freeze
        with relaxed_gc():
            pass
        assert gc.get_freeze_count() > frozen
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == frozen


def test_relaxed_gc_overlapping_in_threads_puts_everything_back():
    """Concurrent loads (API uploads in threads) overlap: the settings come back when the last one ends."""
    import threading

    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    inside_second_after_first: list = []

    def first():
        with relaxed_gc():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with relaxed_gc():
            second_in.set()
            first_out.wait(5)
            inside_second_after_first.append(gc.get_threshold())  # the other load ended; this one runs on

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert first_out.is_set() and second_in.is_set()
    assert inside_second_after_first and inside_second_after_first[0] != thresholds
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == frozen


def test_sqlite_file_of_a_failed_background_ingest_is_byte_identical(tmp_path):
    """A reader failing deep in a file, in the background process, leaves the SQLite file as it was."""
    import hashlib

    from matcher.store import make_engine, migrate

    db = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    try:
        assert import_file(engine, DATA / "iati_nl_mfa_slice_v203.xml", kind="iati").ok
        engine.dispose()
        before = hashlib.sha256(db.read_bytes()).hexdigest()
        broken = (DATA / "iati_official_example_v203.xml").read_bytes().replace(b"</iati-activities>", b"<iati-activity>")
        summary = import_file(engine, broken, kind="iati", name="broken.xml")
        assert not summary.ok and "broken.xml" in summary.error
        engine.dispose()
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM import_batch")).scalar() == 1
    finally:
        engine.dispose()
