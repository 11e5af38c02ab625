"""The `kohde` console script: Flask's commands (db, run, shell) plus Kohde's own.

Kohde's commands are registered on ``app.cli`` by create_app(), so they work
the same through `kohde`, `flask --app wsgi` and ``app.test_cli_runner()``.
"""

from __future__ import annotations

import os
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from .activities import activities_group
from .automations import automations_group
from .campaigns import campaigns_group
from .contacts import contacts_group
from .dev import bootstrap_command, dev_command
from .email import mailsink_command, outbox_group, set_campaign_template, templates_group
from .groups import groups_group
from .imports import import_group
from .jobs import jobs_group, scheduler_command, worker_command
from .schedules import schedules_group
from .seed import seed_command
from .users import users_group
from .waiting import add_wait_timeout

COMMANDS = (
    activities_group,
    automations_group,
    bootstrap_command,
    campaigns_group,
    contacts_group,
    dev_command,
    groups_group,
    import_group,
    jobs_group,
    mailsink_command,
    outbox_group,
    scheduler_command,
    schedules_group,
    seed_command,
    templates_group,
    users_group,
    worker_command,
)


def register_commands(app: Flask) -> None:
    """Add Kohde's commands to the app's command group."""
    for command in COMMANDS:
        app.cli.add_command(command)
        add_wait_timeout(command)  # every command that waits takes --timeout
    campaigns_group.add_command(set_campaign_template)


def _create_app() -> Flask:
    from .. import create_app

    return create_app()


cli = FlaskGroup(
    create_app=_create_app,
    help="Kohde: target groups, campaigns, email and activities for CRM campaign work.",
)


def main() -> None:
    """Entry point of the console script.

    Commands refuse bad input with click errors that say what is wrong; anything else
    that escapes is one line on stderr and exit status 1, not a traceback
    (``KOHDE_DEBUG=1`` shows it).
    """
    try:
        cli(prog_name="kohde")
    except Exception as exc:  # the last resort: a sentence, not a traceback
        if os.environ.get("KOHDE_DEBUG"):
            raise
        text = f"{type(exc).__name__}: {exc}".encode("utf-8", "backslashreplace").decode()
        click.echo(f"Error: {text.splitlines()[0][:500] if text else type(exc).__name__}",
                   err=True)
        click.echo("(set KOHDE_DEBUG=1 to see the traceback)", err=True)
        sys.exit(1)
