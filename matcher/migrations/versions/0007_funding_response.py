"""funding cells per response of the recommendations (accepted, noted, ... and all)

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("funding_cell", schema=None) as b:
        b.add_column(sa.Column("response", sa.String(length=20), nullable=False, server_default="all"))
        b.drop_index("ix_funding_cell_country")
        b.create_index("ix_funding_cell_country", ["country", "dimension", "response", "code"], unique=False)
    # the cells of one response are derived: an upgraded store gets them with its next `upr-align match`
    op.execute("DELETE FROM match_state")


def downgrade() -> None:
    with op.batch_alter_table("funding_cell", schema=None) as b:
        b.drop_index("ix_funding_cell_country")
        b.drop_column("response")
        b.create_index("ix_funding_cell_country", ["country", "dimension", "code"], unique=False)
