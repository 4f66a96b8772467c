"""outbox: jobs as rows of the transaction that needs them; broadcasts in chunks

Revision ID: 0011_outbox
Revises: 0010_money_under_races
Create Date: 2026-12-01 13:20:00

"""
from alembic import op
import sqlalchemy as sa

import service.common.db


# revision identifiers, used by Alembic.
revision = '0011_outbox'
down_revision = '0010_money_under_races'
branch_labels = None
depends_on = None

OPEN = "state IN ('pending', 'running')"


def upgrade():
    op.create_table(
        'jobs',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('args', sa.JSON(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('run_at', service.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('lease_until', service.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('handed_at', service.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', service.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', service.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'running', 'done', 'dead')", name=op.f('ck_jobs_state')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
        sa.UniqueConstraint('key', name=op.f('uq_jobs_key')),
    )
    op.create_index(
        'ix_jobs_open_due', 'jobs', ['run_at'], unique=False,
        postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN),
    )
    with op.batch_alter_table('broadcasts') as batch_op:
        batch_op.drop_constraint('status', type_='check')
        batch_op.add_column(sa.Column('chunks', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('chunks_done', sa.Integer(), nullable=False, server_default='0'))
        batch_op.alter_column('recipients', existing_type=sa.Integer(), nullable=True)
    op.execute("UPDATE broadcasts SET status = 'sent' WHERE status = 'done'")
    with op.batch_alter_table('broadcasts') as batch_op:
        batch_op.alter_column('chunks', server_default=None)
        batch_op.alter_column('chunks_done', server_default=None)
        batch_op.create_check_constraint('status', "status IN ('queued', 'sending', 'sent')")


def downgrade():
    op.execute("UPDATE broadcasts SET status = 'done' WHERE status = 'sent'")
    op.execute("UPDATE broadcasts SET recipients = 0 WHERE recipients IS NULL")
    with op.batch_alter_table('broadcasts') as batch_op:
        batch_op.drop_constraint('status', type_='check')
        batch_op.alter_column('recipients', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('chunks_done')
        batch_op.drop_column('chunks')
        batch_op.create_check_constraint('status', "status IN ('queued', 'sending', 'done')")
    op.drop_index('ix_jobs_open_due', table_name='jobs')
    op.drop_table('jobs')
