"""`kohde groups …`: create, count, refresh and explain target groups."""

from __future__ import annotations

import json
import random
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from jobs.groups import start_refresh_group
from models import SampleMode, TargetGroup, db
from models.criteria import validate
from models.criteria.validation import loads
from models.groups.queries import count_matches, count_of, explain_membership, group_selection

from .lookup import by_id_or_name, contact_by_id_or_email
from .waiting import run_job


def _group(ident: str) -> TargetGroup:
    return by_id_or_name(TargetGroup, ident, TargetGroup.name, "target group")


def _as_dict(group: TargetGroup) -> dict:
    return {
        "id": group.id,
        "name": group.name,
        "criteria": group.criteria,
        "sample": {"mode": group.sample_mode, "size": group.sample_size,
                   "percent": group.sample_percent, "seed": group.sample_seed},
        "member_count": group.member_count,
        "refreshed_at": group.refreshed_at.isoformat() if group.refreshed_at else None,
    }


def _fail_on_problems(problems: list[str]) -> None:
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        raise click.ClickException(f"the conditions have {len(problems)} problem(s)")


@click.group("groups")
def groups_group():
    """Target groups: named conditions over contacts, members stored on refresh."""


@groups_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def list_groups(as_json: bool):
    """Every target group with its member count and last refresh."""
    groups = db.session.scalars(select(TargetGroup).order_by(TargetGroup.name)).all()
    if as_json:
        click.echo(json.dumps([_as_dict(g) for g in groups], indent=2))
        return
    for g in groups:
        refreshed = f"{g.refreshed_at:%Y-%m-%d %H:%M}" if g.refreshed_at else "never"
        click.echo(f"{g.id:>5}  {g.member_count:>9,} members  refreshed {refreshed}  {g.name}")


@groups_group.command("create")
@click.option("--name", required=True)
@click.option("--criteria", "criteria_file", type=click.File("r"), required=True,
              help="A JSON file with the conditions tree ('-' reads standard input).")
@click.option("--sample", type=click.Choice(["systematic", "random"]), help="Keep only part.")
@click.option("--size", type=click.IntRange(min=0), help="Sample size.")
@click.option("--percent", type=click.FloatRange(0, 100), help="Sample share of the matches.")
@click.option("--seed", type=int, help="Random sample seed [default: a random one, stored].")
@click.option("--description", default="")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def create_group(criteria_file, name, sample, size, percent, seed, description, as_json):
    """Create a target group from a JSON conditions file (no members until refreshed)."""
    try:
        text = criteria_file.read()
    except (UnicodeDecodeError, OSError) as exc:
        raise click.ClickException(
            f"{criteria_file.name}: cannot be read as text ({exc})"
        ) from None
    criteria, problems = loads(text)
    _fail_on_problems(problems or validate(criteria))
    if sample and (size is None) == (percent is None):
        raise click.UsageError("a sample needs exactly one of --size and --percent")
    if db.session.scalar(select(TargetGroup.id).where(TargetGroup.name == name)):
        raise click.ClickException(f"a target group called {name!r} exists already")
    group = TargetGroup(
        name=name,
        description=description,
        criteria=criteria,
        sample_mode=sample or SampleMode.NONE,
        sample_size=size if sample else None,
        sample_percent=percent if sample else None,
        sample_seed=(seed if seed is not None else random.randrange(1, 2**31))
        if sample == SampleMode.RANDOM else None,
    )
    db.session.add(group)
    db.session.commit()
    if as_json:
        click.echo(json.dumps(_as_dict(group), indent=2))
    else:
        click.echo(f"created target group {group.id} {group.name!r}; "
                   f"`kohde groups refresh {group.id}` stores its members")


@groups_group.command("count")
@click.argument("group")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def count_group(group: str, as_json: bool):
    """How many contacts match now, and how many the sample keeps (nothing is stored)."""
    found = _group(group)
    _fail_on_problems(validate(found.criteria, found.id))
    data = {
        "group": found.name,
        "matches": count_matches(found.criteria),
        "selected": count_of(group_selection(found)),
        "stored_members": found.member_count,
    }
    if as_json:
        click.echo(json.dumps(data))
    else:
        sample = (f", the sample keeps {data['selected']:,}"
                  if found.sample_mode != SampleMode.NONE else "")
        click.echo(f"{data['matches']:,} match now{sample}; {data['stored_members']:,} stored")


@groups_group.command("refresh")
@click.argument("group")
@click.option("--no-wait", is_flag=True, help="Print the job id and return at once.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@with_appcontext
def refresh_group(group: str, no_wait: bool, as_json: bool):
    """Store the group's current selection as its members (a job)."""
    found = _group(group)
    _fail_on_problems(validate(found.criteria, found.id))
    run = run_job(lambda: start_refresh_group(found.id), no_wait=no_wait, as_json=as_json)
    if run and not as_json:
        r = run.result
        click.echo(f"{r['group']}: added {r['added']}, removed {r['removed']}, "
                   f"{r['members']} members")


def _print_node(node: dict, depth: int = 0) -> None:
    mark = click.style("✓", fg="green") if node["holds"] else click.style("✗", fg="red")
    click.echo(f"{'  ' * depth}{mark} {node['text']}")
    for child in node.get("children", []):
        _print_node(child, depth + 1)


@groups_group.command("explain")
@click.argument("group")
@click.argument("contact")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def explain_group(group: str, contact: str, as_json: bool):
    """Why CONTACT (id or email) is or is not in GROUP: each condition, held or not."""
    found = _group(group)
    _fail_on_problems(validate(found.criteria, found.id))
    result = explain_membership(found, contact_by_id_or_email(contact))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    who = result["contact"]
    click.echo(f"{who['name']} <{who['email']}> and {result['group']['name']!r}:")
    _print_node(result["conditions"])
    if result["excluded_by_sample"]:
        click.echo("matches the conditions, but the sample leaves this contact out")
    verdict = "would be a member" if result["would_be_member"] else "would not be a member"
    stored = "is a stored member" if result["is_member"] else "is not a stored member"
    click.echo(f"{verdict} now; {stored} (last refresh: {result['refreshed_at'] or 'never'})")
    sys.stdout.flush()
