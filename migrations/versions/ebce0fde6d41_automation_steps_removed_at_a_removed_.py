"""automation steps: removed_at (a removed step keeps its history)

A removed step is no longer deleted with its traces: it is marked removed, its pending
traces are cancelled (reason step_removed) and its done ones stay readable.

Revision ID: ebce0fde6d41
Revises: d7a3c9e1f4b2
Create Date: 2026-12-01 17:13:59.890519

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ebce0fde6d41'
down_revision = 'd7a3c9e1f4b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('automation_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # Without the column a removed step would be back in use: it goes, as it used to, with
    # its traces.
    removed = "SELECT id FROM automation_steps WHERE removed_at IS NOT NULL"
    op.execute(f"DELETE FROM automation_step_traces WHERE step_id IN ({removed})")
    op.execute("DELETE FROM automation_steps WHERE removed_at IS NOT NULL")
    with op.batch_alter_table('automation_steps', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
