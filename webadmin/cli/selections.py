"""What the bulk commands share: which rows (--ids, --where, --search, and for contacts
--filter and --group) as a models.selections.Selection, and the dry run / wait / --json."""

from __future__ import annotations

import json

import click

from models import SavedFilter, TargetGroup
from models.selections import Selection, SelectionError, count, parse_filter

from ..admin.bulk.sentences import bulk_sentence
from .lookup import by_id_or_name
from .waiting import run_job


def selection_options(contacts: bool):
    """The options that choose rows, plus --dry-run / --no-wait / --json."""
    def decorate(command):
        options = [
            click.option("--ids", help="Comma-separated ids (the rows ticked in a list)."),
            click.option("--where", "where", multiple=True, metavar="'PATH OP VALUE'",
                         help="A list filter, e.g. 'city eq Turku', 'owner.email like anna', "
                              "'status in done,cancelled' (repeat: all must hold)."),
            click.option("--search", default="", help="The list's search box."),
            click.option("--dry-run", "dry", is_flag=True, help="Only count what would change."),
            click.option("--no-wait", is_flag=True, help="Print the job id and return at once."),
            click.option("--json", "as_json", is_flag=True, help="Machine-readable result."),
        ]
        if contacts:
            options += [
                click.option("--filter", "saved_filter",
                             help="A saved contact or lead filter (id or name)."),
                click.option("--group", help="A target group's members (id or name)."),
            ]
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def selection_from(area: str, ids=None, where=(), search="", saved_filter=None,
                   group=None) -> Selection:
    """The Selection the options name; a ClickException says what is wrong."""
    try:
        if ids:
            if where or search or saved_filter or group:
                raise SelectionError("--ids names the rows itself: no --where, --search, "
                                     "--filter or --group with it")
            return Selection.from_params({"area": area, "ids": [i.strip() for i in
                                                                ids.split(",") if i.strip()]})
        data = {"area": area, "search": search,
                "filters": [parse_filter(area, text) for text in where]}
        if saved_filter:
            data["saved_filter_id"] = by_id_or_name(SavedFilter, saved_filter, SavedFilter.name,
                                                    "saved filter").id
        if group:
            data["group_id"] = by_id_or_name(TargetGroup, group, TargetGroup.name,
                                             "target group").id
        if not (data["filters"] or search or saved_filter or group):
            raise SelectionError("say which rows: --ids, --where, --search"
                                 + (", --filter or --group" if area == "contacts" else ""))
        return Selection.from_params(data)
    except SelectionError as exc:
        raise click.ClickException(str(exc)) from None


def run_bulk(selection: Selection, start, *, dry: bool, no_wait: bool, as_json: bool,
             would_change=None) -> None:
    """Dry run (counts), or start the job with ``start`` and wait with progress; the
    result in words (or as JSON)."""
    if dry:
        preview = {"selected": count(selection)}
        if would_change is not None:
            preview["would_change"] = would_change()
        click.echo(json.dumps(preview) if as_json else ", ".join(
            f"{k.replace('_', ' ')} {v:,}" for k, v in preview.items()))
        return
    run = run_job(start, no_wait=no_wait, as_json=as_json)
    if run is not None and not as_json:
        click.echo(f"{bulk_sentence(run)} (job {run.id})")
