"""Importing files: pick the reader (forced or by content), stream it into the store in one transaction."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from sqlalchemy.engine import Engine

from .loading import ImportSummary, ingest_file
from .records import IngestError
from .registry import resolve_reader
from .sources import Source


def import_file(
    engine: Engine,
    path_or_bytes: "str | Path | bytes | Source",
    *,
    kind: Optional[str] = None,
    fmt: Optional[str] = None,
    options: Optional[dict[str, Any]] = None,
    name: Optional[str] = None,
    progress: Optional[Callable[[int], None]] = None,
    background: Optional[bool] = None,
) -> ImportSummary:
    """Ingest one file; a fatal problem gives ``ok=False`` and leaves the store as it was.

    ``background=False`` reads inline even for readers that would parse in a second process (the API
    does so: forking a multi-threaded server is unsafe).
    """
    source = Source.of(path_or_bytes, name)
    if source.path is not None and not source.path.is_file():
        return ImportSummary(file=source.name, source_type=fmt or "unknown", ok=False,
                             error=f"{source.name}: no such file", problems_total=1,
                             problems=[{"row": None, "field": None, "message": "no such file", "severity": "fatal"}])
    try:
        reader = resolve_reader(source, kind=kind, fmt=fmt)
    except IngestError as exc:
        return ImportSummary(file=source.name, source_type=fmt or "unknown", ok=False, error=str(exc), problems_total=1,
                             problems=[{"row": exc.row, "field": exc.field, "message": exc.message, "severity": "fatal"}])
    return ingest_file(
        engine,
        lambda: reader.read(source, options=dict(options or {})),
        file_name=source.name,
        source_type=reader.name,
        progress=progress,
        background=getattr(reader, "background", False) if background is None else background and
        getattr(reader, "background", False),
        prepare=getattr(reader, "prepare", None),
    )
