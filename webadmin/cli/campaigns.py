"""`kohde campaigns …`: create campaigns and change their audiences (dry run, wait, undo)."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from jobs.campaigns import start_audience_change, start_undo_audience
from models import (
    Campaign,
    CampaignMember,
    Contact,
    EmailTemplate,
    SavedFilter,
    TargetGroup,
    csv_cells,
    db,
)
from models.campaigns.audience import (
    Action,
    AudienceError,
    check_request,
    dry_run,
    email_effect,
    summary,
)
from models.labels import label

from ..auth import find_user
from .lookup import by_id_or_name, contact_by_id_or_email
from .waiting import run_job

SOURCES = {  # what the second argument of a bulk command names
    "group": (TargetGroup, TargetGroup.name, "target group"),
    "campaign": (Campaign, Campaign.name, "campaign"),
    "filter": (SavedFilter, SavedFilter.name, "saved filter"),
}


def _campaign(ident: str) -> Campaign:
    return by_id_or_name(Campaign, ident, Campaign.name, "campaign")


@click.group("campaigns")
def campaigns_group():
    """Campaigns and their audiences."""


@campaigns_group.command("create")
@click.option("--name", required=True)
@click.option("--template", help="Email template (id or name) in the Campaign folder.")
@click.option("--owner", help="Owner's email.")
@click.option("--inactive", is_flag=True, help="Create it inactive (no audience actions).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def create_campaign(name, template, owner, inactive, as_json):
    """Create a campaign; its number is generated."""
    campaign = Campaign(name=name, active=not inactive)
    if template:
        campaign.email_template = by_id_or_name(EmailTemplate, template, EmailTemplate.name,
                                                "email template")
    if owner:
        campaign.owner = find_user(owner)
        if campaign.owner is None:
            raise click.ClickException(f"no user {owner!r}")
    db.session.add(campaign)
    db.session.commit()
    data = {"id": campaign.id, "number": campaign.number, "name": campaign.name,
            "active": campaign.active}
    click.echo(json.dumps(data) if as_json else f"created campaign {campaign.number} {name!r}")


def _run_action(campaign: Campaign, action: Action, source_id=None, contact_ids=None,
                dry=False, no_wait=False, as_json=False, refresh_group=False) -> None:
    try:
        check_request(campaign.id, action, source_id, contact_ids)
        if dry:
            preview = dry_run(campaign.id, action, source_id, contact_ids)
            email = email_effect(campaign.id, action, source_id, contact_ids)
            text = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in preview.items()
                             if k != "action")
            if email is not None:
                preview["email"] = email
                text += f"; queues {email['queues']} emails" + "".join(
                    f", {n} {label(why, 'suppression')}" for why, n in email["suppressed"].items())
            click.echo(json.dumps(preview) if as_json else text)
            return
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from None
    run = run_job(lambda: start_audience_change(campaign.id, action, source_id, contact_ids,
                                                refresh_group=refresh_group),
                  no_wait=no_wait, as_json=as_json)
    if run and not as_json:
        r = run.result
        done = f"added {r['added']}" if "added" in r else f"removed {r['removed']}"
        # Counted here, not by the job: a count of a big campaign is no part of its work.
        now = db.session.scalar(select(func.count()).select_from(CampaignMember)
                                .where(CampaignMember.campaign_id == campaign.id))
        click.echo(f"{campaign.name}: {done}, {now} members (undo: kohde campaigns "
                   f"undo {run.id})")


def _bulk_command(name: str, action: Action, source: str | None, help_text: str):
    """One CLI command per audience action, all with --dry-run / --no-wait / --json."""

    @click.option("--dry-run", "dry", is_flag=True, help="Only say what would change.")
    @click.option("--no-wait", is_flag=True, help="Print the job id and return at once.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
    @with_appcontext
    def command(campaign, dry, no_wait, as_json, source_ident=None, refresh=False):
        source_id = None
        if source:
            model, column, label = SOURCES[source]
            source_id = by_id_or_name(model, source_ident, column, label).id
        _run_action(_campaign(campaign), action, source_id, dry=dry, no_wait=no_wait,
                    as_json=as_json, refresh_group=refresh)

    # Click lists arguments outermost decorator first: CAMPAIGN, then the source.
    if source:
        command = click.argument("source_ident", metavar=source.upper())(command)
    command = click.argument("campaign")(command)
    if source == "group":
        command = click.option("--refresh", is_flag=True,
                               help="Refresh the group first.")(command)
    command.__doc__ = help_text
    return campaigns_group.command(name)(command)


_bulk_command("copy-group", Action.COPY_GROUP, "group", "Add a target group's members.")
_bulk_command("remove-group", Action.REMOVE_GROUP, "group", "Remove a target group's members.")
_bulk_command("copy-campaign", Action.COPY_CAMPAIGN, "campaign",
              "Add another campaign's members.")
_bulk_command("remove-campaign", Action.REMOVE_CAMPAIGN, "campaign",
              "Remove the members another campaign has.")
_bulk_command("load-filter", Action.LOAD_FILTER, "filter",
              "Add the contacts a saved contact, company or lead filter selects.")
_bulk_command("keep-only", Action.KEEP_ONLY, "filter",
              "Remove the members a saved filter does not select.")
_bulk_command("prune-opted-out", Action.PRUNE_OPTED_OUT, None,
              "Remove members who opted out of email.")


@campaigns_group.command("dedupe")
@click.argument("campaign")
@click.option("--by", "by", type=click.Choice(["email", "company"]), required=True,
              help="email: one member per address; company: one member per company.")
@click.option("--dry-run", "dry", is_flag=True, help="Only say what would change.")
@click.option("--no-wait", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def dedupe(campaign, by, dry, no_wait, as_json):
    """Remove duplicates, keeping the earliest-added member of each email or company."""
    action = Action.DEDUPE_EMAIL if by == "email" else Action.DEDUPE_COMPANY
    _run_action(_campaign(campaign), action, dry=dry, no_wait=no_wait, as_json=as_json)


def _single_command(name: str, action: Action, help_text: str):
    """``add`` / ``remove``: single contacts (ids or emails), with --dry-run and --json."""

    @click.argument("campaign")
    @click.argument("contacts", nargs=-1, required=True)
    @click.option("--dry-run", "dry", is_flag=True)
    @click.option("--json", "as_json", is_flag=True)
    @with_appcontext
    def command(campaign, contacts, dry, as_json):
        ids = [contact_by_id_or_email(c).id for c in contacts]
        _run_action(_campaign(campaign), action, contact_ids=ids, dry=dry, as_json=as_json)

    command.__doc__ = help_text
    campaigns_group.command(name)(command)


_single_command("add", Action.ADD_CONTACTS, "Add single contacts (ids or emails).")
_single_command("remove", Action.REMOVE_CONTACTS, "Remove single contacts (ids or emails).")


@campaigns_group.command("undo")
@click.argument("run_id")
@click.option("--no-wait", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def undo(run_id, no_wait, as_json):
    """Revert exactly what one finished audience job added and removed."""
    run = run_job(lambda: start_undo_audience(run_id), no_wait=no_wait, as_json=as_json)
    if run and not as_json:
        r = run.result
        click.echo(f"undid {r['undid']}: removed {r['removed']}, restored {r['restored']}")


@campaigns_group.command("summary")
@click.argument("campaign")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def show_summary(campaign, as_json):
    """Members, contacts and leads, companies, email reach and duplicates."""
    data = summary(_campaign(campaign).id)
    if as_json:
        click.echo(json.dumps(data))
        return
    for key, value in data.items():
        click.echo(f"{key.replace('_', ' '):>32}: {value:,}")


@campaigns_group.command("members")
@click.argument("campaign")
@with_appcontext
def list_members(campaign):
    """The members as CSV on standard output."""
    found = _campaign(campaign)
    out = csv_cells.writer(sys.stdout)
    out.writerow(["contact_id", "first_name", "last_name", "email", "kind", "source",
                  "source_ref", "added_at", "job_id"])
    rows = db.session.execute(
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.kind,
               CampaignMember.source, CampaignMember.source_ref, CampaignMember.added_at,
               CampaignMember.job_id)
        .join(CampaignMember, CampaignMember.contact_id == Contact.id)
        .where(CampaignMember.campaign_id == found.id)
        .order_by(CampaignMember.added_at, Contact.id)
        .execution_options(yield_per=5000)
    )
    for row in rows:
        out.writerow(row)
