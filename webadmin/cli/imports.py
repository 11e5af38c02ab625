"""`kohde import contacts FILE.csv`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from jobs.imports import start_import_contacts
from models.imports import ImportFileError, check_file

from .waiting import run_job


@click.group("import")
def import_group():
    """Import records from files."""


@import_group.command("contacts")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--no-wait", is_flag=True, help="Print the job id and return at once.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@with_appcontext
def import_contacts(file: Path, no_wait: bool, as_json: bool):
    """Import contacts from a CSV file (see the README for the columns)."""
    try:
        check_file(file)
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    run = run_job(lambda: start_import_contacts(file.resolve(), file.name),
                  no_wait=no_wait, as_json=as_json)
    if run and not as_json:
        r = run.result
        click.echo(f"imported {r['imported']}, updated {r['updated']}, rejected {r['rejected']}")
        click.echo(f"report: {r['report_path']}")
