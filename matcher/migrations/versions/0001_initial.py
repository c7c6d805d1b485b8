"""initial schema: recommendations, CF items, activities, money, tags

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 12:29:28.514698
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('import_batch',
    sa.Column('source_type', sa.String(), nullable=False),
    sa.Column('file_name', sa.String(), nullable=False),
    sa.Column('sha256', sa.String(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=True),
    sa.Column('problems_total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_batch_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_batch_source_type'), ['source_type'], unique=False)

    op.create_table('item_country',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_type', sa.String(length=20), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('iso3', sa.String(length=3), nullable=True),
    sa.Column('name', sa.String(), nullable=True),
    sa.Column('group_name', sa.String(), nullable=True),
    sa.Column('share_pct', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('item_country', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_country_iso3'), ['iso3'], unique=False)
        batch_op.create_index('ix_item_country_item', ['item_type', 'item_id'], unique=False)

    op.create_table('item_tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_type', sa.String(length=20), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('vocabulary', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(), nullable=True),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('route', sa.String(length=60), nullable=True),
    sa.Column('share_pct', sa.Float(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('item_tag', schema=None) as batch_op:
        batch_op.create_index('ix_item_tag_code', ['vocabulary', 'code'], unique=False)
        batch_op.create_index('ix_item_tag_item', ['item_type', 'item_id'], unique=False)

    op.create_table('activity',
    sa.Column('iati_identifier', sa.String(), nullable=False),
    sa.Column('reporting_org_ref', sa.String(), nullable=True),
    sa.Column('reporting_org_name', sa.String(), nullable=True),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('default_currency', sa.String(length=3), nullable=True),
    sa.Column('hierarchy', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.String(length=200), nullable=True),
    sa.Column('is_child', sa.Boolean(), nullable=False),
    sa.Column('source_type', sa.String(), nullable=False),
    sa.Column('source_file', sa.String(), nullable=False),
    sa.Column('source_sha256', sa.String(), nullable=False),
    sa.Column('source_row', sa.String(), nullable=True),
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('titles', sa.JSON(), nullable=True),
    sa.Column('descriptions', sa.JSON(), nullable=True),
    sa.Column('participating_orgs', sa.JSON(), nullable=True),
    sa.Column('related_activities', sa.JSON(), nullable=True),
    sa.Column('recipient_regions', sa.JSON(), nullable=True),
    sa.Column('dates', sa.JSON(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_iati_identifier'), ['iati_identifier'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_reporting_org_ref'), ['reporting_org_ref'], unique=False)

    op.create_table('cf_item',
    sa.Column('level', sa.String(), nullable=False),
    sa.Column('code', sa.String(), nullable=True),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('parent_id', sa.String(length=200), nullable=True),
    sa.Column('plan_name', sa.String(), nullable=True),
    sa.Column('country', sa.String(length=3), nullable=True),
    sa.Column('country_group', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('source_type', sa.String(), nullable=False),
    sa.Column('source_file', sa.String(), nullable=False),
    sa.Column('source_sha256', sa.String(), nullable=False),
    sa.Column('source_row', sa.String(), nullable=True),
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('agencies', sa.JSON(), nullable=True),
    sa.Column('partners_contributing', sa.JSON(), nullable=True),
    sa.Column('partners_implementing', sa.JSON(), nullable=True),
    sa.Column('markers', sa.JSON(), nullable=True),
    sa.Column('lnob_groups', sa.JSON(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cf_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cf_item_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cf_item_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_cf_item_country'), ['country'], unique=False)
        batch_op.create_index(batch_op.f('ix_cf_item_level'), ['level'], unique=False)
        batch_op.create_index(batch_op.f('ix_cf_item_parent_id'), ['parent_id'], unique=False)

    op.create_table('money_fact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_type', sa.String(length=20), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('source_type', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=24, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.Column('amount_usd', sa.Numeric(precision=24, scale=4), nullable=True),
    sa.Column('usd_rate', sa.Float(), nullable=True),
    sa.Column('no_usd_reason', sa.String(), nullable=True),
    sa.Column('is_negative', sa.Boolean(), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('money_fact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_money_fact_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_money_fact_year'), ['year'], unique=False)
        batch_op.create_index('ix_money_item', ['item_type', 'item_id'], unique=False)
        batch_op.create_index('ix_money_kind', ['source_type', 'kind'], unique=False)

    op.create_table('recommendation',
    sa.Column('state_under_review', sa.String(length=3), nullable=True),
    sa.Column('state_under_review_name', sa.String(), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=True),
    sa.Column('session', sa.Integer(), nullable=True),
    sa.Column('document_symbol', sa.String(), nullable=True),
    sa.Column('paragraph', sa.String(), nullable=True),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('text_original', sa.String(), nullable=False),
    sa.Column('response', sa.String(), nullable=False),
    sa.Column('response_raw', sa.String(), nullable=True),
    sa.Column('action_category', sa.Integer(), nullable=True),
    sa.Column('action_category_origin', sa.String(), nullable=True),
    sa.Column('source_type', sa.String(), nullable=False),
    sa.Column('source_file', sa.String(), nullable=False),
    sa.Column('source_sha256', sa.String(), nullable=False),
    sa.Column('source_row', sa.String(), nullable=True),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('source_key', sa.String(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recommendation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recommendation_action_category'), ['action_category'], unique=False)
        batch_op.create_index(batch_op.f('ix_recommendation_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recommendation_cycle'), ['cycle'], unique=False)
        batch_op.create_index(batch_op.f('ix_recommendation_response'), ['response'], unique=False)
        batch_op.create_index(batch_op.f('ix_recommendation_session'), ['session'], unique=False)
        batch_op.create_index(batch_op.f('ix_recommendation_source_type'), ['source_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_recommendation_state_under_review'), ['state_under_review'], unique=False)

    op.create_table('recommending_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recommendation_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('iso3', sa.String(length=3), nullable=True),
    sa.Column('name', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['recommendation_id'], ['recommendation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recommending_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recommending_state_iso3'), ['iso3'], unique=False)
        batch_op.create_index(batch_op.f('ix_recommending_state_recommendation_id'), ['recommendation_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('recommending_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recommending_state_recommendation_id'))
        batch_op.drop_index(batch_op.f('ix_recommending_state_iso3'))

    op.drop_table('recommending_state')
    with op.batch_alter_table('recommendation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recommendation_state_under_review'))
        batch_op.drop_index(batch_op.f('ix_recommendation_source_type'))
        batch_op.drop_index(batch_op.f('ix_recommendation_session'))
        batch_op.drop_index(batch_op.f('ix_recommendation_response'))
        batch_op.drop_index(batch_op.f('ix_recommendation_cycle'))
        batch_op.drop_index(batch_op.f('ix_recommendation_batch_id'))
        batch_op.drop_index(batch_op.f('ix_recommendation_action_category'))

    op.drop_table('recommendation')
    with op.batch_alter_table('money_fact', schema=None) as batch_op:
        batch_op.drop_index('ix_money_kind')
        batch_op.drop_index('ix_money_item')
        batch_op.drop_index(batch_op.f('ix_money_fact_year'))
        batch_op.drop_index(batch_op.f('ix_money_fact_batch_id'))

    op.drop_table('money_fact')
    with op.batch_alter_table('cf_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cf_item_parent_id'))
        batch_op.drop_index(batch_op.f('ix_cf_item_level'))
        batch_op.drop_index(batch_op.f('ix_cf_item_country'))
        batch_op.drop_index(batch_op.f('ix_cf_item_code'))
        batch_op.drop_index(batch_op.f('ix_cf_item_batch_id'))

    op.drop_table('cf_item')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_reporting_org_ref'))
        batch_op.drop_index(batch_op.f('ix_activity_parent_id'))
        batch_op.drop_index(batch_op.f('ix_activity_iati_identifier'))
        batch_op.drop_index(batch_op.f('ix_activity_batch_id'))

    op.drop_table('activity')
    with op.batch_alter_table('item_tag', schema=None) as batch_op:
        batch_op.drop_index('ix_item_tag_item')
        batch_op.drop_index('ix_item_tag_code')

    op.drop_table('item_tag')
    with op.batch_alter_table('item_country', schema=None) as batch_op:
        batch_op.drop_index('ix_item_country_item')
        batch_op.drop_index(batch_op.f('ix_item_country_iso3'))

    op.drop_table('item_country')
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_batch_source_type'))
        batch_op.drop_index(batch_op.f('ix_import_batch_sha256'))

    op.drop_table('import_batch')
    
