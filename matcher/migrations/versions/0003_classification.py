"""classification: predicted labels per item, stored beside the declared tags (issue #4)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_type", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("vocabulary", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("methods", sa.String(length=200), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("classification", schema=None) as batch_op:
        batch_op.create_index("ix_classification_item", ["item_type", "item_id"], unique=False)
        batch_op.create_index("ix_classification_code", ["vocabulary", "code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("classification", schema=None) as batch_op:
        batch_op.drop_index("ix_classification_code")
        batch_op.drop_index("ix_classification_item")
    op.drop_table("classification")
