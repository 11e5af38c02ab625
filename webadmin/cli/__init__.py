"""The `kohde` console script: Flask's commands (db, run, shell) plus Kohde's own."""

from __future__ import annotations

from flask.cli import FlaskGroup

from .. import create_app
from .dev import bootstrap_command, dev_command
from .imports import import_group
from .jobs import jobs_group, worker_command
from .seed import seed_command
from .users import users_group

cli = FlaskGroup(
    create_app=create_app,
    help="Kohde: target groups, campaigns, email and activities for CRM campaign work.",
)
for command in (
    bootstrap_command,
    dev_command,
    import_group,
    jobs_group,
    seed_command,
    users_group,
    worker_command,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="kohde")
