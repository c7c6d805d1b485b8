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

from collections import defaultdict
from typing import Optional

from sqlalchemy import select
from sqlmodel import Session

from .models import Activity, CFItem, ItemCountry, Recommendation
from .taxonomy import goal_of, goal_short

ITEM_TYPES = ("recommendation", "cf_item", "activity")
COLUMNS = ["goal", "name", "declared", "predicted", "both", "only_declared", "only_predicted", "declared_share",
           "predicted_share", "by_model", "by_targets", "by_lexicon"]
_CHUNK = 5000


def _scope(session: Session, item_type: str, country: Optional[str], response: Optional[str]):
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


def goal_shares(session: Session, *, item_type: str = "recommendation", country: Optional[str] = None,
                response: Optional[str] = None, with_declared: bool = False, settings=None) -> dict:
    """``{"item_type", "country", "response", "items", "with_declared", "without_prediction", "declared_pairs",
    "predicted_pairs", "model_version", "data": [one row per goal with COLUMNS]}`` (goals 1-17, in order).

    ``with_declared``: only the items whose source declared goals (so both sides judge the same texts).
    """
    from .classification_store import _declared, _text_rows
    from .classify import classify_texts

    ids = [i for (i,) in session.execute(_scope(session, item_type, country, response))]
    counts = {g: dict.fromkeys(COLUMNS[2:], 0) for g in (str(n) for n in range(1, 18))}
    judged = declared_items = without_prediction = 0  # judged: the items classified here
    version = ""
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        tags = _declared(session, item_type, chunk, ("sdg_goal", "sdg_target"))
        rows = _text_rows(session, item_type, "", len(chunk), ids=chunk)
        if with_declared:
            rows = [(i, t) for i, t in rows if any(goal_of(code) for _, code in tags.get(i, ()))]
        results = classify_texts([text for _, text in rows], settings=settings)
        for (item_id, _), result in zip(rows, results):
            version = result.model_version
            decl = {g for _, code in tags.get(item_id, ()) if (g := goal_of(code)) in counts}
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
    return {"item_type": item_type, "country": country, "response": response or "all", "items": judged,
            "with_declared": declared_items, "without_prediction": without_prediction,
            "declared_pairs": declared_pairs, "predicted_pairs": predicted_pairs, "model_version": version,
            "data": data}
