"""job runs: the parent of a split job's chunk runs (issue 17, big jobs split)

- job_runs.parent_id: a chunk run points at the run that fanned it out; the parent
  finishes when the last of its chunks has (jobs/split.py).

Revision ID: d7a3c9e1f4b2
Revises: a3f1c8e5d7b2
Create Date: 2026-12-01 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7a3c9e1f4b2'
down_revision = 'a3f1c8e5d7b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.String(length=80), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_job_runs_parent_id_job_runs'), 'job_runs',
                                    ['parent_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index('ix_job_runs_parent_id', ['parent_id'], unique=False)


def downgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_parent_id')
        batch_op.drop_constraint(batch_op.f('fk_job_runs_parent_id_job_runs'), type_='foreignkey')
        batch_op.drop_column('parent_id')
