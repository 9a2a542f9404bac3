"""revocation lift (un-revoke)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:00:00
"""
from alembic import op
import sqlalchemy as sa
import fleet.models.base


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('revocation') as batch:
        batch.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column('lift_reason', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('lifted_by', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('lifted_at', fleet.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('revocation') as batch:
        batch.drop_column('lifted_at')
        batch.drop_column('lifted_by')
        batch.drop_column('lift_reason')
        batch.drop_column('active')
