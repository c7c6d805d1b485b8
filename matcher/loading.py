"""Write a reader's Batch into the store: one transaction per file, idempotent, streaming.

Records arrive as a stream and are written in chunks (``settings.ingest_chunk_rows``).  For each
chunk the stored content hashes are fetched once; a record is then inserted (new id), updated in
place with its children replaced (hash differs) or counted unchanged; a row hashed by an older
upr-align counts as unchanged when its legacy hash still matches.  Rows go in with one executemany
per table (``matcher.bulk``).  Any exception rolls back the whole file, including its ImportBatch
row, so a failed ingest leaves the database as it was.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, Optional

from sqlalchemy import delete, select, update
from sqlmodel import Session, SQLModel

from .models import (
    Activity,
    CFItem,
    ImportBatch,
    ItemCountry,
    ItemTag,
    MoneyFact,
    Recommendation,
    RecommendingState,
)
from . import prefetch
from .bulk import insert_many, relaxed_gc
from .records import Batch, IngestError, ItemRecord, is_legacy_hash
from .settings import get_settings

_insert_many = insert_many  # matcher.linking imports it from here

MAIN_TABLE: dict[str, type[SQLModel]] = {
    "recommendation": Recommendation,
    "cf_item": CFItem,
    "activity": Activity,
}
# child table name -> (model, how its rows point at the item)
CHILD_TABLES: dict[str, tuple[type[SQLModel], str]] = {
    "recommending_state": (RecommendingState, "recommendation_id"),
    "item_tag": (ItemTag, "item"),
    "item_country": (ItemCountry, "item"),
    "money_fact": (MoneyFact, "item"),
}


@dataclass
class ImportSummary:
    """What happened to one file; ``as_dict`` is the CLI's ``--json`` shape."""

    file: str
    source_type: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    problems: list[dict] = field(default_factory=list)
    problems_total: int = 0
    batch_id: Optional[int] = None
    ok: bool = True
    error: Optional[str] = None

    def as_dict(self) -> dict:
        d = {
            "file": self.file,
            "source_type": self.source_type,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "problems": self.problems,
        }
        if self.problems_total > len(self.problems):
            d["problems_not_listed"] = self.problems_total - len(self.problems)
        if not self.ok:
            d["error"] = self.error
        return d


def _chunks(items: Iterable[ItemRecord], size: int) -> Iterator[list[ItemRecord]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _child_filter(model: type[SQLModel], link: str, item_type: str, ids: list[str]):
    if link == "item":
        return (model.item_type == item_type) & (model.item_id.in_(ids))  # type: ignore[attr-defined]
    return getattr(model, link).in_(ids)


def _child_rows(rec: ItemRecord, table: str, link: str) -> Iterator[dict[str, Any]]:
    if link == "item":
        item_type, item_id = rec.item_type, rec.id
        for child in rec.children.get(table, ()):
            yield {**child, "item_type": item_type, "item_id": item_id}
    else:
        for child in rec.children.get(table, ()):
            yield {**child, link: rec.id}


def load_batch(
    session: Session,
    batch: Batch,
    *,
    progress: Optional[Callable[[int], None]] = None,
) -> ImportSummary:
    """Write ``batch`` inside the caller's transaction and return its summary.

    The caller commits on success and rolls back on any exception (see ``ingest_file``).
    """
    settings = get_settings()
    model = MAIN_TABLE[batch.item_type]
    now = datetime.now(timezone.utc)
    ib = ImportBatch(
        source_type=batch.source_type, file_name=batch.file_name, sha256=batch.sha256, started_at=now
    )
    session.add(ib)
    session.flush()
    summary = ImportSummary(file=batch.file_name, source_type=batch.source_type, batch_id=ib.id)
    seen: dict[str, int] = {}  # id -> occurrences in this file

    for chunk in _chunks(batch.records, settings.ingest_chunk_rows):
        fresh: list[ItemRecord] = []
        for rec in chunk:
            n = seen.get(rec.id, 0)
            if n:
                if rec.source_key is not None:
                    batch.skip(rec.source_row, "id", f"duplicate id '{rec.source_key}' (already read earlier in this file)")
                    continue
                batch.problem(
                    rec.source_row, None,
                    f"row repeats an earlier row word for word; kept as occurrence {n + 1}", "warning",
                )
                seen[rec.id] = n + 1
                rec.id = f"{rec.id}-{n + 1}"
            else:
                seen[rec.id] = 1
            fresh.append(rec)
        if not fresh:
            continue
        ids = [r.id for r in fresh]
        stored = dict(session.execute(select(model.id, model.content_hash).where(model.id.in_(ids))).all())  # type: ignore[attr-defined]
        inserts, updates = [], []
        for rec in fresh:
            h = rec.content_hash()
            old = stored.get(rec.id)
            # a row written by an older upr-align keeps its legacy hash until its content changes
            if old is not None and (old == h or (is_legacy_hash(old) and old == rec.legacy_content_hash())):
                summary.unchanged += 1
                continue
            row = dict(rec.row, id=rec.id, content_hash=h, batch_id=ib.id, updated_at=now)
            (inserts if old is None else updates).append((rec, row))
        if updates:
            upd_ids = [rec.id for rec, _ in updates]
            for child_model, link in CHILD_TABLES.values():
                session.execute(delete(child_model).where(_child_filter(child_model, link, batch.item_type, upd_ids)))
            for _, row in updates:
                session.execute(update(model).where(model.id == row["id"]).values(**row))  # type: ignore[attr-defined]
        if inserts:
            insert_many(session, model, [row for _, row in inserts])
        changed = [rec for rec, _ in inserts + updates]
        for table, (child_model, link) in CHILD_TABLES.items():
            insert_many(session, child_model, (r for rec in changed for r in _child_rows(rec, table, link)))
        summary.inserted += len(inserts)
        summary.updated += len(updates)
        if progress:
            progress(len(chunk))

    if batch.item_type == "activity":
        # a child may be read before its parent: flag children on the store, not per record
        from .activities import flag_children

        flag_children(session)
    summary.read = batch.read
    summary.skipped = batch.skipped
    summary.problems_total = len(batch.problems)
    summary.problems = [p.as_dict() for p in batch.problems[: settings.max_problems_per_file]]
    ib.read, ib.inserted, ib.updated = summary.read, summary.inserted, summary.updated
    ib.unchanged, ib.skipped = summary.unchanged, summary.skipped
    ib.problems, ib.problems_total = summary.problems, summary.problems_total
    ib.finished_at = datetime.now(timezone.utc)
    session.add(ib)
    session.flush()
    return summary


def ingest_file(
    engine,
    batch_factory: Callable[[], Batch],
    *,
    file_name: str,
    source_type: str = "unknown",
    progress: Optional[Callable[[int], None]] = None,
    background: bool = False,
    prepare: Optional[Callable[[], None]] = None,
) -> ImportSummary:
    """Read and load one file in a single transaction; on a fatal error nothing is written.

    ``background``: run the reader in a second process (for readers whose parsing costs more than
    sending their records across: IATI XML); also subject to ``settings.ingest_background_reader``.
    ``prepare``: what this process may load while a background reader starts (the reader's
    ``prepare``, e.g. exchange rates).

    Returns a summary with ``ok=False`` and ``error`` set instead of raising for IngestError, so a
    caller ingesting several files can report each one.
    """
    settings = get_settings()
    batch: Optional[Batch] = None
    with relaxed_gc(), Session(engine) as session:
        try:
            if background and settings.ingest_background_reader and prefetch.available():
                batch = prefetch.read_in_background(batch_factory, prepare)
            else:
                batch = batch_factory()
            summary = load_batch(session, batch, progress=progress)
            session.commit()
            return summary
        except IngestError as exc:
            _close(batch)
            session.rollback()
            return ImportSummary(
                file=file_name, source_type=source_type, ok=False, error=str(exc),
                problems=[{"row": exc.row, "field": exc.field, "message": exc.message, "severity": "fatal"}],
                problems_total=1,
            )
        except BaseException:
            _close(batch)
            session.rollback()
            raise


def _close(batch: Optional[Batch]) -> None:
    """Stop a reader that is still streaming (ends a background reader process)."""
    close = getattr(batch.records, "close", None) if batch is not None else None
    if close is not None:
        close()
