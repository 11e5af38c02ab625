"""campaign members: no index on job_id

Revision ID: 9c1d2e3f4a5b
Revises: 705f5ad96d03
Create Date: 2026-11-24 10:30:00

Every reader by job id also knows the campaign (undo, the campaign-join email), so
the primary key's campaign prefix finds the rows; the index cost about a fifth of
every bulk copy on PostgreSQL.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '9c1d2e3f4a5b'
down_revision = '705f5ad96d03'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_members_job_id')


def downgrade():
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_members_job_id', ['job_id'], unique=False)
