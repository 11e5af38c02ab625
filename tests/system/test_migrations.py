"""Migrations build the schema on an empty database and agree with the models."""

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from models import db
from models.search import include_object

# (index name, table, column): what the list screens search, made by the migrations.
TRIGRAM_INDEXES = (
    ("ix_trgm_contacts_first_name", "contacts", "first_name"),
    ("ix_trgm_contacts_last_name", "contacts", "last_name"),
    ("ix_trgm_contacts_email", "contacts", "email"),
    ("ix_trgm_companies_name", "companies", "name"),
    # The contact list's search reads Contact.search_text (folded names and email).
    ("ix_trgm_contacts_search_text", "contacts", "search_text"),
)


def test_migrations_created_every_table(ctx):
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(ctx):
    """What `kohde db check` checks: autogenerate finds nothing to add or change."""
    with db.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; alembic says so and skips them.
        warnings.filterwarnings("ignore", message="autogenerate skipping")
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection")
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_lookup_indexes_exist(ctx):
    inspector = inspect(db.engine)
    with warnings.catch_warnings():  # SQLite cannot reflect the email-domain expression index
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection")
        contact_indexes = {ix["name"] for ix in inspector.get_indexes("contacts")}
    assert {"ix_contacts_email_key", "ix_contacts_owner_id", "ix_contacts_company_id"} <= (
        contact_indexes
    )
    member_pk = inspector.get_pk_constraint("campaign_members")["constrained_columns"]
    assert member_pk[0] == "campaign_id"  # members by campaign use the primary key


def test_postgresql_has_trigram_search_indexes(ctx):
    if db.engine.dialect.name != "postgresql":
        return  # SQLite has no trigram indexes; its search is a scan
    inspector = inspect(db.engine)
    for name, table, _column in TRIGRAM_INDEXES:
        assert name in {ix["name"] for ix in inspector.get_indexes(table)}
