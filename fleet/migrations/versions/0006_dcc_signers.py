"""EU DCC signers (issue 13): dcc_signer, dcc_list, device DCC table state, site formats

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 17:00:00
"""
from alembic import op
import sqlalchemy as sa
import fleet.models.base


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dcc_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('imported_by', sa.String(length=64), nullable=False),
    sa.Column('imported_at', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.Column('kids', sa.JSON(), nullable=False),
    sa.Column('countries', sa.JSON(), nullable=False),
    sa.Column('refusals', sa.JSON(), nullable=False),
    sa.Column('snapshot_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_sha256'], ['blob.sha256'],
                            name=op.f('fk_dcc_list_snapshot_sha256_blob')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dcc_list'))
    )
    op.create_table('dcc_signer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=16), nullable=False),
    sa.Column('alg', sa.SmallInteger(), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=False),
    sa.Column('e', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.BigInteger(), nullable=False),
    sa.Column('not_after', sa.BigInteger(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('types', sa.String(length=3), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('imported_at', fleet.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dcc_signer')),
    sa.UniqueConstraint('kid', name=op.f('uq_dcc_signer_kid'))
    )
    with op.batch_alter_table('dcc_signer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dcc_signer_country'), ['country'], unique=False)
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dcc_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('dcc_keys', sa.Integer(), nullable=True))
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.add_column(sa.Column('formats', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.drop_column('formats')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_column('dcc_keys')
        batch_op.drop_column('dcc_version')
    with op.batch_alter_table('dcc_signer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dcc_signer_country'))
    op.drop_table('dcc_signer')
    op.drop_table('dcc_list')
