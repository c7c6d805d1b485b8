"""The ``Sources and method`` sheet of the country report: what every figure is, how links and money were
computed (README's own words), the settings and versions in force, and the data sources with their licences.

A flat table (section, name, value, note) so it filters like the data sheets.  The method text is README's
"Linking, coverage gaps and funding alignment" section, read from the source tree or, for an installed
package, from its metadata (README is the package's long description): one text, never a second copy.
"""
from __future__ import annotations

import importlib.metadata
import re
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from mappings import table

from .exports import write_sheet
from .models import Classification, Link, Recommendation
from .settings import Settings, get_settings

COLUMNS = ["section", "name", "value", "note"]
METHOD_HEADING = "## Linking, coverage gaps and funding alignment"
# What each sheet's figures are; README "Country report" says the same for readers of the code.
FIGURES = [
    ("Summary", "Counts are recommendations (UPR Info lists one text once per recommending state); 'distinct "
                "texts' counts recommendations with the same normalised text in this country once."),
    ("Summary", "Covered by: 'Cooperation Framework only', 'donors only', 'both' or 'nothing (gap)', from the "
                "recommendation's non-rejected links."),
    ("Gaps by theme|goal|target|action", "One row per response and code: recommendations with the code, "
     "uncovered (no link), uncovered_clusters (distinct uncovered texts), uncovered_share, covered_cf (CF links "
     "only), covered_donor (donor links only), covered_both. A recommendation with several codes counts under "
     "each; '(none)' holds those with no code. Rows of different responses must not be added."),
    ("Uncovered", "Every recommendation no non-rejected link reaches, accepted first, with its themes, SDG goals "
                  "and targets (declared and predicted)."),
    ("Links", "Every non-rejected link (auto or confirmed by a reviewer): score in [0, 1], the blocking rule that "
              "proposed it and the explanation a reviewer checks."),
    ("Funding", "Long table: one row per dimension code, source (Cooperation Framework / donor), kind, year, "
                "measure (attributed = link-score-weighted shares that add up across codes; touching = each "
                "linked item's money in the country once per code) and currency basis ('as reported' in the "
                "original currency, or 'USD at each fact's ECB rate', leaving out facts_without_usd). Filter "
                "one measure, one currency basis and one currency before adding amounts; dimension 'all' gives "
                "the country totals."),
    ("Funding", "Money is not split by response: a figure covers every linked recommendation of the country."),
]


def write_method(ws, session: Session, country: str) -> int:
    """Fill the sheet; returns the number of rows."""
    s = get_settings()
    rows = [{"section": "report", "name": "country", "value": country},
            {"section": "report", "name": "generated (UTC)", "value": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}"},
            {"section": "report", "name": "upr-align version", "value": _version()},
            {"section": "report", "name": "store", "value": s.database_url.split(":", 1)[0].split("+")[0],
             "note": "database kind only (the URL may hold credentials)"}]
    rows += [{"section": "figures", "name": sheet, "value": text} for sheet, text in FIGURES]
    rows += [{"section": "method", "name": name, "value": text} for name, text in method_paragraphs()]
    rows += [{"section": "settings", "name": f"UPR_ALIGN_{field.upper()}", "value": str(getattr(s, field)),
              "note": info.description} for field, info in Settings.model_fields.items() if field != "database_url"]
    rows += [{"section": "versions", "name": name, "value": value} for name, value in _versions(session, country)]
    rows += _source_rows(session, country)
    ws.column_dimensions["C"].width = 100
    return write_sheet(ws, rows, COLUMNS)


def _version() -> str:
    try:
        return importlib.metadata.version("upr-align")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def _readme() -> str:
    path = Path(__file__).resolve().parents[1] / "README.md"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    try:
        return importlib.metadata.metadata("upr-align").get_payload() or ""
    except importlib.metadata.PackageNotFoundError:
        return ""


def _plain(md: str) -> str:
    """Markdown inline marks removed: **bold**, *italic*, `code`, [text](url)."""
    md = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", md)
    md = re.sub(r"\*\*([^*]+)\*\*", r"\1", md)
    md = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", md)
    return md.replace("`", "")


def method_paragraphs(readme: str | None = None) -> list[tuple[str, str]]:
    """(name, plain text) of each paragraph of README's linking/gaps/funding section, up to the next heading;
    a paragraph's name is its leading bold phrase (e.g. 'Blocking'); one without continues the previous one."""
    text = _readme() if readme is None else readme
    start = text.find(METHOD_HEADING)
    if start < 0:
        return [("method", "README's method section was not found; see matcher/linking.py, coverage.py, funding.py")]
    body = text[start + len(METHOD_HEADING):]
    end = re.search(r"^#{2,3} ", body, flags=re.M)
    body = body[:end.start()] if end else body
    out, name = [], "overview"
    for para in (p.strip() for p in re.split(r"\n\s*\n", body)):
        if not para:
            continue
        lines = [line.strip() for line in para.splitlines()]
        # keep numbered rules on lines of their own; join wrapped lines with a space
        joined = lines[0] + "".join(("\n" if re.match(r"\d+\. ", line) else " ") + line for line in lines[1:])
        lead = re.match(r"\*\*([^*]+)\*\*", joined)
        name = lead.group(1) if lead else f"{name.removesuffix(' (continued)')} (continued)" if out else name
        out.append((name, _plain(joined)))
    return out


def _versions(session: Session, country: str) -> list[tuple[str, str]]:
    models = session.execute(
        select(Classification.model_version).join(Recommendation, Recommendation.id == Classification.item_id)
        .where(Classification.item_type == "recommendation", Recommendation.state_under_review == country)
        .distinct()).scalars().all()
    matchers = session.execute(select(Link.matcher_version).where(Link.country == country).distinct()).scalars().all()
    return [("classifier model (labels of this country's recommendations)", ", ".join(sorted(models)) or "none"),
            ("matcher (links of this country)", ", ".join(sorted(matchers)) or "none")]


def _source_rows(session: Session, country: str) -> list[dict]:
    """One row per file with items of the country: source type, licence or terms, and the bundled demo file's
    provenance when it is one of them."""
    from .report_summary import sources

    licences = {r["source_type"]: r for r in table("source_licences.csv")}
    demo = demo_provenance()
    rows = []
    for src in sources(session, country):
        lic = licences.get(src["source_type"], {})
        note = "; ".join(x for x in (lic.get("publisher"), lic.get("citation"), demo.get(src["file"])) if x)
        rows.append({"section": "sources", "name": src["file"], "note": note or None,
                     "value": f"{src['source_type']}, imported {src['imported']} UTC, sha256 {src['sha256']}: "
                              f"{lic.get('licence') or 'licence not recorded'}"})
    return rows


@lru_cache(maxsize=1)
def demo_provenance() -> dict[str, str]:
    """File name -> 'what; source, licence' from the table in demo/README.md (the bundled demo files)."""
    try:
        from importlib.resources import files

        text = files("demo").joinpath("README.md").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`(?:data/)?([^`]+)`", cells[0]) if len(cells) == 3 else None
        if m:
            out[m.group(1)] = _plain(f"{cells[1]}; {cells[2]}")
    return out
