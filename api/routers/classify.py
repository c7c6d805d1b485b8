"""Classify texts without storing them: JSON in and out, or a CSV/XLSX file annotated like ``upr-align classify``.

Reader access (open by default, like the other reads): nothing is written to the store.  Bounded: at most
``MAX_TEXTS`` texts of at most ``MAX_CHARS`` characters per JSON request; a file at most ``upload_max_bytes``.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Literal, Optional
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from matcher.settings import get_settings, goal_cap_settings

from ..deps import Reader
from ..schemas import ClassifyIn, ClassifyOut
from .exports import XLSX
from .imports import _spool

router = APIRouter(prefix="/classify", tags=["classify"])
TABLE_SUFFIXES = (".csv", ".txt", ".xlsx")


@router.post("", response_model=ClassifyOut)
def classify(body: ClassifyIn, _: Reader):
    """SDG goals, targets and UPR Info themes of each text, each label with its score and evidence (the matched
    phrases with their character spans, the model's top terms, the crosswalk link), in the order given."""
    from matcher.classify import classify_texts
    from matcher.file_classification import result_cells

    results = classify_texts(body.texts, settings=goal_cap_settings(body.max_goals))
    out = []
    for i, res in enumerate(results):
        cells = result_cells(res)
        out.append({"index": i, "language": res.language, "sdg_goals": _codes(cells["sdg_goals"]),
                    "sdg_targets": _codes(cells["sdg_targets"]), "themes": _codes(cells["themes"]),
                    "labels": res.as_dict()["labels"]})
    return {"model_version": results[0].model_version if results else "", "results": out}


def _codes(cell: str) -> list[str]:
    return [c for c in cell.split(";") if c]


@router.post("/file", response_class=Response,
             responses={200: {"content": {"text/csv": {}, XLSX: {}}}, 413: {}, 415: {}, 422: {}})
async def classify_file_upload(
        _: Reader,
        file: Annotated[UploadFile, File(description="A CSV (any common encoding) or XLSX file with a text column.")],
        text_column: Annotated[str, Form(min_length=1, description="The column holding the text.")],
        out_format: Annotated[Literal["csv", "xlsx"], Form(alias="format",
                                                            description="Format of the annotated file.")] = "csv",
        max_goals: Annotated[Optional[int], Form(ge=0, le=17, description="At most this many predicted SDG goals "
                                                 "per text (1 = the primary goal; unset: the calibrated rule).")] = None,
        sheet: Annotated[Optional[str], Form(max_length=200, description="With an XLSX file: the sheet to read "
                                             "(unset: the first visible sheet with the column(s)).")] = None):
    """The uploaded table with five columns added: sdg_goals, sdg_targets, themes (';'-separated), sdg_scores and
    evidence (JSON), as ``upr-align classify FILE --text-column COL --out OUT`` writes it (formula-like cells
    neutralised), in ``format`` (CSV unless asked: whatever was uploaded).  In XLSX a cell keeps at most 32,767
    characters: header ``X-Cells-Cut`` counts the input cells that were cut (0 in CSV).  Header
    ``X-Unsaved-Formulas`` counts the XLSX formula cells the file saved no value of: copied as their formula; such
    a text is not classified and its evidence says why.  A workbook is read from ``sheet``, else from its first
    visible sheet with the text column; in a workbook of several sheets header ``X-Sheet`` names the sheet read and
    ``X-Other-Sheets`` the other sheets with that column, not read (percent-encoded, ``;``-separated)."""
    return await run_in_threadpool(_annotate, file, text_column, out_format, goal_cap_settings(max_goals), sheet)


@contextmanager
def uploaded_table(file: UploadFile, what: str) -> Iterator[Path]:
    """The upload spooled to a private temporary folder (removed afterwards): 415 unless it is named .csv/.xlsx,
    413 past ``upload_max_bytes``.  ``what`` says what the table should hold, for the 415 message."""
    name = Path(file.filename or "upload.csv").name or "upload.csv"
    if Path(name).suffix.lower() not in TABLE_SUFFIXES:
        raise HTTPException(415, f"{name}: give a .csv, .txt (text saved by Excel) or .xlsx file ({what})")
    with tempfile.TemporaryDirectory(prefix="upr-align-upload-") as tmp:
        yield _spool(file, get_settings().upload_max_bytes, Path(tmp))


def _annotate(file: UploadFile, text_column: str, out_format: str, settings, sheet: Optional[str] = None) -> Response:
    from matcher.file_classification import classify_file
    from matcher.tables import TableError

    with uploaded_table(file, "a table with a column of texts") as path:
        out = path.parent / f"{path.stem}_classified.{out_format}"
        try:
            counts = classify_file(path, out, text_column, settings=settings, sheet=sheet)
        except TableError as exc:
            raise HTTPException(422, str(exc)) from None
        data = out.read_bytes()
    media = XLSX if out_format == "xlsx" else "text/csv; charset=utf-8"
    headers = {"Content-Disposition": attachment(out.name), "X-Cells-Cut": str(counts.get("cells_cut", 0)),
               "X-Unsaved-Formulas": str(counts.get("unsaved_cells", 0))}
    if counts.get("sheet"):  # a workbook of several sheets: which one was read, which others have the column
        headers["X-Sheet"] = quote(counts["sheet"], safe=" ")
    if counts.get("other_sheets"):
        others = counts["other_sheets"]  # at most 20 named: a header stays short
        headers["X-Other-Sheets"] = ";".join(quote(o, safe=" ") for o in others[:20]) + (
            f";… {len(others) - 20} more" if len(others) > 20 else "")
    return Response(data, media_type=media, headers=headers)


@router.post("/evaluate", responses={200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}}},
                                     413: {}, 415: {}, 422: {}})
async def evaluate_upload(
        _: Reader,
        file: Annotated[UploadFile, File(description="A CSV (any common encoding) or XLSX file with a text column "
                                                     "and a label column.")],
        text_column: Annotated[str, Form(min_length=1, description="The column holding the text.")],
        label_column: Annotated[str, Form(min_length=1, description="The column holding the labels: SDG goals "
                                          "and/or targets ('5;16', 'SDG 5', '5.2'), or UPR Info issues.")],
        vocabulary: Annotated[Literal["sdg", "uprinfo"], Form(description="What the labels are.")] = "sdg",
        empty_is_none: Annotated[bool, Form(description="An empty label cell means 'no label' (default: the row is "
                                            "skipped and counted).")] = False,
        max_goals: Annotated[Optional[int], Form(ge=0, le=17, description="At most this many predicted SDG goals "
                                                 "per text (unset: the calibrated rule).")] = None,
        out_format: Annotated[Literal["json", "csv", "xlsx"], Form(
            alias="format", description="json: the scores; csv/xlsx: one row per text with gold, predicted, missed "
            "and extra labels and the evidence.")] = "json",
        sheet: Annotated[Optional[str], Form(max_length=200, description="With an XLSX file: the sheet to read "
                                             "(unset: the first visible sheet with the column(s)).")] = None):
    """The classifier in use scored against your labelled texts, as ``upr-align evaluate FILE`` does: micro and
    macro precision/recall/F1 for all texts and for those that do not nearly repeat a training text, per label,
    with the rows read, merged and skipped (and why).  Nothing is stored.  A workbook is read from ``sheet``, else
    from its first visible sheet with both columns (the report's ``file`` names it; ``other_sheets`` lists the
    other sheets with both columns, not read)."""
    return await run_in_threadpool(evaluate_labelled, file, text_column, label_column, vocabulary, empty_is_none,
                                   goal_cap_settings(max_goals), out_format, sheet)


def evaluate_labelled(file: UploadFile, text_column: str, label_column: str, vocabulary: str, empty_is_none: bool,
                      settings, out_format: str = "json", sheet: Optional[str] = None):
    """The report of ``matcher.file_evaluation.evaluate_file`` on an upload (a dict), or its rows file (Response)."""
    from matcher.file_evaluation import evaluate_file
    from matcher.tables import TableError

    with uploaded_table(file, "a table with a text and a label column") as path:
        out = path.parent / f"{path.stem}_evaluated.{out_format}" if out_format != "json" else None
        try:
            report = evaluate_file(path, text_column, label_column, vocabulary=vocabulary,
                                   empty_is_none=empty_is_none, settings=settings, out=out, sheet=sheet)
        except TableError as exc:
            raise HTTPException(422, str(exc)) from None
        if out is None:
            return report
        data = out.read_bytes()
    media = XLSX if out_format == "xlsx" else "text/csv; charset=utf-8"
    return Response(data, media_type=media, headers={"Content-Disposition": attachment(out.name)})


def attachment(name: str) -> str:
    """A Content-Disposition header for any file name: an ASCII fallback plus the UTF-8 name (RFC 6266/5987)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
