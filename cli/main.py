"""The ``upr-align`` command: verbs on one Typer group; every verb takes ``--db``."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import matcher
from matcher.exports import flat, to_csv, to_json
from matcher.settings import goal_cap_settings
from matcher.queries import list_activities, list_cf_items

app = typer.Typer(help="upr-align: align development money with UPR human-rights recommendations.",
                  no_args_is_help=True, add_completion=False)
ingest_app = typer.Typer(help="Load files into the store (one transaction per file; re-running changes nothing).",
                         no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[Optional[str], typer.Option(
    "--db", help="Database URL (default: UPR_ALIGN_DATABASE_URL or sqlite:///upr-align.db).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | csv | json")]
LimitOpt = Annotated[Optional[int], typer.Option(
    "--limit", min=0, help="At most this many rows (0 = all). Default: 50 for a table, all for csv/json.")]


DEMO_DB = "upr-align-demo.db"  # what `upr-align demo` writes in the working folder


def _engine(db: Optional[str], *, must_exist: bool = False):
    """The migrated engine; ``must_exist`` for read-only verbs, which never create a database."""
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    if db:
        os.environ["UPR_ALIGN_DATABASE_URL"] = db
        matcher.get_settings.cache_clear()
    try:
        url = db or matcher.get_settings().database_url
        if must_exist and url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url.removeprefix("sqlite:///"))
            if not path.is_file() and db is None and "UPR_ALIGN_DATABASE_URL" not in os.environ \
                    and Path(DEMO_DB).is_file():
                # `upr-align demo` then `upr-align gaps …`: no store of one's own here yet, so read the demo's
                err.print(f"no store at {path}: using the demo store {DEMO_DB} (--db to choose another)")
                return _engine(f"sqlite:///{DEMO_DB}", must_exist=True)
            if not path.is_file():
                err.print(f"[red]error:[/red] no database at {path}: load data first (upr-align ingest …, or "
                          "upr-align demo) or point --db / UPR_ALIGN_DATABASE_URL at an existing one")
                raise typer.Exit(2)
        return matcher.get_engine(db)
    except matcher.SchemaError as exc:
        err.print(f"[red]error:[/red] {exc}")
    except ValidationError as exc:
        bad = "; ".join(f"UPR_ALIGN_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        err.print(f"[red]error:[/red] invalid setting: {bad}")
    except (ArgumentError, NoSuchModuleError) as exc:
        err.print(f"[red]error:[/red] '{db or matcher.get_settings().database_url}' is not a database URL "
                  f"({exc.__class__.__name__}); use sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/db")
    except OperationalError as exc:
        err.print(f"[red]error:[/red] cannot open the database: {str(exc.orig).strip().splitlines()[0]}")
    raise typer.Exit(2)


# --------------------------------------------------------------------------- ingest
def _ingest(kind: str, files: list[Path], db: Optional[str], fmt: Optional[str], as_json: bool,
            options: dict) -> None:
    engine = _engine(db)
    summaries = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        for path in files:
            task = progress.add_task(f"{path.name}", total=None)
            summary = matcher.import_file(engine, path, kind=kind, fmt=fmt, options=options,
                                          progress=lambda n, t=task: progress.advance(t, n))
            progress.remove_task(task)
            summaries.append(summary)
            if not as_json:
                _print_summary(summary)
    if as_json:
        print(to_json([s.as_dict() for s in summaries]))
    if any(not s.ok for s in summaries):
        raise typer.Exit(1)


def _print_summary(s: matcher.ImportSummary) -> None:
    if not s.ok:
        err.print(f"[red]FAILED[/red] {s.error}\n  nothing from this file was written.")
        return
    out.print(f"[green]{s.file}[/green] ({s.source_type}): read {s.read}, inserted {s.inserted}, "
              f"updated {s.updated}, unchanged {s.unchanged}, skipped {s.skipped}, problems {s.problems_total}")
    items = s.inserted + s.updated + s.unchanged
    if items != s.read - s.skipped:
        why = ("rows naming the same item are merged" if items < s.read - s.skipped
               else "a row can hold several items")
        why += {"uninfo-api": " (a sub-output is listed once per agency)",
                "uninfo-jwp": " (a JWP row names its sub-output with its output, outcome, priority and plan)"
                }.get(s.source_type, "")
        out.print(f"  {s.read - s.skipped} rows/entries used make {items} stored items: {why}",
                  markup=False, highlight=False)
    for p in s.problems[:10]:
        where = f"row {p['row']}" if p["row"] is not None else "file"
        fld = f" [{p['field']}]" if p["field"] else ""
        out.print(f"  {p['severity']}: {where}{fld}: {p['message']}", markup=False, highlight=False)
    if s.problems_total > 10:
        out.print(f"  … {s.problems_total - 10} more problems (use --json to see all)")


FilesArg = Annotated[list[Path], typer.Argument(help="Files to load.", show_default=False)]


@ingest_app.command("upr")
def ingest_upr(
    files: FilesArg,
    fmt: Annotated[Optional[str], typer.Option("--format", help="Force the format: uprinfo | ohchr-docx | uhri | csv.")] = None,
    state: Annotated[Optional[str], typer.Option("--state", help="State under review for files without such a column.")] = None,
    encoding: Annotated[Optional[str], typer.Option("--encoding", help="Force the CSV text encoding (e.g. mac_roman).")] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """UPR recommendations: UPR Info exports, OHCHR thematic lists (DOCX), UHRI exports (XLSX), generic CSV/XLSX."""
    _ingest("upr", files, db, fmt, as_json, {k: v for k, v in {"state": state, "encoding": encoding}.items() if v})


@ingest_app.command("cf")
def ingest_cf(files: FilesArg, fmt: Annotated[Optional[str], typer.Option("--format")] = None,
              as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Cooperation Framework plans: UN INFO Joint Work Plan exports (XLSX/CSV) and UN INFO API country trees (JSON)."""
    _ingest("cf", files, db, fmt, as_json, {})


@ingest_app.command("iati")
def ingest_iati(files: FilesArg, as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Donor activities published as IATI activity XML 2.01-2.03."""
    _ingest("iati", files, db, None, as_json, {})


@ingest_app.command("donor")
def ingest_donor(
    files: FilesArg,
    mapping: Annotated[Optional[list[str]], typer.Option("--map", help="Header mapping COLUMN=FIELD (repeatable).")] = None,
    defaults: Annotated[Optional[list[str]], typer.Option("--set", help="Value for a field the file lacks, FIELD=VALUE "
                                                          "(e.g. currency=EUR, reporting_org=XM-DAC-3-1; repeatable).")] = None,
    decimal: Annotated[Optional[str], typer.Option("--decimal", help="Decimal separator of ambiguous amounts: '.' or ','.")] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Donor portfolio spreadsheets (CSV/XLSX) in the documented template, or mapped with --map."""
    options: dict = {}
    if mapping:
        options["map"] = _pairs(mapping, "--map", "COLUMN=FIELD", split_last=True)
    if defaults:
        options["defaults"] = _pairs(defaults, "--set", "FIELD=VALUE")
    if decimal:
        options["decimal"] = decimal
    # the only reader of this family: a file with other headers is recognised through --map
    _ingest("donor", files, db, "donor", as_json, options)


def _pairs(items: list[str], flag: str, shape: str, split_last: bool = False) -> dict[str, str]:
    pairs = {}
    for item in items:
        if "=" not in item:
            err.print(f"[red]error:[/red] {flag} '{item}' must look like {shape}")
            raise typer.Exit(2)
        key, value = item.rsplit("=", 1) if split_last else item.split("=", 1)
        pairs[key.strip()] = value.strip()
    return pairs


# --------------------------------------------------------------------------- read side
@app.command()
def stats(as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Counts of everything in the store; money summed per source, kind and currency (never across currencies)."""
    engine = _engine(db, must_exist=True)
    from sqlmodel import Session

    with Session(engine) as session:
        st = matcher.stats(session)
    if as_json:
        print(to_json(st))
        return
    r = st["recommendations"]
    out.print(f"recommendations: {r['total']}  " + ", ".join(f"{k} {v}" for k, v in sorted(r["by_response"].items())))
    out.print(f"  states under review: {len(r['by_state'])}")
    out.print(f"cooperation framework items: {st['cf_items']['total']}")
    out.print(f"donor activities: {st['activities']['total']}")
    if st["money"]:
        t = Table("source", "kind", "currency", "amount", "facts", title="money as reported (original currency)")
        for m in st["money"]:
            t.add_row(m["source_type"], m["kind"], m["currency"] or "(none)", f"{m['amount']:,.2f}", str(m["facts"]))
        out.print(t)


def _emit(rows: list[dict], count: int, columns: list[str], fmt: str) -> None:
    if fmt == "json":
        print(to_json({"data": rows, "count": count}))
    elif fmt == "csv":
        sys.stdout.write(to_csv(rows, columns))
    elif fmt == "table":
        out.print(number_table(columns, [[_short(flat(row.get(c))) for c in columns] for row in rows],
                               title=f"{len(rows)} of {count}"), crop=False)
    else:
        err.print(f"[red]error:[/red] --format must be table, csv or json, not '{fmt}'")
        raise typer.Exit(2)


_NUMBER = re.compile(r"^-?[\d,]*\.?\d*%?$")


def number_table(columns: list[str], cells: list[list[str]], title: Optional[str] = None) -> Table:
    """A rich table whose number columns are never cut ("1,2…") on a narrow terminal: they keep their width and
    the text columns wrap instead; print it with ``crop=False`` so that a table still too wide wraps rather than
    losing its last columns."""
    t = Table(title=title)
    for k, name in enumerate(columns):
        values = [row[k] for row in cells if row[k]]
        if values and all(_NUMBER.match(v) for v in values):
            t.add_column(name, justify="right", overflow="fold", min_width=max(len(v) for v in values))
        else:
            t.add_column(name, overflow="fold", min_width=min(12, max([len(v) for v in values] + [len(name)])))
    for row in cells:
        t.add_row(*row)
    return t


def _short(value, width: int = 90) -> str:
    s = "" if value is None else str(value)
    return s if len(s) <= width else s[: width - 1] + "…"


def _limit(limit: Optional[int], fmt: str) -> Optional[int]:
    """Rows to fetch: exports (csv/json) are complete unless a limit is given; tables show 50."""
    if limit is None:
        return 50 if fmt == "table" else None
    return limit or None


def _query(fn, db, **filters):
    from sqlmodel import Session

    with Session(_engine(db, must_exist=True)) as session:
        try:
            return fn(session, **filters)
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None


@app.command()
def recommendations(
    country: Annotated[Optional[str], typer.Option("--country", help="ISO3 code or name of the state under review.")] = None,
    response: Annotated[Optional[str], typer.Option("--response", help="accepted | noted | partially_accepted | pending | voluntary_pledge")] = None,
    theme: Annotated[Optional[str], typer.Option("--theme", help="Theme id or label, e.g. women-s-rights or \"Women's rights\".")] = None,
    q: Annotated[Optional[str], typer.Option("--q", help="Words the text contains.")] = None,
    fmt: FormatOpt = "table",
    limit: LimitOpt = None,
    db: DbOpt = None,
) -> None:
    """List recommendations with their response, themes and recommending states."""
    rows, count = _query(matcher.list_recommendations, db, country=country, response=response, theme=theme, q=q,
                         limit=_limit(limit, fmt))
    for r in rows:
        r["recommending"] = [s["iso3"] or s["name"] for s in r["recommending_states"]]
        r["theme_ids"] = [t["id"] for t in r["themes"]]
        r["sdg_codes"] = [s["code"] for s in r["sdgs"]]
    cols = ["id", "state_under_review", "session", "response", "action_category", "recommending", "theme_ids", "text"]
    if fmt != "table":
        cols = ["id", "state_under_review", "state_under_review_name", "cycle", "session", "document_symbol",
                "paragraph", "response", "response_raw", "action_category", "action_category_origin", "recommending",
                "theme_ids", "sdg_codes", "affected_persons", "text", "source_type", "source_file", "source_row"]
    _emit(rows, count, cols, fmt)


@app.command("cf-items")
def cf_items(
    country: Annotated[Optional[str], typer.Option("--country")] = None,
    sdg: Annotated[Optional[str], typer.Option("--sdg", help="SDG goal (5) or target (5.2) declared on the item.")] = None,
    level: Annotated[Optional[str], typer.Option("--level", help="outcome | output | sub_output …")] = None,
    q: Annotated[Optional[str], typer.Option("--q")] = None,
    fmt: FormatOpt = "table",
    limit: LimitOpt = None,
    db: DbOpt = None,
) -> None:
    """List Cooperation Framework items."""
    rows, count = _query(list_cf_items, db, country=country, sdg=sdg, level=level, q=q, limit=_limit(limit, fmt))
    _emit(rows, count, ["id", "level", "code", "country", "country_group", "countries", "sdgs", "title"], fmt)


@app.command()
def activities(
    country: Annotated[Optional[str], typer.Option("--country")] = None,
    sdg: Annotated[Optional[str], typer.Option("--sdg")] = None,
    sector: Annotated[Optional[str], typer.Option("--sector", help="DAC sector code, e.g. 15170.")] = None,
    q: Annotated[Optional[str], typer.Option("--q")] = None,
    fmt: FormatOpt = "table",
    limit: LimitOpt = None,
    db: DbOpt = None,
) -> None:
    """List donor activities."""
    rows, count = _query(list_activities, db, country=country, sdg=sdg, sector=sector, q=q, limit=_limit(limit, fmt))
    _emit(rows, count, ["id", "iati_identifier", "reporting_org_name", "countries", "sdgs", "is_child", "title"], fmt)


@app.command("db")
def db_status(
    upgrade: Annotated[bool, typer.Option("--upgrade", help="Upgrade an older database to this version's schema.")] = False,
    db: DbOpt = None,
) -> None:
    """Show (or upgrade) the database schema version."""
    from matcher.store import head_revision, make_engine, migrate

    url = db or matcher.get_settings().database_url
    if not upgrade and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        err.print(f"[red]error:[/red] no database at {url.removeprefix('sqlite:///')}")
        raise typer.Exit(2)
    engine = make_engine(db)
    try:
        if upgrade:
            out.print(f"schema: {migrate(engine)} (head {head_revision()})")
        else:
            from alembic.runtime.migration import MigrationContext

            with engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
            out.print(f"database: {engine.url.render_as_string(hide_password=True)}\n"
                      f"schema revision: {current or '(empty database)'}; this upr-align: {head_revision()}")
    except matcher.SchemaError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


@app.command()
def demo(
    db: Annotated[str, typer.Option("--db", help="Database URL for the demo (a fresh SQLite file by default).")]
    = "sqlite:///upr-align-demo.db",
    keep: Annotated[bool, typer.Option("--keep", help="Keep an existing demo database instead of starting afresh.")] = False,
    report_file: Annotated[Path, typer.Option("--report", help="Where to write the country report.")]
    = Path("upr-align-report-KEN.xlsx"),
) -> None:
    """The main job on bundled real data (Kenya): ingest, classify, match, print the gap summary, write the report."""
    import demo as demo_data

    from .alignment import demo_job

    if db.startswith("sqlite:///") and not keep:
        Path(db.removeprefix("sqlite:///")).unlink(missing_ok=True)
    out.print("[bold]upr-align demo[/bold]: real data for Kenya, bundled in demo/data (sources and licences in "
              "demo/README.md). The sources are of different years — recommendations of the 2010 review, the "
              "Cooperation Framework 2022-2026 (UN INFO), donor activities reported by mid-2021 (IATI) — so this shows "
              "how the pieces fit, not Kenya's current alignment.")
    failed = False
    engine = _engine(db)
    for kind, path, what in demo_data.files():
        out.print(f"- {what}")
        summary = matcher.import_file(engine, path, kind=kind)
        _print_summary(summary)
        failed |= not summary.ok
    if failed:
        raise typer.Exit(1)
    demo_job(engine, db, report_file)


# --------------------------------------------------------------------------- classify (#4)
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


def _demo_goals(engine) -> None:
    """Classify the demo store and show which SDG goals the accepted recommendations speak to."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from matcher.classification_store import classify_store
    from matcher.models import Classification, Recommendation
    from matcher.taxonomy import goal_short

    with err.status("classifying (first use trains and calibrates the text model from shipped data, ~45 s)…"):
        counts = classify_store(engine)
    out.print(f"classified {counts['classified']} items (SDG goals, targets and UPR Info themes, with evidence)")
    with Session(engine) as session:
        rows = session.execute(
            select(Classification.code, func.count(func.distinct(Classification.item_id)))
            .join(Recommendation, Recommendation.id == Classification.item_id)
            .where(Classification.item_type == "recommendation", Classification.vocabulary == "sdg_goal",
                   Recommendation.response == "accepted")
            .group_by(Classification.code).order_by(func.count(func.distinct(Classification.item_id)).desc()).limit(5)
        ).all()
    if rows:
        out.print("accepted recommendations by SDG goal (predicted; top 5): "
                  + "; ".join(f"SDG {code} {goal_short(code) or ''}: {n}" for code, n in rows))


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


from . import alignment, server  # noqa: E402,F401  (register match, links, review, gaps, funding, report, serve, keys)

if __name__ == "__main__":  # pragma: no cover
    app()
