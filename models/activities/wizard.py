"""Group-activity wizard runs: the wizard's state between its steps, kept server-side.

A run remembers what each step chose (shared or per-contact activities, the
contacts by conditions or by target group, the single contacts left out, who
gets the activities and their details) and, once created, the job that made
them: "apply to all" edits touch exactly the activities with that job id.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import Select

from ..base import Base, Timestamped, db, utcnow
from ..companies import Company
from ..contacts import Contact
from ..criteria import matching_ids
from ..groups.queries import group_member_ids
from ..settings import installation_tz
from ..text import like_pattern, search_terms


class WizardMode(StrEnum):
    """One activity with every contact, or one activity per contact."""

    SHARED = "shared"
    PER_CONTACT = "per_contact"


class WizardSource(StrEnum):
    """Where the contacts come from."""

    CRITERIA = "criteria"
    GROUP = "group"


class WizardAssignment(StrEnum):
    """Who gets the activities (shared mode: always one user)."""

    USER = "user"  # all to one user
    OWNER = "owner"  # each contact's owner, a fallback user for the ownerless
    EVEN = "even"  # dealt out evenly among chosen users


class ActivityWizardRun(Timestamped, Base):
    """One pass through the group-activity wizard, from step 1 to its created activities."""

    __tablename__ = "activity_wizard_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    mode: Mapped[str] = mapped_column(String(12), default=WizardMode.PER_CONTACT)
    source: Mapped[str] = mapped_column(String(10), default=WizardSource.CRITERIA)
    criteria: Mapped[dict] = mapped_column(JSON, default=lambda: {"all": []})
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("target_groups.id", ondelete="SET NULL")
    )
    assignment: Mapped[str] = mapped_column(String(10), default=WizardAssignment.OWNER)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    fallback_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The users "even" deals the activities among (ids; any that no longer exist are skipped).
    user_ids: Mapped[list] = mapped_column(JSON, default=list)
    # type, subject, notes, day, start (shared), duration_minutes (shared), campaign_id
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    # The job that created the activities (activities.job_id); set once, then the run is fixed.
    job_id: Mapped[str | None] = mapped_column(String(80), unique=True)

    created_by = relationship("User", foreign_keys=[created_by_id])
    group = relationship("TargetGroup")

    __table_args__ = (Index("ix_activity_wizard_runs_created_by_id", "created_by_id"),)

    def __str__(self) -> str:
        return f"Wizard run {self.id}"


class ActivityWizardExclusion(Base):
    """A contact the run's step 3 left out (a row each: thousands stay cheap to check)."""

    __tablename__ = "activity_wizard_exclusions"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("activity_wizard_runs.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )


def chosen_ids(run: ActivityWizardRun, now: datetime | None = None) -> Select:
    """``SELECT id`` of the contacts step 2 chose: the group's members or the criteria's
    matches right now (the caller validates the criteria first)."""
    if run.source == WizardSource.GROUP:
        return group_member_ids(run.group_id or 0)
    return matching_ids(run.criteria, now or utcnow(), installation_tz())


def is_excluded(run_id: int, contact_id) -> exists:
    """EXISTS: step 3 left this contact out of the run."""
    excluded = ActivityWizardExclusion.__table__
    return exists().where(excluded.c.run_id == run_id, excluded.c.contact_id == contact_id)


def selected_ids(run: ActivityWizardRun, now: datetime | None = None) -> Select:
    """``SELECT id`` of the run's contacts: the chosen ones less the exclusions."""
    chosen = chosen_ids(run, now).subquery("chosen")
    return select(chosen.c.id).where(~is_excluded(run.id, chosen.c.id))


def set_exclusions(run_id: int, shown: list[int], excluded: list[int]) -> None:
    """Step 3 posted one page: of the ``shown`` contacts, exactly ``excluded`` are left out.

    Two statements whatever the page size; only ids of existing contacts go in, so
    a stale or forged id cannot break the foreign key.
    """
    table = ActivityWizardExclusion.__table__
    db.session.execute(delete(table).where(table.c.run_id == run_id,
                                           table.c.contact_id.in_(shown)))
    wanted = set(excluded) & set(shown)
    if wanted:
        db.session.execute(insert(table).from_select(
            ["run_id", "contact_id"],
            select(literal(run_id), Contact.id).where(Contact.id.in_(wanted))))


def clear_exclusions(run_id: int) -> None:
    """Include every chosen contact again."""
    table = ActivityWizardExclusion.__table__
    db.session.execute(delete(table).where(table.c.run_id == run_id))


def selection_counts(run: ActivityWizardRun) -> dict[str, int]:
    """How many contacts step 2 chose, how many of them step 3 left out, how many remain."""
    chosen = chosen_ids(run).subquery("chosen")
    row = db.session.execute(
        select(func.count(), func.count().filter(is_excluded(run.id, chosen.c.id)))
        .select_from(chosen)
    ).one()
    return {"chosen": row[0], "excluded": row[1], "included": row[0] - row[1]}


def contacts_page(run: ActivityWizardRun, offset: int, limit: int, search: str = "") -> list:
    """A page of the chosen contacts (by id) with whether each is excluded; ``search``
    narrows by name or email."""
    chosen = chosen_ids(run).subquery("chosen")
    query = (
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.email,
               Company.name.label("company"), is_excluded(run.id, Contact.id).label("excluded"))
        .select_from(chosen.join(Contact, Contact.id == chosen.c.id)
                     .outerjoin(Company, Company.id == Contact.company_id))
        .order_by(Contact.id).offset(offset).limit(limit)
    )
    for term in search_terms(search):  # any case, any script, with or without accents
        query = query.where(Contact.search_text.like(like_pattern(term), escape="\\"))
    return db.session.execute(query).all()
