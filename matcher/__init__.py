"""upr-align's engine: the few names a user, the CLI, the API or a test needs."""
from .imports import import_file
from .loading import ImportSummary
from .queries import list_recommendations, stats
from .records import Batch, IngestError, ItemRecord, Problem
from .settings import Settings, get_settings
from .sources import Source
from .store import SchemaError, get_engine, make_engine, migrate, session_scope

__all__ = [
    "Batch", "ImportSummary", "IngestError", "ItemRecord", "Problem", "SchemaError", "Settings", "Source",
    "get_engine", "get_settings", "import_file", "list_recommendations", "make_engine", "migrate",
    "session_scope", "stats",
]
