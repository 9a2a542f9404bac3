"""login throttle per (user, address) with growing delays; grouped alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 14:20:00

The throttle's rows are short-lived counters: the table is recreated with
its new columns (old counts are dropped, as a restart of the window would).
"""
from alembic import op
import sqlalchemy as sa
import fleet.models.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _throttle_table(*columns: sa.Column) -> None:
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    *columns,
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )


def upgrade() -> None:
    op.drop_table('login_throttle')
    _throttle_table(
        sa.Column('last_failure_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('blocked_until', fleet.models.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('alert') as batch:
        batch.add_column(sa.Column('count', sa.Integer(), server_default='1', nullable=False))
        batch.add_column(sa.Column('last_seen_at', fleet.models.base.UTCDateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alert') as batch:
        batch.drop_column('last_seen_at')
        batch.drop_column('count')
    op.drop_table('login_throttle')
    _throttle_table(
        sa.Column('window_start', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('locked_until', fleet.models.base.UTCDateTime(timezone=True), nullable=True))
