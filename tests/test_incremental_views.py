"""Incremental materialisation (issue #5): after new, changed and reviewed recommendations the coverage,
dimension, gap and funding tables are exactly what a rebuild of the countries gives -- on both backends --
and the incremental re-clustering equals clustering the country from scratch (hypothesis)."""
from __future__ import annotations

from decimal import Decimal

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import Session

from matcher import clusters, coverage, funding, gap_cells, import_file
from matcher.linking import list_links, match_store, review_link
from matcher.models import Coverage, FundingCell, GapCell, RecDimension, Recommendation

WORDS = ["ratify", "the", "convention", "against", "torture", "protect", "women", "children", "abolish", "death",
         "penalty", "ensure", "access", "to", "justice"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5), min_size=1, max_size=14),
       changes=st.lists(st.tuples(st.integers(0, 40), st.lists(st.sampled_from(WORDS), min_size=1, max_size=5)),
                        max_size=6),
       similarity=st.sampled_from([60, 75, 90, 100]))
def test_reclustering_equals_clustering_from_scratch(old, changes, similarity):
    """Stored clusters, then some recommendations change text (index < len(old)) or arrive (index >= len(old)):
    merges, splits and re-keyed clusters all come out as a full clustering of the new texts."""
    texts = {f"r{k}": coverage.normalise(" ".join(w)) for k, w in enumerate(old)}
    stored = coverage.clusters_of_norms("KEN", texts, similarity)
    now = dict(texts)
    changed = {}
    for k, words in changes:
        rec_id = f"r{k}" if k < len(old) else f"n{k}"
        changed[rec_id] = now[rec_id] = coverage.normalise(" ".join(words))
    new = pd.DataFrame({"recommendation_id": list(changed), "country": "KEN", "norm_text": list(changed.values())})
    old_changed = pd.DataFrame({"recommendation_id": [i for i in changed if i in stored], "country": "KEN",
                                "cluster_id": [stored[i] for i in changed if i in stored]})
    hit = {stored[i] for i in changed if i in stored}
    existing = [(i, "KEN", stored[i], texts[i]) for i in texts if i not in changed]
    bounds = [clusters.length_bounds(len(t), similarity) for t in changed.values()]
    # what the store is asked for: the changed ones' clusters, and texts of a length that may be similar
    candidates = [r for r in existing if r[2] in hit or any(lo <= len(r[3]) <= hi for lo, hi in bounds)]
    members_of = lambda country, ids: [(i, cid, t) for i, _, cid, t in existing if cid in ids]  # noqa: E731
    new_cluster, rekeyed, old_ids = clusters.recluster(new, old_changed, candidates, members_of, similarity)
    got = {i: rekeyed.get(i, stored[i]) for i, *_ in existing} | new_cluster
    assert got == coverage.clusters_of_norms("KEN", now, similarity)
    assert not set(rekeyed) & set(changed)
    assert {stored[i] for i in rekeyed} <= old_ids


@settings(max_examples=500, deadline=None)
@given(a=st.lists(st.sampled_from(WORDS + ["a", "of", "human rights"]), min_size=1, max_size=12),
       b=st.lists(st.sampled_from(WORDS + ["a", "of", "human rights"]), min_size=1, max_size=12),
       similarity=st.integers(50, 100))
def test_length_bounds_never_skip_a_similar_text(a, b, similarity):
    from rapidfuzz import fuzz

    x, y = coverage.normalise(" ".join(a)), coverage.normalise(" ".join(b))
    if fuzz.token_sort_ratio(x, y) >= similarity:
        lo, hi = clusters.length_bounds(len(x), similarity)
        assert lo <= len(y) <= hi


def _views(session: Session) -> dict:
    """The materialised tables as comparable sets (ids of generated rows left out)."""
    q = lambda *cols: sorted(tuple(None if v is None else (round(float(v), 6) if isinstance(v, (float, Decimal))  # noqa: E731
                                                           else v) for v in r) for r in session.execute(select(*cols)))
    c = Coverage
    return {"coverage": q(c.recommendation_id, c.country, c.response, c.action_category, c.cluster_id, c.norm_text,
                          c.covered_by, c.cf_links, c.donor_links, c.best_cf_link_id, c.best_cf_score,
                          c.best_donor_link_id, c.best_donor_score),
            "rec_dimension": q(RecDimension.recommendation_id, RecDimension.country, RecDimension.dimension,
                               RecDimension.code, RecDimension.share),
            "gap_cell": q(*[GapCell.__table__.c[k] for k in gap_cells.GAP_KEY + gap_cells.GAP_COUNTS]),
            "funding_cell": q(*[col for col in FundingCell.__table__.c if col.name != "id"])}


def _rebuilt(engine) -> dict:
    with Session(engine) as session:
        countries = set(session.execute(select(Recommendation.state_under_review).distinct()).scalars()) - {None}
        coverage.materialise(session, countries)
        funding.materialise(session, countries)
        views = _views(session)
        session.rollback()
    return views


def _assert_same_as_rebuild(engine) -> None:
    with Session(engine) as session:
        incremental = _views(session)
    rebuilt = _rebuilt(engine)
    for table in incremental:
        assert incremental[table] == rebuilt[table], table


def test_incremental_views_equal_a_rebuild(kenya, tmp_path, monkeypatch):
    from matcher import settings as settings_mod

    monkeypatch.setenv("UPR_ALIGN_LINK_THRESHOLD", "0.05")  # the test slice has few items: accept weak links
    monkeypatch.setenv("UPR_ALIGN_CLUSTER_SIMILARITY", "90")
    settings_mod.get_settings.cache_clear()
    match_store(kenya)
    _assert_same_as_rebuild(kenya)
    with Session(kenya) as session:
        linked = [r for r in session.execute(select(Recommendation.text).join(
            Coverage, Coverage.recommendation_id == Recommendation.id).where(Coverage.covered_by != "none")
            .order_by(Recommendation.id)).scalars()]
    near = linked[0].rstrip(".") + " without delay."  # near-identical to a stored, linked text: joins its cluster
    rows = [("1", near, "accepted"), ("2", linked[1], "noted"),  # an exact copy, another response
            ("3", "Strengthen shelters and legal aid for women victims of domestic violence and trafficking "
                  "in persons", "accepted"),
            ("4", "Ensure that every child is registered at birth", "accepted")]

    def load(rows, name):
        f = tmp_path / name
        f.write_text("state_under_review,document_symbol,paragraph,text,response\n" + "".join(
            f'Kenya,A/HRC/TEST/1,{p},"{t}",{r}\n' for p, t, r in rows), encoding="utf-8")
        assert import_file(kenya, f, kind="upr").ok

    load(rows, "new.csv")
    s = match_store(kenya)
    assert not s.full and s.recommendations == 4 and s.links_created > 0
    _assert_same_as_rebuild(kenya)

    # the near-identical text changes to something else (its cluster splits off again), another
    # recommendation changes its response
    load([("1", "Abolish the death penalty for all crimes", "accepted"), rows[1], rows[2][:2] + ("noted",), rows[3]],
         "changed.csv")
    s = match_store(kenya)
    assert not s.full and s.recommendations == 2
    _assert_same_as_rebuild(kenya)

    with Session(kenya) as session:
        links, _ = list_links(session, limit=3)
        first, second = links[0].id, links[1].id
        review_link(session, first, decision="rejected", reviewer="tester", reason="not about this")
        review_link(session, second, decision="confirmed", reviewer="tester")
    _assert_same_as_rebuild(kenya)
    with Session(kenya) as session:
        review_link(session, first, decision="auto", reviewer="tester")
    _assert_same_as_rebuild(kenya)


def test_rows_without_normalised_text_are_rebuilt(kenya, tmp_path):
    """Coverage rows written before ``norm_text`` existed: an incremental run rebuilds their countries."""
    from sqlalchemy import update

    match_store(kenya)
    with Session(kenya) as session:
        session.execute(update(Coverage).values(norm_text=None))
        session.commit()
    new = tmp_path / "new.csv"
    new.write_text("state_under_review,text,response\nKenya,Abolish the death penalty,accepted\n", encoding="utf-8")
    assert import_file(kenya, new, kind="upr").ok
    assert not match_store(kenya).full
    with Session(kenya) as session:
        assert session.execute(select(Coverage.recommendation_id).where(Coverage.norm_text.is_(None))).first() is None
    _assert_same_as_rebuild(kenya)


def _linked_rec(engine) -> str:
    with Session(engine) as session:
        return session.execute(select(Coverage.recommendation_id).where(Coverage.covered_by != "none")
                               .order_by(Coverage.recommendation_id)).scalars().first()


def test_recommendation_moving_country_equals_rebuild(kenya, monkeypatch):
    """A linked recommendation corrected to another state (same id, new content): its automatic links in the
    old country go, as in a full run, and the views equal a rebuild."""
    from sqlalchemy import update

    from matcher import settings as settings_mod
    from matcher.models import Link

    monkeypatch.setenv("UPR_ALIGN_LINK_THRESHOLD", "0.05")
    settings_mod.get_settings.cache_clear()
    match_store(kenya)
    rec = _linked_rec(kenya)
    with Session(kenya) as session:
        session.execute(update(Recommendation).where(Recommendation.id == rec)
                        .values(state_under_review="UGA", content_hash="moved"))
        session.commit()
    assert not match_store(kenya).full
    with Session(kenya) as session:
        assert session.execute(select(Link.id).where(Link.recommendation_id == rec, Link.country == "KEN")).all() == []
        assert session.execute(select(Coverage.country).where(Coverage.recommendation_id == rec)).scalar_one() == "UGA"
    _assert_same_as_rebuild(kenya)


def test_concurrent_reviews_keep_gap_cells_exact(kenya, monkeypatch):
    """Two reviews at once (API threads): the second waits for the first (lock_materialised on PostgreSQL, the
    write lock on SQLite) and adds its difference to the committed counts, not to the ones it would have read."""
    import threading

    from sqlalchemy import func, update

    from matcher import settings as settings_mod
    from matcher.models import Link

    monkeypatch.setenv("UPR_ALIGN_LINK_THRESHOLD", "0.05")
    settings_mod.get_settings.cache_clear()
    match_store(kenya)
    with Session(kenya) as session:  # two recommendations with one link each
        one = session.execute(select(Link.recommendation_id, func.min(Link.id)).group_by(Link.recommendation_id)
                              .having(func.count() == 1).order_by(Link.recommendation_id).limit(2)).all()
    assert len(one) == 2

    def reject(session, rec, link_id):
        session.execute(update(Link).where(Link.id == link_id).values(status="rejected"))
        coverage.refresh(session, changed=(), relinked={rec})
        funding.materialise(session, {"KEN"})

    def second():
        with Session(kenya) as session:
            reject(session, *one[1])
            session.commit()

    first = Session(kenya)
    reject(first, *one[0])  # not committed yet
    t = threading.Thread(target=second)
    t.start()
    t.join(1.5)  # the second review waits
    first.commit()
    first.close()
    t.join()
    _assert_same_as_rebuild(kenya)


def test_failed_full_match_keeps_indexes(kenya, monkeypatch):
    """A full match that fails half-way leaves the store as it was, indexes included."""
    import pytest
    from sqlalchemy import text

    def indexes() -> set[str]:  # by name from the catalogue: expression indexes included
        with kenya.connect() as conn:
            if kenya.dialect.name == "sqlite":
                return set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
            return set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
                       .scalars())

    match_store(kenya)
    before = indexes()
    assert {"ix_coverage_length", "ix_rec_dimension_rec", "ux_gap_cell_key"} <= before
    real = coverage.insert_columns

    def boom(session, model, cols):
        if model.__name__ == "GapCell":
            raise RuntimeError("boom")
        return real(session, model, cols)
    monkeypatch.setattr(coverage, "insert_columns", boom)
    with pytest.raises(RuntimeError, match="boom"):
        match_store(kenya, full=True)
    monkeypatch.undo()
    kenya.dispose()
    assert indexes() == before
    _assert_same_as_rebuild(kenya)


def test_item_moving_country_loses_its_links_there(kenya, monkeypatch):
    """A linked activity whose recipient country is corrected: its automatic links in the old country go in an
    incremental run, as in a full run, and the views equal a rebuild."""
    from sqlalchemy import update

    from matcher import settings as settings_mod
    from matcher.models import Activity, ItemCountry, Link

    monkeypatch.setenv("UPR_ALIGN_LINK_THRESHOLD", "0.05")
    settings_mod.get_settings.cache_clear()
    match_store(kenya)
    with Session(kenya) as session:
        item = session.execute(select(Link.item_id).where(Link.item_type == "activity", Link.country == "KEN")
                               .order_by(Link.item_id)).scalars().first()
        session.execute(update(ItemCountry).where(ItemCountry.item_type == "activity", ItemCountry.item_id == item)
                        .values(iso3="UGA", share_pct=None))
        session.execute(update(Activity).where(Activity.id == item).values(content_hash="moved"))
        session.commit()
    s = match_store(kenya)
    assert not s.full and s.links_removed > 0
    with Session(kenya) as session:
        assert session.execute(select(Link.id).where(Link.item_id == item, Link.country == "KEN")).all() == []
    _assert_same_as_rebuild(kenya)
