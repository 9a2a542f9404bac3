"""site coordinates (lat, lon) for the site map

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 17:00:00

Both nullable (sites made before have none until an operator sets them);
CHECK constraints keep them in range and paired.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('site') as batch:
        batch.add_column(sa.Column('lat', sa.Float(), nullable=True))
        batch.add_column(sa.Column('lon', sa.Float(), nullable=True))
        batch.create_check_constraint('lat_range', 'lat IS NULL OR (lat >= -90 AND lat <= 90)')
        batch.create_check_constraint('lon_range', 'lon IS NULL OR (lon >= -180 AND lon <= 180)')
        batch.create_check_constraint('lat_lon_pair', '(lat IS NULL) = (lon IS NULL)')


def downgrade() -> None:
    with op.batch_alter_table('site') as batch:
        batch.drop_constraint('lat_lon_pair', type_='check')
        batch.drop_constraint('lon_range', type_='check')
        batch.drop_constraint('lat_range', type_='check')
        batch.drop_column('lon')
        batch.drop_column('lat')
