"""The one shape every reader produces: a Batch of canonical ItemRecords plus problems.

Readers (``ingest/*.py``) turn a file into records; ``matcher.loading`` writes them.  A record is a
main-table row plus child rows (tags, countries, recommending states, money facts); the loader
replaces all children whenever the record's content hash changes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional


@dataclass
class Problem:
    """Something wrong in an input file, located as precisely as the format allows."""

    row: Optional[str | int]
    field: Optional[str]
    message: str
    severity: str = "error"  # "error": the row was skipped; "warning": kept, but look at it

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message, "severity": self.severity}


class IngestError(Exception):
    """A fatal problem with a whole file: nothing from the file is written."""

    def __init__(self, file: str, message: str, *, row: Optional[str | int] = None, field: Optional[str] = None):
        self.file, self.row, self.field, self.message = file, row, field, message
        where = file
        if row is not None:
            where += f", row {row}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


@dataclass
class ItemRecord:
    """One canonical item: ``row`` for its main table, ``children`` keyed by child table name.

    ``source_key`` is the source's own stable id when it has one; when it is None the id is a
    content hash and a second identical row in the same file is kept as a numbered occurrence.
    """

    item_type: str
    id: str
    row: dict[str, Any]
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    source_key: Optional[str] = None
    source_row: Optional[str | int] = None

    def content_hash(self) -> str:
        """Hash over every stored value except provenance and bookkeeping.

        ``repr`` of plain dicts/lists/str/Decimal/date is deterministic for the same reader version
        and several times faster than JSON; a reader change that reorders keys only makes the next
        ingest report its rows as updated once.
        """
        row = [(k, v) for k, v in sorted(self.row.items()) if k not in _HASH_SKIP]
        children = [(k, self.children[k]) for k in sorted(self.children)]
        return hashlib.sha256(repr((row, children)).encode()).hexdigest()


_HASH_SKIP = frozenset({"source_file", "source_sha256", "source_row", "batch_id", "updated_at", "content_hash", "id"})


@dataclass
class Batch:
    """What a reader returns: a lazy stream of records and the problems found while reading.

    ``records`` is consumed once; readers append to ``problems`` and bump ``read``/``skipped`` as
    they go, so the counts are final only after the stream is exhausted.
    """

    source_type: str
    item_type: str
    file_name: str
    sha256: str
    records: Iterable[ItemRecord]
    problems: list[Problem] = field(default_factory=list)
    read: int = 0
    skipped: int = 0

    def problem(self, row, fld, message, severity: str = "error") -> None:
        self.problems.append(Problem(row, fld, message, severity))

    def skip(self, row, fld, message) -> None:
        """Record a row that could not be used (it is counted, never silently dropped)."""
        self.skipped += 1
        self.problem(row, fld, message, "error")


def stable_id(prefix: str, *parts: Any) -> str:
    """Deterministic id from the given parts (whitespace and case folded)."""
    norm = "\x1f".join(" ".join(str(p or "").split()).casefold() for p in parts)
    return f"{prefix}{hashlib.sha256(norm.encode()).hexdigest()[:24]}"


RowCallback = Callable[[int], None]
Records = Iterator[ItemRecord]
