"""company name keys and the contacts' search text

Companies get ``name_key`` (models.text.name_key: case-folded in Python, trimmed,
spaces collapsed), which the CSV import matches on: SQL's lower() only knows ASCII
on SQLite, so "Ääni Oy" never matched itself. Contacts get ``search_text``
(models.text.fold of names and email: case-folded, accents removed), which the
contact list searches; on PostgreSQL a pg_trgm GIN index serves its ILIKE.
Both are filled for existing rows here, in id ranges.

Revision ID: b7e4c1d2a9f0
Revises: 9c1d2e3f4a5b
Create Date: 2026-12-01 11:00:00

"""
import unicodedata

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7e4c1d2a9f0'
down_revision = 'ed59658c885d'
branch_labels = None
depends_on = None

BATCH = 5000


# Copies of models.text at the time of this revision (a migration must not change later).
def _squeeze(text):
    return " ".join(text.split())


def _name_key(name):
    return None if name is None else _squeeze(name).casefold()


def _fold(text):
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _squeeze("".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def _search_text(first, last, email):
    return _fold(" ".join(v for v in (first, last, email) if v))[:500]


def _backfill(table, columns, compute):
    conn = op.get_bind()
    t = sa.table(table, sa.column("id"), *(sa.column(c) for c in columns))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(t.c.id, *(t.c[c] for c in columns[:-1]))
            .where(t.c.id > last).order_by(t.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            t.update().where(t.c.id == sa.bindparam("key")).values({columns[-1]: sa.bindparam("value")}),
            [{"key": r[0], "value": compute(*r[1:])} for r in rows],
        )
        last = rows[-1][0]


def upgrade():
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sa.String(length=200), nullable=True))
    _backfill("companies", ["name", "name_key"], _name_key)
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index('ix_companies_lower_name')
        batch_op.create_index('ix_companies_name_key', ['name_key'], unique=False)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.String(length=500), server_default='',
                                      nullable=False))
    _backfill("contacts", ["first_name", "last_name", "email", "search_text"], _search_text)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_trgm_contacts_search_text ON contacts "
                   "USING gin (search_text gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_trgm_contacts_search_text")
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('search_text')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index('ix_companies_name_key')
        batch_op.create_index('ix_companies_lower_name', [sa.text('lower(name)')], unique=False)
        batch_op.drop_column('name_key')
