"""ingest dead letters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 14:00:00
"""
from alembic import op
import sqlalchemy as sa
import fleet.models.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dead_letter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=32), nullable=False),
    sa.Column('topic', sa.String(length=128), nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('payload_size', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=False),
    sa.Column('first_seen', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letter')),
    sa.UniqueConstraint('device_id', 'payload_sha256', name=op.f('uq_dead_letter_device_id_payload_sha256'))
    )
    op.create_index(op.f('ix_dead_letter_device_id'), 'dead_letter', ['device_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dead_letter_device_id'), table_name='dead_letter')
    op.drop_table('dead_letter')
