"""`kohde contacts …`: bulk changes of contacts chosen by ids, list filters, a saved filter
or a target group: set-owner, set-status, opt-out, opt-in (dry run, wait, --json; undo
with `kohde jobs undo RUN`)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from jobs.bulk import CHANGES, start_opt_out, start_set_owner, start_set_status
from models.bulk.changes import would_change

from ..auth import find_user
from .selections import run_bulk, selection_from, selection_options


@click.group("contacts")
def contacts_group():
    """Contacts in bulk."""


def _chosen(opts: dict):
    return selection_from("contacts", opts["ids"], opts["where"], opts["search"],
                          opts["saved_filter"], opts["group"])


def _run(opts: dict, change: str, value, start) -> None:
    selection = _chosen(opts)
    run_bulk(selection, lambda: start(selection), dry=opts["dry"], no_wait=opts["no_wait"],
             as_json=opts["as_json"],
             would_change=lambda: would_change(selection, CHANGES[change], value))


@contacts_group.command("set-owner")
@click.argument("owner")
@selection_options(contacts=True)
@with_appcontext
def set_owner(owner, **opts):
    """Give the chosen contacts to OWNER (a user's email)."""
    user = find_user(owner)
    if user is None:
        raise click.ClickException(f"no user {owner!r}")
    _run(opts, "contacts.owner_id", user.id, lambda s: start_set_owner(s, user.id))


@contacts_group.command("set-status")
@click.argument("status")
@selection_options(contacts=True)
@with_appcontext
def set_status(status, **opts):
    """Set the status of the chosen contacts to STATUS."""
    status = status.strip()
    if not status or len(status) > 40:
        raise click.ClickException("a status has 1–40 characters")
    _run(opts, "contacts.status", status, lambda s: start_set_status(s, status))


def _opt_command(name: str, opted_out: bool, help_text: str):
    @click.option("--reason", required=True, help="Why (kept in the audit trail).")
    @selection_options(contacts=True)
    @with_appcontext
    def command(reason, **opts):
        reason = reason.strip()
        if not reason or len(reason) > 200:
            raise click.ClickException("give a reason of 1–200 characters")
        _run(opts, "contacts.email_opt_out", opted_out,
             lambda s: start_opt_out(s, opted_out, reason))

    command.__doc__ = help_text
    return contacts_group.command(name)(command)


_opt_command("opt-out", True, "Opt the chosen contacts out of email, with --reason.")
_opt_command("opt-in", False, "Opt the chosen contacts back in to email, with --reason "
                              "(only when they asked for it).")
