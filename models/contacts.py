"""Contacts and leads: the people every campaign is about."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Computed, ForeignKey, Index, String, event, select, update
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from .base import Base, Timestamped, db
from .dialect import email_domain
from .text import fold

SEARCHED = ("first_name", "last_name", "email")
SEARCH_TEXT_LENGTH = 500


def search_text(first_name: str | None, last_name: str | None, email: str | None) -> str:
    """The contact list's search column: names and email folded (models.text.fold)."""
    return fold(" ".join(v for v in (first_name, last_name, email) if v))[:SEARCH_TEXT_LENGTH]


def _search_text_default(context) -> str:
    # Core inserts (the import's, the seed's) get the column like ORM inserts do.
    params = context.get_current_parameters()
    return search_text(*(params.get(name) for name in SEARCHED))


class ContactKind(StrEnum):
    """A lead is a contact not yet qualified; both live in one table."""

    CONTACT = "contact"
    LEAD = "lead"


class Contact(Timestamped, Base):
    """A person with an email address, a company and an owner."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default=ContactKind.CONTACT)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    # Normalised email (trimmed, lower case), kept by the database itself so
    # bulk SQL, imports and dedupe never disagree on what "the same email" is.
    email_key: Mapped[str | None] = mapped_column(
        String(254), Computed("lower(trim(email))", persisted=True)
    )
    # Names and email case-folded without accents (models.text.fold), kept on every write:
    # the list's search reads it, so "ohman" finds "Öhman" on SQLite as on PostgreSQL.
    search_text: Mapped[str] = mapped_column(
        String(SEARCH_TEXT_LENGTH), default=_search_text_default, server_default=""
    )
    phone: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(40), default="active")
    email_opt_out: Mapped[bool] = mapped_column(default=False)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    # passive_deletes: deleting a company lets ON DELETE SET NULL clear its contacts
    # in the database instead of loading every one of them into the session.
    company = relationship("Company", backref=backref("contacts", passive_deletes=True))
    owner = relationship("User")

    __table_args__ = (
        Index("ix_contacts_email_key", "email_key"),
        Index("ix_contacts_owner_id", "owner_id"),
        Index("ix_contacts_company_id", "company_id"),
        # The contact list sorts by these; without an index a sort reads every row.
        Index("ix_contacts_last_name", "last_name"),
        # The live count and group refreshes (issue 17): the columns most conditions name,
        # so a count over them reads a narrow index (index-only) instead of every row.
        # Creation time leads the second: "created within N days" and its usual company
        # (kind, status, language, opt-out) in one range; it also serves the list's sort.
        # Status leads the third, for trees that start from a status.
        Index("ix_contacts_criteria", "language", "status", "kind", "email_opt_out",
              "owner_id", "company_id"),
        Index("ix_contacts_created_at_criteria", "created_at", "kind", "status", "language",
              "email_opt_out"),
        Index("ix_contacts_status_criteria", "status", "kind", "email_opt_out", "language"),
    )

    @property
    def full_name(self) -> str:
        """First and last name, as a person would write them."""
        return f"{self.first_name} {self.last_name}".strip()

    def __str__(self) -> str:
        return self.full_name or self.email or f"#{self.id}"


# "Email domain is …" (issue 17): the domain expression the criteria compiler writes, with
# the address itself so a count reads this index only (index-only on PostgreSQL), not the
# rows of a million contacts.
Index("ix_contacts_email_domain", email_domain(Contact.__table__.c.email_key),
      Contact.__table__.c.email_key)


def find_contact(ident: str) -> Contact | None:
    """The contact a person typed: an id, or an email address (any case; the lowest id wins
    when several contacts share it). None when there is no such contact."""
    ident = ident.strip()
    if not ident:
        return None
    if ident.isascii() and ident.isdigit():
        # Ten digits or more would overflow an INTEGER id on PostgreSQL: no such contact.
        return db.session.get(Contact, int(ident)) if len(ident) < 10 else None
    return db.session.scalars(
        select(Contact).where(Contact.email_key == ident.lower()).order_by(Contact.id).limit(1)
    ).first()
def _keep_search_text(contact: Contact, value, _old, initiator) -> None:
    parts = {name: getattr(contact, name, None) for name in SEARCHED}
    parts[initiator.key] = value
    contact.search_text = search_text(*(parts[name] for name in SEARCHED))


for _name in SEARCHED:
    event.listen(getattr(Contact, _name), "set", _keep_search_text)


def opt_out(contact_id: int) -> None:
    """Opt the contact out of marketing email (not committed)."""
    db.session.execute(update(Contact).where(Contact.id == contact_id).values(email_opt_out=True))


# The statuses the demo data and a new installation use; a status an import brought in is
# offered too (contact_statuses).
KNOWN_STATUSES = ("active", "prospect", "customer", "inactive")


def contact_statuses(limit: int = 100) -> list[str]:
    """The statuses a contact form offers: the known ones, then any other stored status
    (the index on status answers the DISTINCT)."""
    stored = db.session.scalars(
        select(Contact.status).where(Contact.status.not_in(KNOWN_STATUSES))
        .distinct().order_by(Contact.status).limit(limit))
    return [*KNOWN_STATUSES, *(s for s in stored if s)]
