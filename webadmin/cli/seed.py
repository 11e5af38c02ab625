"""`kohde seed`: demo data at scale."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from models.seed import seed_demo


@click.command("seed")
@click.option("--contacts", default=10_000, show_default=True, help="Contacts to add.")
@click.option("--companies", type=int, help="Companies to add [default: contacts / 20].")
@click.option("--users", default=10, show_default=True, help="Owners to spread contacts over.")
@click.option("--seed", "seed", default=1, show_default=True, help="Same seed, same data.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@with_appcontext
def seed_command(contacts: int, companies: int | None, users: int, seed: int, as_json: bool):
    """Add realistic Finnish, Swedish and Hungarian demo contacts (≈3 % duplicate emails)."""
    with click.progressbar(length=contacts, label="contacts", file=sys.stderr) as bar:
        done = [0]

        def progress(n: int, _total: int) -> None:
            bar.update(n - done[0])
            done[0] = n

        result = seed_demo(contacts, companies, users, seed, progress=progress)
    if as_json:
        click.echo(json.dumps(result))
    else:
        rate = result["contacts"] / result["seconds"] if result["seconds"] else 0
        click.echo(f"added {result['contacts']:,} contacts, {result['companies']:,} companies, "
                   f"{result['users']} owners in {result['seconds']:.1f} s ({rate:,.0f} rows/s)")
