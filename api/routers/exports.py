"""Exports: the same files as the CLI, formula injection neutralised."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from matcher import coverage, funding as funding_mod
from matcher.exports import to_csv, to_xlsx
from matcher.report import GAP_COLUMNS, code_label

from ..deps import Reader, SessionDep
from .analysis import country_or_422
from .common import page_params

router = APIRouter(prefix="/exports", tags=["exports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_RESPONSES = {200: {"content": {"text/csv": {}, XLSX: {}}}}


def _file(rows: list[dict], columns: list[str], fmt: str, name: str) -> Response:
    if fmt == "csv":
        return Response("\ufeff" + to_csv(rows, columns), media_type="text/csv; charset=utf-8",  # BOM: for Excel
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.xlsx"
        to_xlsx(path, {name[:31]: (rows, columns)})
        data = path.read_bytes()
    return Response(data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@router.get("/gaps.{fmt}", response_class=Response, responses=FILE_RESPONSES)
def export_gaps(fmt: str, session: SessionDep, _: Reader, country: str,
                by: Annotated[str, Query(pattern="^(theme|goal|target|action)$")] = "theme",
                response: Annotated[str, Query(pattern="^(accepted|noted|partially_accepted|pending|voluntary_pledge|all)$")] = "accepted"):
    """The gap table as CSV or XLSX (fmt = csv | xlsx)."""
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(404, "use gaps.csv or gaps.xlsx")
    iso3 = country_or_422(country)
    with page_params():
        rows = [dict(r, label=code_label(by, r["code"])) for r in coverage.gaps(session, iso3, by, response)]
    return _file(rows, GAP_COLUMNS, fmt, f"gaps_{iso3}_{by}_{response}")  # the CLI's columns


@router.get("/funding.{fmt}", response_class=Response, responses=FILE_RESPONSES)
def export_funding(fmt: str, session: SessionDep, _: Reader, country: str,
                   by: Annotated[str, Query(pattern="^(theme|goal|target|action|all)$")] = "theme",
                   measure: Annotated[str, Query(pattern="^(attributed|touching)$")] = "attributed",
                   usd: bool = False,
                   response: Annotated[str, Query(pattern="^(accepted|noted|partially_accepted|pending|voluntary_pledge|all)$")] = "all"):
    """Funding alignment per code and year as CSV or XLSX (fmt = csv | xlsx); says which measure it holds."""
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(404, "use funding.csv or funding.xlsx")
    iso3 = country_or_422(country)
    with page_params():
        rows = funding_mod.funding(session, iso3, by=by, measure=measure, usd=usd, response=response)
    cols = ["country", "dimension", "measure", "response", "code", "year", "currency"] + funding_mod.money_columns(rows) + \
        (["facts_without_usd"] if usd else [])
    return _file(rows, cols, fmt, f"funding_{iso3}_{by}_{measure}_{response}")


@router.get("/report.xlsx", response_class=Response, responses={200: {"content": {XLSX: {}}}})
def export_report(session: SessionDep, _: Reader, country: str):
    """The country workbook of `upr-align report`: summary with charts, gaps, links, funding, method."""
    from matcher.report import write_report

    iso3 = country_or_422(country)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upr-align-report-{iso3}.xlsx"
        write_report(session, iso3, path)
        data = path.read_bytes()
    return Response(data, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="upr-align-report-{iso3}.xlsx"'})
