"""search and sort indexes

Sort indexes for the contact list, and on PostgreSQL pg_trgm GIN indexes so the
back office's ILIKE '%text%' search does not scan every contact (see
models/search.py; autogenerate is told to leave the trigram indexes alone).

Revision ID: 2279554a30de
Revises: 678a4728c7fc
Create Date: 2026-11-24 05:54:50.091587

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '2279554a30de'
down_revision = '678a4728c7fc'
branch_labels = None
depends_on = None

TRIGRAM = (
    ("ix_trgm_contacts_first_name", "contacts", "first_name"),
    ("ix_trgm_contacts_last_name", "contacts", "last_name"),
    ("ix_trgm_contacts_email", "contacts", "email"),
    ("ix_trgm_companies_name", "companies", "name"),
)


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_contacts_last_name', ['last_name'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, column in TRIGRAM:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _column in TRIGRAM:
            op.execute(f"DROP INDEX IF EXISTS {name}")

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_last_name')
        batch_op.drop_index('ix_contacts_created_at')
