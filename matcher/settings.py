"""One settings object for the whole product (environment variables prefixed ``UPR_ALIGN_``)."""
from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
