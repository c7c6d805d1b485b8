"""How often each SDG goal is declared and predicted for a set of stored items, and by what evidence.

Declared tags (OHCHR's goals on a thematic list, the targets of a UN INFO plan, IATI SDG tags) follow their
sources' conventions: OHCHR's tags give goals 16 and 10 to most justice and discrimination texts.  The
predictions follow the classifier's rule.  ``goal_shares`` puts the two side by side per goal, so a user sees
which goals each side over- or under-uses and what produced the predicted ones:

- ``declared``: items whose source gave the goal, or a target of it;
- ``predicted``: items whose text alone gets the goal: the classifier is run on the texts *without* their
  declared tags (the stored labels keep declared goals always, with whatever weak model evidence they have, so
  they cannot say what the text alone would get);
- ``by_model`` / ``by_targets`` / ``by_lexicon``: predicted goals with model evidence, implied by a predicted
  target (itself from a lexicon query or the model), or from a goal-wide lexicon query (a goal may have several);
- ``both`` / ``only_declared`` / ``only_predicted``: agreement per (item, goal);
- shares: ``declared_share`` / ``predicted_share`` are the goal's share of all declared / predicted
  (item, goal) pairs, so that over-use shows whatever the number of goals per item.

Items with no predicted goal are counted apart (``without_prediction``): a text may get no goal.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Optional

from sqlalchemy import select
from sqlmodel import Session

from .models import Activity, CFItem, ItemCountry, Recommendation
from .taxonomy import goal_of, goal_short

ITEM_TYPES = ("recommendation", "cf_item", "activity")
GOALS = tuple(str(n) for n in range(1, 18))
DISAGREEMENT_COLUMNS = ["item_type", "item_id", "text", "declared", "predicted", "only_declared", "only_predicted",
                        "predicted_evidence"]
COLUMNS = ["goal", "name", "declared", "predicted", "both", "only_declared", "only_predicted", "declared_share",
           "predicted_share", "by_model", "by_targets", "by_lexicon"]
_CHUNK = 5000


def _scope(item_type: str, country: Optional[str], response: Optional[str]):
    """A select of the ids of the items in scope."""
    if item_type not in ITEM_TYPES:
        raise ValueError(f"unknown item type {item_type!r}; use {', '.join(ITEM_TYPES)}")
    if item_type == "recommendation":
        stmt = select(Recommendation.id)
        if country:
            stmt = stmt.where(Recommendation.state_under_review == country)
        if response and response != "all":
            stmt = stmt.where(Recommendation.response == response)
        return stmt
    if response and response != "all":
        raise ValueError("--response applies to recommendations only")
    model = CFItem if item_type == "cf_item" else Activity
    stmt = select(model.id)
    if country:
        in_country = select(ItemCountry.item_id).where(ItemCountry.item_type == item_type, ItemCountry.iso3 == country)
        stmt = stmt.where(model.id.in_(in_country) | (model.country == country) if model is CFItem
                          else model.id.in_(in_country))
    return stmt


def judged_items(session: Session, *, item_type: str = "recommendation", country: Optional[str] = None,
                 response: Optional[str] = None, with_declared: bool = False, settings=None) -> Iterator[tuple]:
    """``(item_id, text, declared goals, Result of the text alone)`` for each item in scope, in id order.

    The declared goals include the goals of declared targets; the text is classified without its declared tags.
    ``with_declared``: only the items whose source declared goals.
    """
    from .classification_store import _declared, _text_rows
    from .classify import classify_texts

    ids = sorted(i for (i,) in session.execute(_scope(item_type, country, response)))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        tags = _declared(session, item_type, chunk, ("sdg_goal", "sdg_target"))
        declared = {i: {g for _, code in tags.get(i, ()) if (g := goal_of(code)) in GOALS} for i in chunk}
        rows = _text_rows(session, item_type, "", len(chunk), ids=chunk)
        if with_declared:
            rows = [(i, t) for i, t in rows if declared[i]]
        for (item_id, text), result in zip(rows, classify_texts([t for _, t in rows], settings=settings)):
            yield item_id, text, declared[item_id], result


def goal_shares(session: Session, *, item_type: str = "recommendation", country: Optional[str] = None,
                response: Optional[str] = None, with_declared: bool = False, settings=None) -> dict:
    """``{"item_type", "country", "response", "items", "with_declared", "without_prediction", "declared_pairs",
    "predicted_pairs", "model_version", "data": [one row per goal with COLUMNS]}`` (goals 1-17, in order).

    ``with_declared``: only the items whose source declared goals (so both sides judge the same texts).
    """
    items = judged_items(session, item_type=item_type, country=country, response=response,
                         with_declared=with_declared, settings=settings)
    return {"item_type": item_type, "country": country, "response": response or "all", **shares_of(items)}


def shares_of(items: Iterable[tuple]) -> dict:
    """The counts of ``goal_shares`` over ``judged_items`` rows (so one classification pass can serve both
    ``shares_of`` and ``disagreements_of``)."""
    counts = {g: dict.fromkeys(COLUMNS[2:], 0) for g in GOALS}
    judged = declared_items = without_prediction = 0  # judged: the items classified here
    version = ""
    for _, _, decl, result in items:
        version = result.model_version
        judged += 1
        declared_items += bool(decl)
        predicted = set()
        for lab in result.labels:
            if lab.vocabulary == "sdg_goal" and lab.code in counts:
                predicted.add(lab.code)
                kinds = {e.method for e in lab.evidence}
                row = counts[lab.code]
                row["by_model"] += "model" in kinds
                row["by_targets"] += "implied" in kinds
                row["by_lexicon"] += "lexicon" in kinds
        without_prediction += not predicted
        for goal in predicted | decl:
            row = counts[goal]
            row["declared"] += goal in decl
            row["predicted"] += goal in predicted
            row["both"] += goal in decl and goal in predicted
            row["only_declared"] += goal in decl and goal not in predicted
            row["only_predicted"] += goal in predicted and goal not in decl
    declared_pairs = sum(r["declared"] for r in counts.values())
    predicted_pairs = sum(r["predicted"] for r in counts.values())
    data = []
    for goal, row in counts.items():
        row["declared_share"] = round(row["declared"] / declared_pairs, 4) if declared_pairs else 0.0
        row["predicted_share"] = round(row["predicted"] / predicted_pairs, 4) if predicted_pairs else 0.0
        data.append({"goal": goal, "name": goal_short(goal) or goal, **row})
    return {"items": judged, "with_declared": declared_items, "without_prediction": without_prediction,
            "declared_pairs": declared_pairs, "predicted_pairs": predicted_pairs, "model_version": version,
            "data": data}


def goal_disagreements(session: Session, *, item_type: str = "recommendation", country: Optional[str] = None,
                       response: Optional[str] = None, settings=None) -> list[dict]:
    """The items with declared goals whose text alone gets other goals, for review: one row each with
    DISAGREEMENT_COLUMNS (``predicted_evidence``: per predicted goal the kinds of evidence behind it)."""
    return disagreements_of(judged_items(session, item_type=item_type, country=country, response=response,
                                         with_declared=True, settings=settings), item_type)


def disagreements_of(items: Iterable[tuple], item_type: str) -> list[dict]:
    """The rows of ``goal_disagreements`` over ``judged_items`` rows (items without declared goals are skipped)."""
    out = []
    for item_id, text, decl, result in items:
        if not decl:
            continue
        goals = {lab.code: lab for lab in result.labels if lab.vocabulary == "sdg_goal" and lab.code in GOALS}
        if set(goals) == decl:
            continue
        order = sorted(decl | set(goals), key=int)
        out.append({"item_type": item_type, "item_id": item_id, "text": text,
                    "declared": ";".join(g for g in order if g in decl),
                    "predicted": ";".join(g for g in order if g in goals),
                    "only_declared": ";".join(g for g in order if g in decl and g not in goals),
                    "only_predicted": ";".join(g for g in order if g in goals and g not in decl),
                    "predicted_evidence": "; ".join(
                        f"{g}: " + ", ".join(dict.fromkeys(e.summary() for e in goals[g].evidence))
                        for g in order if g in goals)})
    return out
