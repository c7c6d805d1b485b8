"""The one shape every reader produces: a Batch of canonical ItemRecords plus problems.

Readers (``ingest/*.py``) turn a file into records; ``matcher.loading`` writes them.  A record is a
main-table row plus child rows (tags, countries, recommending states, money facts); the loader
replaces all children whenever the record's content hash changes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

import orjson


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
        """Hash over every stored value except provenance and bookkeeping ("v2" + 62 hex digits).

        The values are serialised with orjson (dict keys in insertion order, Decimals as their
        string, dates as ISO text, a float NaN like None -- SQLite stores both as NULL):
        deterministic for the same reader version and about five times faster than ``repr``.  A
        reader change that reorders keys only makes the next ingest report its rows as updated
        once.  Rows stored with a hash of an earlier version are compared with
        ``legacy_content_hash`` instead (see ``matcher.loading``), so they stay unchanged.
        """
        payload = self._hash_payload()
        try:
            data = orjson.dumps(payload, default=_hash_default)
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: repr still tells values apart
            data = repr(payload).encode()
        return HASH_VERSION + hashlib.sha256(data).hexdigest()[: 64 - len(HASH_VERSION)]

    def legacy_content_hash(self) -> str:
        """The content hash as upr-align wrote it before "v2" (sha256 of ``repr``), for stores written then."""
        return hashlib.sha256(repr(self._hash_payload()).encode()).hexdigest()

    def _hash_payload(self) -> tuple:
        row = [(k, v) for k, v in sorted(self.row.items()) if k not in _HASH_SKIP]
        return row, [(k, self.children[k]) for k in sorted(self.children)]


HASH_VERSION = "v2"  # stored hashes without it are legacy_content_hash values


def is_legacy_hash(stored: Optional[str]) -> bool:
    """True for a content hash written before "v2" (64 hex digits): compare it with ``legacy_content_hash``."""
    return stored is not None and not stored.startswith(HASH_VERSION)


def _hash_default(value: Any) -> str:
    # Decimal (and anything else orjson does not know) by its string; the type is fixed per column
    return str(value)


_HASH_SKIP = frozenset({"source_file", "source_sha256", "source_row", "batch_id", "updated_at", "content_hash", "id"})


@dataclass
class Batch:
    """What a reader returns: a lazy stream of records and the problems found while reading.

    ``records`` is consumed once; readers append to ``problems`` and bump ``read``/``skipped`` as
    they go, so the counts are final only after the stream is exhausted.

    A reader whose records take two steps -- parsing, then building the record from what was
    parsed -- says so with ``staged``: ``parts`` then streams the parsed items (plain picklable
    data) and ``build`` (a module-level function) makes the record of one part, or None.  A
    background reader (``matcher.prefetch``) parses in one process and builds in the other.
    """

    source_type: str
    item_type: str
    file_name: str
    sha256: str
    records: Iterable[ItemRecord]
    problems: list[Problem] = field(default_factory=list)
    read: int = 0
    skipped: int = 0
    parts: Optional[Iterable[Any]] = None
    build: Optional[Callable[["Batch", Any], Optional[ItemRecord]]] = None

    def staged(self, parts: Iterable[Any], build: Callable[["Batch", Any], Optional[ItemRecord]]) -> None:
        """Stream records in two steps: ``build(self, part)`` for each of ``parts``."""
        self.parts, self.build = parts, build
        self.records = self._built()

    def _built(self) -> Iterator[ItemRecord]:
        for part in self.parts or ():
            rec = self.build(self, part)  # type: ignore[misc]
            if rec is not None:
                yield rec

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
