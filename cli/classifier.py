"""The classifier's commands: ``upr-align classify`` (a file, one text, or the store) and ``upr-align evaluate``
(the shipped splits, or a labelled file of the user's)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from matcher.exports import to_json
from matcher.settings import goal_cap_settings

from .main import DbOpt, JsonOpt, _engine, _short, app, err, out


@app.command()
def classify(
    input_file: Annotated[Optional[Path], typer.Argument(
        help="CSV or XLSX file to annotate (with --text-column and --out).", show_default=False)] = None,
    text_column: Annotated[Optional[str], typer.Option("--text-column", help="Column holding the text.")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Output file: .csv or .xlsx.")] = None,
    sheet: Annotated[Optional[str], typer.Option("--sheet", help="With an XLSX file: the sheet to read (default: "
                                                 "the first visible sheet with the text column).")] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="Classify this one text and print its labels.")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="(Re)classify every item in the store whose text or "
                                            "model version changed.")] = False,
    full: Annotated[bool, typer.Option("--full", help="With --all: reclassify everything.")] = False,
    max_goals: Annotated[Optional[int], typer.Option(
        "--max-goals", min=0, max=17, help="With a file or --text: keep at most N predicted SDG goals per text, the "
        "best-scoring (1 = the primary goal only; 0 = no cap). Default: the rule calibrated with the model.")] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Assign SDG goals, targets and human-rights themes, with evidence, to a file, one text, or the store."""
    from matcher.tables import TableError

    modes = sum([input_file is not None, text is not None, all_items])
    if modes != 1:
        err.print("[red]error:[/red] give exactly one of: INPUT.csv|xlsx (with --text-column and --out), "
                  "--text \"…\", or --all")
        raise typer.Exit(2)
    if full and not all_items:
        err.print("[red]error:[/red] --full only goes with --all")
        raise typer.Exit(2)
    if sheet is not None and input_file is None:
        err.print("[red]error:[/red] --sheet goes with an XLSX file")
        raise typer.Exit(2)
    if max_goals is not None and all_items:
        err.print("[red]error:[/red] --max-goals goes with a file or --text; the store is classified with the "
                  "calibrated rule (set UPR_ALIGN_CLASSIFY_GOAL_MAX for a store of your own, then --all --full)")
        raise typer.Exit(2)
    settings = goal_cap_settings(max_goals)
    _ensure_model()
    if text is not None:
        _classify_text(text, as_json, settings)
    elif all_items:
        _classify_all(db, full, as_json)
    else:
        if not text_column or out_file is None:
            err.print("[red]error:[/red] classifying a file needs --text-column COL and --out OUT.csv|xlsx")
            raise typer.Exit(2)
        if out_file.suffix.lower() not in (".csv", ".xlsx"):
            err.print("[red]error:[/red] --out must end in .csv or .xlsx")
            raise typer.Exit(2)
        try:
            _classify_file(input_file, text_column, out_file, as_json, settings, sheet)
        except TableError as exc:
            from rich.markup import escape

            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None


def _ensure_model() -> None:
    """Train the text model now, under a status line, when it is not cached yet (first use: about a minute)."""
    from matcher.model import default_model, model_cached

    if not model_cached():
        with err.status("training the classifier model from the shipped data (first use only; about a minute, "
                        "more on a busy machine)…"):
            default_model()


def _classify_text(text: str, as_json: bool, settings=None) -> None:
    from matcher.classify import classify_texts

    (result,) = classify_texts([text], settings=settings)
    if as_json:
        print(to_json(result.as_dict()))
        return
    if not result.labels:
        out.print(f"no label: nothing in the text points to a goal, target or theme (model {result.model_version})")
        return
    t = Table("vocabulary", "code", "score", "evidence", title=f"model {result.model_version}, language "
              f"{result.language}")
    order = {"sdg_goal": 0, "sdg_target": 1}
    for lab in sorted(result.labels, key=lambda lab: (order.get(lab.vocabulary, 2), lab.vocabulary, -lab.score)):
        t.add_row(lab.vocabulary, lab.code, f"{lab.score:.2f}", _short("; ".join(e.summary() for e in lab.evidence), 120))
    out.print(t)


def _classify_file(input_file: Path, text_column: str, out_file: Path, as_json: bool, settings=None,
                   sheet: Optional[str] = None) -> None:
    from rich.markup import escape

    from matcher.file_classification import classify_file, describe_unsaved

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} rows"),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task(f"classifying {input_file.name}", total=None)
        counts = classify_file(input_file, out_file, text_column, settings=settings, sheet=sheet,
                               progress=lambda n: progress.advance(task, n))
    if counts["other_sheets"]:
        others = counts["other_sheets"]
        err.print(f"[yellow]warning:[/yellow] the sheet{'s' if len(others) > 1 else ''} "
                  f"{escape(', '.join(repr(o) for o in others))} also {'have' if len(others) > 1 else 'has'} a "
                  f"column '{escape(text_column)}' and {'were' if len(others) > 1 else 'was'} not read (--sheet NAME "
                  "reads one)", highlight=False)
    unsaved = describe_unsaved(counts, text_column)
    if unsaved:  # on stderr in both modes: --json output stays one JSON document
        err.print(f"[yellow]warning:[/yellow] {escape(unsaved)}", highlight=False)
    if as_json:
        print(to_json({"out": str(out_file), **counts}))
    else:
        out.print(f"{escape(str(out_file))}: {counts['rows']} row{'' if counts['rows'] == 1 else 's'} ({counts['classified']} with "
                  f"text) in {counts['seconds']:.1f} s"
                  + (f" (read from sheet '{escape(counts['sheet'])}')" if counts["sheet"] else ""), highlight=False)
        if counts.get("cells_cut"):
            err.print(f"[yellow]warning:[/yellow] {counts['cells_cut']} cells longer than 32,767 characters were cut "
                      "(the most an XLSX cell holds); write a .csv to keep them whole")


def _classify_all(db: Optional[str], full: bool, as_json: bool) -> None:
    from matcher.classification_store import classify_store

    engine = _engine(db, must_exist=True)  # nothing to classify in a database that does not exist yet
    with Progress(SpinnerColumn(), TextColumn("classifying"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("classify", total=None)
        counts = classify_store(engine, full=full,
                                progress=lambda done, total: progress.update(task, completed=done, total=total))
    if as_json:
        print(to_json(counts))
        return
    out.print(f"considered {counts['considered']}, classified {counts['classified']}, unchanged "
              f"{counts['unchanged']}, labels written {counts['labels']}, removed (items gone) {counts['removed']} "
              f"in {counts['seconds']:.1f} s")


@app.command()
def evaluate(
    input_file: Annotated[Optional[Path], typer.Argument(
        help="A CSV or XLSX file of your own labelled texts (with --text-column and --label-column): score the "
        "classifier in use against it instead of the shipped splits.", show_default=False)] = None,
    text_column: Annotated[Optional[str], typer.Option("--text-column", help="With a file: the column holding the "
                                                       "text.")] = None,
    label_column: Annotated[Optional[str], typer.Option("--label-column", help="With a file: the column holding "
                                                        "the labels, e.g. '5;16', 'SDG 5', '5.2, 16.1'.")] = None,
    vocabulary: Annotated[str, typer.Option("--vocabulary", help="With a file: what the labels are: sdg (goals "
                                            "and/or targets) or uprinfo (UPR Info issues).")] = "sdg",
    empty_is_none: Annotated[bool, typer.Option("--empty-is-none", help="With a file: an empty label cell means "
                                                "'no label' (default: the row is skipped and counted).")] = False,
    max_goals: Annotated[Optional[int], typer.Option(
        "--max-goals", min=0, max=17, help="With a file: keep at most N predicted goals per text (1 for corpora "
        "labelled with one goal per text).")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="With a file: write one row per text (gold, "
                                                     "predicted, missed, extra, evidence) to .csv or .xlsx.")] = None,
    sheet: Annotated[Optional[str], typer.Option("--sheet", help="With an XLSX file: the sheet to read (default: "
                                                 "the first visible sheet with both columns).")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds on the labelled sentences.")] = 5,
    sample: Annotated[Optional[int], typer.Option("--sample", min=10, help="Use at most N examples per source "
                                                  "(quick check; the README numbers use all).")] = None,
    split: Annotated[Optional[list[str]], typer.Option("--split", help="labelled_sentences (also runs the synthetic "
                                                       "paragraphs) | uprinfo | slovenia | uninfo (repeatable; "
                                                       "default all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Precision/recall/F1 of the classifier: on held-apart splits of the shipped data (never on its training
    data), or on a labelled file of your own."""
    if input_file is not None:
        if split or sample is not None or folds != 5:
            err.print("[red]error:[/red] --split, --sample and --folds go with the shipped splits, not with a file")
            raise typer.Exit(2)
        if not text_column or not label_column:
            err.print("[red]error:[/red] evaluating a file needs --text-column COL and --label-column COL")
            raise typer.Exit(2)
        _evaluate_file(input_file, text_column, label_column, vocabulary, empty_is_none, max_goals, out_file, as_json,
                       sheet)
        return
    if any(v is not None for v in (text_column, label_column, max_goals, out_file, sheet)) or empty_is_none:
        err.print("[red]error:[/red] --text-column, --label-column, --max-goals, --out, --sheet and --empty-is-none "
                  "go with a labelled FILE (upr-align evaluate FILE …)")
        raise typer.Exit(2)
    from matcher.evaluation import evaluate as run_evaluation
    from matcher.evaluation import format_report

    kwargs = {"folds": folds, "sample": sample}
    if split:
        kwargs["splits"] = tuple(split)
    with err.status("evaluating (retrains and calibrates the model per fold; about 35 CPU minutes)…"):
        report = run_evaluation(**kwargs)
    print(to_json(report) if as_json else format_report(report))


def _evaluate_file(input_file: Path, text_column: str, label_column: str, vocabulary: str, empty_is_none: bool,
                   max_goals: Optional[int], out_file: Optional[Path], as_json: bool,
                   sheet: Optional[str] = None) -> None:
    from rich.markup import escape

    from matcher.file_evaluation import VOCABULARIES, evaluate_file, format_file_report
    from matcher.tables import TableError

    if vocabulary not in VOCABULARIES:
        err.print(f"[red]error:[/red] --vocabulary must be one of {', '.join(VOCABULARIES)}")
        raise typer.Exit(2)
    if out_file is not None and out_file.suffix.lower() not in (".csv", ".xlsx"):
        err.print("[red]error:[/red] --out must end in .csv or .xlsx")
        raise typer.Exit(2)
    settings = goal_cap_settings(max_goals)
    _ensure_model()
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} texts"),
                      TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task(f"classifying {input_file.name}", total=None)
            report = evaluate_file(input_file, text_column, label_column, vocabulary=vocabulary,
                                   empty_is_none=empty_is_none, settings=settings, out=out_file, sheet=sheet,
                                   progress=lambda n: progress.advance(task, n))
    except TableError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        print(to_json(report))
        return
    out.print(escape(format_file_report(report)), highlight=False)
    if out_file is not None:
        out.print(f"{escape(str(out_file))}: one row per text (gold, predicted, missed, extra, evidence)",
                  highlight=False)
        if report.get("cells_cut"):
            err.print(f"[yellow]warning:[/yellow] {report['cells_cut']} cells longer than 32,767 characters were cut "
                      "in the XLSX file (write .csv to keep them whole)")
