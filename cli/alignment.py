"""CLI verbs of the main job (issue #5): match, links, review, gaps, funding, report."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from matcher.exports import to_json, to_xlsx
from matcher.tables import CSV_FILE_ENCODING

from .main import DbOpt, JsonOpt, LimitOpt, _emit, _engine, _limit, _query, app, err, number_table, out

CountryOpt = Annotated[str, typer.Option("--country", help="ISO3 code or name of the state under review.")]
ByOpt = Annotated[str, typer.Option("--by", help="theme | goal | target | action")]
ResponseOpt = Annotated[str, typer.Option(
    "--response", help="accepted | noted | partially_accepted | pending | voluntary_pledge | all")]
ExportOpt = Annotated[str, typer.Option("--format", "-f", help="table | csv | json | xlsx (xlsx needs --out)")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of the screen.")]
ItemTypeOpt = Annotated[str, typer.Option("--item-type", help="recommendation | cf_item | activity")]
ItemResponseOpt = Annotated[Optional[str], typer.Option(
    "--response", help="Recommendations of this response only: accepted | noted | ... | all")]


def _check_item_type(item_type: str) -> None:
    from matcher.goal_shares import ITEM_TYPES

    if item_type not in ITEM_TYPES:
        err.print(f"[red]error:[/red] --item-type must be one of {', '.join(ITEM_TYPES)}, not '{item_type}'")
        raise typer.Exit(2)


def _iso3(country: str) -> str:
    from matcher.countries import to_iso3

    iso3 = to_iso3(country)
    if iso3 is None:
        err.print(f"[red]error:[/red] unknown country '{country}': use an ISO3 code (KEN) or a name (Kenya)")
        raise typer.Exit(2)
    return iso3


def _write(rows: list[dict], columns: list[str], fmt: str, out_file: Optional[Path], sheet: str) -> None:
    """Rows as a table on screen, or as CSV / JSON / XLSX on stdout or in --out (formula-safe)."""
    from matcher.exports import to_csv

    if fmt == "xlsx":
        if out_file is None:
            err.print("[red]error:[/red] --format xlsx needs --out FILE.xlsx")
            raise typer.Exit(2)
        to_xlsx(out_file, {sheet: (rows, columns)})
        out.print(f"wrote {len(rows)} rows to {out_file}")
        return
    if out_file is not None and fmt in ("csv", "json"):
        text = to_csv(rows, columns) if fmt == "csv" else to_json({"data": rows, "count": len(rows)})
        out_file.write_text(text, encoding=CSV_FILE_ENCODING if fmt == "csv" else "utf-8")
        out.print(f"wrote {len(rows)} rows to {out_file}")
        return
    _emit(rows, len(rows), columns, fmt)


@app.command()
def match(
    country: Annotated[Optional[str], typer.Option("--country", help="Only this country (ISO3 or name): all its "
                                                   "pairs are rescored.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Rescore every pair, not only those of new or changed items.")] = False,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Link recommendations to Cooperation Framework items and donor activities, then rebuild gaps and funding."""
    from matcher.linking import match_store

    iso3 = _iso3(country) if country else None
    engine = _engine(db, must_exist=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        tasks: dict[str, int] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task({"classify": "classifying", "match": "matching countries"}
                                                .get(step, step), total=total)
            progress.update(tasks[step], completed=done, total=total)

        summary = match_store(engine, country=iso3, full=full, progress=report)
    if as_json:
        print(to_json(summary.as_dict()))
        return
    _print_match(summary)


def _print_match(s) -> None:
    p = s.pairs
    ratio = f" ({s.all_pairs / p['total']:,.0f}x fewer than all {s.all_pairs:,} same-country pairs)" if p["total"] else ""
    out.print(f"{'full' if s.full else 'incremental'} match: {s.countries} countries, {s.recommendations} "
              f"recommendations, {s.items} item-country pairs; classified {s.classified} items first")
    out.print(f"candidate pairs: {p['total']:,}{ratio} — shared target {p['target']:,}, shared theme "
              f"{p['theme']:,}, shared goal {p['goal']:,}; scored {s.scored:,}")
    out.print(f"links: {s.links_created} new, {s.links_updated} rescored, {s.links_removed} removed, "
              f"{s.reviewed_kept} reviewed kept as decided; {s.links_total} links in the store")
    out.print(f"time: {s.seconds.get('total', 0):.1f} s (" + ", ".join(
        f"{k} {v:.1f}" for k, v in s.seconds.items() if k != "total") + ")")


@app.command()
def links(
    country: Annotated[Optional[str], typer.Option("--country")] = None,
    recommendation: Annotated[Optional[str], typer.Option("--recommendation", help="A recommendation id.")] = None,
    item_type: Annotated[Optional[str], typer.Option("--item-type", help="cf_item | activity")] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="auto | confirmed | rejected")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | csv | json")] = "table",
    limit: LimitOpt = None,
    db: DbOpt = None,
) -> None:
    """List links with their score and the explanation a reviewer checks."""
    from matcher.linking import list_links

    iso3 = _iso3(country) if country else None
    rows, count = _query(list_links, db, country=iso3, recommendation_id=recommendation, item_type=item_type,
                         status=status, limit=_limit(limit, fmt) or 10**9)
    data = [r.model_dump() for r in rows]
    cols = ["id", "country", "recommendation_id", "item_type", "item_id", "score", "status", "explanation"]
    if fmt != "table":
        cols += ["rule", "components", "reviewer", "review_reason", "reviewed_at"]
    _emit(data, count, cols, fmt)


@app.command()
def review(
    link_id: Annotated[int, typer.Argument(help="Id of the link (upr-align links shows them).")],
    confirm: Annotated[bool, typer.Option("--confirm", help="The link is right.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="The link is wrong: it never comes back.")] = False,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who decided (name or e-mail).")] = "",
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why.")] = None,
    db: DbOpt = None,
) -> None:
    """Confirm or reject a link; re-running the matcher never overrides the decision."""
    from sqlmodel import Session

    from matcher.linking import review_link

    if confirm == reject:
        err.print("[red]error:[/red] give exactly one of --confirm or --reject")
        raise typer.Exit(2)
    with Session(_engine(db, must_exist=True)) as session:
        try:
            link = review_link(session, link_id, decision="confirmed" if confirm else "rejected",
                               reviewer=reviewer, reason=reason)
        except (LookupError, ValueError) as exc:
            err.print(f"[red]error:[/red] {exc.args[0] if exc.args else exc}")
            raise typer.Exit(2) from None
        out.print(f"link {link.id} {link.status} by {link.reviewer}: {link.explanation}")


GAP_COLUMNS = ["code", "recommendations", "uncovered", "uncovered_clusters", "uncovered_share", "covered_cf",
               "covered_donor", "covered_both"]


@app.command()
def gaps(
    country: CountryOpt,
    by: ByOpt = "theme",
    response: ResponseOpt = "accepted",
    fmt: ExportOpt = "table",
    out_file: OutOpt = None,
    db: DbOpt = None,
) -> None:
    """Coverage gaps: per theme / goal / target / action, how many recommendations no programme addresses."""
    from matcher import coverage

    iso3 = _iso3(country)
    summary = _query(coverage.summary, db, country=iso3, response=response)
    rows = _query(coverage.gaps, db, country=iso3, by=by, response=response)
    if fmt == "table":
        c = summary["coverage"]
        out.print(f"{iso3}, {response} recommendations: {summary['recommendations']} ({summary['clusters']} distinct "
                  f"texts) — covered by CF only {c['cf']['recommendations']}, donors only {c['donor']['recommendations']}"
                  f", both {c['both']['recommendations']}, nothing {c['none']['recommendations']} "
                  "(counts are recommendations; a recommendation with several codes counts under each)")
        if not summary["recommendations"]:
            out.print("no matched recommendations: run `upr-align match` first (or check --country / --response)")
    if fmt == "table":
        _write(rows, GAP_COLUMNS, fmt, out_file, f"gaps by {by}")
        return
    from matcher.report import GAP_COLUMNS as FILE_COLUMNS, code_label

    # files: the same columns as GET /exports/gaps.csv|xlsx and the report's gap sheets, with readable labels
    _write([dict(r, label=code_label(by, r["code"])) for r in rows], FILE_COLUMNS, fmt, out_file, f"gaps by {by}")


@app.command("goal-shares")
def goal_shares(
    country: Annotated[Optional[str], typer.Option("--country", help="ISO3 code or name (default: every country; "
                                                   "slower: every text is classified again).")] = None,
    item_type: ItemTypeOpt = "recommendation",
    response: ItemResponseOpt = None,
    with_declared: Annotated[bool, typer.Option("--with-declared", help="Only items whose source declared goals, "
                                                "so both columns judge the same texts.")] = False,
    fmt: ExportOpt = "table",
    out_file: OutOpt = None,
    db: DbOpt = None,
) -> None:
    """Per SDG goal: how many items the source declared it for, how many the text alone gets it (and by what
    evidence), where the two agree, and each goal's share of all declared / predicted goals."""
    from matcher.goal_shares import COLUMNS
    from matcher.goal_shares import goal_shares as shares

    _check_item_type(item_type)
    if response and item_type != "recommendation":
        err.print("[red]error:[/red] --response applies to recommendations only")
        raise typer.Exit(2)
    iso3 = _iso3(country) if country else None
    with err.status("classifying the texts without their declared tags…"):
        result = _query(shares, db, item_type=item_type, country=iso3, response=response, with_declared=with_declared)
    if fmt == "table" and not result["items"]:
        out.print(f"no {item_type} items{' of ' + iso3 if iso3 else ''}{', ' + response if response else ''} in the "
                  "store: nothing to classify (load them with upr-align ingest)")
        return
    if fmt == "table":
        out.print(f"{result['items']} {item_type} items{' of ' + iso3 if iso3 else ''}"
                  f"{', ' + response if response else ''}: {result['with_declared']} with declared goals "
                  f"({result['declared_pairs']} (item, goal) pairs), {result['predicted_pairs']} predicted pairs, "
                  f"{result['without_prediction']} items with no predicted goal (model {result['model_version']})")
    if fmt == "table":  # the screen keeps the counts that matter; files carry every column
        rows = [{"goal": r["goal"], "name": r["name"], "declared": r["declared"],
                 "decl %": f"{100 * r['declared_share']:.1f}%", "predicted": r["predicted"],
                 "pred %": f"{100 * r['predicted_share']:.1f}%", "both": r["both"], "model": r["by_model"],
                 "targets": r["by_targets"], "lexicon": r["by_lexicon"]} for r in result["data"]]
        _write(rows, list(rows[0]), fmt, out_file, "goal shares")
        return
    _write(result["data"], COLUMNS, fmt, out_file, "goal shares")


@app.command()
def disagreements(
    country: CountryOpt,
    item_type: ItemTypeOpt = "recommendation",
    response: ItemResponseOpt = None,
    limit: LimitOpt = None,
    fmt: ExportOpt = "table",
    out_file: OutOpt = None,
    db: DbOpt = None,
) -> None:
    """Items whose source declared SDG goals that their text alone does not get (or gets others): declared,
    predicted, the goals only one side has, and the evidence behind each predicted goal, for review."""
    from matcher.goal_shares import DISAGREEMENT_COLUMNS, goal_disagreements

    _check_item_type(item_type)
    iso3 = _iso3(country)
    with err.status("classifying the texts without their declared tags…"):
        rows = _query(goal_disagreements, db, item_type=item_type, country=iso3, response=response)
    n = _limit(limit, fmt)
    if fmt == "table":
        out.print(f"{len(rows)} {item_type} items of {iso3} whose declared goals differ from what their text gets")
        rows = [{k: r[k] for k in ("item_id", "text", "declared", "predicted")} for r in rows[:n]]
        _write(rows, ["item_id", "text", "declared", "predicted"], fmt, out_file, "disagreements")
        return
    _write(rows[:n], DISAGREEMENT_COLUMNS, fmt, out_file, "disagreements")


@app.command()
def funding(
    country: CountryOpt,
    by: Annotated[str, typer.Option("--by", help="theme | goal | target | action | all")] = "theme",
    kind: Annotated[Optional[str], typer.Option("--kind", help="required | available | expenditure | budget | "
                                                "planned_disbursement | commitment | disbursement")] = None,
    measure: Annotated[str, typer.Option("--measure", help="attributed (weighted shares, add up across codes) | "
                                         "touching (every linked item in full, once per code)")] = "attributed",
    usd: Annotated[bool, typer.Option("--usd", help="Sum USD conversions (ECB rate at each fact's date) instead "
                                      "of keeping reported currencies apart.")] = False,
    per_year: Annotated[bool, typer.Option("--per-year/--all-years", help="One row per year (default for "
                                           "csv/json/xlsx), or years added up (default for the table).")] = None,
    response: Annotated[str, typer.Option("--response", help="Only the money aligned with recommendations of "
                                          "this response: accepted | noted | partially_accepted | pending | "
                                          "voluntary_pledge | all")] = "all",
    fmt: ExportOpt = "table",
    out_file: OutOpt = None,
    db: DbOpt = None,
) -> None:
    """Money aligned with recommendations, per theme / goal / target / action, year and currency."""
    from matcher import funding as funding_mod

    iso3 = _iso3(country)
    if per_year is None:
        per_year = fmt != "table"
    rows = _query(funding_mod.funding, db, country=iso3, by=by, kind=kind, measure=measure, usd=usd,
                  per_year=per_year, response=response)
    money = funding_mod.money_columns(rows)
    cols = ["code"] + (["year"] if per_year else []) + ["currency"] + money + (["facts_without_usd"] if usd else [])
    if fmt == "table":
        out.print(f"{iso3}: money {measure.upper()} to {'' if response == 'all' else response + ' '}"
                  f"recommendations by {by} "
                  f"({'USD at each fact’s ECB rate' if usd else 'in the currency reported; never added across currencies'})")
        if not rows:
            out.print("no aligned money: run `upr-align match` first, or this country's items have no money facts")
        # one line per code and kind of money: fits a narrow terminal (the files keep one column per kind)
        keys = [c for c in cols if c not in money]
        cells = [[str(r.get(c, "") or "") for c in keys] + [m.replace("_", " "), f"{r[m]:,.2f}"]
                 for r in rows for m in money if r.get(m) is not None]
        out.print(number_table(keys + ["money", "amount"], cells), crop=False)
        return
    _write(rows, ["country", "dimension", "measure", "response"] + cols, fmt, out_file, f"funding by {by}")


@app.command()
def report(
    country: CountryOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Workbook to write (.xlsx).")] = Path("upr-align-report.xlsx"),
    db: DbOpt = None,
) -> None:
    """A workbook a country team can forward: summary with charts, gaps, links with explanations, funding, method."""
    from sqlmodel import Session

    from matcher.report import write_report

    iso3 = _iso3(country)
    if not out_file.parent.is_dir():
        err.print(f"[red]error:[/red] cannot write {out_file}: folder {out_file.parent} does not exist")
        raise typer.Exit(2)
    with Session(_engine(db, must_exist=True)) as session:
        try:
            info = write_report(session, iso3, out_file)
        except (OSError, ValueError) as exc:
            err.print(f"[red]error:[/red] cannot write {out_file}: {exc}")
            raise typer.Exit(2) from None
    out.print(f"wrote {out_file}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    sys.stdout.flush()


def demo_job(engine, db: str, report_file: Path) -> None:
    """After the demo's ingest: match (classifying first), print the gap and money summary, write the report."""
    from sqlmodel import Session

    from matcher import coverage
    from matcher import funding as funding_mod
    from matcher.linking import match_store

    from matcher.model import cache_dir, model_cached

    if not model_cached():
        err.print(f"first run: training the classifier's text model from the shipped data (about 40 s on 2 idle "
                  f"cores; cached in {cache_dir()} for later runs) …")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("classifying and matching", total=None)
        summary = match_store(engine, progress=lambda step, d, t: progress.update(task, completed=d, total=t))
    _print_match(summary)
    with Session(engine) as session:
        for response in ("accepted", "noted"):
            s = coverage.summary(session, "KEN", response)
            c = s["coverage"]
            out.print(f"\n[bold]Kenya, {response} recommendations[/bold]: {s['recommendations']} ({s['clusters']} distinct "
                      f"texts) — covered by the Cooperation Framework only {c['cf']['recommendations']}, by donors only "
                      f"{c['donor']['recommendations']}, by both {c['both']['recommendations']}, "
                      f"by nothing {c['none']['recommendations']}")
        from matcher.report import code_label

        rows = coverage.gaps(session, "KEN", "theme", "accepted")[:8]
        t = Table("theme", "accepted", "uncovered", "CF only", "donors only", "both",
                  title="largest gaps: themes with the most uncovered accepted recommendations")
        for r in rows:
            t.add_row(code_label("theme", r["code"]), str(r["recommendations"]), str(r["uncovered"]),
                      str(r["covered_cf"]), str(r["covered_donor"]), str(r["covered_both"]))
        out.print(t)
        uncovered = coverage.uncovered(session, "KEN", "accepted")
        if uncovered:
            out.print(f"accepted recommendations no programme addresses: {len(uncovered)}, e.g.")
            seen: set = set()
            for r in uncovered:
                if r.get("cluster_id") in seen:
                    continue  # the same text from several recommending states: shown once
                seen.add(r.get("cluster_id"))
                if len(seen) > 5:
                    break
                text = " ".join((r.get("text") or "").split())
                out.print(f"  - {text[:150]}{'…' if len(text) > 150 else ''}")
            out.print("  (all of them: the report's Uncovered sheet, or upr-align serve → the country page)")
        money = funding_mod.funding(session, "KEN", by="all", usd=True, per_year=False, response="accepted")
        if money:
            m = money[0]
            out.print("money attributed to Kenya's accepted recommendations (USD at each fact's ECB rate, all years): "
                      + ", ".join(f"{k.replace('_', ' ')} {m[k]:,.0f}" for k in funding_mod.money_columns(money))
                      + (f"; {m['facts_without_usd']} facts in currencies without an ECB rate (KES, XDR, …) are "
                         "left out of these USD sums" if m.get("facts_without_usd") else ""))
        try:
            from matcher.report import write_report

            write_report(session, "KEN", report_file)
            out.print(f"\nreport: {report_file} (summary with charts, gaps, links with explanations, funding, method)")
        except ImportError:  # pragma: no cover - the report module ships with the package
            pass
    prog = _program()
    out.print(f"store: {db}\nnext: {prog} gaps --country KEN --by goal --db {db}   ·   "
              f"{prog} serve --db {db}  then open http://127.0.0.1:8000/country/KEN")


def _program() -> str:
    """How to call this command again: ``upr-align`` when it is on PATH, else the path it was started by
    (``.venv/bin/upr-align`` before the environment is activated)."""
    import shutil
    import sys

    started = sys.argv[0] if sys.argv and sys.argv[0].endswith("upr-align") else ""
    return "upr-align" if shutil.which("upr-align") or not started else started
