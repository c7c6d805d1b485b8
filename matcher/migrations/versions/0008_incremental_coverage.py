"""incremental matching: each recommendation's normalised text, indexes on its cluster and length, and a
cache of item lemmas (issue #5)

``coverage.norm_text`` lets an incremental match cluster new recommendations against the stored texts
of their country without re-reading and re-normalising every recommendation; ``ix_coverage_length``
(an expression index on the text's length) finds the stored texts long enough to be similar to a new
one, ``ix_coverage_cluster`` the members of the clusters a change touches and ``ix_rec_dimension_rec`` their
dimension rows (0006 dropped that index because keeping it up to date slowed a full rebuild; a full match
now drops the indexes while it rewrites the table and builds them after).  ``lemma_cache`` keeps the
lemmas of item texts for the text-similarity space (``matcher.lemma_cache``).

Revision ID: 0008
Revises: 0007

Note: SQLite cannot reflect an index on an expression, so a later ``batch_alter_table("coverage")`` (which
copies the table) would lose ``ix_coverage_length`` without a word: re-create it there
(``tests/test_store.py::test_expression_indexes_exist`` checks it at head).
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coverage", schema=None) as b:
        b.add_column(sa.Column("norm_text", sa.Text(), nullable=True))
        b.create_index("ix_coverage_cluster", ["country", "cluster_id"], unique=False)
    op.create_index("ix_coverage_length", "coverage", ["country", sa.text("length(norm_text)")], unique=False)
    op.create_index("ix_rec_dimension_rec", "rec_dimension", ["recommendation_id"], unique=False)
    # gap cells are now added to, not only rewritten: one row per key, enforced (the next match is a full one)
    op.execute("DELETE FROM gap_cell")
    op.drop_index("ix_gap_cell_country", table_name="gap_cell")
    op.create_index("ux_gap_cell_key", "gap_cell", ["country", "dimension", "response", "code"], unique=True)
    op.create_table("lemma_cache",
                    sa.Column("key", sa.String(length=40), nullable=False),
                    sa.Column("lemmas", sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("key"))
    # coverage rows without norm_text are rebuilt by the next `upr-align match` (a full one)
    op.execute("DELETE FROM match_state")


def downgrade() -> None:
    op.drop_index("ux_gap_cell_key", table_name="gap_cell")
    op.create_index("ix_gap_cell_country", "gap_cell", ["country", "dimension", "response"], unique=False)
    op.drop_index("ix_rec_dimension_rec", table_name="rec_dimension")
    op.drop_table("lemma_cache")
    op.drop_index("ix_coverage_length", table_name="coverage")
    with op.batch_alter_table("coverage", schema=None) as b:
        b.drop_index("ix_coverage_cluster")
        b.drop_column("norm_text")
