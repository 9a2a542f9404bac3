"""login throttle

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:40:00
"""
from alembic import op
import sqlalchemy as sa
import fleet.models.base


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )


def downgrade() -> None:
    op.drop_table('login_throttle')
