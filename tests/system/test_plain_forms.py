"""Every create and edit form of every registered model screen, opened as the admin: no
developer words (Flask-Admin's ``__None`` option value or its "Please select model"
placeholder) on any of them."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_admin.contrib.sqla import ModelView

from models import (
    Activity,
    Automation,
    AutomationStep,
    Campaign,
    CampaignMember,
    Company,
    Contact,
    EmailTemplate,
    SavedFilter,
    ScheduledAction,
    Settings,
    TargetGroup,
    TargetGroupMember,
    Workflow,
    db,
)

DEVELOPER_WORDS = ("__None", "Please select model")


def _one_row_each(admin_user) -> None:
    """A row for every model a screen edits, so every edit form has something to open."""
    company = Company(name="Kone Oy")
    contact = Contact(first_name="Aino", last_name="Aalto", email="aino@example.fi",
                      company=company, owner=admin_user)
    template = EmailTemplate(name="Welcome", folder="Campaign", subject="Hi",
                             body_html="<p>Hi</p>")
    campaign = Campaign(name="Spring", active=True, email_template=template)
    group = TargetGroup(name="Turku", criteria={"all": []})
    automation = Automation(name="Welcome flow", status_value="lead")
    db.session.add_all([
        company, contact, template, campaign, group, automation,
        SavedFilter(name="All", module="contact", criteria={"all": []}),
        Activity(subject="Call Aino", owner=admin_user, contacts=[contact],
                 start_at=datetime(2026, 3, 2, 8, tzinfo=UTC),
                 end_at=datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),
        ScheduledAction(name="Nightly", kind="refresh_group", target_group=group,
                        frequency="daily", timezone="Europe/Helsinki"),
        Workflow(name="Join on save", campaign=campaign),
    ])
    Settings.get()
    db.session.flush()
    db.session.add_all([CampaignMember(campaign_id=campaign.id, contact_id=contact.id),
                        TargetGroupMember(group_id=group.id, contact_id=contact.id),
                        AutomationStep(automation_id=automation.id, position=1,
                                       kind="email_contact", template=template)])
    db.session.commit()


def _model_views(app) -> list[ModelView]:
    [admin] = app.extensions["admin"]
    return [view for view in admin._views if isinstance(view, ModelView)]


def test_no_form_shows_developer_words(app, admin_client, admin_user):
    _one_row_each(admin_user)
    views = _model_views(app)
    assert len(views) > 15  # every model screen, not a hand-picked few
    opened, problems = [], []
    for view in views:
        base = f"/admin/{view.endpoint}"
        urls = []
        if view.can_create:
            urls.append(f"{base}/new/")
        if view.can_edit:
            row = db.session.query(view.model).first()
            assert row is not None, f"no {view.model.__name__} row to edit in {view.endpoint}"
            pk = view.get_pk_value(row)
            urls.append(f"{base}/edit/?id={pk}")
        for url in urls:
            response = admin_client.get(url)
            page = response.get_data(as_text=True)
            if response.status_code != 200 or "<form" not in page:
                problems.append(f"{url}: {response.status_code}, no form")
            problems.extend(f"{url}: {word!r}" for word in DEVELOPER_WORDS if word in page)
            opened.append(url)
    assert not problems, "\n".join(problems)
    # The screens where people create and edit things are among those opened.
    for url in ("/admin/emailtemplate/new/", "/admin/scheduledaction/new/",
                "/admin/automation/new/", "/admin/user/new/", "/admin/contact/new/"):
        assert url in opened


def test_a_new_row_is_owned_by_whoever_creates_it(admin_client, admin_user):
    mine = f'data-json="[{admin_user.id}, '
    for view in ("contact", "company", "campaign", "activity", "targetgroup", "savedfilter"):
        page = admin_client.get(f"/admin/{view}/new/").get_data(as_text=True)
        assert mine in page, view
    # A workflow's "owner" is a condition on the activity: empty means anyone.
    page = admin_client.get("/admin/workflow/new/").get_data(as_text=True)
    assert f'<option selected value="{admin_user.id}">' not in page
