"""hourly scan rollup kept on ingest; indexes for filtered, paged listings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:00:00

scan_hourly counts scans per (hour, site, verdict, reason) of their event
time (the gate's clock when trusted, else the receive time);
scan_hourly_district per (hour, verdict, reason), scan_daily_site per
(UTC day, site, verdict) and scan_daily_site_reason per (UTC day, site,
verdict, reason) are coarser grains of the same counts. They are
filled here from the scans already stored (the GROUP BYs of
fleet.services.rollup.backfill, `greengate fleet rollup`), then kept by ingest.
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
    op.create_index('ix_scan_hourly_site_id_hour', 'scan_hourly', ['site_id', 'hour'], unique=False)
    op.create_index('ix_scan_hourly_reason_hour', 'scan_hourly', ['reason', 'hour'], unique=False)
    op.create_table('scan_hourly_district',
    sa.Column('hour', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('verdict', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'verdict', 'reason', name=op.f('pk_scan_hourly_district'))
    )
    op.create_table('scan_daily_site',
    sa.Column('day', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('site_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('verdict', sa.Boolean(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'site_id', 'verdict', name=op.f('pk_scan_daily_site'))
    )
    op.create_table('scan_daily_site_reason',
    sa.Column('day', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('site_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('verdict', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'site_id', 'verdict', 'reason', name=op.f('pk_scan_daily_site_reason'))
    )
    op.create_index('ix_scan_daily_site_reason_reason_day', 'scan_daily_site_reason', ['reason', 'day'],
                    unique=False)
    for name, cols in SCAN_INDEXES:
        op.create_index(name, 'scan', cols, unique=False)
    # audit list: newest first, keyset on (at, id)
    op.create_index('ix_audit_log_at_id', 'audit_log', ['at', 'id'], unique=False)
    scans = ("(SELECT CASE WHEN time_valid THEN time ELSE received_at END AS at, "
             "COALESCE(site_id, -1) AS site, verdict, reason FROM scan) AS s")
    for table, cols, bucket in (("scan_hourly", "site, verdict, reason", 3600),
                                ("scan_hourly_district", "verdict, reason", 3600),
                                ("scan_daily_site", "site, verdict", 86400),
                                ("scan_daily_site_reason", "site, verdict, reason", 86400)):
        names = cols.replace("site", "site_id")
        first = "day" if bucket == 86400 else "hour"
        op.execute(f"INSERT INTO {table} ({first}, {names}, count) "
                   f"SELECT at - at % {bucket}, {cols}, count(*) FROM {scans} "
                   f"GROUP BY at - at % {bucket}, {cols} ORDER BY 1, {cols}")


def downgrade() -> None:
    op.drop_index('ix_audit_log_at_id', table_name='audit_log')
    for name, _cols in reversed(SCAN_INDEXES):
        op.drop_index(name, table_name='scan')
    op.drop_index('ix_scan_daily_site_reason_reason_day', table_name='scan_daily_site_reason')
    op.drop_table('scan_daily_site_reason')
    op.drop_table('scan_daily_site')
    op.drop_table('scan_hourly_district')
    op.drop_index('ix_scan_hourly_reason_hour', table_name='scan_hourly')
    op.drop_index('ix_scan_hourly_site_id_hour', table_name='scan_hourly')
    op.drop_table('scan_hourly')
