"""Finding the record a command names: by id, by number (campaigns) or by name / email."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from models import Contact, db
from models.contacts import find_contact

INT_MAX = 2**31 - 1  # ids are INTEGER: a longer number names no row (PostgreSQL would refuse it)


def by_id_or_name(model, ident: str, name_column, label: str):
    """The record ``ident`` names, tried in this order: its id, its ``number`` (a model that
    has one: campaigns' 2026-00001, also an all-digit typed number) and its name (any case).
    Several records with that name are refused with a hint to use the id or number."""
    ident = ident.strip()
    number = getattr(model, "number", None)
    found = None
    if ident.isascii() and ident.isdigit() and int(ident) <= INT_MAX:
        found = db.session.get(model, int(ident))
    if found is None and number is not None and ident:
        found = db.session.scalar(select(model).where(number == ident).limit(1))
    if found is None and ident:
        matches = db.session.scalars(
            select(model).where(func.lower(name_column) == ident.lower()).limit(2)
        ).all()
        if len(matches) > 1:
            hint = "the id or number" if number is not None else "the id"
            raise click.ClickException(f"more than one {label} is called {ident!r}; use {hint}")
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
