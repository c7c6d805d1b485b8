"""Predicted labels in the store: stored beside declared tags, recomputed only when text, tags or model change."""
from __future__ import annotations

from sqlalchemy import delete, func, select, text, update
from sqlmodel import Session

import matcher
from matcher.classification_store import (NONE_VOCABULARY, classify_store, current_model_version, disagreements,
                                          item_labels, item_text, settings_key, text_hash)

MODEL_VERSION = current_model_version()
from matcher.classify import classify_texts
from matcher.models import Classification, ItemTag, Recommendation, RecommendingState

from conftest import DATA

SAMPLE = DATA / "uprinfo_sample_macroman.csv"
N = 291  # recommendations in the sample


def _load(engine, *files):
    for kind, path in files or (("upr", SAMPLE),):
        summary = matcher.import_file(engine, path, kind=kind)
        assert summary.ok, summary.error


def _rows(engine, model, *order):
    with Session(engine) as s:
        return [tuple(getattr(r, c) for c in sorted(model.model_fields)) for r in
                s.execute(select(model).order_by(*order)).scalars()]


def _by_item(engine) -> dict[tuple[str, str], set]:
    out: dict = {}
    with Session(engine) as s:
        for r in s.execute(select(Classification)).scalars():
            out.setdefault((r.item_type, r.item_id), set()).add((r.id, r.vocabulary, r.code, r.text_hash))
    return out


def test_classify_all_stores_labels_with_evidence(engine):
    _load(engine)
    seen = []
    counts = classify_store(engine, progress=lambda done, total: seen.append((done, total)), batch_size=100)
    assert counts["considered"] == counts["classified"] == N and counts["unchanged"] == 0
    assert seen[0] == (0, N) and seen[-1] == (N, N) and len(seen) == 4  # 3 pages of <= 100
    with Session(engine) as s:
        rows = s.execute(select(Classification)).scalars().all()
        rec_ids = set(s.execute(select(Recommendation.id)).scalars())
    assert {r.item_id for r in rows} == rec_ids and {r.item_type for r in rows} == {"recommendation"}
    labels = [r for r in rows if r.vocabulary != NONE_VOCABULARY]
    assert counts["labels"] == len(labels) > N  # most recommendations get more than one label
    assert {"sdg_goal", "uprinfo"} <= {r.vocabulary for r in labels}
    for r in labels:
        assert 0 <= r.score <= 1 and r.model_version == MODEL_VERSION
        assert r.evidence and r.methods.split(",") == list(dict.fromkeys(e["method"] for e in r.evidence))
    # what is stored is what the classifier says for that text and those declared tags
    with Session(engine) as s:
        rec = s.execute(select(Recommendation).order_by(Recommendation.id)).scalars().first()
        declared = sorted({(t.vocabulary, t.code) for t in s.execute(select(ItemTag).where(
            ItemTag.item_id == rec.id, ItemTag.vocabulary.in_(("sdg_goal", "sdg_target", "uprinfo", "uhri")))).scalars()})
        stored = item_labels(s, "recommendation", rec.id)
    (expected,) = classify_texts([rec.text], declared=[declared])
    assert {(p["vocabulary"], p["code"]) for p in stored["predicted"]} == {(lab.vocabulary, lab.code) for lab in expected.labels}
    assert stored["classified"] and stored["model_version"] == MODEL_VERSION
    assert {(d["vocabulary"], d["code"]) for d in stored["declared"]} >= set(declared)


def test_second_run_classifies_nothing_and_declared_tags_stay(engine):
    _load(engine)
    tags_before = _rows(engine, ItemTag, ItemTag.id)
    classify_store(engine)
    first = _by_item(engine)
    counts = classify_store(engine)
    assert counts["considered"] == N and counts["classified"] == 0 and counts["unchanged"] == N
    assert _by_item(engine) == first  # not even rewritten
    assert _rows(engine, ItemTag, ItemTag.id) == tags_before  # predictions never touch declared tags
    assert classify_store(engine, full=True)["classified"] == N
    assert _rows(engine, ItemTag, ItemTag.id) == tags_before


def test_changed_text_reclassifies_exactly_that_item(engine):
    _load(engine)
    classify_store(engine)
    before = _by_item(engine)
    with Session(engine) as s:
        rec_id = s.execute(select(Recommendation.id).order_by(Recommendation.id).offset(7).limit(1)).scalar_one()
        s.execute(update(Recommendation).where(Recommendation.id == rec_id).values(
            text="Criminalize trafficking in persons, in particular women and children, and prosecute traffickers."))
        s.commit()
    counts = classify_store(engine)
    assert counts["classified"] == 1 and counts["unchanged"] == N - 1
    after = _by_item(engine)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {("recommendation", rec_id)}
    assert {h for *_, h in after[("recommendation", rec_id)]} != {h for *_, h in before[("recommendation", rec_id)]}


def test_declared_tag_or_model_version_change_reclassifies(engine):
    _load(engine)
    classify_store(engine)
    with Session(engine) as s:
        a, b = s.execute(select(Recommendation.id).order_by(Recommendation.id).limit(2)).scalars()
        s.add(ItemTag(item_type="recommendation", item_id=a, vocabulary="sdg_goal", code="15"))
        s.execute(update(Classification).where(Classification.item_id == b).values(model_version="older-model"))
        s.commit()
    counts = classify_store(engine)
    assert counts["classified"] == 2
    with Session(engine) as s:
        versions = set(s.execute(select(Classification.model_version)).scalars())
        assert versions == {MODEL_VERSION}
        # the declared goal the prediction does not share is reported for review
        found = [d for d in disagreements(s, limit=None) if d["item_id"] == a]
    assert found and "15" in found[0]["declared"] and "15" in found[0]["only_declared"]


def test_labels_of_deleted_items_are_removed(engine):
    _load(engine)
    classify_store(engine)
    with Session(engine) as s:
        gone = s.execute(select(Recommendation.id).order_by(Recommendation.id).limit(1)).scalar_one()
        s.execute(delete(RecommendingState).where(RecommendingState.recommendation_id == gone))
        s.execute(delete(ItemTag).where(ItemTag.item_id == gone))
        s.execute(delete(Recommendation).where(Recommendation.id == gone))
        s.commit()
    counts = classify_store(engine)
    assert counts["removed"] == 1 and counts["classified"] == 0
    with Session(engine) as s:
        assert s.execute(select(func.count()).where(Classification.item_id == gone)).scalar_one() == 0


def test_disagreements_on_themes_match_item_labels(engine):
    _load(engine)
    classify_store(engine)
    with Session(engine) as s:
        found = disagreements(s, vocabulary="uprinfo", limit=None)
        assert found, "the sample's declared UPR Info issues and the predictions never differ?"
        for d in found[:20]:
            labels = item_labels(s, d["item_type"], d["item_id"])
            declared = {x["code"] for x in labels["declared"] if x["vocabulary"] == "uprinfo"}
            # a declared theme comes back as a label with 'declared' evidence: only text-based ones count
            predicted = {x["code"] for x in labels["predicted"] if x["vocabulary"] == "uprinfo"
                         and {"lexicon", "model", "crosswalk"} & set(x["methods"])}
            assert set(d["declared"]) == declared and set(d["predicted"]) == predicted and declared != predicted
            assert set(d["only_declared"]) == declared - predicted
        n_declared = s.execute(select(func.count(func.distinct(ItemTag.item_id))).where(
            ItemTag.vocabulary == "uprinfo")).scalar_one()
    assert len(found) <= n_declared


def test_cf_items_and_activities_use_title_and_description(engine):
    _load(engine, ("cf", DATA / "uninfo_jwp_arab_states_slice.csv"), ("iati", DATA / "iati_sdg_routes_v203.xml"))
    with Session(engine) as s:
        n_cf = s.execute(select(func.count()).select_from(text("cf_item"))).scalar_one()
        n_act = s.execute(select(func.count()).select_from(text("activity"))).scalar_one()
        act_id, title, description = s.execute(text("SELECT id, title, description FROM activity ORDER BY id")).first()
        declared = sorted(set(s.execute(select(ItemTag.vocabulary, ItemTag.code).where(
            ItemTag.item_id == act_id, ItemTag.vocabulary.in_(("sdg_goal", "sdg_target", "uprinfo", "uhri")))).all()))
    assert n_cf and n_act
    counts = classify_store(engine, item_types=("cf_item", "activity"))
    assert counts["considered"] == counts["classified"] == n_cf + n_act
    with Session(engine) as s:
        hashes = set(s.execute(select(Classification.text_hash).where(Classification.item_id == act_id)).scalars())
    assert hashes == {text_hash(item_text(title, description), [tuple(d) for d in declared], settings_key())}
    assert classify_store(engine, item_types=("activity",))["classified"] == 0


def _snapshot(engine) -> list[tuple]:
    """Every stored label in write order (row id), without the time it was written."""
    with Session(engine) as s:
        return [(r.item_type, r.item_id, r.vocabulary, r.code, r.score, r.methods, r.evidence, r.model_version,
                 r.text_hash) for r in s.execute(select(Classification).order_by(Classification.id)).scalars()]


def test_worker_processes_store_what_one_process_stores(engine):
    _load(engine, ("upr", SAMPLE), ("cf", DATA / "uninfo_jwp_arab_states_slice.csv"),
          ("iati", DATA / "iati_sdg_routes_v203.xml"))
    serial = classify_store(engine, batch_size=40, workers=1)
    expected = _snapshot(engine)
    with Session(engine) as s:
        s.execute(delete(Classification))
        s.commit()
    seen = []
    parallel = classify_store(engine, batch_size=40, workers=2, progress=lambda d, t: seen.append((d, t)))
    assert _snapshot(engine) == expected  # same labels, scores, evidence, and written in the same order
    assert {k: v for k, v in parallel.items() if k != "seconds"} == {k: v for k, v in serial.items() if k != "seconds"}
    assert seen == sorted(seen) and seen[-1][0] == seen[-1][1] == serial["considered"]


def test_interrupted_parallel_run_keeps_the_pages_it_finished(engine, monkeypatch):
    import matcher.classify as classify_mod

    _load(engine)
    with Session(engine) as s:
        ids = list(s.execute(select(Recommendation.id).order_by(Recommendation.id)).scalars())
        poison = s.get(Recommendation, ids[4 * 40]).text  # first item of the fifth page of 40
    real = classify_mod.classify_texts

    def failing(texts, **kw):
        if poison in texts:
            raise RuntimeError("classifier crashed")
        return real(texts, **kw)

    monkeypatch.setattr(classify_mod, "classify_texts", failing)  # the forked workers inherit the patch
    try:
        classify_store(engine, batch_size=40, workers=2)
    except RuntimeError as exc:
        assert "classifier crashed" in str(exc)
    else:
        raise AssertionError("the worker's error was not raised")
    with Session(engine) as s:
        done = set(s.execute(select(Classification.item_id).distinct()).scalars())
    assert done == set(ids[:4 * 40])  # the four pages before the failure, nothing after
    monkeypatch.setattr(classify_mod, "classify_texts", real)
    assert classify_store(engine, batch_size=40, workers=2)["classified"] == N - 4 * 40


def test_workers_setting_never_reclassifies(engine, monkeypatch):
    from matcher import settings as settings_mod

    _load(engine)
    classify_store(engine)
    monkeypatch.setenv("UPR_ALIGN_CLASSIFY_WORKERS", "1")
    settings_mod.get_settings.cache_clear()
    try:
        assert classify_store(engine)["classified"] == 0  # speed settings are not part of the labels' hash
    finally:
        monkeypatch.delenv("UPR_ALIGN_CLASSIFY_WORKERS")
        settings_mod.get_settings.cache_clear()


def test_repeated_texts_are_classified_once_and_copied(engine, monkeypatch):
    import matcher.classify as classify_mod

    _load(engine)
    sent: list[str] = []
    real = classify_mod.classify_texts

    def counting(texts, **kw):
        sent.extend(texts)
        return real(texts, **kw)

    monkeypatch.setattr(classify_mod, "classify_texts", counting)
    done = classify_store(engine, batch_size=40, workers=1)
    labels: dict[str, tuple] = {}
    hashes: dict[str, set] = {}
    with Session(engine) as s:
        for r in s.execute(select(Classification).order_by(Classification.id)).scalars():
            labels[r.item_id] = labels.get(r.item_id, ()) + ((r.vocabulary, r.code, r.score, r.methods,
                                                              repr(r.evidence), r.model_version),)
            hashes.setdefault(r.text_hash, set()).add(r.item_id)
        n_labels = s.execute(select(func.count()).select_from(Classification)
                             .where(Classification.vocabulary != NONE_VOCABULARY)).scalar_one()
    assert done["classified"] == N and len(labels) == N
    assert done["labels"] == n_labels
    repeated = [ids for ids in hashes.values() if len(ids) > 1]
    assert repeated  # the sample repeats texts (one row per recommending state)
    assert len(sent) == len(hashes) < N  # each distinct text and declared tags classified once
    for ids in repeated:
        assert len({labels[i] for i in ids}) == 1  # a copy has exactly its source's labels
