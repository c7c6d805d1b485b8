"""Response shapes of the API (what /docs shows and schemathesis checks)."""
from __future__ import annotations

from typing import Any, Generic, Optional, TypeVar

from pydantic import BaseModel, Field, field_validator

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: ``data`` and ``count``, the number of rows matching the filters (all pages)."""

    data: list[T]
    count: int


class LinkOut(BaseModel):
    id: int
    recommendation_id: str
    item_type: str
    item_id: str
    country: str
    score: float
    rule: str
    status: str
    explanation: str
    components: dict[str, Any] = {}
    reviewer: Optional[str] = None
    review_reason: Optional[str] = None
    reviewed_at: Optional[str] = None


class Review(BaseModel):
    decision: str = Field(description="confirmed | rejected (auto undoes a decision)", pattern="^(confirmed|rejected|auto)$")
    reason: Optional[str] = Field(None, max_length=2000)
    reviewer: Optional[str] = Field(None, max_length=200, description="Defaults to the key's name.")


class CoverageCount(BaseModel):
    recommendations: int
    clusters: int


class CoverageSummary(BaseModel):
    country: str
    response: str
    recommendations: int
    clusters: int
    coverage: dict[str, CoverageCount]
    covered_share: Optional[float] = None


class GapRow(BaseModel):
    country: str
    dimension: str
    code: str
    response: str
    recommendations: int
    uncovered: int
    uncovered_clusters: int
    covered_cf: int
    covered_donor: int
    covered_both: int
    uncovered_share: Optional[float] = None


class Gaps(BaseModel):
    summary: CoverageSummary
    data: list[GapRow]
    count: int


class MatchOut(BaseModel):
    full: bool
    countries: int
    recommendations: int
    items: int
    all_pairs: int
    pairs: dict[str, int]
    scored: int
    links_created: int
    links_updated: int
    links_removed: int
    links_total: int
    reviewed_kept: int
    without_country: int
    classified: int
    seconds: dict[str, float]


class Job(BaseModel):
    id: str
    status: str
    kind: str
    file_name: str
    size_bytes: int
    summary: Optional[dict[str, Any]] = None
    error: Optional[str] = None


class KeyOut(BaseModel):
    id: int
    prefix: str
    role: str
    name: Optional[str] = None
    created_at: str
    revoked_at: Optional[str] = None


class NewKey(KeyOut):
    key: str = Field(description="The key itself: shown this once, store it now.")


class KeyIn(BaseModel):
    role: str = Field(pattern="^(reader|editor|admin)$")
    name: Optional[str] = Field(None, max_length=200)


MAX_TEXTS = 1000
MAX_CHARS = 20_000


class ClassifyIn(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS, description=f"1 to {MAX_TEXTS:,} texts, each of "
                             f"at most {MAX_CHARS:,} characters (recommendations, programme or report paragraphs).")
    max_goals: Optional[int] = Field(None, ge=0, le=17, description="Keep at most this many predicted SDG goals per "
                                     "text, the best-scoring (1 = the primary goal; 0 = no cap; unset: the rule "
                                     "calibrated with the model).")

    model_config = {"json_schema_extra": {"examples": [{"texts": [
        "Take measures to combat trafficking in persons, in particular women and children"]}]}}

    @field_validator("texts")
    @classmethod
    def _bounded(cls, texts: list[str]) -> list[str]:
        for i, t in enumerate(texts):
            if len(t) > MAX_CHARS:
                raise ValueError(f"text {i} has {len(t):,} characters; at most {MAX_CHARS:,}")
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate (\ud800) is valid JSON but not text
                raise ValueError(f"text {i} is not valid Unicode text (a lone surrogate)") from None
        return texts


class EvidenceOut(BaseModel):
    method: str = Field(description="lexicon | model | crosswalk | implied | declared")
    score: float
    detail: dict[str, Any] = Field(description="Matched phrases with character spans and query id, the model's "
                                   "top terms and probability, or the theme and rationale of a crosswalk link.")


class LabelOut(BaseModel):
    vocabulary: str = Field(description="sdg_goal | sdg_target | uprinfo")
    code: str
    score: float = Field(ge=0, le=1)
    evidence: list[EvidenceOut]


class ClassifiedText(BaseModel):
    index: int = Field(description="Position of the text in the request.")
    language: str = Field(description="en, fr or es (detected; FR/ES are classified with the English resources).")
    sdg_goals: list[str]
    sdg_targets: list[str]
    themes: list[str] = Field(description="UPR Info theme ids.")
    labels: list[LabelOut]


class ClassifyOut(BaseModel):
    model_version: str
    results: list[ClassifiedText]


class Error(BaseModel):
    """An error: ``detail`` says what was wrong (never a stack trace)."""

    detail: Any


ERRORS: dict = {code: {"model": Error, "description": text} for code, text in (
    (401, "no key, or an unknown or revoked key"), (403, "the key's role is not enough"), (404, "not found"),
    (413, "upload too large, or too many files"), (415, "not a file this family reads"), (500, "internal error"))}
