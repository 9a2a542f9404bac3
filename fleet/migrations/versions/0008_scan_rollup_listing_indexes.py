"""hourly scan rollup kept on ingest; indexes for filtered, paged listings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:00:00

scan_hourly counts scans per (hour, site, verdict, reason) of their event
time (the gate's clock when trusted, else the receive time); it is filled
here from the scans already stored (fleet.services.rollup.backfill: the
same GROUP BY as `greengate fleet rollup --backfill`), then kept by ingest.
The scan indexes serve the dashboard lists: newest first by event time,
optionally one site or one reason, with keyset paging on (at, id).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

AT = sa.text("(CASE WHEN time_valid THEN time ELSE received_at END)")
SCAN_INDEXES = (
    ("ix_scan_at_id", [AT, "id"]),
    ("ix_scan_site_at_id", ["site_id", AT, "id"]),
    ("ix_scan_reason_at_id", ["reason", AT, "id"]),
)


def upgrade() -> None:
    op.create_table('scan_hourly',
    sa.Column('hour', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('site_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('verdict', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'site_id', 'verdict', 'reason', name=op.f('pk_scan_hourly'))
    )
    for name, cols in SCAN_INDEXES:
        op.create_index(name, 'scan', cols, unique=False)
    # audit list: newest first, keyset on (at, id)
    op.create_index('ix_audit_log_at_id', 'audit_log', ['at', 'id'], unique=False)
    op.execute(
        "INSERT INTO scan_hourly (hour, site_id, verdict, reason, count) "
        "SELECT at - at % 3600, COALESCE(site_id, -1), verdict, reason, count(*) FROM "
        "(SELECT CASE WHEN time_valid THEN time ELSE received_at END AS at, site_id, verdict, reason "
        "FROM scan) AS s GROUP BY at - at % 3600, COALESCE(site_id, -1), verdict, reason")


def downgrade() -> None:
    op.drop_index('ix_audit_log_at_id', table_name='audit_log')
    for name, _cols in reversed(SCAN_INDEXES):
        op.drop_index(name, table_name='scan')
    op.drop_table('scan_hourly')
