"""criteria indexes for the live count at a million contacts (issue 17)

- ix_contacts_criteria (language, status, kind, email_opt_out, owner_id, company_id):
  counts over the columns most conditions name read this narrow index (index-only on
  PostgreSQL once vacuumed) instead of every row of contacts.
- ix_contacts_created_at_criteria (created_at, kind, status, language, email_opt_out)
  replaces ix_contacts_created_at: "created within N days" with its usual companions is
  one index range, and the contact list still sorts by creation time on it.
- ix_contacts_status_criteria (status, kind, email_opt_out, language) replaces
  ix_contacts_status the same way, for trees that start from a status.

Revision ID: c4e8a1f2b3d5
Revises: 0601d1c77607
Create Date: 2026-12-01 14:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e8a1f2b3d5'
down_revision = '0601d1c77607'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_criteria', ['language', 'status', 'kind',
                                                       'email_opt_out', 'owner_id',
                                                       'company_id'], unique=False)
        batch_op.create_index('ix_contacts_created_at_criteria',
                              ['created_at', 'kind', 'status', 'language', 'email_opt_out'],
                              unique=False)
        batch_op.create_index('ix_contacts_status_criteria',
                              ['status', 'kind', 'email_opt_out', 'language'], unique=False)
        batch_op.drop_index('ix_contacts_created_at')
        batch_op.drop_index('ix_contacts_status')


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_contacts_status', ['status'], unique=False)
        batch_op.drop_index('ix_contacts_status_criteria')
        batch_op.drop_index('ix_contacts_created_at_criteria')
        batch_op.drop_index('ix_contacts_criteria')
