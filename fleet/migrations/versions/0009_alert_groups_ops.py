"""alert groups: severity, group key (one open group per key), acknowledge
note, critical-alert webhook state; the note of a revocation lift

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:00:00

Alerts raised before this revision keep group_key NULL (never matched by a
new occurrence; NULLs never collide in the unique index); their last_seen_at
becomes their created_at so the alerts page orders every row alike.
"""
from alembic import op
import sqlalchemy as sa
import fleet.models.base


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OPEN = sa.text("acknowledged_at IS NULL")
PENDING = sa.text("notify_state = 'pending'")
SEVERITY = {"critical": ("REVOKED_PRESENTED", "TAMPER", "GATE_ERROR"),
            "info": ("CLOCK_DRIFT", "OUTBOX_BACKLOG")}  # the rest: warning (alerts.SEVERITY)


def _backfill_pass_hash() -> None:
    """REVOKED_PRESENTED alerts of before carry the pass in their JSON detail."""
    conn = op.get_bind()
    alert = sa.table('alert', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                     sa.column('detail', sa.JSON), sa.column('pass_hash', sa.String))
    rows = conn.execute(sa.select(alert.c.id, alert.c.detail)
                        .where(alert.c.kind == 'REVOKED_PRESENTED')).all()
    updates = [{"i": i, "h": d["pass_hash"]} for i, d in rows
               if isinstance(d, dict) and isinstance(d.get("pass_hash"), str)
               and len(d["pass_hash"]) == 32]
    if updates:
        conn.execute(alert.update().where(alert.c.id == sa.bindparam("i"))
                     .values(pass_hash=sa.bindparam("h")), updates)


def upgrade() -> None:
    with op.batch_alter_table('alert') as batch:
        batch.add_column(sa.Column('severity', sa.String(length=8), server_default='warning',
                                   nullable=False))
        batch.add_column(sa.Column('group_key', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('pass_hash', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('ack_note', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('notify_state', sa.String(length=8), nullable=True))
        batch.add_column(sa.Column('notify_attempts', sa.Integer(), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('notify_next_at', fleet.models.base.UTCDateTime(timezone=True),
                                   nullable=True))
    alert = sa.table('alert', sa.column('kind', sa.String), sa.column('severity', sa.String),
                     sa.column('last_seen_at'), sa.column('created_at'))
    for severity, kinds in SEVERITY.items():
        op.execute(alert.update().where(alert.c.kind.in_(kinds)).values(severity=severity))
    op.execute(alert.update().where(alert.c.last_seen_at.is_(None))
               .values(last_seen_at=alert.c.created_at))
    with op.batch_alter_table('revocation') as batch:
        batch.add_column(sa.Column('lift_note', sa.String(length=300), nullable=True))
    _backfill_pass_hash()
    op.create_index('ix_alert_open_last_seen_at_id', 'alert', ['last_seen_at', 'id'], unique=False,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index('ix_alert_open_severity', 'alert', ['severity'], unique=False,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index('ix_alert_severity_last_seen_at', 'alert', ['severity', 'last_seen_at'],
                    unique=False)
    op.create_index(op.f('ix_alert_pass_hash'), 'alert', ['pass_hash'], unique=False)
    op.create_index('uq_alert_open_group', 'alert', ['group_key'], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index('ix_alert_last_seen_at_id', 'alert', ['last_seen_at', 'id'], unique=False)
    op.create_index('ix_alert_notify_pending', 'alert', ['notify_next_at'], unique=False,
                    sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index('ix_alert_notify_pending', table_name='alert')
    op.drop_index('ix_alert_last_seen_at_id', table_name='alert')
    op.drop_index('uq_alert_open_group', table_name='alert')
    op.drop_index(op.f('ix_alert_pass_hash'), table_name='alert')
    op.drop_index('ix_alert_severity_last_seen_at', table_name='alert')
    op.drop_index('ix_alert_open_severity', table_name='alert')
    op.drop_index('ix_alert_open_last_seen_at_id', table_name='alert')
    with op.batch_alter_table('revocation') as batch:
        batch.drop_column('lift_note')
    with op.batch_alter_table('alert') as batch:
        for column in ('notify_next_at', 'notify_attempts', 'notify_state', 'ack_note',
                       'pass_hash', 'group_key', 'severity'):
            batch.drop_column(column)
