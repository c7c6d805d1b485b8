"""links, match state and the materialised coverage / dimension / funding tables (issue #5)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("item_type", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("explanation", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=True),
        sa.Column("review_reason", sa.String(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("components", sa.JSON(), nullable=True),
        sa.Column("matcher_version", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("link", schema=None) as b:
        b.create_index("ux_link_pair", ["recommendation_id", "item_type", "item_id"], unique=True)
        b.create_index("ix_link_item", ["item_type", "item_id"], unique=False)
        b.create_index(b.f("ix_link_recommendation_id"), ["recommendation_id"], unique=False)
        b.create_index(b.f("ix_link_country"), ["country"], unique=False)
        b.create_index(b.f("ix_link_status"), ["status"], unique=False)

    op.create_table(
        "match_state",
        sa.Column("item_type", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("item_type", "item_id"),
    )

    op.create_table(
        "coverage",
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("response", sa.String(length=20), nullable=False),
        sa.Column("action_category", sa.Integer(), nullable=True),
        sa.Column("cluster_id", sa.String(length=64), nullable=False),
        sa.Column("covered_by", sa.String(length=10), nullable=False),
        sa.Column("cf_links", sa.Integer(), nullable=False),
        sa.Column("donor_links", sa.Integer(), nullable=False),
        sa.Column("best_cf_link_id", sa.Integer(), nullable=True),
        sa.Column("best_cf_score", sa.Float(), nullable=True),
        sa.Column("best_donor_link_id", sa.Integer(), nullable=True),
        sa.Column("best_donor_score", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("recommendation_id"),
    )
    with op.batch_alter_table("coverage", schema=None) as b:
        b.create_index("ix_coverage_country", ["country", "response"], unique=False)

    op.create_table(
        "rec_dimension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rec_dimension", schema=None) as b:
        b.create_index("ix_rec_dimension_country", ["country", "dimension", "code"], unique=False)
        b.create_index(b.f("ix_rec_dimension_recommendation_id"), ["recommendation_id"], unique=False)

    op.create_table(
        "funding_cell",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("item_type", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("touching", sa.Numeric(24, 4), nullable=False),
        sa.Column("attributed", sa.Numeric(24, 4), nullable=False),
        sa.Column("touching_usd", sa.Numeric(24, 4), nullable=True),
        sa.Column("attributed_usd", sa.Numeric(24, 4), nullable=True),
        sa.Column("facts", sa.Integer(), nullable=False),
        sa.Column("facts_without_usd", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("recommendations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("funding_cell", schema=None) as b:
        b.create_index("ix_funding_cell_country", ["country", "dimension", "code"], unique=False)


def downgrade() -> None:
    for table in ("funding_cell", "rec_dimension", "coverage", "match_state", "link"):
        op.drop_table(table)
