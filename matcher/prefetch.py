"""Reading a file in a second process while this one writes: both cores busy during ingest.

A reader's Batch is produced in a forked child; records travel back in chunks through a bounded
queue (memory stays flat), followed by the reader's final counts and problems.  An IngestError in
the child is raised again here, so "nothing from a failed file is written" holds unchanged.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from typing import Callable, Iterator

from .records import Batch, IngestError, ItemRecord

CHUNK = 256  # records per queue message
QUEUE_CHUNKS = 8  # messages in flight at most


def available() -> bool:
    """True where a reader can be forked (Linux, macOS with fork); elsewhere ingest reads inline."""
    return "fork" in mp.get_all_start_methods()


def _child(factory: Callable[[], Batch], queue) -> None:
    try:
        batch = factory()
        queue.put(("head", batch.source_type, batch.item_type, batch.file_name, batch.sha256))
        buf: list[ItemRecord] = []
        for rec in batch.records:
            buf.append(rec)
            if len(buf) >= CHUNK:
                queue.put(("records", buf))
                buf = []
        if buf:
            queue.put(("records", buf))
        queue.put(("end", batch.read, batch.skipped, batch.problems))
    except IngestError as exc:
        queue.put(("ingest_error", exc.file, exc.message, exc.row, exc.field))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        queue.put(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        queue.close()
        queue.join_thread()
        os._exit(0)  # no finalizers: never touch the parent's inherited database connections


def _raise(msg: tuple) -> None:
    if msg[0] == "ingest_error":
        _, file, message, row, field = msg
        raise IngestError(file, message, row=row, field=field)
    raise RuntimeError(f"reader process failed: {msg[1]}\n{msg[2]}")


def read_in_background(factory: Callable[[], Batch]) -> Batch:
    """Start ``factory`` (a reader call) in a child process and return a Batch streaming its records.

    The returned Batch's ``read``, ``skipped`` and ``problems`` take the reader's final values when
    its records are exhausted (problems the loader adds meanwhile are kept after the reader's).
    """
    ctx = mp.get_context("fork")
    queue = ctx.Queue(maxsize=QUEUE_CHUNKS)
    proc = ctx.Process(target=_child, args=(factory, queue), daemon=True)
    proc.start()
    first = queue.get()
    if first[0] != "head":
        proc.join()
        _raise(first)
    _, source_type, item_type, file_name, sha256 = first
    batch = Batch(source_type, item_type, file_name, sha256, records=())

    def stream() -> Iterator[ItemRecord]:
        try:
            while True:
                msg = queue.get()
                if msg[0] == "records":
                    yield from msg[1]
                elif msg[0] == "end":
                    _, batch.read, skipped, problems = msg
                    batch.skipped += skipped
                    batch.problems[:0] = problems
                    return
                else:
                    _raise(msg)
        finally:
            if proc.is_alive():
                proc.terminate()
            proc.join()

    batch.records = stream()
    return batch
