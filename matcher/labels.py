"""The shape of a classification: labels with scores and the evidence a person needs to trust them.

Shared by the classifier (``matcher.classify``), its store (``classification`` table), the CLI and
the API.  A text may legitimately get a goal with no target, or nothing at all.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

VOCABULARIES = ("sdg_goal", "sdg_target", "uprinfo")


@dataclass
class Evidence:
    """Why a label was given.

    ``method``: ``lexicon`` (a query of mappings/aurora_v5_queries.csv or hr_lexicon.csv matched),
    ``model`` (the learned text model), ``crosswalk`` (implied by a theme or sector through
    mappings/crosswalk_*.csv), ``declared`` (the source said so), ``implied`` (a target implies its goal).
    ``detail`` holds the matched phrases with character spans, the query id, the model's top terms,
    or the theme a crosswalk link came from.
    """

    method: str
    score: float
    detail: dict[str, Any] = field(default_factory=dict)

    def summary(self, items: int = 4) -> str:
        """One line for people: method, score and what it rests on ("lexicon 0.50 (trafficking in persons)")."""
        d = self.detail or {}
        what = d.get("phrases") or d.get("terms") or d.get("theme") or d.get("target") or d.get("query") \
            or d.get("source") or ""
        if isinstance(what, (list, tuple)):
            what = ", ".join(str(w.get("text", w)) if isinstance(w, dict) else str(w[0]) if isinstance(w, (list, tuple))
                             else str(w) for w in what[:items])
        return f"{self.method} {self.score:.2f}" + (f" ({what})" if what else "")


@dataclass
class Label:
    """One predicted label: vocabulary (sdg_goal | sdg_target | uprinfo), code, score in [0, 1]."""

    vocabulary: str
    code: str
    score: float
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Result:
    """Everything predicted for one text, with the model version that produced it."""

    labels: list[Label]
    model_version: str
    language: str = "en"

    def codes(self, vocabulary: str) -> list[str]:
        return [lab.code for lab in self.labels if lab.vocabulary == vocabulary]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
