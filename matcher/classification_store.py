"""Predicted labels in the store and in users' files (issue #4).

``classify_store`` (re)classifies every stored item whose text, declared tags or model version
changed and keeps the labels in the ``classification`` table, beside the declared tags in
``item_tag`` (never overwriting them).  ``item_labels`` and ``disagreements`` read them back for
review (``matcher.file_classification.classify_file`` annotates a user's CSV/XLSX).

The classifier itself is ``matcher.classify.classify_texts``; its version is
``matcher.model.MODEL_VERSION``.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Optional

from sqlalchemy import delete, exists, func, select, tuple_
from sqlalchemy.engine import Engine
from sqlmodel import Session

from .bulk import insert_params, write_params
from .labels import Result
from .models import Activity, CFItem, Classification, ItemTag, Recommendation
from .taxonomy import goal_of

ITEM_TYPES = ("recommendation", "cf_item", "activity")
# declared tags handed to the classifier (it may confirm or contradict them; they stay in item_tag)
DECLARED_VOCABULARIES = ("sdg_goal", "sdg_target", "uprinfo", "uhri")
NONE_VOCABULARY = "none"  # the row that says "classified, nothing found"
Progress = Callable[[int, int], None]  # (items done so far, items in total)


def _models():
    return {"recommendation": Recommendation, "cf_item": CFItem, "activity": Activity}


def _session_factory(session_factory_or_engine) -> Callable[[], Session]:
    if isinstance(session_factory_or_engine, Engine):
        return lambda: Session(session_factory_or_engine)
    return session_factory_or_engine


def item_text(title: Optional[str], description: Optional[str] = None) -> str:
    """The text classified for an item: title and description on two lines (one when they repeat)."""
    title = (title or "").strip()
    description = (description or "").strip()
    if not description or description == title:
        return title
    return f"{title}\n{description}" if title else description


def current_model_version() -> str:
    """The version of the classifier's model now in use (``matcher.model``)."""
    from . import model

    version = getattr(model, "MODEL_VERSION", None)
    return version if isinstance(version, str) else model.model_version()


# classify_* settings that change how fast labels come, never which: not part of an item's hash
NOT_RESULT_SETTINGS = frozenset({"classify_workers"})


def settings_key() -> str:
    """The classifier's settings (UPR_ALIGN_CLASSIFY_* thresholds and weights) and rules version as text: changing
    one reclassifies."""
    from .settings import get_settings

    from .classify import RULES_VERSION

    values = get_settings().model_dump()
    key = {k: v for k, v in sorted(values.items()) if k.startswith("classify") and k not in NOT_RESULT_SETTINGS}
    key["rules_version"] = RULES_VERSION  # a change of the decision rules reclassifies too, without retraining
    return json.dumps(key, default=str)


def text_hash(text: str, declared: Iterable[tuple[str, str]] = (), settings: str = "") -> str:
    """sha256 of what a classification depends on besides the model: the text, the declared tags and
    the classifier settings (``settings_key()``; "" when not given)."""
    h = hashlib.sha256(settings.encode("utf-8") + b"\x1d" + text.encode("utf-8"))
    for vocabulary, code in sorted(set(declared)):
        h.update(f"\x1f{vocabulary}\x1e{code}".encode("utf-8"))
    return h.hexdigest()


def _text_rows(session: Session, item_type: str, after: str, limit: int,
               ids: Optional[list[str]] = None) -> list[tuple[str, str]]:
    """(id, text) of the next ``limit`` items after id ``after`` (keyset paging: memory stays flat), or of ``ids``."""
    model = _models()[item_type]
    cols = [model.id, model.text] if item_type == "recommendation" else [model.id, model.title, model.description]
    where = model.id.in_(ids) if ids is not None else model.id > after
    rows = session.execute(select(*cols).where(where).order_by(model.id).limit(limit)).all()
    if item_type == "recommendation":
        return [(r[0], r[1] or "") for r in rows]
    return [(r[0], item_text(r[1], r[2])) for r in rows]


def _declared(session: Session, item_type: str, ids: list[str],
              vocabularies: Iterable[str] = DECLARED_VOCABULARIES) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    rows = session.execute(
        select(ItemTag.item_id, ItemTag.vocabulary, ItemTag.code)
        .where(ItemTag.item_type == item_type, ItemTag.item_id.in_(ids), ItemTag.vocabulary.in_(list(vocabularies)))
    ).all()
    for item_id, vocabulary, code in rows:
        if (vocabulary, code) not in out[item_id]:
            out[item_id].append((vocabulary, code))
    for tags in out.values():
        tags.sort()
    return out


def evidence_dict(e) -> dict:
    # not dataclasses.asdict: its recursive deep copy was a fifth of the storage time on 34k recommendations
    return {"method": e.method, "score": e.score, "detail": e.detail}


def _label_rows(item_type: str, item_id: str, result: Result, digest: str, now: datetime) -> list[dict]:
    common = {"item_type": item_type, "item_id": item_id, "model_version": result.model_version,
              "text_hash": digest, "created_at": now}
    rows = []
    for lab in result.labels:
        methods = ",".join(dict.fromkeys(e.method for e in lab.evidence))[:200]
        rows.append({**common, "vocabulary": lab.vocabulary, "code": lab.code, "score": float(lab.score),
                     "methods": methods, "evidence": [evidence_dict(e) for e in lab.evidence]})
    if not rows:
        rows.append({**common, "vocabulary": NONE_VOCABULARY, "code": "", "score": 0.0, "methods": "",
                     "evidence": [], "model_version": result.model_version})
    return rows


def classify_store(session_factory_or_engine, *, item_types: Iterable[str] = ITEM_TYPES, full: bool = False,
                   progress: Optional[Progress] = None, batch_size: int = 512, workers: Optional[int] = None,
                   ids: Optional[dict[str, Iterable[str]]] = None) -> dict:
    """(Re)classify stored items whose text or declared tags changed, or whose model version differs.

    Items are read in keyset pages of ``batch_size`` (memory stays flat) and each page is written in
    its own transaction, in page order, so an interrupted run keeps what it finished.  Pages are
    classified by ``workers`` forked processes (default ``settings.classify_workers``) while this
    process reads the next pages and writes the finished ones; the labels are the same whatever the
    number of workers.  ``full`` reclassifies everything; ``ids`` ({item type: ids}) looks at those
    items only (the linker passes the items that changed).  A pass over every item also removes the labels
    of items that left the store.  Returns ``{"considered", "classified", "unchanged", "removed", "labels", "seconds"}``.
    """
    from .classify import classify_texts
    from .parallel import ordered_map
    from .settings import get_settings

    version = current_model_version()
    settings = settings_key()
    item_types = tuple(item_types)
    unknown = [t for t in item_types if t not in ITEM_TYPES]
    if unknown:
        raise ValueError(f"unknown item type(s) {', '.join(unknown)}; use {', '.join(ITEM_TYPES)}")
    workers = workers or get_settings().classify_workers
    factory = _session_factory(session_factory_or_engine)
    start = time.perf_counter()
    counts = {"considered": 0, "classified": 0, "unchanged": 0, "removed": 0, "labels": 0}
    models = _models()
    if ids is not None:
        ids = {t: sorted(set(ids.get(t, ()))) for t in item_types}
        total = sum(len(v) for v in ids.values())
    else:
        with factory() as session:
            total = sum(session.execute(select(func.count()).select_from(models[t])).scalar_one() for t in item_types)
    if progress:
        progress(0, total)
    if workers > 1:
        classify_texts(["load the model and lexicon before forking, so that workers share them"])
    engine = session_factory_or_engine if isinstance(session_factory_or_engine, Engine) else None
    with factory() as session:
        url = session.get_bind().url.render_as_string(hide_password=False)
    for item_type in item_types:
        pages = _pages(factory, item_type, batch_size, full, version, settings, None if ids is None else ids[item_type],
                       url)
        done = ordered_map(_classify_page, pages, workers=workers, light=lambda page: not page[2],
                           initializer=_forget_connections(engine))
        labels_of: dict[str, int] = {}  # item classified in this run -> its labels (for its copies' count)
        with factory() as session:  # none stored yet (a cold rebuild): no page has old labels to delete
            had_labels = session.execute(select(Classification.id).where(Classification.item_type == item_type)
                                         .limit(1)).first() is not None
        for item_type_, considered, todo, params, labels, copies in done:
            counts["considered"] += considered
            counts["unchanged"] += considered - len(todo) - len(copies)
            if todo or copies:
                with factory() as session:
                    if had_labels:
                        session.execute(delete(Classification).where(
                            Classification.item_type == item_type_,
                            Classification.item_id.in_(todo + [new for new, _ in copies])))
                    write_params(session, Classification, params)
                    _copy_labels(session, item_type_, copies)
                    session.commit()
                labels_of.update(zip(todo, labels))
                counts["classified"] += len(todo) + len(copies)
                counts["labels"] += sum(labels) + sum(labels_of[source] for _, source in copies)
            if progress:
                progress(counts["considered"], total)
        if ids is None:  # (the product never deletes items: orphans come from outside, a whole pass finds them)
            counts["removed"] += _remove_orphans(factory, item_type)
    counts["seconds"] = round(time.perf_counter() - start, 3)
    return counts


def _pages(factory: Callable[[], Session], item_type: str, batch_size: int, full: bool, version: str,
           settings: str, only: Optional[list[str]], url: str) -> Iterator[tuple]:
    """(item type, items read, to-do [(id, text, declared tags, hash)], batch size, store URL, copies) per keyset
    page (or per ``batch_size`` of the sorted ids ``only``).

    An item whose text and declared tags (its hash) were already sent to the classifier in this run is not
    sent again: it is one of the page's ``copies`` [(item id, id of the item classified)], whose labels are
    copied (UPR Info repeats a text once per recommending state; copied plans and activities repeat theirs).
    """
    after, chunks = "", None if only is None else iter(range(0, len(only), batch_size))
    first: dict[str, str] = {}  # hash -> the item of this run classified for it
    while True:
        with factory() as session:
            if chunks is None:
                page = _text_rows(session, item_type, after, batch_size)
                if not page:
                    return
                after = page[-1][0]
            else:
                k = next(chunks, None)
                if k is None:
                    return
                page = _text_rows(session, item_type, "", batch_size, only[k:k + batch_size])
            ids = [item_id for item_id, _ in page]
            declared = _declared(session, item_type, ids)
            stored: dict[str, set] = defaultdict(set)
            for item_id, digest, stored_version in () if full else session.execute(
                select(Classification.item_id, Classification.text_hash, Classification.model_version)
                .where(Classification.item_type == item_type, Classification.item_id.in_(ids)).distinct()
            ):
                stored[item_id].add((digest, stored_version))
        todo, copies = [], []
        for item_id, text in page:
            digest = text_hash(text, declared.get(item_id, ()), settings)
            if full or stored.get(item_id) != {(digest, version)}:
                source = first.setdefault(digest, item_id)
                if source == item_id:
                    todo.append((item_id, text, declared.get(item_id, []), digest))
                else:
                    copies.append((item_id, source))
        yield item_type, len(page), todo, batch_size, url, copies


def _classify_page(page: tuple) -> tuple[str, int, list[str], list[tuple], list[int], list[tuple[str, str]]]:
    """Classify one page's to-do items (in a worker process).

    Returns (item type, items read, ids, INSERT parameters of the label rows, labels found per id, copies):
    the rows leave the worker ready to write (evidence already JSON), which keeps the parent's share small.
    """
    from .classify import classify_texts

    item_type, considered, todo, batch_size, url, copies = page
    if not todo:
        return item_type, considered, [], [], [], copies
    results = classify_texts([t[1] for t in todo], declared=[t[2] for t in todo], batch_size=batch_size)
    now = datetime.now(timezone.utc)
    rows, labels = [], []
    for (item_id, _, _, digest), result in zip(todo, results, strict=True):
        mine = _label_rows(item_type, item_id, result, digest, now)
        rows += mine
        labels.append(sum(1 for r in mine if r["vocabulary"] != NONE_VOCABULARY))
    return (item_type, considered, [t[0] for t in todo], insert_params(_dialect(url), Classification, rows)[1],
            labels, copies)


_COPY_COLUMNS = ("vocabulary", "code", "score", "methods", "evidence", "model_version", "text_hash", "created_at")


def _copy_labels(session: Session, item_type: str, copies: list[tuple[str, str]]) -> None:
    """Give each (item, source) of ``copies`` the stored labels of its source (same text and declared tags).

    One INSERT ... SELECT per 400 pairs, from a VALUES list of them (columns ``column1``... on SQLite and
    PostgreSQL alike).  On SQLite, CROSS JOIN and INDEXED BY make it loop over the pairs and use
    ``ix_classification_item``: left to itself it built a temporary index over the whole table per
    statement.  Each copy's rows are written in its source's order, on every backend.
    """
    if not copies:
        return
    conn = session.connection()
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cols = ", ".join(quote(c) for c in _COPY_COLUMNS)
    src = ", ".join(f"c.{quote(c)}" for c in _COPY_COLUMNS)
    hint = " INDEXED BY ix_classification_item" if conn.dialect.name == "sqlite" else ""
    for start in range(0, len(copies), 400):  # SQLite's default limit: 999 parameters per statement
        part = copies[start:start + 400]
        values = ", ".join(f"({mark}, {mark}, {mark})" for _ in part)
        conn.exec_driver_sql(
            f"INSERT INTO classification (item_type, item_id, {cols}) "
            f"SELECT c.item_type, m.column2, {src} FROM (VALUES {values}) AS m CROSS JOIN classification c{hint} "
            f"WHERE c.item_type = m.column3 AND c.item_id = m.column1 ORDER BY m.column2, c.id",
            tuple(v for new, source in part for v in (source, new, item_type)))


@lru_cache(maxsize=4)
def _dialect(url: str):
    """The dialect of the store at ``url`` (an engine that never connects): the bind processors the parent's
    own engine would apply, JSON serializer included."""
    from .store import make_engine

    return make_engine(url).dialect


def _forget_connections(engine: Optional[Engine]) -> Optional[Callable[[], None]]:
    """Worker initializer: drop the pooled connections inherited from the parent without closing them
    (closing would end the parent's PostgreSQL sessions); workers never touch the database."""
    if engine is None:
        return None
    return lambda: engine.dispose(close=False)


def _remove_orphans(factory: Callable[[], Session], item_type: str) -> int:
    """Delete labels of items no longer in the store; the number of items they belonged to."""
    model = _models()[item_type]
    gone = (Classification.item_type == item_type) & ~exists().where(model.id == Classification.item_id)
    with factory() as session:
        n = session.execute(select(func.count(func.distinct(Classification.item_id))).where(gone)).scalar_one()
        if n:
            session.execute(delete(Classification).where(gone))
            session.commit()
    return n


# --------------------------------------------------------------------------- reading labels back
def item_labels(session: Session, item_type: str, item_id: str) -> dict:
    """Declared tags and predicted labels of one item, side by side.

    ``predicted`` is ordered by vocabulary and falling score, each with ``methods`` and ``evidence``;
    ``classified`` is False when the item was never classified (``predicted`` then is empty).
    """
    declared = session.execute(
        select(ItemTag.vocabulary, ItemTag.code, ItemTag.label, ItemTag.route)
        .where(ItemTag.item_type == item_type, ItemTag.item_id == item_id)
        .order_by(ItemTag.vocabulary, ItemTag.code)
    ).all()
    rows = session.execute(
        select(Classification).where(Classification.item_type == item_type, Classification.item_id == item_id)
        .order_by(Classification.vocabulary, Classification.score.desc(), Classification.code)
    ).scalars().all()
    return {
        "item_type": item_type,
        "item_id": item_id,
        "declared": [{"vocabulary": v, "code": c, "label": lab, "route": r} for v, c, lab, r in declared],
        "predicted": [{"vocabulary": r.vocabulary, "code": r.code, "score": r.score,
                       "methods": r.methods.split(",") if r.methods else [], "evidence": r.evidence or []}
                      for r in rows if r.vocabulary != NONE_VOCABULARY],
        "classified": bool(rows),
        "model_version": rows[0].model_version if rows else None,
    }


INDEPENDENT = ("lexicon", "model", "crosswalk")  # evidence from the text (or another vocabulary), not from the tag itself


def _independent(rows: list[tuple[str, str, str, list]]) -> dict[str, set[str]]:
    """Predicted codes per vocabulary that do not rest on the declared tag alone.

    A label counts when one of its evidence kinds is lexicon, model or crosswalk; an ``implied`` goal
    counts when the target implying it does.  (The classifier also returns declared tags as labels with
    ``declared`` evidence, and goals implied by them: comparing those with the declared tags says nothing.)
    """
    out: dict[str, set[str]] = defaultdict(set)
    implied: list[tuple[str, str, list]] = []
    for vocabulary, code, methods, evidence in rows:
        kinds = set(methods.split(",")) if methods else set()
        if kinds & set(INDEPENDENT):
            out[vocabulary].add(code)
        elif "implied" in kinds:
            implied.append((vocabulary, code, evidence or []))
    for vocabulary, code, evidence in implied:
        if any(e.get("method") == "implied" and e.get("detail", {}).get("target") in out["sdg_target"]
               for e in evidence):
            out[vocabulary].add(code)
    return out


def _declared_codes(tags: list[tuple[str, str]], vocabulary: str) -> set[str]:
    if vocabulary == "sdg_goal":  # a declared target declares its goal too
        return {g for v, c in tags if v in ("sdg_goal", "sdg_target") and (g := goal_of(c))}
    return {c for v, c in tags if v == vocabulary}


def iter_disagreements(session: Session, *, vocabulary: str = "sdg_goal", item_type: Optional[str] = None,
                       page: int = 1000) -> Iterator[dict]:
    """Classified items with declared ``vocabulary`` codes whose predicted codes differ, from the stored labels.

    Right for themes (a declared theme carries model evidence only when the model alone would give it); for
    goals the stored label of a declared goal may carry model evidence too weak to give the goal alone, so it
    counts as predicted: ``matcher.goal_shares.goal_disagreements`` (``upr-align disagreements``) classifies the
    texts again without their tags instead.

    For ``sdg_goal`` the declared goals include the goals of declared targets; predicted codes are those
    resting on the text, not on the declared tag itself (see ``_independent``).  Yields
    ``{"item_type", "item_id", "declared", "predicted", "only_declared", "only_predicted"}``
    (sorted code lists), paging through the store so memory stays flat.
    """
    source_vocabs = ("sdg_goal", "sdg_target") if vocabulary == "sdg_goal" else (vocabulary,)
    key = tuple_(ItemTag.item_type, ItemTag.item_id)
    after: Optional[tuple[str, str]] = None
    while True:
        stmt = select(ItemTag.item_type, ItemTag.item_id).where(ItemTag.vocabulary.in_(source_vocabs))
        if item_type:
            stmt = stmt.where(ItemTag.item_type == item_type)
        if after:
            stmt = stmt.where(key > tuple_(*after))
        items = session.execute(stmt.distinct().order_by(ItemTag.item_type, ItemTag.item_id).limit(page)).all()
        if not items:
            return
        after = tuple(items[-1])
        by_type: dict[str, list[str]] = defaultdict(list)
        for t, i in items:
            by_type[t].append(i)
        for t, ids in by_type.items():
            declared = _declared(session, t, ids, source_vocabs)
            stored: dict[str, list] = defaultdict(list)
            for item_id, *row in session.execute(
                select(Classification.item_id, Classification.vocabulary, Classification.code,
                       Classification.methods, Classification.evidence)
                .where(Classification.item_type == t, Classification.item_id.in_(ids),
                       Classification.vocabulary.in_((vocabulary, "sdg_target", NONE_VOCABULARY)))
            ):
                stored[item_id].append(row)
            for item_id in ids:
                if item_id not in stored:
                    continue  # never classified
                dec = _declared_codes(declared.get(item_id, []), vocabulary)
                pred = _independent(stored[item_id]).get(vocabulary, set())
                if dec and dec != pred:
                    yield {"item_type": t, "item_id": item_id, "declared": sorted_codes(dec), "predicted": sorted_codes(pred),
                           "only_declared": sorted_codes(dec - pred), "only_predicted": sorted_codes(pred - dec)}


def disagreements(session: Session, *, vocabulary: str = "sdg_goal", item_type: Optional[str] = None,
                  limit: Optional[int] = 100) -> list[dict]:
    """The first ``limit`` (None = all) items where declared and predicted codes differ (see iter_disagreements)."""
    out = []
    for d in iter_disagreements(session, vocabulary=vocabulary, item_type=item_type):
        out.append(d)
        if limit is not None and len(out) >= limit:
            break
    return out


# --------------------------------------------------------------------------- users' files
def code_key(code: str) -> tuple:
    """Numeric order for SDG codes ("5.2" < "5.10" < "5.a" < "16.1"); other codes alphabetically."""
    parts = code.split(".")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def sorted_codes(codes: Iterable[str]) -> list[str]:
    return sorted(codes, key=code_key)
