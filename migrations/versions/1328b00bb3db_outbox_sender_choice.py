"""outbox sender choice

Revision ID: 1328b00bb3db
Revises: b39c30f67fea
Create Date: 2026-12-01 14:30:00.000000

- outbox_messages.sender_mode, sender_user_id: the sender an automation step chose ("sent
  as the contact's owner / a chosen user"); NULL keeps the template's own sender choice.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1328b00bb3db'
down_revision = 'b39c30f67fea'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_mode', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('sender_user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbox_messages_sender_user_id_users'),
                                    'users', ['sender_user_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_messages_sender_user_id_users'),
                                 type_='foreignkey')
        batch_op.drop_column('sender_user_id')
        batch_op.drop_column('sender_mode')
