"""Finding the record a command names: by id, or by name / email."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from models import Contact, db
from models.contacts import find_contact


def by_id_or_name(model, ident: str, name_column, label: str):
    """The record whose id is ``ident`` or whose name equals it (any case); a model with a
    ``number`` (campaigns: 2026-00001) is also found by that number."""
    number = getattr(model, "number", None)
    if ident.isdigit():
        found = db.session.get(model, int(ident))
    elif number is not None and (found := db.session.scalar(
            select(model).where(number == ident.strip()).limit(1))) is not None:
        pass
    else:
        matches = db.session.scalars(
            select(model).where(func.lower(name_column) == ident.strip().lower()).limit(2)
        ).all()
        if len(matches) > 1:
            raise click.ClickException(f"more than one {label} is called {ident!r}; use the id")
        found = matches[0] if matches else None
    if found is None:
        raise click.ClickException(f"no {label} {ident!r}")
    return found


def contact_by_id_or_email(ident: str) -> Contact:
    """The contact with this id, or the first (lowest id) with this email."""
    contact = find_contact(ident)
    if contact is None:
        raise click.ClickException(f"no contact {ident!r}")
    return contact
