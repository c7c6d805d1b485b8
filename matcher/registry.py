"""The table of readers, by format name, and detection of a file's format by its content.

Readers live in ``ingest/`` and are registered through the ``upr_align.readers`` entry-point group
(pyproject.toml), the way datasette's built-ins use the same hooks as plugins: the engine never
imports ingest/, and adding a source is adding one module and one line.
"""
from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Protocol

from .records import Batch, IngestError
from .sources import Source

ENTRY_POINT_GROUP = "upr_align.readers"


class Reader(Protocol):
    """What every module in ingest/ exposes as ``READER``."""

    name: str  # format name used by --format, e.g. "uprinfo"
    kind: str  # CLI family: "upr" | "cf" | "iati" | "donor"
    item_type: str  # what it produces: "recommendation" | "cf_item" | "activity"
    description: str
    # optional: ``priority`` (sniff order, default 50; generic layouts > 50) and ``background``
    # (True: parse in a second process while the loader writes -- worth it for heavy XML parsing)

    def sniff(self, source: Source) -> bool:
        """True when the file's content (not only its name) looks like this format."""

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        """Stream canonical records; raise IngestError for a fatal problem with the whole file."""


@lru_cache(maxsize=1)
def all_readers() -> dict[str, Reader]:
    """Every installed reader by format name, in sniff order."""
    found: dict[str, Reader] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.load()
    # Installers write entry points in alphabetical order, so the sniff order is explicit: specific
    # layouts first, generic ones (a reader's ``priority`` > 50, e.g. the template CSV) last.
    found = dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "priority", 50), kv[0])))
    if not found:
        raise RuntimeError(
            "no readers are registered: install the package (pip install -e .) so that its "
            f"'{ENTRY_POINT_GROUP}' entry points exist"
        )
    return found


def readers(kind: str | None = None) -> dict[str, Reader]:
    """Readers of one CLI family (or all)."""
    return {n: r for n, r in all_readers().items() if kind is None or r.kind == kind}


def resolve_reader(source: Source, *, kind: str | None = None, fmt: str | None = None) -> Reader:
    """The reader forced by ``fmt``, or the first whose ``sniff`` accepts the file's content."""
    candidates = readers(kind)
    if fmt:
        if fmt not in candidates:
            raise IngestError(source.name, f"unknown format '{fmt}'; choose one of: {', '.join(sorted(candidates))}")
        return candidates[fmt]
    if source.size == 0 or not source.head(4096).strip():
        raise IngestError(source.name, "the file is empty (no bytes, or only white space)")
    damaged: IngestError | None = None
    for reader in candidates.values():
        try:
            if reader.sniff(source):
                return reader
        except IngestError as exc:  # e.g. a truncated workbook: more useful than "unknown format"
            damaged = damaged or exc
    if damaged is not None:
        raise damaged
    if kind is not None:  # a file of another family: say which command reads it
        for reader in all_readers().values():
            if reader.kind != kind and _sniffs(reader, source):
                raise IngestError(source.name, f"this is not a '{kind}' file: it looks like {reader.description} "
                                  f"(format '{reader.name}'), which `upr-align ingest {reader.kind}` reads (API: kind={reader.kind})")
    raise IngestError(
        source.name,
        "could not recognise the file format from its content; expected one of: "
        + ", ".join(f"{n} ({r.description})" for n, r in sorted(candidates.items()))
        + (". Name the format to force one (CLI: --format NAME; API: form field format=NAME)."
           if len(candidates) > 1 else "."),
    )


def _sniffs(reader: Reader, source: Source) -> bool:
    try:
        return reader.sniff(source)
    except IngestError:
        return False
