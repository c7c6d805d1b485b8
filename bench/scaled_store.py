"""A store at production scale, resampled from the real data (used by ``bench/full_rebuild.py``).

The real files are ingested once, through the ordinary readers and loader, into a *template* store
(cached in the work folder).  The scaled store is then written from the template's rows with
``matcher.bulk.insert_many``, so every row has the shape real ingested data has (``item_country``
with shares, ``item_tag``, ``money_fact`` with USD conversions, recommending states, parent/child
activities); only ids and countries change:

- recommendations: every real recommendation (UPR Info sessions 1-17, an OHCHR thematic list) once, then
  uniform draws with replacement -- the per-country skew, the response mix, texts, themes and action
  categories are the real ones (so texts repeat: ~35,000 distinct texts among 100,000);
- donor activities: copies of the real IATI activities; each copy's recipient countries are redrawn with
  the weight of the country's OECD CRS disbursements in 2019 (``crs/dportal_crs_2019.csv``), percentages kept;
  a child activity goes where its parent goes;
- CF items: whole real plan trees (UN INFO JWP exports and the Kenya API tree: plan -> sub-outputs with
  their money and SDG targets) copied to CRS recipient countries, one plan per country in turn, until there
  are enough sub-outputs.
"""
from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from matcher import get_engine, import_file
from matcher.countries import country_name, to_iso3
from matcher.bulk import insert_many
from matcher.models import (Activity, CFItem, ImportBatch, ItemCountry, ItemTag, MoneyFact, Recommendation,
                            RecommendingState)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
UPR_FILES = [DATA / "upr/uprinfo/original" / n for n in ("1-5.csv", "6-9.csv", "10-13.csv", "14-17.csv")]
CF_FILES = [DATA / "uninfo" / n for n in ("jwp_export_africa_education_theme.xlsx",
                                         "jwp_export_arab_states_education_theme.csv", "api_derived_country_KEN.json")]
IATI_DIR = DATA / "iati/activities"
IATI_FILES = sorted((IATI_DIR / "by_country").glob("*.xml")) + [
    IATI_DIR / n for n in ("dportal_sample_100_mixed_publishers.xml", "nl_mfa_v203.xml", "gb_dfid_albania_v201.xml")]
# the repository's own real slices that add what the shared files lack: the demo's Kenya IATI activities,
# OHCHR thematic lists (UHRI themes, SDG goals), IATI SDG tags by every route
REPO_FILES = {"upr": [REPO / "tests/data/UPR34_Slovenia_Thematic_list_of_Recommendations.docx"],
              "iati": [REPO / "demo/data/iati_dportal_covid19_2021-06_KE.xml", REPO / "tests/data/iati_sdg_routes_v203.xml"]}
CRS = DATA / "crs"


def source_files() -> dict[str, list[Path]]:
    """The real files the template is built from, per kind (``upr``, ``cf``, ``iati``)."""
    return {"upr": UPR_FILES + REPO_FILES["upr"], "cf": CF_FILES, "iati": IATI_FILES + REPO_FILES["iati"]}


def template(workdir: Path, files: dict[str, list[Path]] | None = None) -> Engine:
    """The real files (default ``source_files()``) ingested into ``workdir/template.db`` (built once; ~1 min)."""
    path = workdir / "template.db"
    done = workdir / "template.ok"
    paths = files or source_files()
    listing = "\n".join(f"{kind} {f}" for kind, fs in paths.items() for f in fs) + "\n"
    if not done.exists() or done.read_text() != listing:
        path.unlink(missing_ok=True)
        engine = get_engine(f"sqlite:///{path}")
        for kind, fs in paths.items():
            for f in fs:
                summary = import_file(engine, f, kind=kind)
                if not summary.ok:
                    raise RuntimeError(f"template: {f} failed: {summary.error}")
        done.write_text(listing)
        return engine
    return get_engine(f"sqlite:///{path}")


def crs_weights() -> dict[str, float]:
    """ISO3 -> total OECD CRS disbursements 2019 (USD m) of each recipient country (regions left out)."""
    iso2 = {}
    with open(CRS / "dportal_crs_countries.csv", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if len(row) >= 2 and len(row[1]) == 2:
                iso2[row[0]] = row[1]
    out: dict[str, float] = {}
    with open(CRS / "dportal_crs_2019.csv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[2:]  # two header rows: donor codes, donor names
    for row in rows:
        code = iso2.get(row[0]) or None
        iso3 = to_iso3(code) if code else to_iso3(row[0])
        total = sum(float(v) for v in row[2:] if v.strip())
        if iso3 and total > 0:
            out[iso3] = out.get(iso3, 0.0) + total
    return out


def _rows(session: Session, model, *where) -> list[dict]:
    table = model.__table__
    order = list(table.primary_key.columns)
    return [dict(r) for r in session.execute(select(table).where(*where).order_by(*order)).mappings()]


def _children(session: Session, model, key: str, *where) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in _rows(session, model, *where):
        r.pop("id", None)
        out[r[key]].append(r)
    return out


def _hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class Writer:
    """Buffers rows per table and writes them with one executemany per 20,000 rows (parents first: the
    tables are flushed in the order they were first used, so foreign keys hold)."""

    def __init__(self, session: Session):
        self.session, self.buffers, self.counts = session, defaultdict(list), defaultdict(int)

    def add(self, model, row: dict) -> None:
        buf = self.buffers[model]
        buf.append(row)
        self.counts[model.__tablename__] += 1
        if len(buf) >= 20000:
            self.flush()

    def flush(self) -> None:
        for m in list(self.buffers):
            if self.buffers[m]:
                insert_many(self.session, m, self.buffers[m])
                self.buffers[m] = []


def _batch(session: Session, source_type: str, note: str) -> int:
    now = datetime.now(timezone.utc)
    ib = ImportBatch(source_type=source_type, file_name=f"bench/full_rebuild.py: {note}", sha256=_hash(note),
                     started_at=now, finished_at=now)
    session.add(ib)
    session.flush()
    return ib.id


def generate(engine: Engine, tpl: Engine, *, recommendations: int, activities: int, sub_outputs: int,
             seed: int = 5, weights: dict[str, float] | None = None) -> dict[str, int]:
    """Write the scaled dataset into the (empty, migrated) store ``engine``; returns rows per table.

    ``weights``: ISO3 -> weight of the countries donor activities and plans are moved to (default
    ``crs_weights()``).  The same seed gives the same store.
    """
    rng = np.random.default_rng(seed)
    weights = weights if weights is not None else crs_weights()
    with Session(tpl) as t, Session(engine) as s:
        w = Writer(s)
        _recommendations(t, s, w, rng, recommendations)
        _activities(t, s, w, rng, activities, weights)
        _cf_plans(t, s, w, rng, sub_outputs, weights)
        w.flush()
        s.commit()
        counts = dict(w.counts)
        counts["sub_output"] = s.execute(select(func.count()).select_from(CFItem)
                                         .where(CFItem.level == "sub_output")).scalar_one()
    return counts


def _recommendations(t: Session, s: Session, w: Writer, rng, n: int) -> None:
    recs = _rows(t, Recommendation)
    states = _children(t, RecommendingState, "recommendation_id")
    tags = _children(t, ItemTag, "item_id", ItemTag.item_type == "recommendation")
    picks = np.concatenate([np.arange(len(recs)), rng.integers(0, len(recs), max(n - len(recs), 0))])[:n]
    batch_id = _batch(s, "uprinfo", f"{n} recommendations resampled from UPR Info sessions 1-17")
    now = datetime.now(timezone.utc)
    for k, j in enumerate(picks):
        src = recs[j]
        new_id = f"rec-{_hash('bench-rec', str(k))[:24]}"
        w.add(Recommendation, {**src, "id": new_id, "content_hash": _hash(src["content_hash"], new_id),
                               "batch_id": batch_id, "updated_at": now})
        for r in states.get(src["id"], ()):
            w.add(RecommendingState, {**r, "recommendation_id": new_id})
        for r in tags.get(src["id"], ()):
            w.add(ItemTag, {**r, "item_id": new_id})


def _draw(rng, weights: dict[str, float], size: int) -> list[str]:
    """``size`` distinct countries drawn with probability proportional to ``weights``."""
    codes = sorted(weights)
    p = np.array([weights[c] for c in codes])
    return [codes[i] for i in rng.choice(len(codes), size=size, replace=False, p=p / p.sum())]


def _item_children(t: Session, item_type: str) -> tuple[dict, dict, dict]:
    return (_children(t, ItemCountry, "item_id", ItemCountry.item_type == item_type),
            _children(t, ItemTag, "item_id", ItemTag.item_type == item_type),
            _children(t, MoneyFact, "item_id", MoneyFact.item_type == item_type))


def _copy_children(w: Writer, children: tuple[dict, dict, dict], old_id: str, new_id: str, countries: dict,
                   batch_id: int) -> None:
    places, tags, money = children
    for r in places.get(old_id, ()):
        iso3 = countries.get(r["iso3"], r["iso3"])
        w.add(ItemCountry, {**r, "item_id": new_id, "iso3": iso3,
                            "name": country_name(iso3) if iso3 != r["iso3"] else r["name"]})
    for r in tags.get(old_id, ()):
        w.add(ItemTag, {**r, "item_id": new_id})
    for r in money.get(old_id, ()):
        w.add(MoneyFact, {**r, "item_id": new_id, "batch_id": batch_id})


def _activities(t: Session, s: Session, w: Writer, rng, n: int, weights: dict[str, float]) -> None:
    acts = _rows(t, Activity)
    by_id = {a["id"]: a for a in acts}
    children = _item_children(t, "activity")
    batch_id = _batch(s, "iati", f"{n} activities copied from the real IATI files, countries redrawn by CRS 2019")
    now = datetime.now(timezone.utc)
    mapping: dict[tuple[int, str], dict[str, str]] = {}
    for k in range(n):
        copy, src = divmod(k, len(acts))
        a = acts[src]
        root = a["parent_id"] if a["is_child"] and a["parent_id"] in by_id else a["id"]
        if (copy, root) not in mapping:  # a child goes where its parent goes
            real = sorted({r["iso3"] for pid in {root, a["id"]} for r in children[0].get(pid, ()) if r["iso3"]})
            mapping[(copy, root)] = dict(zip(real, _draw(rng, weights, len(real))))
        places = mapping[(copy, root)]
        extra = {r["iso3"] for r in children[0].get(a["id"], ()) if r["iso3"] and r["iso3"] not in places}
        places.update(zip(sorted(extra), _draw(rng, weights, len(extra))))
        new_id = f"{a['id']}~{copy}"
        parent = f"{a['parent_id']}~{copy}" if a["parent_id"] in by_id else a["parent_id"]
        w.add(Activity, {**a, "id": new_id, "iati_identifier": f"{a['iati_identifier']}~{copy}", "parent_id": parent,
                         "content_hash": _hash(a["content_hash"], new_id), "batch_id": batch_id, "updated_at": now})
        _copy_children(w, children, a["id"], new_id, places, batch_id)


def _cf_plans(t: Session, s: Session, w: Writer, rng, n_sub: int, weights: dict[str, float]) -> None:
    items = _rows(t, CFItem)
    kids: dict[str, list[dict]] = defaultdict(list)
    for it in items:
        kids[it["parent_id"]].append(it)
    plans = [it for it in items if it["level"] == "plan"]
    children = _item_children(t, "cf_item")
    batch_id = _batch(s, "uninfo", f"UN INFO plan trees copied to CRS recipient countries ({n_sub}+ sub-outputs)")
    now = datetime.now(timezone.utc)
    countries = list(rng.permutation(sorted(weights)))
    done, k = 0, 0
    while done < n_sub:
        iso3 = countries[k % len(countries)]
        plan = plans[int(rng.integers(len(plans)))]
        suffix = f"~{iso3}{k // len(countries) or ''}"
        others = sorted({r["iso3"] for r in children[0].get(plan["id"], ()) if r["iso3"] and r["iso3"] != plan["country"]})
        places = {plan["country"]: iso3} | dict(zip(others, _draw(rng, weights, len(others))))
        stack = [plan]
        while stack:
            it = stack.pop()
            stack.extend(kids.get(it["id"], ()))
            new_id = it["id"] + suffix
            parent = it["parent_id"] + suffix if it["parent_id"] else None
            w.add(CFItem, {**it, "id": new_id, "parent_id": parent, "country": places.get(it["country"], it["country"]),
                           "content_hash": _hash(it["content_hash"], new_id), "batch_id": batch_id, "updated_at": now})
            _copy_children(w, children, it["id"], new_id, places, batch_id)
            done += it["level"] == "sub_output"
        k += 1


def new_recommendations_csv(path: Path, n: int, *, spread: bool, seed: int = 7) -> int:
    """A UPR Info CSV of ``n`` real rows: one session's first states (``spread=False``) or drawn over all countries."""
    header, rows = None, []
    for f in UPR_FILES:
        with open(f, encoding="mac_roman", newline="") as fh:
            r = list(csv.reader(fh))
        header = r[0]
        rows += r[1:]
    if spread:
        rng = np.random.default_rng(seed)
        chosen = [rows[i] for i in rng.choice(len(rows), n, replace=False)]
    else:
        last = header.index("Session")
        session = max(int(r[last]) for r in rows if r[last].isdigit())
        chosen = [r for r in rows if r[last] == str(session)][:n]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header] + chosen)
    return len({r[0] for r in chosen})
