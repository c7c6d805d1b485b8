"""Canonical store tables (SQLModel families: ``XBase`` -> ``X(table=True)`` -> ``XPublic``).

Every source item that has text and can be tagged -- a UPR recommendation, a Cooperation Framework
item, a donor activity -- is addressed by the pair ``(item_type, item_id)``.  Tags (declared SDG
targets, themes, sectors, markers), countries with shares and money facts hang off that pair, so
the classifier (#4) and the linker (#5) treat all three kinds alike.

The schema is created and upgraded by Alembic migrations in ``matcher/migrations``; a test checks
that these models and the migrated database never diverge.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, Numeric, Text, text
from sqlmodel import Field, SQLModel


class ItemType(StrEnum):
    recommendation = "recommendation"
    cf_item = "cf_item"
    activity = "activity"


class Response(StrEnum):
    accepted = "accepted"
    noted = "noted"
    partially_accepted = "partially_accepted"
    pending = "pending"
    voluntary_pledge = "voluntary_pledge"


def _json(**kw: Any) -> Any:
    return Field(default=None, sa_column=Column(JSON, **kw))


# --------------------------------------------------------------------------- import batches
class ImportBatchBase(SQLModel):
    source_type: str = Field(index=True, description="Reader that produced the batch, e.g. 'uprinfo'.")
    file_name: str
    sha256: str = Field(index=True)
    started_at: datetime
    finished_at: Optional[datetime] = None
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


class ImportBatch(ImportBatchBase, table=True):
    __tablename__ = "import_batch"
    id: Optional[int] = Field(default=None, primary_key=True)
    problems: Optional[list] = _json()
    problems_total: int = 0


class ImportBatchPublic(ImportBatchBase):
    id: int
    problems: list = []
    problems_total: int = 0


# --------------------------------------------------------------------------- recommendations
class RecommendationBase(SQLModel):
    state_under_review: Optional[str] = Field(
        default=None, max_length=3, index=True, description="ISO 3166-1 alpha-3; null when unresolved."
    )
    state_under_review_name: str = Field(description="The state's name as written in the source.")
    cycle: Optional[int] = Field(default=None, index=True)
    session: Optional[int] = Field(default=None, index=True)
    document_symbol: Optional[str] = None
    paragraph: Optional[str] = None
    text: str = Field(description="Recommendation text: paragraph number and trailing '(State)' stripped.")
    text_original: str
    response: str = Field(index=True, description="accepted | noted | partially_accepted | pending | voluntary_pledge")
    response_raw: Optional[str] = None
    action_category: Optional[int] = Field(default=None, index=True, ge=1, le=5)
    action_category_origin: Optional[str] = Field(default=None, description="'source' or 'derived' (leading verb).")
    source_type: str = Field(index=True)
    source_file: str
    source_sha256: str
    source_row: Optional[str] = Field(default=None, description="Row number or table/row/paragraph in the file.")


class Recommendation(RecommendationBase, table=True):
    __tablename__ = "recommendation"
    id: str = Field(primary_key=True, max_length=64)
    source_key: Optional[str] = Field(default=None, description="The source's own stable id, where it has one.")
    content_hash: str = Field(max_length=64, description="Hash of every stored field; detects unchanged rows.")
    extra: Optional[dict] = _json()  # source details with no column: source of position, cluster heading ...
    batch_id: Optional[int] = Field(default=None, foreign_key="import_batch.id", index=True)
    updated_at: datetime


class RecommendationPublic(RecommendationBase):
    id: str
    recommending_states: list[dict] = []
    themes: list[dict] = []
    sdgs: list[dict] = []
    affected_persons: list[str] = []


class RecommendingState(SQLModel, table=True):
    """One recommending state of a recommendation (several for joint recommendations)."""

    __tablename__ = "recommending_state"
    id: Optional[int] = Field(default=None, primary_key=True)
    recommendation_id: str = Field(foreign_key="recommendation.id", index=True, max_length=64)
    position: int = 0
    iso3: Optional[str] = Field(default=None, max_length=3, index=True)
    name: str = Field(description="Name as written in the source.")


# --------------------------------------------------------------------------- tags and countries
class ItemTag(SQLModel, table=True):
    """A label attached to any item: declared SDG goal/target, theme, sector, marker, affected persons.

    ``vocabulary`` says which list the code belongs to (``sdg_goal``, ``sdg_target``, ``uprinfo``,
    ``uhri``, ``affected_persons``, ``dac5``, ``policy_marker`` ...); ``origin`` says who put it there
    (``declared`` by the source; predictions of #4 live in their own table and never overwrite these);
    ``route`` records how the source expressed it (e.g. IATI ``tag-vocab-2``, ``sector-vocab-7``).
    """

    __tablename__ = "item_tag"
    __table_args__ = (
        Index("ix_item_tag_item", "item_type", "item_id"),
        Index("ix_item_tag_code", "vocabulary", "code"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    item_type: str = Field(max_length=20)
    item_id: str = Field(max_length=200)
    vocabulary: str = Field(max_length=40)
    code: str = Field(max_length=200)
    label: Optional[str] = None
    origin: str = Field(default="declared", max_length=20)
    route: Optional[str] = Field(default=None, max_length=60)
    share_pct: Optional[float] = Field(default=None, description="Percentage of the item (IATI sectors), 0-100.")
    extra: Optional[dict] = _json()


class ItemCountry(SQLModel, table=True):
    """A country an item concerns, with its share; multi-country groups keep their name."""

    __tablename__ = "item_country"
    __table_args__ = (Index("ix_item_country_item", "item_type", "item_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    item_type: str = Field(max_length=20)
    item_id: str = Field(max_length=200)
    iso3: Optional[str] = Field(default=None, max_length=3, index=True)
    name: Optional[str] = Field(default=None, description="Name as written in the source.")
    group_name: Optional[str] = Field(default=None, description="Multi-country office or region this came from.")
    share_pct: Optional[float] = Field(default=None, description="Percentage of the item for this country, 0-100.")


# --------------------------------------------------------------------------- Cooperation Framework
class CFItemBase(SQLModel):
    level: str = Field(index=True, description="plan | strategic_priority | outcome | output | sub_output")
    code: Optional[str] = Field(default=None, index=True)
    title: str
    description: Optional[str] = None
    parent_id: Optional[str] = Field(default=None, index=True, max_length=200)
    plan_name: Optional[str] = None
    country: Optional[str] = Field(default=None, max_length=3, index=True, description="ISO3 of a single-country plan.")
    country_group: Optional[str] = Field(default=None, description="Multi-country office name, e.g. 'the Caribbean'.")
    status: Optional[str] = None
    start_date: Optional[date] = None
    end_date: Optional[date] = None
    source_type: str
    source_file: str
    source_sha256: str
    source_row: Optional[str] = None


class CFItem(CFItemBase, table=True):
    __tablename__ = "cf_item"
    id: str = Field(primary_key=True, max_length=200)
    agencies: Optional[list] = _json()
    partners_contributing: Optional[list] = _json()
    partners_implementing: Optional[list] = _json()
    markers: Optional[list] = _json()
    lnob_groups: Optional[list] = _json()
    extra: Optional[dict] = _json()
    content_hash: str = Field(max_length=64)
    batch_id: Optional[int] = Field(default=None, foreign_key="import_batch.id", index=True)
    updated_at: datetime


class CFItemPublic(CFItemBase):
    id: str
    agencies: list = []
    markers: list = []
    lnob_groups: list = []


# --------------------------------------------------------------------------- donor activities
class ActivityBase(SQLModel):
    iati_identifier: str = Field(index=True)
    reporting_org_ref: Optional[str] = Field(default=None, index=True)
    reporting_org_name: Optional[str] = None
    title: str = Field(description="Title in English where given, else the first language.")
    description: Optional[str] = None
    status: Optional[str] = None
    start_date: Optional[date] = None
    end_date: Optional[date] = None
    default_currency: Optional[str] = Field(default=None, max_length=3)
    hierarchy: Optional[int] = None
    parent_id: Optional[str] = Field(default=None, index=True, max_length=200)
    is_child: bool = Field(default=False, description="Child of a parent in the same data: never counted twice.")
    source_type: str
    source_file: str
    source_sha256: str
    source_row: Optional[str] = None


class Activity(ActivityBase, table=True):
    __tablename__ = "activity"
    id: str = Field(primary_key=True, max_length=200)
    titles: Optional[list] = _json()
    descriptions: Optional[list] = _json()
    participating_orgs: Optional[list] = _json()
    related_activities: Optional[list] = _json()
    recipient_regions: Optional[list] = _json()
    dates: Optional[list] = _json()
    extra: Optional[dict] = _json()
    content_hash: str = Field(max_length=64)
    batch_id: Optional[int] = Field(default=None, foreign_key="import_batch.id", index=True)
    updated_at: datetime


class ActivityPublic(ActivityBase):
    id: str
    titles: list = []
    participating_orgs: list = []


# --------------------------------------------------------------------------- money
class MoneyFact(SQLModel, table=True):
    """One amount of money as reported, with its USD conversion (or the reason there is none).

    ``amount`` is in ``currency`` exactly as reported (negative corrections kept and flagged).
    ``counted`` is false for facts that must not be summed as spending (IATI incoming funds,
    an original budget superseded by a revised one for the same period).
    """

    __tablename__ = "money_fact"
    __table_args__ = (Index("ix_money_item", "item_type", "item_id"), Index("ix_money_kind", "source_type", "kind"))
    id: Optional[int] = Field(default=None, primary_key=True)
    item_type: str = Field(max_length=20)
    item_id: str = Field(max_length=200)
    source_type: str = Field(max_length=40)
    kind: str = Field(max_length=40, description="required|available|expenditure|budget|planned_disbursement|"
                      "commitment|disbursement|incoming_funds")
    year: Optional[int] = Field(default=None, index=True)
    period_start: Optional[date] = None
    period_end: Optional[date] = None
    amount: Decimal = Field(sa_column=Column(Numeric(24, 4), nullable=False))
    currency: Optional[str] = Field(default=None, max_length=3)
    value_date: Optional[date] = None
    amount_usd: Optional[Decimal] = Field(default=None, sa_column=Column(Numeric(24, 4)))
    usd_rate: Optional[float] = None
    no_usd_reason: Optional[str] = None
    is_negative: bool = False
    counted: bool = True
    extra: Optional[dict] = _json()
    batch_id: Optional[int] = Field(default=None, foreign_key="import_batch.id", index=True)



# --------------------------------------------------------------------------- classification (#4)
class Classification(SQLModel, table=True):
    """One predicted label of an item, beside (never instead of) its declared tags in ``item_tag``.

    ``vocabulary``/``code`` as in ``item_tag`` (``sdg_goal`` "5", ``sdg_target`` "5.2", ``uprinfo``
    theme id); ``methods`` the evidence kinds that produced it, comma-separated (lexicon, model,
    crosswalk, declared, implied); ``evidence`` the list of ``matcher.labels.Evidence`` as dicts.
    ``text_hash`` hashes the text and declared tags the label was computed from; together with
    ``model_version`` it decides when an item must be classified again.  An item the classifier found
    nothing for keeps one row with vocabulary ``none`` (code "") so that "nothing" is stored too.
    """

    __tablename__ = "classification"
    __table_args__ = (
        Index("ix_classification_item", "item_type", "item_id"),
        Index("ix_classification_code", "vocabulary", "code"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    item_type: str = Field(max_length=20)
    item_id: str = Field(max_length=200)
    vocabulary: str = Field(max_length=40)
    code: str = Field(max_length=200)
    score: float = Field(description="Confidence in [0, 1].")
    methods: str = Field(max_length=200)
    evidence: Optional[list] = _json()
    model_version: str = Field(max_length=64)
    text_hash: str = Field(max_length=64)
    created_at: datetime


# --------------------------------------------------------------------------- links, coverage, funding (#5)
class LinkBase(SQLModel):
    recommendation_id: str = Field(max_length=64, index=True)
    item_type: str = Field(max_length=20, description="cf_item | activity")
    item_id: str = Field(max_length=200)
    country: str = Field(max_length=3, index=True, description="ISO3 the pair was blocked on (the recommendation's state).")
    score: float = Field(description="Link score in [0, 1] (matcher.scoring).")
    rule: str = Field(max_length=40, description="Strongest blocking rule that proposed the pair: target | theme | goal.")
    explanation: str = Field(description="Why the link exists, in words a reviewer can check.")
    status: str = Field(default="auto", max_length=20, index=True, description="auto | confirmed | rejected")
    reviewer: Optional[str] = Field(default=None, max_length=200)
    review_reason: Optional[str] = None
    reviewed_at: Optional[datetime] = None


class Link(LinkBase, table=True):
    """A scored link between a recommendation and a CF item or donor activity.

    Re-running the matcher updates ``score``/``components`` of ``auto`` links and removes auto links
    that fell below the threshold; a ``confirmed`` or ``rejected`` link keeps its status for ever
    (a rejected pair is never proposed again).
    """

    __tablename__ = "link"
    __table_args__ = (
        Index("ux_link_pair", "recommendation_id", "item_type", "item_id", unique=True),
        Index("ix_link_item", "item_type", "item_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    components: Optional[dict] = _json()
    matcher_version: str = Field(max_length=64)
    updated_at: datetime


class LinkPublic(LinkBase):
    id: int
    components: dict = {}


class LemmaCache(SQLModel, table=True):
    """Lemmas of an item text (``matcher.lemma_cache``), keyed by a hash of the analyser version and the text."""

    __tablename__ = "lemma_cache"
    key: str = Field(primary_key=True, max_length=40)
    lemmas: str = Field(sa_column=Column(Text, nullable=False))


class MatchState(SQLModel, table=True):
    """Fingerprint of what an item was last linked from (labels, countries, text): drives incremental matching."""

    __tablename__ = "match_state"
    item_type: str = Field(primary_key=True, max_length=20)
    item_id: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64)
    matched_at: datetime


class Coverage(SQLModel, table=True):
    """Materialised coverage of one recommendation (rebuilt per country after matching)."""

    __tablename__ = "coverage"
    __table_args__ = (Index("ix_coverage_country", "country", "response"),
                      Index("ix_coverage_cluster", "country", "cluster_id"),
                      # texts of a country by length: the candidates an incremental match compares a new text with
                      Index("ix_coverage_length", "country", text("length(norm_text)")))
    recommendation_id: str = Field(primary_key=True, max_length=64)
    country: str = Field(max_length=3)
    response: str = Field(max_length=20)
    action_category: Optional[int] = None
    cluster_id: str = Field(max_length=64, description="Recommendations with the same normalised text in one country share it.")
    norm_text: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True),
                                     description="The text normalised for clustering (coverage.normalise): lets an "
                                     "incremental match cluster new texts without re-reading the country.")
    covered_by: str = Field(max_length=10, description="cf | donor | both | none")
    cf_links: int = 0
    donor_links: int = 0
    best_cf_link_id: Optional[int] = None
    best_cf_score: Optional[float] = None
    best_donor_link_id: Optional[int] = None
    best_donor_score: Optional[float] = None


class RecDimension(SQLModel, table=True):
    """A theme, SDG goal, SDG target or action category of a recommendation, with its share (1/n of its codes)."""

    __tablename__ = "rec_dimension"
    # ix_rec_dimension_rec: an incremental match reads and replaces the rows of a few recommendations (a full
    # match drops both indexes while it rewrites the table and builds them again after: matcher.bulk.indexes_rebuilt)
    __table_args__ = (Index("ix_rec_dimension_country", "country", "dimension", "code"),
                      Index("ix_rec_dimension_rec", "recommendation_id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    recommendation_id: str = Field(max_length=64)
    country: str = Field(max_length=3)
    dimension: str = Field(max_length=10, description="theme | goal | target | action")
    code: str = Field(max_length=200)
    share: float = Field(description="1 / number of codes of this dimension on the recommendation.")


class GapCell(SQLModel, table=True):
    """Coverage of one code of one dimension in one country, per response (materialised after matching).

    What ``coverage.gaps`` and ``coverage.summary`` answer, precomputed so that a country's gap table is
    one indexed read: recommendations of the code covered by the CF only, by donors only, by both, by
    nothing, and the same as clusters (same normalised text in the country counted once).  Response
    ``all`` counts every response; dimension ``all`` (code ``all``) counts every recommendation once.
    """

    __tablename__ = "gap_cell"
    # one row per cell: the key is unique (an incremental match adds to stored cells)
    __table_args__ = (Index("ux_gap_cell_key", "country", "dimension", "response", "code", unique=True),)
    id: Optional[int] = Field(default=None, primary_key=True)
    country: str = Field(max_length=3)
    dimension: str = Field(max_length=10)
    code: str = Field(max_length=200)
    response: str = Field(max_length=20)
    recommendations: int = 0
    clusters: int = 0
    covered_cf: int = 0
    covered_donor: int = 0
    covered_both: int = 0
    uncovered: int = 0
    clusters_cf: int = 0
    clusters_donor: int = 0
    clusters_both: int = 0
    uncovered_clusters: int = 0


class FundingCell(SQLModel, table=True):
    """Money aligned with one code of one dimension in one country (materialised after matching).

    Per (country, dimension, code, item type, kind, year, currency), in ``currency`` as reported:
    ``touching`` is the money of every item linked to at least one recommendation with the code, each
    money fact counted once, times the item's share in the country; ``attributed`` is the sum of the
    weighted shares (``matcher.funding.attribute``) of those recommendations, times the
    recommendation's share of the code (1 / its number of codes in the dimension), so attributed
    figures add up across codes to at most the items' money.  ``*_usd`` sums the same facts converted
    at their own dates; facts without a USD rate are counted in ``facts_without_usd`` and left out of
    the USD sums.  Dimension ``all`` has the single code ``all``.  ``response`` limits the recommendations to
    those of one response (``accepted``, ``noted``, ...); ``all`` counts every response (attributed figures of
    the responses add up to it; touching ones need not, one item can touch both).
    """

    __tablename__ = "funding_cell"
    __table_args__ = (Index("ix_funding_cell_country", "country", "dimension", "response", "code"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    country: str = Field(max_length=3)
    dimension: str = Field(max_length=10)
    code: str = Field(max_length=200)
    response: str = Field(default="all", max_length=20,
                          description="the recommendations' response (accepted, noted, ...), or all of them")
    item_type: str = Field(max_length=20)
    kind: str = Field(max_length=40)
    year: Optional[int] = None
    currency: Optional[str] = Field(default=None, max_length=3)
    touching: Decimal = Field(sa_column=Column(Numeric(24, 4), nullable=False))
    attributed: Decimal = Field(sa_column=Column(Numeric(24, 4), nullable=False))
    touching_usd: Optional[Decimal] = Field(default=None, sa_column=Column(Numeric(24, 4)))
    attributed_usd: Optional[Decimal] = Field(default=None, sa_column=Column(Numeric(24, 4)))
    facts: int = 0
    facts_without_usd: int = 0
    items: int = 0
    recommendations: int = 0


# --------------------------------------------------------------------------- API keys and import jobs (#6)
class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 is stored; the key itself is shown once when created."""

    __tablename__ = "api_key"
    id: Optional[int] = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16, index=True, description="First characters of the key, to tell keys apart.")
    key_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=10, description="reader | editor | admin")
    name: Optional[str] = Field(default=None, max_length=200)
    created_at: datetime
    revoked_at: Optional[datetime] = None


class ImportJob(SQLModel, table=True):
    """An upload ingested in the background (large files): its status and, when done, the import summary."""

    __tablename__ = "import_job"
    id: str = Field(primary_key=True, max_length=32)
    status: str = Field(max_length=10, description="queued | running | done | failed")
    kind: str = Field(max_length=10)
    file_name: str
    size_bytes: int
    summary: Optional[dict] = _json()
    error: Optional[str] = None
    created_at: datetime
    finished_at: Optional[datetime] = None


class StoreVersion(SQLModel, table=True):
    """One row whose ``version`` grows each time coverage and funding are rebuilt: readers cache on it."""

    __tablename__ = "store_version"
    id: int = Field(default=1, primary_key=True)
    version: int = 0
    changed_at: datetime
