"""UPR Info database export: CSV (Mac Roman + CR line ends as downloaded, or UTF-8) or XLSX.

Columns: To, To-Rgrp, To-Org, Text, From, From-Rgrp, From-Org, Response, Action, Issue, Session.
One row = one recommendation from one recommending state; ``Issue`` is comma-separated.
``voluntary.csv`` has the same columns with Response "Voluntary Pledge".
"""
from __future__ import annotations

import html
from functools import lru_cache
from typing import Any, Iterator

from mappings import table
from matcher.recommendations import parse_int, recommendation_record
from matcher.records import Batch, ItemRecord
from matcher.sources import Source

from . import tabular

REQUIRED = ("To", "Text", "From", "Response", "Session")
OPTIONAL = ("Action", "Issue")


@lru_cache(maxsize=1)
def _issues() -> dict[str, tuple[str, str]]:
    return {r["label"].casefold(): (r["id"], r["label"]) for r in table("uprinfo_issues.csv")}


def _split_issues(raw: str) -> list[str]:
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


class UprInfoReader:
    name = "uprinfo"
    kind = "upr"
    item_type = "recommendation"
    description = "UPR Info database export (CSV in Mac Roman/CR or UTF-8, or XLSX)"

    def sniff(self, source: Source) -> bool:
        # Recognised by its distinctive columns even when one required column is missing, so that
        # read() can say which one instead of "unknown format".
        cols = set(tabular.header(source, required=("Text",)))
        return bool({"To-Rgrp", "From-Rgrp", "To-Org", "From-Org"} & cols) or {"To", "From", "Text"} <= cols

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        batch = Batch(self.name, self.item_type, source.name, source.sha256(), records=())
        cols = tabular.header(source, encoding=options.get("encoding"), required=REQUIRED)
        tabular.missing_columns(source, cols, REQUIRED)
        batch.records = self._records(source, batch, options)
        return batch

    def _records(self, source: Source, batch: Batch, options: dict[str, Any]) -> Iterator[ItemRecord]:
        issues = _issues()
        for line, row in tabular.rows(source, batch=batch, encoding=options.get("encoding"), required=REQUIRED):
            batch.read += 1
            cell = {k: html.unescape(str(v)).strip() if v is not None else "" for k, v in row.items()}
            session = parse_int(cell.get("Session"))
            if session is None:
                batch.problem(line, "Session", f"session '{cell.get('Session')}' is not a number: cycle unknown", "warning")
            themes = []
            for label in _split_issues(cell.get("Issue", "")):
                known = issues.get(label.casefold())
                if known is None:
                    batch.problem(line, "Issue", f"unknown UPR Info issue '{label}': kept as written", "warning")
                themes.append(("uprinfo", known[0] if known else label, known[1] if known else label))
            recommending = [cell["From"]] if cell.get("From") and cell["From"] != "(Unknown)" else []
            if cell.get("From") == "(Unknown)":
                batch.problem(line, "From", "recommending state is '(Unknown)' in the source", "warning")
            rec = recommendation_record(
                batch,
                row_ref=line,
                state_name=cell.get("To", ""),
                text=cell.get("Text", ""),
                response_raw=cell.get("Response"),
                recommending=recommending,
                session=session,
                action_category_raw=cell.get("Action"),
                themes=themes,
            )
            if rec is not None:
                yield rec


READER = UprInfoReader()
