"""Annotate a CSV or XLSX file with the classifier (``upr-align classify FILE``, ``POST /classify/file``).

The file comes back with its columns and five result columns: ``sdg_goals``, ``sdg_targets``, ``themes``
(``;``-separated codes), ``sdg_scores`` and ``evidence`` (JSON); every text cell formula-safe (``TableWriter``).
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Optional

from .bulk import relaxed_gc
from .classification_store import evidence_dict, sorted_codes
from .labels import Label, Result
from .tables import XLSX_CELL_CHARS, TableWriter, has_unsaved, read_table, require_columns
from .xlsx import UNSAVED_HINT, UnsavedFormula

RESULT_COLUMNS = ("sdg_goals", "sdg_targets", "themes", "sdg_scores", "evidence")
XLSX_CELL_LIMIT = XLSX_CELL_CHARS  # characters Excel keeps in one cell


def result_cells(result: Optional[Result], *, max_chars: Optional[int] = None) -> dict[str, str]:
    """The five result columns for one text: sdg_goals, sdg_targets, themes (';'-joined), sdg_scores, evidence (JSON).

    With ``max_chars`` (XLSX: 32,767), an evidence JSON longer than that keeps each evidence's method
    and score but drops its details, and says so under ``"_details_dropped"``, so the cell stays valid JSON.
    """
    labels: list[Label] = result.labels if result else []
    by_vocab: dict[str, dict[str, Label]] = defaultdict(dict)
    for lab in labels:
        by_vocab[lab.vocabulary][lab.code] = lab
    goals = sorted_codes(by_vocab.get("sdg_goal", {}))
    targets = sorted_codes(by_vocab.get("sdg_target", {}))
    themes = sorted(code for v, labs in by_vocab.items() if not v.startswith("sdg_") for code in labs)
    scores = {c: round(by_vocab["sdg_goal"][c].score, 4) for c in goals}
    scores.update({c: round(by_vocab["sdg_target"][c].score, 4) for c in targets})
    evidence = {lab.code: {"vocabulary": lab.vocabulary, "score": round(lab.score, 4),
                           "evidence": [evidence_dict(e) for e in lab.evidence]} for lab in labels}
    evidence_json = json.dumps(evidence, ensure_ascii=False, default=str)
    if max_chars is not None and len(evidence_json) > max_chars:
        slim = {code: {**entry, "evidence": [{"method": e["method"], "score": e["score"]} for e in entry["evidence"]]}
                for code, entry in evidence.items()}
        slim["_details_dropped"] = f"the full evidence has {len(evidence_json)} characters, over the cell limit"
        evidence_json = json.dumps(slim, ensure_ascii=False)
    return {
        "sdg_goals": ";".join(goals),
        "sdg_targets": ";".join(targets),
        "themes": ";".join(themes),
        "sdg_scores": json.dumps(scores, ensure_ascii=False),
        "evidence": evidence_json,
    }


def _count_unsaved(row: int, cells: list[Any], col: int, counts: dict) -> None:
    """Count a row's formula cells with no saved value and copy each as its formula, but the text (flush says why)."""
    for i, v in enumerate(cells):
        if type(v) is UnsavedFormula:
            counts["unsaved_cells"] += 1
            if i != col:
                cells[i] = v.as_text()
    if type(cells[col]) is UnsavedFormula:
        counts["unsaved_texts"] += 1
        if len(counts["unsaved_text_rows"]) < 20:
            counts["unsaved_text_rows"].append(row)


def describe_unsaved(counts: dict, text_column: str) -> str:
    """One line on the formula cells with no saved value met by ``classify_file`` ("" when none)."""
    texts, cells = counts.get("unsaved_texts", 0), counts.get("unsaved_cells", 0)
    if not cells:
        return ""
    parts = []
    if texts:
        rows = counts["unsaved_text_rows"]
        many = texts > 1
        parts.append(f"{texts} {'texts' if many else 'text'} in '{text_column}' {'are formulas' if many else 'is a formula'}"
                     f" with no saved value ({'rows' if many else 'row'} {', '.join(map(str, rows))}"
                     f"{' …' if texts > len(rows) else ''}): not classified, and the evidence column says why")
    if cells > texts:
        other = cells - texts
        parts.append(f"{other} {'other ' if texts else ''}{'cells are formulas' if other > 1 else 'cell is a formula'} "
                     "with no saved value: copied as the formula (=…)")
    return "; ".join(parts) + f"; {UNSAVED_HINT}"


def classify_file(in_path: str | Path, out_path: str | Path, text_column: str, *, batch_size: int = 512,
                  progress: Optional[Callable[[int], None]] = None, settings=None, sheet: Optional[str] = None) -> dict:
    """Write ``out_path`` (CSV, or XLSX by suffix) = the input columns + the five result columns.

    Streams ``batch_size`` rows at a time.  Input columns named like a result column are replaced.
    Raises ``TableError`` for an unreadable file or a missing ``text_column`` (naming the columns found).
    An XLSX formula cell the file saved no value of is copied as its formula ("=A2", as text), never as an empty
    cell; when it is the text, the row is not classified and its ``evidence`` says why.
    An XLSX workbook is read from ``sheet``, else from its first visible sheet with ``text_column``
    (``matcher.tables.read_table``).  Returns ``{"sheet", "other_sheets", "rows", "classified", "cells_cut",
    "unsaved_texts", "unsaved_text_rows", "unsaved_cells", "seconds"}`` (``sheet``: the sheet read in a workbook of
    several, else None; ``other_sheets``: the other sheets with the column, not read; ``cells_cut``: XLSX input
    cells cut to 32,767 characters; ``unsaved_*``: texts not classified for that, the first 20 of their rows, and
    all such cells copied); ``progress(n)`` is called with rows done per batch.
    ``settings`` (default: the environment's) reach the classifier, e.g. a cap on goals per text.
    """
    from .classify import classify_texts

    start = time.perf_counter()
    table = read_table(in_path, columns=(text_column,), sheet=sheet)
    (col,) = require_columns(table, (text_column,))
    keep = [i for i, c in enumerate(table.columns) if c not in RESULT_COLUMNS]
    counts: dict[str, Any] = {"sheet": table.sheet, "other_sheets": list(table.also), "rows": 0, "classified": 0, "unsaved_texts": 0,
                              "unsaved_text_rows": [], "unsaved_cells": 0}
    with TableWriter(out_path, [table.columns[i] for i in keep] + list(RESULT_COLUMNS)) as writer:
        limit = XLSX_CELL_LIMIT if writer.xlsx else None
        def flush(batch: list[list[Any]]) -> None:
            texts = ["" if r[col] is None or type(r[col]) is UnsavedFormula else str(r[col]).strip() for r in batch]
            todo = [i for i, t in enumerate(texts) if t]
            results: list[Optional[Result]] = [None] * len(batch)
            if todo:  # empty cells get empty result columns without asking the classifier
                found = classify_texts([texts[i] for i in todo], batch_size=batch_size, settings=settings)
                for i, res in zip(todo, found, strict=True):
                    results[i] = res
            for cells, res in zip(batch, results):
                extra = result_cells(res, max_chars=limit)
                if type(cells[col]) is UnsavedFormula:
                    extra["evidence"] = json.dumps({"_not_classified": f"the text is {cells[col].describe()}: "
                                                    f"{UNSAVED_HINT}"}, ensure_ascii=False)
                    cells[col] = cells[col].as_text()
                writer.write([cells[i] for i in keep] + [extra[c] for c in RESULT_COLUMNS])
            counts["rows"] += len(batch)
            counts["classified"] += len(todo)
            if progress:
                progress(len(batch))

        batch: list[list[Any]] = []
        with relaxed_gc():  # as in classify_texts, for the rows read and written between batches too
            for row, cells in table.rows:
                if has_unsaved(cells):
                    _count_unsaved(row, cells, col, counts)
                batch.append(cells)
                if len(batch) >= batch_size:
                    flush(batch)
                    batch = []
            if batch:
                flush(batch)
    counts["cells_cut"] = writer.cells_cut
    counts["seconds"] = round(time.perf_counter() - start, 3)
    return counts
