"""signed firmware releases and rollout campaigns (issue 14)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 16:50:17

The release payload itself is a row of the existing `blob` table.
"""
from alembic import op
import sqlalchemy as sa
import fleet.models.base


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('release',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('target', sa.SmallInteger(), nullable=False),
    sa.Column('min_previous', sa.Integer(), nullable=False),
    sa.Column('manifest', sa.LargeBinary(), nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('files', sa.Integer(), nullable=False),
    sa.Column('built_at', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release')),
    sa.UniqueConstraint('number', name=op.f('uq_release_number'))
    )
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('selector', sa.JSON(), nullable=False),
    sa.Column('waves', sa.JSON(), nullable=False),
    sa.Column('pause_s', sa.Integer(), nullable=False),
    sa.Column('failure_threshold_pct', sa.Float(), nullable=False),
    sa.Column('max_in_flight', sa.Integer(), nullable=False),
    sa.Column('stall_s', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('wave_started_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('wave_complete_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_failures', sa.JSON(), nullable=False),
    sa.Column('offer_sha256', sa.String(length=64), nullable=True),
    sa.Column('halt_reason', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['release_id'], ['release.id'], name=op.f('fk_campaign_release_id_release')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign'))
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_release_id'), ['release_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_state'), ['state'], unique=False)

    op.create_table('campaign_device',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('percent', sa.SmallInteger(), nullable=False),
    sa.Column('reason', sa.SmallInteger(), nullable=False),
    sa.Column('offers', sa.Integer(), nullable=False),
    sa.Column('offered_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_campaign_device_campaign_id_campaign')),
    sa.PrimaryKeyConstraint('campaign_id', 'device_id', name=op.f('pk_campaign_device'))
    )
    with op.batch_alter_table('campaign_device', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_device_campaign_id_wave_status', ['campaign_id', 'wave', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('campaign_device', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_device_campaign_id_wave_status')

    op.drop_table('campaign_device')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_state'))
        batch_op.drop_index(batch_op.f('ix_campaign_release_id'))

    op.drop_table('campaign')
    op.drop_table('release')
