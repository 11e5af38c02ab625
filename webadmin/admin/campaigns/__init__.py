"""Campaigns and their members."""

from __future__ import annotations

from flask import flash, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy import inspect as inspect_row
from wtforms.validators import ValidationError

from jobs.email.sender import start_senders
from models import CAMPAIGN_FOLDER, CampaignMember, EmailTemplate, MemberSource, User, db
from models.campaigns import GENERATED_NUMBER
from models.campaigns.audience import Action, AudienceError
from models.campaigns.membership import add_members
from models.charts import campaign_funnel
from models.labels import choices, label

from ..base import Permission, SecureModelView, can
from ..bulk import BulkActionsMixin
from ..bulk.lists import CAMPAIGN_ACTIONS
from ..charts import chart
from ..forms import blank_select, picker
from ..paging import member_counts
from ..related import when

SOURCE_CHOICES = choices(MemberSource)


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


def member_count(campaign_id: int) -> int:
    """The campaign's members, counted on its primary key's prefix."""
    return db.session.scalar(select(func.count()).select_from(CampaignMember)
                             .where(CampaignMember.campaign_id == campaign_id))


def template_consequence(campaign) -> str:
    """What attaching a template means, said before saving: members already in get nothing,
    those who join from now on get it (unless opted out, without a usable address, or
    within the waiting period)."""
    members = member_count(campaign.id) if campaign is not None and campaign.id else 0
    later = _("Contacts who join from now on get its email, except those who opted out, have "
              "no usable address or got it within the waiting period.")
    if not members:
        return later
    return _("The %(count)s members already in the campaign get nothing from a newly attached "
             "template.", count=members) + " " + later


FUNNEL_STEPS = {"members": _l("Members"), "with_email": _l("With an email address"),
                "sent": _l("Sent an email"),
                "unsubscribed_or_bounced": _l("Opted out or bounced")}


def funnel_chart(campaign_id: int):
    """The campaign's audience funnel as a chart (models/charts.py counts it)."""
    data = campaign_funnel(campaign_id)
    return chart("chart-funnel", _("Audience funnel"), _("Step"), _("Contacts"),
                 [FUNNEL_STEPS[step] for step in data["categories"]], data["series"],
                 {"contacts": _("Contacts")})


def _member_count(view, context, model, name):
    # The campaign's members, linked to the list of them: counted once for the whole page
    # (a big campaign's from the statistics, paging.member_counts).
    count = member_counts(context, model.id)
    url = view.get_url("campaignmember.index_view", campaign_id=model.id)
    return Markup(f'<a href="{url}">{escape(count)}</a>')


def _audience_link(view, context, model, name):
    url = view.get_url("audience.campaign", campaign_id=model.id)
    return Markup(f'<a class="btn btn-sm btn-outline-secondary" href="{url}">Audience</a>')


class CampaignView(BulkActionsMixin, SecureModelView):
    """Campaigns: dates, owner, template; only active ones are used in actions."""

    bulk_area = "campaigns"
    bulk_actions = CAMPAIGN_ACTIONS

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
                           "validators": [campaign_template_only],
                           **blank_select(_l("(no email)"))},
        "number": {"validators": [typed_number_only],
                   "description": _l("Leave empty to get the next number (year-sequence).")},
    }
    form_ajax_refs = {"owner": picker(["email", "name"], _l("Choose a user…"))}
    details_template = "kohde/campaigns/details.html"

    def render(self, template, **kwargs):  # noqa: D102 (the details page draws the funnel)
        if template == self.details_template and kwargs.get("model") is not None:
            kwargs["funnel"] = funnel_chart(kwargs["model"].id)
        return super().render(template, **kwargs)

    def create_form(self, obj=None):  # noqa: D102 (templates: admins only, consequences said)
        return self._template_field(super().create_form(obj), obj)

    def edit_form(self, obj=None):  # noqa: D102 (the same)
        return self._template_field(super().edit_form(obj), obj)

    def _template_field(self, form, obj):
        """Only admins attach or change templates (a user's form has no such field, so a
        posted one is ignored); the field says who will and will not get the email."""
        if not can(Permission.CHANGE_TEMPLATES):
            del form.email_template
        else:
            form.email_template.description = template_consequence(obj)
        return form

    def on_model_change(self, form, model, is_created):
        """Remember whether the template changed, to say what that means once saved."""
        history = inspect_row(model).attrs.email_template.history
        g.template_attached = bool(history.added and history.added[0] is not None)

    def after_model_change(self, form, model, is_created):
        """A template attached: say who gets it and who does not."""
        if g.pop("template_attached", False):
            flash(_("%(template)s is attached to %(campaign)s.", template=model.email_template,
                    campaign=model) + " " + template_consequence(model), "info")


class CampaignMemberView(SecureModelView):
    """Who is in which campaign, who added them, when and from where."""

    column_list = ["campaign", "contact", "source", "source_ref", "added_by", "added_at", "job_id"]
    column_default_sort = ("added_at", True)
    column_filters = ["campaign.name", "source", "added_at", "contact.email"]
    column_labels = {"campaign.name": _l("Campaign"), "contact.email": _l("Contact email"),
                     "source_ref": _l("Source id")}
    column_formatters = {"source": lambda v, c, m, n: label(m.source, MemberSource),
                         "added_at": lambda v, c, m, n: when(m.added_at)}
    column_searchable_list = ["contact.email"]
    form_columns = ["campaign", "contact", "source", "added_by"]
    form_choices = {"source": SOURCE_CHOICES}
    form_ajax_refs = {
        "contact": picker(["email", "last_name"], _l("Choose a contact…")),
        "campaign": picker(["name", "number"], _l("Choose a campaign…")),
        "added_by": picker(["email", "name"], _l("Choose a user (default: you)…")),
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
            flash(_("Choose a campaign and a contact."), "error")
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
            flash(_("%(contact)s is already a member of %(campaign)s.", contact=contact,
                    campaign=campaign), "error")
            return False
        db.session.commit()
        if contact.email_opt_out:
            flash(_("%(contact)s opted out of email: added to %(campaign)s, but gets no "
                    "marketing email.", contact=contact, campaign=campaign), "warning")
        if result["email"]["queued"]:
            start_senders()
        return db.session.get(CampaignMember, (campaign.id, contact.id))
