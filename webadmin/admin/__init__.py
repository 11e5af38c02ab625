"""The Flask-Admin back office: one module per area, assembled here."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from models import (
    Activity,
    AuditEntry,
    Automation,
    Campaign,
    CampaignMember,
    Company,
    Contact,
    EmailTemplate,
    JobRun,
    MailboxMessage,
    OutboxMessage,
    SavedFilter,
    ScheduledAction,
    Settings,
    TargetGroup,
    TargetGroupMember,
    User,
    Workflow,
    WorkflowRun,
    db,
)

from .activities import ActivityView
from .activities.calendar import CalendarView
from .activities.group_form import GroupActivitiesView
from .activities.wizard import ActivityWizardView
from .automations import AutomationView, ContactAutomationsView
from .campaigns import CampaignMemberView, CampaignView
from .campaigns.audience import CampaignAudienceView
from .contacts import CompanyView, ContactView
from .criteria.builder import CriteriaBuilderView
from .dashboard import DashboardView
from .email import EmailTemplateView, MailboxView, OutboxView
from .groups import SavedFilterView, TargetGroupMemberView, TargetGroupView
from .imports import ImportContactsView
from .jobs import JobRunView
from .schedules import ScheduledActionView
from .settings import AuditView, SettingsView
from .users import ProfileView, UserView
from .workflows import WorkflowRunView, WorkflowView


def init_admin(app: Flask) -> Admin:
    """Build the back office and register every screen on ``app``."""
    admin = Admin(
        app,
        name="Kohde",
        index_view=DashboardView(name=_l("Dashboard"), url="/admin"),
        theme=Bootstrap4Theme(base_template="kohde/layout.html", fluid=True),
    )
    crm, targeting, email = _l("CRM"), _l("Targeting"), _l("Email")
    work, setup = _l("Jobs"), _l("Admin")
    admin.add_view(ContactView(Contact, db, name=_l("Contacts"), category=crm))
    admin.add_view(CompanyView(Company, db, name=_l("Companies"), category=crm))
    admin.add_view(CampaignView(Campaign, db, name=_l("Campaigns"), category=crm))
    admin.add_view(CampaignMemberView(CampaignMember, db, name=_l("Campaign members"),
                                      category=crm))
    # Reached from a campaign's row, not from the menu.
    admin.add_view(CampaignAudienceView(name=_l("Audience"), endpoint="audience", category=crm))
    admin.add_view(ActivityView(Activity, db, name=_l("Activities"), category=crm))
    admin.add_view(ActivityWizardView(name=_l("Group activity wizard"), endpoint="activity_wizard",
                                      category=crm))
    admin.add_view(CalendarView(name=_l("Calendar"), endpoint="calendar", category=crm))
    # Reached from a target group's details page, not from the menu.
    admin.add_view(GroupActivitiesView(name=_l("Group activities"), endpoint="group_activities",
                                       category=targeting))
    admin.add_view(TargetGroupView(TargetGroup, db, name=_l("Target groups"), category=targeting))
    admin.add_view(
        TargetGroupMemberView(TargetGroupMember, db, name=_l("Group members"), category=targeting)
    )
    admin.add_view(SavedFilterView(SavedFilter, db, name=_l("Saved filters"), category=targeting))
    admin.add_view(CriteriaBuilderView(name=_l("Criteria builder"), endpoint="criteria"))
    admin.add_view(EmailTemplateView(EmailTemplate, db, name=_l("Templates"), category=email))
    admin.add_view(OutboxView(OutboxMessage, db, name=_l("Outbox"), category=email))
    admin.add_view(MailboxView(MailboxMessage, db, name=_l("Mailbox"), category=email))
    admin.add_view(JobRunView(JobRun, db, name=_l("Job runs"), category=work))
    admin.add_view(ImportContactsView(name=_l("Import contacts"), endpoint="import_contacts",
                                      category=work))
    admin.add_view(UserView(User, db, name=_l("Users"), category=setup))
    admin.add_view(ProfileView(name=_l("Your profile"), endpoint="profile", url="/admin/profile"))
    admin.add_view(SettingsView(Settings, db, name=_l("Settings"), category=setup))
    admin.add_view(ScheduledActionView(ScheduledAction, db, name=_l("Scheduled actions"),
                                       category=setup))
    admin.add_view(AutomationView(Automation, db, name=_l("Automations"), category=setup))
    admin.add_view(ContactAutomationsView(name=_l("Contact automations"),
                                          endpoint="contact_automations"))
    admin.add_view(WorkflowView(Workflow, db, name=_l("Workflows"), category=setup))
    admin.add_view(WorkflowRunView(WorkflowRun, db, name=_l("Workflow runs"), category=setup))
    admin.add_view(AuditView(AuditEntry, db, name=_l("Audit log"), category=setup))
    return admin
