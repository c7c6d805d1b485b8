"""Alembic environment: the connection is handed over by matcher.store.migrate()."""
from alembic import context

from matcher import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from sqlmodel import SQLModel

target_metadata = SQLModel.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
