"""Donor activities: one canonical Activity record from what an IATI activity says, and hierarchy flags.

Readers (``ingest/iati.py``) hand over a plain dict of the activity's strings (see ``activity_record``);
every rule about what those strings mean lives here, in ``activity_tags`` (sectors, SDGs, markers)
and in ``money`` (budgets, transactions).

Hierarchy: a child activity (``related-activity`` type 1 names its parent) whose parent is in the
store is flagged ``is_child`` by ``flag_children`` after each activity file is loaded, so that the
linker and money totals never count a programme and its components twice.  A child may arrive
before its parent (in the same file or an earlier one), hence the flag is set on the store.
"""
from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, Iterable, Iterator, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from . import activity_tags as tags
from .countries import iso2_to_iso3
from .models import Activity
from .money import activity_money, parse_date
from .records import Batch, ItemRecord

ID_PREFIX = "iati:"
STATUS = {"1": "pipeline", "2": "implementation", "3": "finalisation", "4": "closed", "5": "cancelled", "6": "suspended"}
ORG_ROLES = {"1": "funding", "2": "accountable", "3": "extending", "4": "implementing"}
DATE_TYPES = {"1": "start_planned", "2": "start_actual", "3": "end_planned", "4": "end_actual",
              "start-planned": "start_planned", "start-actual": "start_actual",
              "end-planned": "end_planned", "end-actual": "end_actual"}
RELATED_TYPES = {"1": "parent", "2": "child", "3": "sibling", "4": "co_funded", "5": "third_party"}
# Publishers write 1900-01-01 and the like for "unknown"; such dates are kept but never used.
EARLIEST_REAL_DATE = date(1960, 1, 1)


def activity_id(identifier: str) -> str:
    """Stable store id of an IATI identifier: "iati:" + the identifier (inner spaces kept, runs folded).

    Identifiers too long for the id column get "iati:" + a hash of the identifier.
    """
    norm = " ".join(identifier.split())
    if len(ID_PREFIX) + len(norm) <= 200:
        return ID_PREFIX + norm
    return ID_PREFIX + "sha256:" + hashlib.sha256(norm.encode()).hexdigest()


def pick_text(narratives: list[tuple[Optional[str], str]]) -> Optional[str]:
    """The English text of a multilingual element, else the first one."""
    for lang, text in narratives:
        if (lang or "").lower().startswith("en"):
            return text
    return narratives[0][1] if narratives else None


def _narratives_json(narratives, default_lang) -> list[dict]:
    # a narrative without xml:lang is in the activity's default language
    return [{"lang": lang or default_lang, "text": text} for lang, text in narratives]


def _with_lang(narratives, default_lang):
    return [(lang or default_lang, text) for lang, text in narratives]


def _pct(raw: Optional[str], field: str, warn) -> Optional[float]:
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw.strip().rstrip("%"))
    except ValueError:
        warn(field, f"percentage '{raw}' is not a number: share left empty")
        return None
    if not 0 <= value <= 100:
        warn(field, f"percentage {value} is outside 0-100: kept as written")
    return value


def activity_record(batch: Batch, raw: dict[str, Any]) -> Optional[ItemRecord]:
    """The Activity record (with tags, countries and money facts) of one parsed IATI activity.

    Returns None (and counts a skip) when the activity has no identifier.  Problems are reported on
    ``batch`` with row = "line N (identifier)" and field = the element's path in the activity.
    """
    ident = " ".join((raw.get("identifier") or "").split())
    row_ref = _row_ref(raw, ident)
    if not ident:
        batch.skip(row_ref, "iati-identifier", "activity has no iati-identifier: skipped")
        return None

    def warn(field: str, message: str) -> None:
        batch.problem(row_ref, field, message, "warning")

    labels = raw.get(_LABELS) or _labels(raw, warn, row_ref)

    def drop(field: str, message: str) -> None:
        batch.problem(row_ref, field, message, "error")

    lang = raw.get("lang")
    titles = _with_lang(raw.get("titles") or [], lang)
    title = pick_text(titles)
    if not title:
        warn("title", "activity has no title")
    descriptions = [
        {"type": d.get("type"), **n} for d in raw.get("descriptions") or [] for n in _narratives_json(d["narratives"], lang)
    ]
    general = [d for d in raw.get("descriptions") or [] if (d.get("type") or "1") == "1"] or raw.get("descriptions") or []
    description = pick_text(_with_lang([n for d in general for n in d["narratives"]], lang))

    org = raw.get("reporting_org") or {}
    status_code = (raw.get("status") or "").strip() or None
    if status_code and status_code not in STATUS:
        warn("activity-status/@code", f"unknown activity status '{status_code}': kept as written")
    dates, start, end = _dates(raw.get("dates") or [], warn)
    hierarchy = None
    if raw.get("hierarchy"):
        try:
            hierarchy = int(raw["hierarchy"])
        except ValueError:
            warn("@hierarchy", f"hierarchy '{raw['hierarchy']}' is not a number")
    related = [{"ref": " ".join((r.get("ref") or "").split()), "type": r.get("type"),
                "relation": RELATED_TYPES.get(r.get("type") or "")} for r in raw.get("related") or [] if r.get("ref")]
    parents = [r["ref"] for r in related if r["type"] == "1" and r["ref"] != ident]
    if len(set(parents)) > 1:
        warn("related-activity", f"{len(set(parents))} parents declared; the first ({parents[0]}) is used")

    countries, regions, tag_rows = labels["countries"], labels["regions"], labels["tags"]

    default_currency = (raw.get("default_currency") or "").strip().upper() or None
    if default_currency and len(default_currency) != 3:
        warn("@default-currency", f"default-currency '{raw['default_currency']}' is not an ISO 4217 code: ignored")
        default_currency = None
    money = activity_money(
        source_type=batch.source_type, budgets=raw.get("budgets") or [], planned=raw.get("planned_disbursements") or [],
        transactions=raw.get("transactions") or [], default_currency=default_currency, warn=warn, drop=drop,
    )

    extra = {k: v for k, v in {
        "iati_version": raw.get("version"),
        "reporting_org_type": org.get("type"),
        "status_code": status_code,
        "default_lang": lang,
        "humanitarian": raw.get("humanitarian"),
        "last_updated": raw.get("last_updated"),
    }.items() if v is not None}
    row = {
        "iati_identifier": ident,
        "reporting_org_ref": (org.get("ref") or "").strip() or None,
        "reporting_org_name": pick_text(_with_lang(org.get("narratives") or [], lang)),
        "title": title or "",
        "description": description,
        "status": STATUS.get(status_code or "", status_code),
        "start_date": start,
        "end_date": end,
        "default_currency": default_currency,
        "hierarchy": hierarchy,
        "parent_id": activity_id(parents[0]) if parents else None,
        "is_child": False,  # set on the store by flag_children once the parent is known to be there
        "source_type": batch.source_type,
        "source_file": batch.file_name,
        "source_sha256": batch.sha256,
        "source_row": f"line {raw['line']}",
        "titles": _narratives_json(raw.get("titles") or [], lang),
        "descriptions": descriptions,
        "participating_orgs": [_org(o, lang) for o in raw.get("participating_orgs") or []],
        "related_activities": related,
        "recipient_regions": regions,
        "dates": dates,
        "extra": extra,
    }
    return ItemRecord(
        item_type="activity", id=activity_id(ident), row=row, source_key=ident, source_row=row_ref,
        children={"item_tag": tag_rows, "item_country": countries, "money_fact": money},
    )


_LABELS = "labels"  # key of a parsed activity under which ``label_activities`` put its countries and tags


def _row_ref(raw: dict[str, Any], ident: str) -> str:
    return f"line {raw['line']}" + (f" ({ident})" if ident else "")


def label_activities(batch: Batch, parts: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """First building step of ``activity_record``, for each parsed activity of ``parts``: its recipient
    countries, regions and tag rows (sectors, SDG tags, policy markers), stored in the dict.

    A staged reader runs this where it parses (the background reader process, which otherwise waits
    for the writing one), so both processes share the work; the values and problems are the same as
    when ``activity_record`` works them out itself.  Only the plain data of those rows is added (no
    dates or Decimals), so the parts still travel as marshal data.
    """
    for raw in parts:
        ident = " ".join((raw.get("identifier") or "").split())
        if ident:  # an activity without identifier is skipped by activity_record, with no other problem
            row_ref = _row_ref(raw, ident)

            def warn(field: str, message: str, row_ref=row_ref) -> None:
                batch.problem(row_ref, field, message, "warning")

            raw[_LABELS] = _labels(raw, warn, row_ref)
            # what only the labels needed does not have to travel
            for key in ("countries", "regions", "sectors", "tags", "indicator_refs", "policy_markers"):
                raw.pop(key, None)
        yield raw


def _labels(raw: dict[str, Any], warn, row_ref: str) -> dict[str, list[dict]]:
    countries = _countries(raw.get("countries") or [], warn, row_ref)
    regions = _regions(raw.get("regions") or [], warn)
    if not countries and not regions:
        # IATI allows countries on transactions instead of the activity
        tx_countries = [c for t in raw.get("transactions") or [] for c in t.get("countries") or []]
        countries = _countries(tx_countries, warn, row_ref, per_transaction=True)
        regions = _regions([r for t in raw.get("transactions") or [] for r in t.get("regions") or []], warn, dedupe=True)
    return {"countries": countries, "regions": regions, "tags": _tags(raw, warn)}


def _org(o: dict, lang) -> dict:
    role = (o.get("role") or "").strip()
    return {"ref": (o.get("ref") or "").strip() or None, "name": pick_text(_with_lang(o.get("narratives") or [], lang)),
            "type": o.get("type"), "role": role or None, "role_name": ORG_ROLES.get(role, role.lower() or None),
            "activity_id": o.get("activity_id")}


def _dates(raw_dates: list[dict], warn) -> tuple[list[dict], Optional[date], Optional[date]]:
    out, best = [], {}
    for d in raw_dates:
        kind = DATE_TYPES.get((d.get("type") or "").strip())
        day = parse_date(d.get("iso_date"))
        if kind is None or day is None:
            warn(d["where"], f"activity-date type '{d.get('type')}' / iso-date '{d.get('iso_date')}' not understood: left out")
            continue
        out.append({"type": d.get("type"), "kind": kind, "iso_date": day.isoformat()})
        if day < EARLIEST_REAL_DATE:
            warn(d["where"], f"{kind} {day} looks like a placeholder: kept in dates, not used as start/end")
            continue
        best.setdefault(kind, day)
    start = best.get("start_actual") or best.get("start_planned")
    end = best.get("end_actual") or best.get("end_planned")
    return out, start, end


def _countries(raw: list[dict], warn, row_ref: str, per_transaction: bool = False) -> list[dict]:
    out: dict[str, dict] = {}
    for c in raw:
        code = (c.get("code") or "").strip()
        name = tags_label(c)
        if not code:
            warn(c["where"], "recipient-country without a code: left out")
            continue
        iso3 = iso2_to_iso3(code)
        if iso3 is None:
            warn(c["where"], f"recipient-country code '{code}' is not an ISO 3166 alpha-2 code we know: kept without ISO3")
        share = None if per_transaction else _pct(c.get("percentage"), f"{c['where']}/@percentage", warn)
        if code in out:
            continue  # the same country on several transactions
        out[code] = {"iso3": iso3, "name": name or code, "group_name": None, "share_pct": share}
    return list(out.values())


def _regions(raw: list[dict], warn, dedupe: bool = False) -> list[dict]:
    out, seen = [], set()
    for r in raw:
        code = (r.get("code") or "").strip()
        if not code:
            warn(r["where"], "recipient-region without a code: left out")
            continue
        key = (code, r.get("vocabulary"))
        if dedupe and key in seen:
            continue
        seen.add(key)
        out.append({"code": code, "vocabulary": r.get("vocabulary") or "1", "name": tags_label(r),
                    "share_pct": None if dedupe else _pct(r.get("percentage"), f"{r['where']}/@percentage", warn)})
    return out


def tags_label(el: dict) -> Optional[str]:
    """The label of a coded element: its English (else first) narrative."""
    return pick_text(el.get("narratives") or [])


def _tags(raw: dict, warn) -> list[dict]:
    def prep(items, with_pct=True):
        for s in items:
            s = dict(s, label=tags_label(s))
            if with_pct:
                s["share_pct"] = _pct(s.get("percentage"), f"{s['where']}/@percentage", warn)
            yield s

    rows = tags.sector_tags(prep(raw.get("sectors") or []), route="activity", report=warn)
    rows += tags.sector_tags(prep([s for t in raw.get("transactions") or [] for s in t.get("sectors") or []], False),
                             route="transaction", report=warn)
    rows += tags.tag_tags(prep(raw.get("tags") or [], False), report=warn)
    rows += tags.indicator_tags(raw.get("indicator_refs") or [], report=warn)
    rows += tags.policy_marker_tags(prep(raw.get("policy_markers") or [], False), report=warn)
    return tags.with_implied_goals(rows)


def flag_children(session: Session) -> int:
    """Set ``is_child`` on every stored activity whose declared parent is in the store (and clear it
    where the parent is not); returns how many activities are now flagged.  Runs in the caller's
    transaction."""
    parent = aliased(Activity)
    has_parent = select(parent.id).where(parent.id == Activity.parent_id).exists()
    session.execute(
        update(Activity)
        .where(Activity.parent_id.is_not(None), Activity.parent_id != Activity.id,  # type: ignore[union-attr]
               Activity.is_child.is_(False), has_parent)  # type: ignore[attr-defined]
        .values(is_child=True)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Activity)
        .where(Activity.is_child.is_(True), ~has_parent)  # type: ignore[attr-defined]
        .values(is_child=False)
        .execution_options(synchronize_session=False)
    )
    return session.execute(select(func.count()).select_from(Activity).where(Activity.is_child.is_(True))).scalar_one()  # type: ignore[attr-defined]
