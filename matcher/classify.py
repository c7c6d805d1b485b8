"""Assign SDG goals, SDG targets and UPR Info themes to texts, each label with the evidence behind it.

Sources of evidence (``Evidence.method``), each with its own score in [0, 1]:

- ``lexicon``   a query of the Aurora or the curated human-rights lexicon is true for the text (matched phrases with
  character spans and the query id); score = ``classify_weight_lexicon_hr`` / ``_aurora`` per hit;
- ``model``     the TF-IDF + logistic-regression model (``matcher.model``): weight x probability, with the top
  contributing terms; probabilities under ``classify_model_floor`` are not recorded;
- ``crosswalk`` a theme of the text (predicted, or declared) links to the target in crosswalk_theme_sdg.csv:
  ``classify_weight_crosswalk_curated``/``_inferred`` x theme score; on goals, ``classify_weight_crosswalk_goal``
  x theme score x the share of the theme's links that fall in that goal;
- ``implied``   a target candidate's score x ``classify_weight_implied`` on its goal;
- ``declared``  the source said so (``declared`` pairs): kept as declared, score ``classify_weight_declared``.

Scoring rule: a label's score is the noisy-OR of its evidence, ``1 - prod(1 - s_i)``; targets are scored first,
goals then include the implied evidence of their strongest target candidate; a predicted target or theme is kept
when its score reaches ``classify_{target,theme}_threshold`` (a target also needs evidence of its own besides the
theme crosswalk, which names every target of a theme); a declared label is always kept.  Goals pass the goal
rule (``decide_goals``): a threshold, then a relative rule, so that many weak pieces of evidence (a low model
probability, a crosswalk goal share, one Aurora hit) do not add up to extra goals beside a clear one: a predicted
goal is kept only when its score is at least ``relative`` x the text's best predicted goal score, and at most
``max`` predicted goals are kept (0 = no limit).  The rule is calibrated when the model is fitted, by inner
cross-validation on the model's own training data (``matcher.calibration``, stored in ``TextModel.goal_rule``);
``classify_goal_{threshold,relative,max}`` override it when set.  Declared goals, and goals of declared targets,
are always kept and do not set the bar.  A predicted target is kept only when its goal is.  A text may get a goal
without a target, or nothing.  The evidence weights are settings (``bench/tune_classifier.py`` searches them;
README says on what data the defaults were tuned).

Rules applied to target evidence before scoring (link on the measure a text asks for, not on a shared word):
15.7 (wildlife trafficking) needs a wildlife word; when the text names FGM, 5.2 needs a violence word outside the
FGM phrase (FGM is 5.3); targets about support *to* developing countries (all of 17, 10.a/10.b, 4.b/4.c, the
"means of implementation" letters) need words of international cooperation.  Texts detected as French or Spanish
are classified with the English resources (few hits; proper FR/ES support comes later) and carry
``Result.language``.
"""
from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from typing import Optional

import numpy as np

from .bulk import relaxed_gc
from .crosswalks import theme_targets
from .labels import Evidence, Label, Result
from .lexicon import Lexicon
from .model import TextModel, default_model
from .settings import Settings, get_settings
from .taxonomy import goal_of as _taxonomy_goal_of, normalise_goal, normalise_target, theme_code

# Version of the rules below (not of the model): stored classifications are recomputed when it changes.
# 2: a target needs evidence of its own besides the theme crosswalk; 3: no evidence of weight 0 (the theme's goal
# shares and inferred crosswalk links, off by default, were listed as "crosswalk 0.00"); ties of the goal cap go to
# the lower goal number.
RULES_VERSION = "rules-3"

WILDLIFE = re.compile(r"wildlife|species|flora\b|fauna|poach|ivory|rhino|elephant|pangolin|timber|logging|\bcites\b",
                      re.I)
FGM = re.compile(r"female genital (?:mutilation|cutting)(?:/cutting)?|genital (?:mutilation|cutting)|female circumcision|"
                 r"\bfgm(?:/c)?\b", re.I)
VIOLENCE = re.compile(r"violen|abuse|rape|traffick|sexual exploitation|battered|femicide|harass", re.I)
INTERNATIONAL = re.compile(
    r"international (?:co-?operation|assistance|communit|support|partner|donor|financ|aid)|developing countr|"
    r"least developed|small island|\bldcs?\b|\bsids\b|official development assistance|\boda\b|donor|"
    r"technical (?:assistance|co-?operation)|development (?:aid|assistance|partner|co-?operation)|foreign aid|"
    r"south-south|triangular|bilateral|multilateral|debt (?:relief|sustainab)|humanitarian aid|"
    r"global partnership|\b0\.7\s*(?:per ?cent|%)|gross national (?:income|product)|aid for trade|"
    r"coop[ée]ration internationale|cooperaci[oó]n internacional|pays en d[ée]veloppement|pa[ií]ses en desarrollo", re.I)
# targets that speak of support to (or the voice of) developing countries
SUPPORT_TARGETS = frozenset(
    {"1.a", "2.a", "2.b", "3.b", "3.c", "4.b", "4.c", "6.a", "7.a", "7.b", "8.a", "9.a", "9.b", "10.a", "10.b",
     "11.c", "12.a", "13.a", "13.b", "14.7", "15.a", "15.b", "16.8"}
    | {f"17.{i}" for i in range(1, 20)})

_STOPWORDS = {
    "en": {"the", "and", "of", "to", "in", "for", "on", "with", "that", "is", "by", "as", "are", "its", "all", "be"},
    "fr": {"le", "la", "les", "des", "et", "du", "de", "pour", "dans", "sur", "une", "un", "aux", "au", "est", "qui",
           "en", "par", "à", "l", "d"},
    "es": {"el", "la", "los", "las", "y", "del", "de", "para", "en", "con", "una", "un", "por", "que", "se", "al",
           "su", "sus", "es"},
}
# the goal rule when neither the settings nor the model (``TextModel.goal_rule``, calibrated at fit) give one
DEFAULT_GOAL_RULE = {"threshold": 0.3, "relative": 0.6, "max": 0}
_TOKENS = re.compile(r"[a-zà-öø-ÿ]+", re.I)
_STOPWORD_LANGS: dict[str, tuple[str, ...]] = {
    w: tuple(lang for lang, sw in _STOPWORDS.items() if w in sw) for w in set().union(*_STOPWORDS.values())}


def detect_language(text: str) -> str:
    """"en", "fr" or "es" by the share of each language's stop words among the words (ties and short texts: en)."""
    words = _TOKENS.findall(text.lower())
    if not words:
        return "en"
    counts = dict.fromkeys(_STOPWORDS, 0)
    for w in words:  # one pass: each word looked up once, not once per language
        for lang in _STOPWORD_LANGS.get(w, ()):
            counts[lang] += 1
    best = max(("fr", "es"), key=lambda lg: counts[lg])
    return best if counts[best] > counts["en"] and counts[best] >= 2 else "en"


# called for every candidate target of every text: cached, the code set is small
goal_of = lru_cache(maxsize=None)(_taxonomy_goal_of)


@lru_cache(maxsize=1)
def _theme_links() -> dict:
    cache = {}
    for row in __import__("mappings").table("uprinfo_issues.csv"):
        links = theme_targets(row["id"])
        goals: dict[str, int] = defaultdict(int)
        for t, _, _ in links:
            goals[goal_of(t)] += 1
        cache[row["id"]] = (links, {g: n / len(links) for g, n in goals.items()} if links else {})
    return cache


@lru_cache(maxsize=None)
def _lexicon_target(code: str) -> Optional[str]:
    """Canonical target of a lexicon query ("3c" -> "3.c"); "13.0" (a goal-wide Aurora query) stays "13.0"."""
    m = re.fullmatch(r"(\d{1,2})\.?([a-z]|\d{1,2})", code.strip().lower())
    if not m:
        return None
    if m[2] == "0":
        return f"{m[1]}.0" if normalise_goal(m[1]) else None
    return normalise_target(f"{m[1]}.{m[2]}")


def _noisy_or(scores) -> float:
    """1 - prod(1 - s), each s clipped to [0, 1] (a plain loop: called for every candidate label of every text)."""
    rest = 1.0
    for sc in scores:
        if sc >= 1.0:
            return 1.0
        if sc > 0.0:
            rest *= 1.0 - sc
    return 1.0 - rest


def _may_name_fgm(text: str) -> bool:
    """False only when FGM cannot match: an ASCII text (where IGNORECASE is plain lower-casing) without a word every
    alternative of FGM holds.  A substring test is ten times cheaper than the regex, which scans every position."""
    if not text.isascii():
        return True
    lower = text.lower()
    return "genital" in lower or "fgm" in lower or "circumcision" in lower


def _allowed(target: str, text: str, fgm_only: Optional[bool]) -> bool:
    if target == "15.7":
        return bool(WILDLIFE.search(text))
    if target == "5.2" and fgm_only:
        return False
    if target in SUPPORT_TARGETS:
        return bool(INTERNATIONAL.search(text))
    return True


def classify_texts(texts: list[str], *, declared: list[list[tuple[str, str]]] | None = None, batch_size: int = 512,
                   model: TextModel | None = None, settings: Settings | None = None,
                   lexicon: Lexicon | None = None) -> list[Result]:
    """Goals, targets and themes of each text with scores in [0, 1] and evidence; one Result per text, in order.

    ``declared[i]`` lists (vocabulary, code) tags the source gave text i (sdg_goal, sdg_target, uprinfo): they are
    kept as declared labels beside the predictions.  ``model``/``settings``/``lexicon`` default to the shipped ones
    (evaluation passes a model trained on one fold).
    """
    model = model or default_model()
    settings = settings or get_settings()
    lexicon = lexicon or Lexicon.load()
    if declared is not None and len(declared) != len(texts):
        raise ValueError(f"declared has {len(declared)} entries for {len(texts)} texts")
    out: list[Result] = []
    # the loaded model, lexicon and caches are a quarter of a million objects that the cyclic GC would walk again
    # and again while results pile up: a third of the time on 30,000 texts, for garbage that is not cyclic
    with relaxed_gc():
        for start in range(0, len(texts), batch_size):
            chunk = ["" if t is None else str(t) for t in texts[start:start + batch_size]]
            decl = declared[start:start + batch_size] if declared is not None else [[] for _ in chunk]
            out.extend(_classify_batch(chunk, decl, model, settings, lexicon))
    return out


def _classify_batch(texts, declared, model: TextModel, s: Settings, lexicon: Lexicon) -> list[Result]:
    X = model.transform(texts)
    probs = BatchProbs(model, X, {head: model.predict(X, head) for head in model.labels})
    hits_all = list(lexicon.match_many(texts))
    results = []
    for i, text in enumerate(texts):
        results.append(_one(i, text, declared[i] or [], hits_all[i], X, probs, model, s))
    return results


def _one(i, text, declared, hits, X, probs, model: TextModel, s: Settings) -> Result:
    ev, decl, gev, kept_targets = _evidence(i, text, declared, hits, X, probs, model, s)
    raw = {goal: _noisy_or(e.score for e in evs) for goal, evs in gev.items()}
    # declared goals, and goals of declared targets, are always kept and do not set the bar for predicted ones
    protected = {c for v, c in decl if v == "sdg_goal"} | {goal_of(c) for v, c in decl if v == "sdg_target"}
    goal_scores = decide_goals(raw, goal_rule(model, s), protected)
    for goal in goal_scores:
        ev[("sdg_goal", goal)].extend(gev[goal])
    # a predicted target is kept only with its goal (a declared one always)
    for target, evs in kept_targets.items():
        if goal_of(target) in goal_scores or ("sdg_target", target) in decl:
            ev[("sdg_target", target)].extend(evs)

    labels, needs_terms = [], []
    for (vocab, code), evs in ev.items():
        if vocab == "sdg_goal" and code not in goal_scores and (vocab, code) not in decl:
            continue
        sc = _noisy_or(e.score for e in evs)
        if vocab == "sdg_goal" and X is not None:
            needs_terms += [(code, e) for e in evs if e.method == "model" and "terms" not in e.detail]
        labels.append(Label(vocab, code, round(sc, 4), evs))
    if needs_terms:  # goals with model evidence are the goals at or above the model floor
        terms = probs.terms("sdg_goal", i, s.classify_model_floor, s.classify_top_terms)
        for code, e in needs_terms:
            e.detail["terms"] = terms[code]
    labels.sort(key=lambda lab: (("sdg_goal", "sdg_target", "uprinfo").index(lab.vocabulary), -lab.score, lab.code))
    return Result(labels, model.version, detect_language(text))


def goal_candidates(i, text, hits, probs, model, s: Settings) -> dict[str, float]:
    """Combined score of every SDG goal with any evidence for text ``i``, before the goal rule (no declared tags)."""
    _, _, gev, _ = _evidence(i, text, [], hits, None, probs, model, s)
    return {goal: _noisy_or(e.score for e in evs) for goal, evs in gev.items()}


def goal_rule(model, s: Settings) -> tuple[float, float, int]:
    """(threshold, relative, max) of the goal rule: a setting when set, else the model's calibrated value."""
    rule = {**DEFAULT_GOAL_RULE, **(getattr(model, "goal_rule", None) or {})}
    return (rule["threshold"] if s.classify_goal_threshold is None else s.classify_goal_threshold,
            rule["relative"] if s.classify_goal_relative is None else s.classify_goal_relative,
            int(rule["max"] if s.classify_goal_max is None else s.classify_goal_max))


def decide_goals(raw: dict[str, float], rule: tuple[float, float, int], protected=frozenset()) -> dict[str, float]:
    """The goals kept from combined scores ``raw`` under ``rule`` = (threshold, relative, max); protected always.

    A predicted goal needs ``threshold``; it is then kept only when it reaches ``relative`` x the best predicted
    goal's score and ranks among the ``max`` best predicted goals (0 = no limit).  Scores are in [0, 1].
    """
    threshold, relative, limit = rule
    kept = {g: sc for g, sc in raw.items() if sc >= threshold or g in protected}
    ranked = sorted((g for g in kept if g not in protected), key=lambda g: (-kept[g], _goal_number(g)))
    if ranked:
        cut = relative * kept[ranked[0]]
        limit = limit or len(ranked)
        drop = {g for n, g in enumerate(ranked) if n >= limit or kept[g] < cut}
        kept = {g: sc for g, sc in kept.items() if g not in drop}
    return kept


def _goal_number(goal: str) -> int:
    """Ties between goals go to the lower goal number (5 before 16), not to the string order."""
    return int(goal) if goal.isdigit() else 99


def _evidence(i, text, declared, hits, X, probs, model: TextModel, s: Settings):
    """Evidence per label of text i: (label evidence, declared pairs, goal evidence, kept target evidence).

    ``X`` None: no top terms (calibration and tuning, where only scores matter); else ``probs`` is the batch's
    ``BatchProbs``, which finds the terms."""
    ev: dict[tuple[str, str], list[Evidence]] = defaultdict(list)
    decl: dict[tuple[str, str], None] = {}  # in the order declared: sets iterate in a hash order, and ties
    # between declared tags (which target speaks for a goal) must not change from one run to the next
    for vocab, code in declared:
        norm = {"sdg_goal": normalise_goal, "sdg_target": normalise_target,
                "uprinfo": lambda c: theme_code("uprinfo", c)}.get(vocab, lambda c: None)(code)
        if norm:
            decl[(vocab, norm)] = None
            ev[(vocab, norm)].append(Evidence("declared", s.classify_weight_declared, {"as_given": code}))

    # themes: model, then declared
    theme_scores: dict[str, float] = {}
    themes = _above(model, probs, "uprinfo", i, s.classify_theme_threshold)
    terms = probs.terms("uprinfo", i, s.classify_theme_threshold, s.classify_top_terms) if X is not None and themes \
        else {}
    for j, code, p in themes:
        ev[("uprinfo", code)].append(Evidence("model", round(p, 4), {"terms": terms[code]} if terms else {}))
        theme_scores[code] = p
    for vocab, code in decl:
        if vocab == "uprinfo":
            theme_scores[code] = max(theme_scores.get(code, 0.0), s.classify_weight_declared)

    # target evidence
    fgm_only = None
    if _may_name_fgm(text) and FGM.search(text):
        fgm_only = not VIOLENCE.search(FGM.sub(" ", text))
    tev: dict[str, list[Evidence]] = defaultdict(list)
    goal_lex: dict[str, list[Evidence]] = defaultdict(list)
    for h in hits:
        w = s.classify_weight_lexicon_hr if h.source == "hr_lexicon" else s.classify_weight_lexicon_aurora
        target = _lexicon_target(h.target)
        if target is None:
            continue
        (goal_lex[target[:-2]] if target.endswith(".0") else tev[target]).append(Evidence("lexicon", w, {
            "query_id": h.query_id, "source": h.source,
            "phrases": [{"text": sp.text, "start": sp.start_char, "end": sp.end_char, "phrase": sp.phrase}
                        for sp in h.spans]}))
    for j, code, p in _above(model, probs, "sdg_target", i, s.classify_model_floor):
        tev[code].append(Evidence("model", round(p * s.classify_weight_model_target, 4), {"probability": round(p, 4)}))
    goal_xw: dict[str, list[Evidence]] = defaultdict(list)
    for theme, tscore in theme_scores.items():
        links, shares = _theme_links().get(theme, ((), {}))
        for target, basis, rationale in links:
            w = s.classify_weight_crosswalk_curated if basis == "curated" else s.classify_weight_crosswalk_inferred
            if w <= 0:  # a link of weight 0 is not evidence ("crosswalk 0.00" only clutters)
                continue
            tev[target].append(Evidence("crosswalk", round(w * tscore, 4),
                                        {"theme": theme, "basis": basis, "rationale": rationale}))
        for goal, share in shares.items() if s.classify_weight_crosswalk_goal > 0 else ():  # no 0.00 evidence
            goal_xw[goal].append(Evidence("crosswalk", round(s.classify_weight_crosswalk_goal * tscore * share, 4),
                                          {"theme": theme, "share_of_links": round(share, 3)}))

    target_scores: dict[str, float] = {}
    kept_targets: dict[str, list[Evidence]] = {}
    for target, evs in tev.items():
        if goal_of(target) is None or not _allowed(target, text, fgm_only):
            continue
        sc = _noisy_or(e.score for e in evs)
        target_scores[target] = sc
        # a theme's crosswalk alone names every target of the theme: it supports a target the text's own words
        # (lexicon) or the model point at, and it speaks for the goal, but it never picks a target by itself
        specific = any(e.method != "crosswalk" for e in evs)
        if (sc >= s.classify_target_threshold and specific) or ("sdg_target", target) in decl:
            kept_targets[target] = evs
    for vocab, code in decl:
        if vocab == "sdg_target":
            target_scores[code] = max(target_scores.get(code, 0.0), s.classify_weight_declared)

    # goals: model + implied by targets + crosswalk + declared
    gev: dict[str, list[Evidence]] = defaultdict(list)
    for j, code, p in _above(model, probs, "sdg_goal", i, s.classify_model_floor):
        gev[code].append(Evidence("model", round(p * s.classify_weight_model_goal, 4), {"probability": round(p, 4)}))
    best: dict[str, tuple[float, str]] = {}
    for target, sc in target_scores.items():
        g = goal_of(target)
        if sc > best.get(g, (-1.0, ""))[0]:
            best[g] = (sc, target)
    # only the strongest target speaks for its goal: many weak crosswalk targets must not add up to a goal
    for g, (sc, target) in best.items():
        gev[g].append(Evidence("implied", round(sc * s.classify_weight_implied, 4), {"target": target}))
    for goal, evs in list(goal_xw.items()) + list(goal_lex.items()):
        gev[goal].extend(evs)
    return ev, decl, gev, kept_targets


class BatchProbs(dict):
    """Probabilities of a batch of texts per head (head -> array (n_texts, n_labels)).  Also finds, once per batch
    rather than once per text, the labels at or above a floor of every text and the top terms of those labels."""

    def __init__(self, model: TextModel, X, probs: dict[str, np.ndarray]):
        super().__init__(probs)
        self.model, self.X = model, X
        self._above: dict[tuple[str, float], list[list[tuple[int, str, float]]]] = {}
        self._terms: dict[tuple[str, float, int], list[dict[str, list[list]]]] = {}

    def above(self, head: str, i: int, floor: float) -> list[tuple[int, str, float]]:
        """(column, label, probability) of the labels of text i with probability >= floor."""
        rows = self._above.get((head, floor))
        if rows is None:
            P = self[head]
            r, c = np.nonzero(P >= floor)  # row-major: each text's columns in ascending order
            rows = [[] for _ in range(P.shape[0])]
            names = self.model.labels[head]
            for ri, cj, p in zip(r.tolist(), c.tolist(), P[r, c].tolist()):
                rows[ri].append((cj, names[cj], p))
            self._above[(head, floor)] = rows
        return rows[i]

    def terms(self, head: str, i: int, floor: float, k: int) -> dict[str, list[list]]:
        """Top k terms ([[term, weight], ...]) of each label of text i at or above floor."""
        rows = self._terms.get((head, floor, k))
        if rows is None:
            n = self[head].shape[0]
            pairs = [(r, code) for r in range(n) for _, code, _ in self.above(head, r, floor)]
            rows = [{} for _ in range(n)]
            for (r, code), terms in zip(pairs, self.model.top_terms_pairs(self.X, head, pairs, k)):
                rows[r][code] = [[t, w] for t, w in terms]
            self._terms[(head, floor, k)] = rows
        return rows[i]


def _above(model: TextModel, probs, head: str, i: int, floor: float):
    """(column, label, probability) of a head's labels with probability >= floor for text i."""
    if head not in probs:
        return []
    if isinstance(probs, BatchProbs):
        return probs.above(head, i, floor)
    row = probs[head][i]
    labels = model.labels[head]
    return [(int(j), labels[j], float(row[j])) for j in np.flatnonzero(row >= floor)]
