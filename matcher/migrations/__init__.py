"""Alembic migrations of the store; run through ``matcher.store`` (no alembic.ini needed)."""
