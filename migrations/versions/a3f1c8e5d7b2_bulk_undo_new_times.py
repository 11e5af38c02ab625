"""bulk undo remembers the times a shift or reassignment gave each activity

Undo then puts back only the activities that still have those times: one someone moved
since keeps its new place (and is counted as kept). Older records have no new times and
are restored as before.

Revision ID: a3f1c8e5d7b2
Revises: 7d2e9a41c0b8
Create Date: 2026-12-01 17:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3f1c8e5d7b2'
down_revision = '7d2e9a41c0b8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('bulk_undo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('new_start', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('new_end', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('bulk_undo', schema=None) as batch_op:
        batch_op.drop_column('new_end')
        batch_op.drop_column('new_start')
