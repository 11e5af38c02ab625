"""`kohde users …`: create and list CRM users."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from models import Role, User, db

from ..auth import find_user


@click.group("users")
def users_group():
    """Create and list CRM users."""


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.USER.value,
              show_default=True)
@click.option("--name", default="", help="Display name.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when not given.")
@with_appcontext
def create_user(email: str, role: str, name: str, password: str):
    """Create a user who can log in (or reset an existing user's password and role)."""
    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="--password")
    user = find_user(email)
    created = user is None
    if created:
        user = User(email=email.strip(), name=name)
        db.session.add(user)
    user.role = role
    if name:
        user.name = name
    user.set_password(password)
    db.session.commit()
    click.echo(f"{'created' if created else 'updated'} {user.email} ({user.role})")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def list_users(as_json: bool):
    """List users with their roles."""
    users = db.session.scalars(select(User).order_by(User.id)).all()
    rows = [{"id": u.id, "email": u.email, "name": u.name, "role": u.role, "active": u.active}
            for u in users]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['id']:>5}  {row['role']:<6} {row['email']}  {row['name']}")
