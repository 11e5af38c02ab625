"""The manage-audience screen of a campaign: summary, dry run, run, undo."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from jobs.campaigns import start_audience_change
from models import Campaign, SavedFilter, TargetGroup, db
from models.campaigns import active_campaigns
from models.campaigns.audience import (
    Action,
    AudienceError,
    check_request,
    dry_run,
    email_effect,
    summary,
)
from models.contacts import find_contact
from models.email.outbox import campaign_email_counts

from ..base import SecureView, go_to

# (action, what the button says, which kind of source it needs)
ACTIONS = [
    (Action.COPY_GROUP, _l("Copy the members of a target group"), "group"),
    (Action.REMOVE_GROUP, _l("Remove the members of a target group"), "group"),
    (Action.COPY_CAMPAIGN, _l("Copy the members of another campaign"), "campaign"),
    (Action.REMOVE_CAMPAIGN, _l("Remove the members of another campaign"), "campaign"),
    (Action.LOAD_FILTER, _l("Load from a saved contact, company or lead filter"), "filter"),
    (Action.KEEP_ONLY, _l("Keep only the members a saved filter selects"), "filter"),
    (Action.DEDUPE_EMAIL, _l("Remove email duplicates (keeps the earliest-added member of "
                             "each address)"), None),
    (Action.DEDUPE_COMPANY, _l("Remove company duplicates (keeps the earliest-added member of "
                               "each company)"), None),
    (Action.PRUNE_OPTED_OUT, _l("Remove contacts who opted out of email"), None),
    (Action.ADD_CONTACTS, _l("Add one contact"), "contact"),
    (Action.REMOVE_CONTACTS, _l("Remove one contact"), "contact"),
]
LABELS = {action.value: label for action, label, _source in ACTIONS}


def _sources(campaign: Campaign) -> dict[str, list[tuple[int, str]]]:
    groups = db.session.execute(select(TargetGroup.id, TargetGroup.name).order_by(TargetGroup.name))
    campaigns = [(row.id, row.name) for row in active_campaigns(exclude_id=campaign.id)]
    filters = db.session.execute(
        select(SavedFilter.id, SavedFilter.name, SavedFilter.module).order_by(SavedFilter.name)
    )
    return {
        "group": [tuple(r) for r in groups],
        "campaign": [tuple(r) for r in campaigns],
        "filter": [(r.id, f"{r.name} ({r.module})") for r in filters],
    }


def _contact_ids(ident: str) -> list[int] | None:
    # One contact typed as an id or an email address (the lowest id wins for an email).
    ident = ident.strip()
    if not ident:
        return None
    found = find_contact(ident)
    if found is None:
        raise AudienceError(f"no contact {ident!r}")
    return [found.id]


def _request_args() -> tuple[dict, bool]:
    """The action request in the posted form, and whether to refresh the group first."""
    source = request.form.get("source_id") or ""
    request_args = {
        "action": request.form.get("action", ""),
        "source_id": int(source) if source.isdigit() else None,
        "contact_ids": _contact_ids(request.form.get("contact", "")),
    }
    return request_args, bool(request.form.get("refresh_group"))



class CampaignAudienceView(SecureView):
    """/admin/audience/<campaign id>: who is in the campaign, and the bulk actions on it."""

    def is_visible(self) -> bool:
        """Reached from a campaign's row and page, not from the menu."""
        return False

    def _campaign(self, campaign_id: int) -> Campaign:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None:
            abort(404)
        return campaign

    @expose("/")
    def index(self):
        """No campaign chosen: the campaign list, where each row links here."""
        return redirect(url_for("campaign.index_view"))

    @expose("/<int:campaign_id>")
    def campaign(self, campaign_id: int):
        """The summary (one query) and a form per action, each with a dry run first."""
        campaign = self._campaign(campaign_id)
        return self.render(
            "kohde/campaigns/audience.html",
            campaign=campaign,
            summary=summary(campaign.id),
            email_counts=campaign_email_counts(campaign.id),
            actions=ACTIONS,
            sources=_sources(campaign),
        )

    @expose("/<int:campaign_id>/preview", methods=["POST"])
    def preview(self, campaign_id: int):
        """htmx: what the action would do now, with the button that runs it."""
        campaign = self._campaign(campaign_id)
        try:
            args, refresh = _request_args()
            counts = dry_run(campaign.id, **args)
            email = email_effect(campaign.id, **args)
        except AudienceError as exc:
            return self.render("kohde/campaigns/_audience_preview.html", error=str(exc)), 400
        return self.render("kohde/campaigns/_audience_preview.html", campaign=campaign,
                           counts=counts, email=email, action=args["action"], refresh=refresh)

    @expose("/<int:campaign_id>/run", methods=["POST"])
    def run(self, campaign_id: int):
        """Start the action as a job and show its progress."""
        campaign = self._campaign(campaign_id)
        try:
            args, refresh = _request_args()
            check_request(campaign.id, **args)
        except AudienceError as exc:
            flash(str(exc), "error")
            return go_to(url_for(".campaign", campaign_id=campaign.id))
        job_run = start_audience_change(campaign.id, **args, refresh_group=refresh,
                                        started_by=current_user.id)
        flash(_("%(what)s: job %(job)s started.", what=LABELS.get(args["action"], args["action"]),
                job=job_run.id), "info")
        return go_to(url_for("jobrun.details_view", id=job_run.id))

    @expose("/add-contacts")
    def add_contacts(self):
        """Pick an active campaign for the chosen contacts (the contact page's dialog and the
        contact list's bulk action both come here)."""
        ids = _id_list(request.args.get("ids", ""))
        campaigns = active_campaigns()
        template = ("kohde/campaigns/_add_to_campaign.html" if request.headers.get("HX-Request")
                    else "kohde/campaigns/add_to_campaign.html")
        return self.render(template, ids=ids, campaigns=campaigns)

    @expose("/add-contacts/preview", methods=["POST"])
    def add_contacts_preview(self):
        """htmx: how many of the chosen contacts the campaign would gain."""
        try:
            campaign_id, ids = _chosen_campaign_and_ids()
            counts = dry_run(campaign_id, Action.ADD_CONTACTS, contact_ids=ids)
            email = email_effect(campaign_id, Action.ADD_CONTACTS, contact_ids=ids)
        except AudienceError as exc:
            return self.render("kohde/campaigns/_audience_preview.html", error=str(exc)), 400
        return self.render("kohde/campaigns/_audience_preview.html", counts=counts,
                           email=email,
                           action=Action.ADD_CONTACTS.value, refresh=False,
                           run_url=url_for(".add_contacts_run"))

    @expose("/add-contacts/run", methods=["POST"])
    def add_contacts_run(self):
        """Add the chosen contacts as a job (they get the campaign's email, if it has one)."""
        try:
            campaign_id, ids = _chosen_campaign_and_ids()
            check_request(campaign_id, Action.ADD_CONTACTS, contact_ids=ids)
        except AudienceError as exc:
            flash(str(exc), "error")
            return go_to(url_for("contact.index_view"))
        job_run = start_audience_change(campaign_id, Action.ADD_CONTACTS, contact_ids=ids,
                                        started_by=current_user.id)
        flash(ngettext("Adding %(num)d contact to the campaign: job %(job)s started.",
                       "Adding %(num)d contacts to the campaign: job %(job)s started.", len(ids),
                       job=job_run.id), "info")
        return go_to(url_for("jobrun.details_view", id=job_run.id))


def _id_list(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]


def _chosen_campaign_and_ids() -> tuple[int, list[int]]:
    campaign = request.form.get("campaign_id", "")
    if not campaign.isdigit():
        raise AudienceError("choose a campaign")
    ids = _id_list(request.form.get("ids", ""))
    if not ids:
        raise AudienceError("no contacts chosen")
    return int(campaign), ids
