"""gap cells (coverage per country x code x response, precomputed) and a lighter rec_dimension (issue #5)

``gap_cell`` makes a country's gap table and coverage summary one indexed read (<= 20 ms);
``rec_dimension`` loses its index on recommendation_id, which no query used and which was most of the
time of writing 700,000 dimension rows in a full rebuild.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gap_cell",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("response", sa.String(length=20), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            "recommendations", "clusters", "covered_cf", "covered_donor", "covered_both", "uncovered",
            "clusters_cf", "clusters_donor", "clusters_both", "uncovered_clusters")],
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gap_cell", schema=None) as b:
        b.create_index("ix_gap_cell_country", ["country", "dimension", "response"], unique=False)
    with op.batch_alter_table("rec_dimension", schema=None) as b:
        b.drop_index("ix_rec_dimension_recommendation_id")
    # gap cells are derived: an upgraded store gets them with its next `upr-align match`
    op.execute("DELETE FROM match_state")


def downgrade() -> None:
    with op.batch_alter_table("rec_dimension", schema=None) as b:
        b.create_index("ix_rec_dimension_recommendation_id", ["recommendation_id"], unique=False)
    op.drop_table("gap_cell")
