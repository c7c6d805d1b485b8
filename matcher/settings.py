"""One settings object for the whole product (environment variables prefixed ``UPR_ALIGN_``)."""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of upr-align; each field is documented in README ("Settings")."""

    model_config = SettingsConfigDict(env_prefix="UPR_ALIGN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///upr-align.db",
        description="SQLAlchemy URL of the store: a SQLite file (default, in the working directory) "
        "or postgresql+psycopg://user@host:port/db for shared deployments.",
    )
    ingest_chunk_rows: int = Field(
        1000, ge=1, description="Records written per database round-trip while ingesting (memory stays flat)."
    )
    ingest_background_reader: bool = Field(
        True, description="Read each file in a second process while this one writes (uses two cores)."
    )
    max_problems_per_file: int = Field(
        10000, ge=1, description="Problems kept in an import summary; further ones are counted, not listed."
    )
    # classifier (matcher/classify.py): a label's score is the noisy-OR 1 - prod(1 - weight * source score) of its
    # evidence; it is kept when the score reaches the threshold of its vocabulary, goals then pass the relative rule.
    # Defaults tuned by bench/tune_classifier.py on development data only (never the evaluate test splits).
    classify_goal_threshold: Optional[float] = Field(
        None, ge=0, le=1, description="Minimum combined score for an SDG goal to be assigned (unset: the value "
        "calibrated when the model is trained, by inner cross-validation on its training data).")
    classify_target_threshold: float = Field(
        0.4, ge=0, le=1, description="Minimum combined score for an SDG target to be assigned.")
    classify_theme_threshold: float = Field(
        0.2, ge=0, le=1, description="Minimum model probability for a UPR Info theme to be assigned.")
    classify_weight_lexicon_hr: float = Field(
        0.5, ge=0, le=1, description="Weight of one hit of the curated human-rights lexicon (hr_lexicon.csv) on its target.")
    classify_weight_lexicon_aurora: float = Field(
        0.45, ge=0, le=1, description="Weight of one hit of an Aurora query (written for research abstracts) on its target.")
    classify_weight_model_goal: float = Field(
        1.0, ge=0, le=1, description="Weight of the text model's goal probability.")
    classify_weight_model_target: float = Field(
        0.7, ge=0, le=1, description="Weight of the text model's target probability (thin training data).")
    classify_weight_crosswalk_curated: float = Field(
        0.45, ge=0, le=1, description="Weight of a curated theme -> target crosswalk link, times the theme's score.")
    classify_weight_crosswalk_inferred: float = Field(
        0.0, ge=0, le=1, description="Weight of an inferred theme -> target crosswalk link, times the theme's score (0 = inferred links unused).")
    classify_weight_crosswalk_goal: float = Field(
        0.0, ge=0, le=1, description="Weight of a theme's goals (share of its crosswalk links in the goal, times the "
        "theme's score) on the goal; 0 by default: on dev data these shares only added wrong goals.")
    classify_weight_implied: float = Field(
        0.5, ge=0, le=1, description="Weight of a target's score on its goal (a target implies its goal; the strongest target only).")
    classify_weight_declared: float = Field(
        1.0, ge=0, le=1, description="Weight of a tag the source declared (declared labels are always kept).")
    classify_model_floor: float = Field(
        0.05, ge=0, le=1, description="Model probabilities below this are not recorded as evidence.")
    classify_goal_relative: Optional[float] = Field(
        None, ge=0, le=1, description="Relative rule: a predicted goal is kept only when its score is at least this "
        "share of the text's best predicted goal score (0 = off; declared goals are always kept; unset: calibrated "
        "with the model).")
    classify_goal_max: Optional[int] = Field(
        None, ge=0, description="At most this many predicted goals per text, the highest-scoring (0 = no limit; "
        "declared goals are always kept and not counted; unset: calibrated with the model).")
    classify_top_terms: int = Field(
        5, ge=1, description="Model evidence: how many top contributing terms are listed per label.")
    classify_workers: int = Field(
        2, ge=1, description="Processes that classify stored items in parallel (forked where the system allows; "
        "1 = in this process). Changes the speed, never the labels.")

    # linking (matcher/linking.py, matcher/scoring.py): score = 1 - prod(1 - weight x component); see README "Linking"
    link_weight_declared: float = Field(
        1.0, ge=0, le=1, description="Weight of a label the source declared, in the linker's label overlap.")
    link_weight_predicted: float = Field(
        0.8, ge=0, le=1, description="Factor on a predicted label's classifier score in the label overlap "
        "(declared tags count more than predictions).")
    link_weight_target: float = Field(
        0.9, ge=0, le=1, description="Weight of the shared-SDG-target component (specificity-weighted overlap).")
    link_weight_theme: float = Field(
        0.5, ge=0, le=1, description="Weight of the shared-UPR-Info-theme component.")
    link_weight_goal: float = Field(
        0.2, ge=0, le=1, description="Weight of the shared-SDG-goal component (weaker evidence).")
    link_weight_text: float = Field(
        0.8, ge=0, le=1, description="Weight of the text-similarity component (TF-IDF cosine of lemmatised words).")
    link_threshold: float = Field(
        0.2, ge=0, le=1, description="Minimum link score for a candidate pair to become a link.")
    link_max_per_recommendation: int = Field(
        10, ge=1, description="At most this many links per recommendation and item type (CF / donor), the best first.")
    cluster_similarity: float = Field(
        95, ge=50, le=100, description="Recommendations of one country whose texts are at least this similar "
        "(rapidfuzz token-sort ratio, 0-100) count as one cluster (100 = identical texts only).")
    link_explain_terms: int = Field(
        4, ge=0, description="Shared words named in a link's explanation.")

    # HTTP API and web page (api/)
    api_reader_open: bool = Field(
        True, description="Read endpoints and the web page work without a key (false: a reader key is needed).")
    api_cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS, e.g. [\"https://example.org\"] (empty = CORS off).")
    upload_max_bytes: int = Field(
        50_000_000, ge=1, description="Largest file accepted by POST /imports, in bytes (larger: 413).")
    upload_max_files: int = Field(
        10, ge=1, description="Most files accepted in one POST /imports request.")
    upload_background_bytes: int = Field(
        5_000_000, ge=0, description="Uploads larger than this are ingested as a background job (202 + job id).")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()


def goal_cap_settings(max_goals: Optional[int]) -> Optional[Settings]:
    """The process settings with at most ``max_goals`` predicted SDG goals per text (``--max-goals``, ``max_goals``
    in the API); None, the calibrated rule, when ``max_goals`` is None."""
    return None if max_goals is None else get_settings().model_copy(update={"classify_goal_max": max_goals})
