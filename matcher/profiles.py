"""What the linker knows of each item: countries with shares, weighted labels and text (issue #5).

A *profile* is read from the store, never from the files: the item's countries (``item_country``; a
recommendation's state under review), its SDG targets, goals and UPR Info themes (the classifier's
rows in ``classification``, which repeat the declared tags with method ``declared``; declared
``item_tag`` rows for items that were never classified) and its text.

Label weights, in [0, 1]: a declared label weighs ``link_weight_declared``; a predicted one its
classifier score times ``link_weight_predicted`` -- declared tags count more than predictions.  A
label of weight 0 is no label.

Profiles are column-wise (``Profiles``: one row per item, labels and places as long tables) so that
blocking and scoring work on whole arrays: the linker never loops over pairs in Python.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from .arrays import distinct
from .classification_store import item_text
from .models import Activity, CFItem, Classification, ItemCountry, ItemTag, Recommendation
from .settings import Settings

LINKABLE_CF_LEVELS = ("outcome", "output", "sub_output")  # the levels that carry text of their own
VOCABULARIES = {"sdg_target": "targets", "sdg_goal": "goals", "uprinfo": "themes"}
CHUNK = 5000  # ids per IN (...) list
LABEL_COLUMNS = ["row", "vocabulary", "code", "weight", "origin"]
PLACE_COLUMNS = ["row", "iso3", "share"]


@dataclass
class Profiles:
    """Items as the linker sees them, one row per item (ordered by item type, then id).

    ``labels``: one row per (item row, vocabulary, code) with ``weight`` > 0 and ``origin``
    ("declared" | "predicted" | "both"); ``places``: (item row, iso3, share in [0, 1]) -- a
    recommendation's state under review with share 1.  ``response``/``action_category`` are set for
    recommendations only.
    """

    item_type: np.ndarray
    item_id: np.ndarray
    text: list[str]
    places: pd.DataFrame
    labels: pd.DataFrame
    response: Optional[np.ndarray] = None
    action_category: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.item_id)

    @classmethod
    def empty(cls) -> "Profiles":
        return cls(np.array([], dtype=object), np.array([], dtype=object), [],
                   pd.DataFrame(columns=PLACE_COLUMNS), pd.DataFrame(columns=LABEL_COLUMNS))

    @classmethod
    def concat(cls, parts: Iterable["Profiles"]) -> "Profiles":
        """One set of the parts' rows, in order (recommendation-only columns are dropped)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        shift = lambda df, k: df.assign(row=df["row"].to_numpy() + k)  # noqa: E731
        return cls(np.concatenate([p.item_type for p in parts]), np.concatenate([p.item_id for p in parts]),
                   [t for p in parts for t in p.text],
                   pd.concat([shift(p.places, k) for p, k in zip(parts, offsets)], ignore_index=True),
                   pd.concat([shift(p.labels, k) for p, k in zip(parts, offsets)], ignore_index=True))

    def take(self, rows: np.ndarray) -> "Profiles":
        """The profiles of ``rows`` (sorted, unique), renumbered from 0."""
        rows = np.asarray(rows, dtype=np.int64)
        new = np.full(len(self), -1, dtype=np.int64)
        new[rows] = np.arange(len(rows))

        def sub(df: pd.DataFrame) -> pd.DataFrame:
            mapped = new[df["row"].to_numpy(dtype=np.int64)]
            return df[mapped >= 0].assign(row=mapped[mapped >= 0]).reset_index(drop=True)
        pick = lambda a: a[rows] if a is not None else None  # noqa: E731
        return Profiles(self.item_type[rows], self.item_id[rows], [self.text[r] for r in rows], sub(self.places),
                        sub(self.labels), pick(self.response), pick(self.action_category))

    def label_dicts(self, rows: Iterable[int]) -> dict[int, dict[str, dict[str, tuple[float, str]]]]:
        """Per row of ``rows``: {vocabulary: {code: (weight, origin)}} -- for explanations of kept links."""
        wanted = distinct(np.fromiter(rows, dtype=np.int64))
        lab = self.labels[np.isin(self.labels["row"].to_numpy(dtype=np.int64), wanted)]
        out: dict[int, dict] = defaultdict(lambda: defaultdict(dict))
        for r, vocabulary, code, weight, origin in lab[LABEL_COLUMNS].itertuples(index=False, name=None):
            out[int(r)][vocabulary][code] = (float(weight), origin)
        return out


def country_shares(rows: Iterable[tuple[Optional[str], Optional[float]]]) -> dict[str, float]:
    """ISO3 -> share in [0, 1] from (iso3, share_pct) rows.

    Percentages are used as given (IATI recipient-country percentages; the rest of the item may go to
    regions, so shares can sum to less than 1).  Countries without a percentage share equally what the
    given percentages leave (a multi-country office's members, a portfolio row with two countries).
    The shares never sum to more than 1: over-full percentages are scaled down.
    """
    given: dict[str, float] = {}
    missing: list[str] = []
    for iso3, pct in rows:
        if not iso3:
            continue
        if pct is None:
            if iso3 not in given and iso3 not in missing:
                missing.append(iso3)
        else:
            given[iso3] = given.get(iso3, 0.0) + max(float(pct), 0.0) / 100.0
    total = sum(given.values())
    if total > 1.0:
        given = {k: v / total for k, v in given.items()}
        total = 1.0
    if missing:
        rest = (1.0 - total) if given else 1.0
        for iso3 in missing:
            if iso3 not in given:
                given[iso3] = rest / len(missing)
    return given


def fetch(session: Session, stmt) -> list[tuple]:
    """Rows of a Core ``stmt`` of plain columns (text, numbers) as tuples, straight from the driver.

    Skips SQLAlchemy's per-row result processing (a third of the time on 600,000 label rows); only for
    columns whose driver values are already what the caller wants (no dates, decimals or JSON).
    """
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positional:
        params = tuple(params[k] for k in compiled.positiontup)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(compiled.string, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _where_ids(session: Session, stmt, id_col, ids: Optional[list[str]]) -> list[tuple]:
    """``stmt`` for every row (ids None) or in chunks of ids."""
    if ids is None:
        return fetch(session, stmt)
    out: list[tuple] = []
    for start in range(0, len(ids), CHUNK):
        out += fetch(session, stmt.where(id_col.in_(ids[start:start + CHUNK])))
    return out


def load_profiles(session: Session, item_type: str, settings: Settings,
                  ids: Optional[Iterable[str]] = None, countries: Optional[Iterable[str]] = None) -> Profiles:
    """Profiles of every item of ``item_type`` (or of ``ids``; or of items reaching ``countries``)."""
    base = sorted(_base_rows(session, item_type, ids, countries))
    if not base:
        return Profiles.empty()
    index = {row[0]: k for k, row in enumerate(base)}
    item_id = np.array([r[0] for r in base], dtype=object)
    whole = ids is None and countries is None
    subset = None if whole else list(index)
    if item_type == "recommendation":
        places = pd.DataFrame([(k, r[4], 1.0) for k, r in enumerate(base) if r[4]], columns=PLACE_COLUMNS)
        extra = {"response": np.array([r[2] for r in base], dtype=object),
                 "action_category": np.array([r[3] for r in base], dtype=object)}
    else:
        by_item: dict[int, list] = defaultdict(list)
        for i, iso3, pct in _where_ids(session, select(ItemCountry.item_id, ItemCountry.iso3, ItemCountry.share_pct)
                                       .where(ItemCountry.item_type == item_type).order_by(ItemCountry.id),
                                       ItemCountry.item_id, subset):
            k = index.get(i)
            if k is not None:
                by_item[k].append((iso3, pct))
        places = pd.DataFrame([(k, c, sh) for k, rows in sorted(by_item.items())
                               for c, sh in country_shares(rows).items()], columns=PLACE_COLUMNS)
        extra = {}
    labels = _labels(session, item_type, index, settings, subset)
    return Profiles(np.full(len(base), item_type, dtype=object), item_id, [r[1] for r in base], places, labels,
                    **extra)


def _base_rows(session: Session, item_type: str, ids, countries) -> list[tuple]:
    """(id, text, response, action category, state) per item; the last three only for recommendations."""
    if item_type == "recommendation":
        stmt = select(Recommendation.id, Recommendation.text, Recommendation.response, Recommendation.action_category,
                      Recommendation.state_under_review)
        if countries is not None:
            stmt = stmt.where(Recommendation.state_under_review.in_(list(countries)))
        return _where_ids(session, stmt, Recommendation.id, None if ids is None else list(ids))
    model = CFItem if item_type == "cf_item" else Activity
    stmt = select(model.id, model.title, model.description)
    if item_type == "cf_item":
        stmt = stmt.where(CFItem.level.in_(LINKABLE_CF_LEVELS))
    if countries is not None:
        reach = select(ItemCountry.item_id).where(ItemCountry.item_type == item_type,
                                                  ItemCountry.iso3.in_(list(countries)))
        stmt = stmt.where(model.id.in_(reach))
    rows = _where_ids(session, stmt, model.id, None if ids is None else list(ids))
    return [(i, item_text(t, d), None, None, None) for i, t, d in rows]


def _labels(session: Session, item_type: str, index: dict[str, int], s: Settings,
            subset: Optional[list[str]]) -> pd.DataFrame:
    """The label table of the profiled items: classifier rows, else (never classified) declared item tags."""
    stmt = (select(Classification.item_id, Classification.vocabulary, Classification.code, Classification.score,
                   Classification.methods).where(Classification.item_type == item_type))
    cls = pd.DataFrame(_where_ids(session, stmt, Classification.item_id, subset),
                       columns=["item_id", "vocabulary", "code", "score", "methods"])
    cls["row"] = cls["item_id"].map(index)
    cls = cls[cls["row"].notna()]
    classified = set(cls["item_id"])  # any row counts, "none" included: the classifier has seen the item
    cls = cls[cls["vocabulary"].isin(list(VOCABULARIES))]
    methods = pd.Categorical(cls["methods"].fillna(""))
    kinds = [set(m.split(",")) - {""} for m in methods.categories]
    declared = np.array([("declared" in k) for k in kinds], dtype=bool)[methods.codes] if len(cls) else np.zeros(0, bool)
    predicted = np.array([bool(k - {"declared"}) for k in kinds], dtype=bool)[methods.codes] if len(cls) else np.zeros(0, bool)
    cls = cls.assign(weight=np.where(declared, s.link_weight_declared,
                                     cls["score"].to_numpy(dtype=float) * s.link_weight_predicted),
                     origin=np.where(declared & predicted, "both", np.where(declared, "declared", "predicted")))
    # items never classified still link on what their source declared (a declared target declares its goal)
    stmt = (select(ItemTag.item_id, ItemTag.vocabulary, ItemTag.code)
            .where(ItemTag.item_type == item_type, ItemTag.vocabulary.in_(list(VOCABULARIES))))
    tags = pd.DataFrame([r for r in _where_ids(session, stmt, ItemTag.item_id, subset)
                         if r[0] in index and r[0] not in classified], columns=["item_id", "vocabulary", "code"])
    goals = tags[tags["vocabulary"] == "sdg_target"].assign(
        vocabulary="sdg_goal", code=lambda d: d["code"].str.split(".").str[0])
    tags = pd.concat([tags, goals], ignore_index=True)
    tags = tags.assign(row=tags["item_id"].map(index), weight=s.link_weight_declared, origin="declared")
    lab = pd.concat([cls[LABEL_COLUMNS], tags[LABEL_COLUMNS]], ignore_index=True)
    lab["row"] = lab["row"].astype(np.int64)
    lab["weight"] = lab["weight"].astype(float)
    key = ["row", "vocabulary", "code"]
    if lab.duplicated(key).any():  # one label from several rows: the strongest weight, "both" if origins differ
        lab = lab.groupby(key, as_index=False, sort=False).agg(
            weight=("weight", "max"), origin=("origin", lambda o: o.iloc[0] if o.nunique() == 1 else "both"))
    return lab[lab["weight"] > 0].reset_index(drop=True)
