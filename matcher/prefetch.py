"""Reading a file in a second process while this one writes: both cores busy during ingest.

A reader's Batch is produced in a forked child; what it reads travels back in chunks through a
bounded queue (memory stays flat), followed by the reader's final counts.  An IngestError in the
child is raised again here, so "nothing from a failed file is written" holds unchanged.

For a staged reader (``Batch.staged``: IATI) the child parses and sends the parsed parts, which
are plain data and cheap to send (``marshal``); this process builds the records.  The IATI reader
also works out each activity's countries and tag rows in the child (``label_activities``: plain
data too), which leaves the two processes about equal CPU work (about 9 s each per 20,000 rich
activities); sending finished records instead left the reader with twice the work of the writer
(Decimals and dates cost more to pickle than to build).
Each item travels with the problems reported while reading it, so problems keep the order an
inline read gives them.
"""
from __future__ import annotations

import marshal
import multiprocessing as mp
import os
import traceback
from dataclasses import astuple
from typing import Callable, Iterator, Optional

from .bulk import relaxed_gc
from .records import Batch, IngestError, ItemRecord, Problem

CHUNK = 128  # items per queue message
QUEUE_CHUNKS = 8  # messages in flight at most (about 1 MB each for IATI parts)


def available() -> bool:
    """True where a reader can be forked (Linux, macOS with fork); elsewhere ingest reads inline."""
    return "fork" in mp.get_all_start_methods()


def _child(factory: Callable[[], Batch], queue) -> None:
    try:
        with relaxed_gc():
            _send(factory(), queue)
    except IngestError as exc:
        queue.put(("ingest_error", exc.file, exc.message, exc.row, exc.field))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        queue.put(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        queue.close()
        queue.join_thread()
        os._exit(0)  # no finalizers: never touch the parent's inherited database connections


def _send(batch: Batch, queue) -> None:
    """Put the batch's head, its parts (or records) in chunks, then its final counts on ``queue``."""
    staged = batch.parts is not None and batch.build is not None
    queue.put(("head", batch.source_type, batch.item_type, batch.file_name, batch.sha256,
               batch.build if staged else None))
    problems = batch.problems
    sent = 0  # problems already sent
    buf: list[tuple] = []
    for item in batch.parts if staged else batch.records:
        # the problems reported while reading this item, as plain tuples
        buf.append(([astuple(p) for p in problems[sent:]] if len(problems) > sent else None, item))
        sent = len(problems)
        if len(buf) >= CHUNK:
            queue.put(("items", _encode(buf)))
            buf = []
    if buf:
        queue.put(("items", _encode(buf)))
    queue.put(("end", batch.read, batch.skipped, problems[sent:]))


def _encode(items: list) -> "bytes | list":
    """``items`` as marshal bytes when they are plain data (about three times cheaper to send than
    pickling them), else as they are (the queue pickles them)."""
    try:
        return marshal.dumps(items)
    except ValueError:  # e.g. a Decimal, a date, a record object
        return items


def _decode(payload: "bytes | list") -> list:
    return marshal.loads(payload) if isinstance(payload, bytes) else payload


def _stop(proc, finished: bool = False) -> None:
    """End the reader process: one that sent everything is given a moment to exit by itself."""
    if finished:
        proc.join(timeout=5)
    if proc.is_alive():
        proc.terminate()
    proc.join()


def _raise(msg: tuple) -> None:
    if msg[0] == "ingest_error":
        _, file, message, row, field = msg
        raise IngestError(file, message, row=row, field=field)
    raise RuntimeError(f"reader process failed: {msg[1]}\n{msg[2]}")


def read_in_background(factory: Callable[[], Batch], prepare: Optional[Callable[[], None]] = None) -> Batch:
    """Start ``factory`` (a reader call) in a child process and return a Batch streaming its records.

    ``prepare`` runs here meanwhile (the child starts by hashing the file): e.g. loading the exchange
    rates that building the records of a staged reader needs.

    The returned Batch's problems arrive with the items they were reported for, and ``read`` and
    ``skipped`` take the reader's final values when its records are exhausted (skips counted here
    meanwhile, by the building step or the loader, are kept).
    """
    ctx = mp.get_context("fork")
    queue = ctx.Queue(maxsize=QUEUE_CHUNKS)
    proc = ctx.Process(target=_child, args=(factory, queue), daemon=True)
    proc.start()
    try:
        if prepare is not None:
            prepare()
        first = queue.get()
        if first[0] != "head":
            _raise(first)
    except BaseException:
        _stop(proc)
        raise
    _, source_type, item_type, file_name, sha256, build = first
    batch = Batch(source_type, item_type, file_name, sha256, records=())

    def stream() -> Iterator[ItemRecord]:
        finished = False
        try:
            while True:
                msg = queue.get()
                if msg[0] == "items":
                    for problems, item in _decode(msg[1]):
                        if problems:
                            batch.problems.extend(Problem(*p) for p in problems)
                        if build is not None:
                            item = build(batch, item)
                            if item is None:
                                continue
                        yield item
                elif msg[0] == "end":
                    _, batch.read, skipped, problems = msg
                    batch.skipped += skipped
                    batch.problems.extend(problems)
                    finished = True
                    return
                else:
                    _raise(msg)
        finally:
            _stop(proc, finished)

    batch.records = stream()
    return batch
