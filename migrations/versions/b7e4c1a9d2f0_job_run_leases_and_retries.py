"""job runs: leases, retries, one active run per request; outbox claims name their run

Revision ID: b7e4c1a9d2f0
Revises: 9c1d2e3f4a5b
Create Date: 2026-12-01 10:45:00

A running job run holds a lease (worker, pid, host, heartbeat, expiry) that the reaper
checks; a retry is a new run pointing at the one it repeats. Run ids now carry a random
part, so the double-click guarantee moves from the primary key to a partial unique index
on the dedupe key of active runs. A claimed outbox message records the run that claimed
it, so a dead sender's messages are released at once.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e4c1a9d2f0'
down_revision = 'b7e4c1d2a9f0'
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker_name', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('worker_host', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('worker_pid', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('retry_of_id', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('not_before', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_job_runs_retry_of_id_job_runs'), 'job_runs',
                                    ['retry_of_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_job_runs_status_lease_expires_at',
                              ['status', 'lease_expires_at'], unique=False)
        batch_op.create_index('ix_job_runs_retry_of_id', ['retry_of_id'], unique=False)
    # Runs active before the upgrade may share a key only if two were started by a race the
    # old primary key let through; keep the newest active one.
    op.execute(
        "UPDATE job_runs SET status = 'failed', error = 'superseded by the upgrade' "
        "WHERE status IN ('queued', 'running') AND EXISTS (SELECT 1 FROM job_runs AS later "
        "WHERE later.dedupe_key = job_runs.dedupe_key AND later.status IN ('queued', 'running') "
        "AND later.enqueued_at > job_runs.enqueued_at)"
    )
    op.create_index('uq_job_runs_active_dedupe_key', 'job_runs', ['dedupe_key'], unique=True,
                    postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.alter_column('attempt', server_default=None)
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
    op.drop_index('uq_job_runs_active_dedupe_key', table_name='job_runs')
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_retry_of_id')
        batch_op.drop_index('ix_job_runs_status_lease_expires_at')
        batch_op.drop_constraint(batch_op.f('fk_job_runs_retry_of_id_job_runs'), type_='foreignkey')
        batch_op.drop_column('not_before')
        batch_op.drop_column('attempt')
        batch_op.drop_column('retry_of_id')
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('worker_pid')
        batch_op.drop_column('worker_host')
        batch_op.drop_column('worker_name')
