"""Campaigns and their members."""

from __future__ import annotations

from flask import flash, request
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms.validators import ValidationError

from jobs.email.sender import start_senders
from models import CAMPAIGN_FOLDER, CampaignMember, EmailTemplate, MemberSource, User, db
from models.campaigns import GENERATED_NUMBER
from models.campaigns.audience import Action, AudienceError
from models.campaigns.membership import add_members

from ..base import SecureModelView, enum_choices
from ..paging import member_counts

SOURCE_CHOICES = enum_choices(MemberSource)


def campaign_templates():
    """Only templates in the "Campaign" folder can be attached to campaigns."""
    # Our models derive from a plain DeclarativeBase, so they have no ``Model.query``.
    return (
        db.session.query(EmailTemplate)
        .filter(EmailTemplate.folder == CAMPAIGN_FOLDER)
        .order_by(EmailTemplate.name)
    )


def campaign_template_only(form, field):
    """Refuse a posted template the list does not offer (another folder, or deleted):
    QuerySelectField alone would drop it and save the campaign or group without one."""
    raw = (field.raw_data or [""])[0]
    if raw not in ("", "__None") and field.data is None:
        raise ValidationError(f"Only templates in the {CAMPAIGN_FOLDER!r} folder can be attached.")


def typed_number_only(form, field):
    """Refuse a typed number shaped like a generated one (year-id): a later campaign's
    generated number could be that very one. A campaign's own number may stay."""
    value = (field.data or "").strip()
    if value and value != (field.object_data or "") and GENERATED_NUMBER.fullmatch(value):
        raise ValidationError(
            f"Numbers like {value} are given out automatically: leave the number empty to "
            "get one, or choose another form (e.g. with letters)."
        )


def _member_count(view, context, model, name):
    # The campaign's members, linked to the list of them: counted once for the whole page
    # (a big campaign's from the statistics, paging.member_counts).
    count = member_counts(context, model.id)
    url = view.get_url("campaignmember.index_view", campaign_id=model.id)
    return Markup(f'<a href="{url}">{escape(count)}</a>')


def _audience_link(view, context, model, name):
    url = view.get_url("audience.campaign", campaign_id=model.id)
    return Markup(f'<a class="btn btn-sm btn-outline-secondary" href="{url}">Audience</a>')


class CampaignView(SecureModelView):
    """Campaigns: dates, owner, template; only active ones are used in actions."""

    column_list = [
        "id", "number", "name", "active", "start_date", "end_date", "email_template", "owner",
        "members", "audience",
    ]
    column_details_list = [
        "id", "number", "name", "active", "start_date", "end_date", "email_template", "owner",
        "description", "members", "audience",
    ]
    column_formatters = {"audience": _audience_link, "members": _member_count}
    column_formatters_detail = column_formatters
    column_searchable_list = ["name", "number"]
    column_filters = ["active", "start_date", "end_date", "owner.email", "email_template.name"]
    column_labels = {"end_date": "Estimated end", "owner.email": "Owner",
                     "email_template.name": "Template"}
    form_columns = [
        "name", "number", "active", "start_date", "end_date", "email_template", "owner",
        "description",
    ]
    form_args = {
        "email_template": {"query_factory": campaign_templates,
                           "validators": [campaign_template_only]},
        "number": {"validators": [typed_number_only]},
    }
    form_ajax_refs = {"owner": {"fields": ["email", "name"], "page_size": 20}}


class CampaignMemberView(SecureModelView):
    """Who is in which campaign, who added them, when and from where."""

    column_list = ["campaign", "contact", "source", "source_ref", "added_by", "added_at", "job_id"]
    column_default_sort = ("added_at", True)
    column_filters = ["campaign.name", "source", "added_at", "contact.email"]
    column_labels = {"campaign.name": "Campaign", "contact.email": "Contact email",
                     "source_ref": "Source id"}
    column_searchable_list = ["contact.email"]
    form_columns = ["campaign", "contact", "source", "added_by"]
    form_choices = {"source": SOURCE_CHOICES}
    form_ajax_refs = {
        "contact": {"fields": ["email", "last_name"], "page_size": 20},
        "campaign": {"fields": ["name", "number"], "page_size": 20},
        "added_by": {"fields": ["email", "name"], "page_size": 20},
    }

    def get_query(self):
        """``?campaign_id=N`` (the campaign list's and Audience screen's member links) lists
        one campaign's members."""
        return self._one_campaign(super().get_query())

    def get_count_query(self):  # noqa: D102 (the same restriction as the list)
        return self._one_campaign(super().get_count_query())

    @staticmethod
    def _one_campaign(query):
        campaign_id = request.args.get("campaign_id", type=int)
        if campaign_id is None:
            return query
        return query.filter(CampaignMember.campaign_id == campaign_id)

    def create_model(self, form):
        """Add the member the way every join happens (``add_members``): by the logged-in
        user, with the campaign's email queued for it when the campaign has a template."""
        campaign, contact = form.campaign.data, form.contact.data
        if campaign is None or contact is None:
            flash("Choose a campaign and a contact.", "error")
            return False
        added_by = form.added_by.data or db.session.get(User, current_user.id)
        try:
            result = add_members(campaign.id, Action.ADD_CONTACTS, contact_ids=[contact.id],
                                 added_by=added_by.id,
                                 source=form.source.data or MemberSource.MANUAL.value)
        except AudienceError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return False
        if not result["added"]:
            db.session.rollback()
            flash(f"{contact} is already a member of {campaign}.", "error")
            return False
        db.session.commit()
        if result["email"]["queued"]:
            start_senders()
        return db.session.get(CampaignMember, (campaign.id, contact.id))
