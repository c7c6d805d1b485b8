"""The ``Summary`` sheet of the country report: what data, coverage, money, and charts over its own tables.

Each chart reads a small table written on the same sheet (column A onwards), so a reader sees the numbers
behind every bar and the charts survive any spreadsheet program.  No cell holds a formula: every figure is
computed here from the materialised tables (``coverage``, ``rec_dimension``, ``funding_cell``, ``link``).
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlmodel import Session

from . import coverage, funding
from .countries import country_name
from .exports import as_text, xlsx_cell
from .models import Activity, CFItem, FundingCell, ImportBatch, ItemCountry, Link, MoneyFact, Recommendation
from .report import MONEY_FORMAT, SOURCES, code_label, responses

COVERED = (("cf", "Cooperation Framework only"), ("donor", "donors only"), ("both", "both"),
           ("none", "nothing (gap)"))
CF_COLUMNS = [f"cf_{k}" for k in funding.CF_KINDS] + ["cf_funding_gap"]
DONOR_COLUMNS = [f"donor_{k}" for k in ("budget", "commitment", "disbursement", "expenditure")]
CHART_COLUMN = "I"  # charts sit right of the tables they read (columns A-G)


def write_summary(ws, session: Session, country: str) -> int:
    """Fill the Summary sheet; returns the number of charts drawn."""
    from openpyxl.styles import Font

    ws.title = "Summary"
    for col, width in zip("ABCDEFGH", (46, 15, 15, 15, 15, 18, 15, 3)):
        ws.column_dimensions[col].width = width
    accepted = coverage.summary(session, country, "accepted")
    noted = coverage.summary(session, country, "noted")
    lines = [f"upr-align country report: {country_name(country)} ({country})",
             f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from the store as last matched "
             "(upr-align match). Method, settings, licences: sheet 'Sources and method'.",
             "Counts are recommendations (UPR Info lists a text once per recommending state); 'distinct texts' "
             "counts the same text in this country once.",
             "Money: attributed = link-score-weighted shares (they add up); touching = each linked item in full."]
    if not accepted["recommendations"] + noted["recommendations"]:
        lines.append(f"No matched recommendations for {country}: run `upr-align match` first (or check the country).")
    for line in lines:
        ws.append([xlsx_cell(ws, line)])
    ws["A1"].font = Font(bold=True, size=14)
    s = _Sections(ws, ws.max_row + 2)
    s.table("Data in this report (files with items of this country)",
            ["file", "source type", "items of this country", "item kind", "period covered", "money years"],
            [[r["file"], r["source_type"], r["items"], r["item_kind"], r["period"], r["money_years"]]
             for r in sources(session, country)])
    cov = [[label, accepted["coverage"][k]["recommendations"], noted["coverage"][k]["recommendations"],
            accepted["coverage"][k]["clusters"], noted["coverage"][k]["clusters"]] for k, label in COVERED]
    cov.append(["total", accepted["recommendations"], noted["recommendations"], accepted["clusters"], noted["clusters"]])
    notes = [f"Covered by at least one link: accepted {_pct(accepted['covered_share'])} "
             f"({accepted['recommendations'] - accepted['coverage']['none']['recommendations']} of "
             f"{accepted['recommendations']}), noted {_pct(noted['covered_share'])}."]
    others = [r for r in responses(session, country) if r not in ("accepted", "noted")]
    if others:
        notes.append("Not in this table: " + ", ".join(
            f"{r} {coverage.summary(session, country, r)['recommendations']}" for r in others) + " (see gap sheets).")
    s.table("Coverage: recommendations linked to the Cooperation Framework (CF), donors, both, or nothing",
            ["covered by", "accepted recommendations", "noted recommendations", "accepted distinct texts",
             "noted distinct texts"], cov, chart=("Recommendations by coverage", 2, 3, "recommendations", False)
            if cov[-1][1] + cov[-1][2] else None,
            chart_rows=len(COVERED), notes=notes)
    s.table("Links (rejected links never count)", ["source", "links (auto or confirmed)", "confirmed by a reviewer",
                                                   "rejected", "items linked", "recommendations linked"],
            _link_counts(session, country))
    themes = [[code_label("theme", r["code"]), r["uncovered"], r["uncovered_clusters"], r["recommendations"]]
              for r in coverage.gaps(session, country, "theme", "accepted") if r["uncovered"]][:15]
    s.table("Uncovered accepted recommendations by theme (top 15)",
            ["theme", "uncovered accepted recommendations", "uncovered distinct texts",
             "accepted recommendations with the theme"], themes,
            chart=("Uncovered accepted recommendations by theme (top 15)", 2, 2, "recommendations", True))
    cf, donor = _money_by_goal(session, country)
    s.table("Cooperation Framework money attributed to recommendations by SDG goal, USD (ECB rate at each fact's "
            "date; all responses)", ["SDG goal", "CF required", "CF available", "CF expenditure",
                                     "CF funding gap (required - available)"], cf, money_from=1,
            chart=("Cooperation Framework money attributed by SDG goal (USD)", 2, 4, "USD", True),
            empty="(none: no money of Cooperation Framework items reaches these recommendations)")
    s.table("Donor money attributed to recommendations by SDG goal, USD (ECB rate at each fact's date; all responses)",
            ["SDG goal", "donor budget", "donor commitment", "donor disbursement", "donor expenditure",
             "money facts without a USD rate"], donor, money_from=1,
            chart=("Donor money attributed by SDG goal (USD)", 2, 5, "USD", True),
            empty="(none: no money of donor activities reaches these recommendations)")
    s.table("All money linked to this country's recommendations, attributed, in the currency reported "
            "(never added across currencies)", ["source", "kind", "currency", "amount attributed",
                                                "USD attributed (facts with a rate)", "money facts without a USD rate"],
            _money_totals(session, country), money_from=3)
    return s.charts


class _Sections:
    """Titled tables stacked down the sheet, each with an optional bar chart beside it, never overlapping."""

    def __init__(self, ws, row: int):
        self.ws, self.row, self.charts = ws, row, 0

    def table(self, title: str, header: list[str], rows: list[list], *, money_from: int | None = None,
              chart: tuple | None = None, chart_rows: int | None = None, notes: list[str] = (), empty: str = "(none)") -> None:
        from openpyxl.styles import Alignment, Font

        ws, top = self.ws, self.row
        as_text(ws.cell(row=top, column=1, value=title)).font = Font(bold=True)
        for k, h in enumerate(header, start=1):
            cell = as_text(ws.cell(row=top + 1, column=k, value=h))
            cell.font, cell.alignment = Font(bold=True), Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[top + 1].height = 45  # three lines of a wrapped header
        for i, values in enumerate(rows, start=top + 2):
            for k, v in enumerate(values, start=1):
                cell = as_text(ws.cell(row=i, column=k, value=float(v) if isinstance(v, Decimal) else v))
                if money_from is not None and k > money_from and isinstance(cell.value, float):
                    cell.number_format = MONEY_FORMAT
        end = top + 1 + len(rows)
        if not rows:
            end += 1
            as_text(ws.cell(row=end, column=1, value=empty))
        for k, note in enumerate(notes, start=end + 1):
            as_text(ws.cell(row=k, column=1, value=note))
        self.row = end + len(notes) + 3
        if chart and rows:
            title, first, last, unit, horizontal = chart
            n = chart_rows or len(rows)
            c = _bar(ws, title, top + 1, top + 1 + n, first, last, unit, horizontal)
            ws.add_chart(c, f"{CHART_COLUMN}{top}")
            self.charts += 1
            self.row = max(self.row, top + int(c.height / 0.5) + 2)  # a row is about 0.5 cm high


def _bar(ws, title: str, head: int, last: int, first_col: int, last_col: int, unit: str, horizontal: bool = False):
    """A clustered bar chart of columns ``first_col..last_col`` (series named by the header) over column A."""
    from openpyxl.chart import BarChart, Reference

    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    chart.grouping = "clustered"
    chart.title = title
    chart.y_axis.title = unit
    chart.x_axis.delete = chart.y_axis.delete = False  # openpyxl hides axes by default in newer programs
    chart.add_data(Reference(ws, min_col=first_col, max_col=last_col, min_row=head, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=last))
    series, n = last_col - first_col + 1, last - head
    chart.width = 18
    chart.height = min(max(8.0, 3 + n * (0.3 + 0.2 * series)), 22) if horizontal else 9
    chart.y_axis.number_format = "#,##0"
    if horizontal:
        chart.x_axis.scaling.orientation = "maxMin"  # first row of the table on top, as in the table
    return chart


def _pct(share) -> str:
    return "-" if share is None else f"{share:.1%}"


def _link_counts(session: Session, country: str) -> list[list]:
    rows = []
    for item_type, source in SOURCES.items():
        base = and_(Link.country == country, Link.item_type == item_type)
        by_status = dict(session.execute(select(Link.status, func.count()).where(base).group_by(Link.status)).all())
        live = and_(base, Link.status != "rejected")
        items, recs = session.execute(select(func.count(func.distinct(Link.item_id)),
                                             func.count(func.distinct(Link.recommendation_id))).where(live)).one()
        rows.append([source, by_status.get("auto", 0) + by_status.get("confirmed", 0), by_status.get("confirmed", 0),
                     by_status.get("rejected", 0), items, recs])
    return rows


def _month(d) -> str:
    return f"{d:%Y-%m}" if d else "?"


def _goal_order(code: str):
    return (0, int(code)) if code.isdigit() else (1, 0)


def _money_by_goal(session: Session, country: str) -> tuple[list[list], list[list]]:
    """CF rows (goal, required, available, expenditure, gap) and donor rows (goal, kinds..., facts without a
    USD rate): attributed money in USD by SDG goal, goals in numeric order."""
    rows = funding.funding(session, country, by="goal", measure="attributed", usd=True, per_year=False)
    rows.sort(key=lambda r: _goal_order(r["code"]))
    label = {r["code"]: f"{r['code']} {code_label('goal', r['code'])}" if r["code"].isdigit()
             else code_label("goal", r["code"]) for r in rows}
    cf = [[label[r["code"]]] + [r.get(c, Decimal(0)) for c in CF_COLUMNS] for r in rows
          if any(c in r for c in CF_COLUMNS)]
    donor = [[label[r["code"]]] + [r.get(c, Decimal(0)) for c in DONOR_COLUMNS] + [r["facts_without_usd"]]
             for r in rows if any(c in r for c in DONOR_COLUMNS)]
    return cf, donor


def _money_totals(session: Session, country: str) -> list[list]:
    """Per source, kind and reported currency: money attributed (dimension ``all``), and its USD conversion."""
    stmt = (select(FundingCell.item_type, FundingCell.kind, FundingCell.currency, func.sum(FundingCell.attributed),
                   func.sum(FundingCell.attributed_usd), func.sum(FundingCell.facts_without_usd))
            .where(FundingCell.country == country, FundingCell.dimension == "all", FundingCell.response == "all")
            .group_by(FundingCell.item_type, FundingCell.kind, FundingCell.currency)
            .order_by(FundingCell.item_type.desc(), FundingCell.kind, FundingCell.currency))
    return [[SOURCES.get(t), kind, currency or "(none)", amount, usd, without]
            for t, kind, currency, amount, usd, without in session.execute(stmt)]


def sources(session: Session, country: str) -> list[list]:
    """One row per import batch holding items of ``country``: file, counts and the periods its data cover."""
    per: dict[int, dict] = {}
    for batch, n, s0, s1 in session.execute(
            select(Recommendation.batch_id, func.count(), func.min(Recommendation.session), func.max(Recommendation.session))
            .where(Recommendation.state_under_review == country).group_by(Recommendation.batch_id)):
        per.setdefault(batch, {})["recs"] = n
        per[batch]["sessions"] = f"{s0}" if s0 == s1 else f"{s0}-{s1}" if s0 is not None else ""
    for model, item_type, key in ((CFItem, "cf_item", "cf"), (Activity, "activity", "activities")):
        on = and_(ItemCountry.item_type == item_type, ItemCountry.item_id == model.id)
        for batch, n, d0, d1 in session.execute(
                select(model.batch_id, func.count(func.distinct(model.id)), func.min(model.start_date),
                       func.max(model.end_date)).join(ItemCountry, on).where(ItemCountry.iso3 == country)
                .group_by(model.batch_id)):
            per.setdefault(batch, {})[key] = n
            per[batch]["dates"] = f"{_month(d0)} to {_month(d1)}" if d0 or d1 else ""
        # money facts carry no batch of their own: their item's batch says which file they came from
        money = and_(MoneyFact.item_type == item_type, MoneyFact.item_id == model.id, MoneyFact.counted.is_(True))
        for batch, y0, y1, p0, p1 in session.execute(
                select(model.batch_id, func.min(MoneyFact.year), func.max(MoneyFact.year),
                       func.min(MoneyFact.period_start), func.max(MoneyFact.period_end))
                .join(ItemCountry, on).join(MoneyFact, money).where(ItemCountry.iso3 == country)
                .group_by(model.batch_id)):
            years = [y for y in (y0, y1, p0.year if p0 else None, p1.year if p1 else None) if y]
            if years:
                per[batch]["money"] = f"{min(years)}" if min(years) == max(years) else f"{min(years)}-{max(years)}"
    batches = {b.id: b for b in session.execute(select(ImportBatch).where(ImportBatch.id.in_(
        [b for b in per if b is not None]))).scalars()}
    rows = []
    for batch_id, info in sorted(per.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        b = batches.get(batch_id)
        kind, n = next(((k, info[key]) for key, k in (("recs", "recommendations"), ("cf", "CF items"),
                                                       ("activities", "donor activities")) if info.get(key)), ("", 0))
        rows.append({"file": b.file_name if b else "(unknown import)", "source_type": b.source_type if b else "?",
                     "items": n, "item_kind": kind, "sha256": b.sha256 if b else "",
                     "imported": f"{b.finished_at or b.started_at:%Y-%m-%d %H:%M}" if b else "",
                     "period": f"UPR session {info['sessions']}" if info.get("sessions") else info.get("dates", ""),
                     "money_years": info.get("money", "")})
    return rows
