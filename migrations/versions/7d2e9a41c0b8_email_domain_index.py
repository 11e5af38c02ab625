"""an index on the email domain, for "email domain is …" at a million contacts (issue 17)

The criteria compiler writes ``substr(email_key, strpos(email_key, '@') + 1)`` (instr() on
SQLite) with its constants inline; this index is that expression plus the address, so a
live count of a domain reads the index alone instead of every contact.

Revision ID: 7d2e9a41c0b8
Revises: c4e8a1f2b3d5
Create Date: 2026-12-01 17:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d2e9a41c0b8'
down_revision = 'c4e8a1f2b3d5'
branch_labels = None
depends_on = None


def upgrade():
    find = 'strpos' if op.get_bind().dialect.name == 'postgresql' else 'instr'
    op.create_index('ix_contacts_email_domain', 'contacts',
                    [sa.text(f"substr(email_key, {find}(email_key, '@') + 1)"), 'email_key'],
                    unique=False)


def downgrade():
    op.drop_index('ix_contacts_email_domain', table_name='contacts')
