"""The Flask-Admin back office: one module per area, assembled here."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

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
from .users import UserView
from .workflows import WorkflowRunView, WorkflowView


def init_admin(app: Flask) -> Admin:
    """Build the back office and register every screen on ``app``."""
    admin = Admin(
        app,
        name="Kohde",
        index_view=DashboardView(name="Dashboard", url="/admin"),
        theme=Bootstrap4Theme(base_template="kohde/layout.html", fluid=True),
    )
    crm, targeting, email, work, setup = "CRM", "Targeting", "Email", "Jobs", "Admin"
    admin.add_view(ContactView(Contact, db, name="Contacts", category=crm))
    admin.add_view(CompanyView(Company, db, name="Companies", category=crm))
    admin.add_view(CampaignView(Campaign, db, name="Campaigns", category=crm))
    admin.add_view(CampaignMemberView(CampaignMember, db, name="Campaign members", category=crm))
    # Reached from a campaign's row, not from the menu.
    admin.add_view(CampaignAudienceView(name="Audience", endpoint="audience", category=crm))
    admin.add_view(ActivityView(Activity, db, name="Activities", category=crm))
    admin.add_view(ActivityWizardView(name="Group activity wizard", endpoint="activity_wizard",
                                      category=crm))
    admin.add_view(CalendarView(name="Calendar", endpoint="calendar", category=crm))
    # Reached from a target group's details page, not from the menu.
    admin.add_view(GroupActivitiesView(name="Group activities", endpoint="group_activities",
                                       category=targeting))
    admin.add_view(TargetGroupView(TargetGroup, db, name="Target groups", category=targeting))
    admin.add_view(
        TargetGroupMemberView(TargetGroupMember, db, name="Group members", category=targeting)
    )
    admin.add_view(SavedFilterView(SavedFilter, db, name="Saved filters", category=targeting))
    admin.add_view(CriteriaBuilderView(name="Criteria builder", endpoint="criteria"))
    admin.add_view(EmailTemplateView(EmailTemplate, db, name="Templates", category=email))
    admin.add_view(OutboxView(OutboxMessage, db, name="Outbox", category=email))
    admin.add_view(MailboxView(MailboxMessage, db, name="Mailbox", category=email))
    admin.add_view(JobRunView(JobRun, db, name="Job runs", category=work))
    admin.add_view(ImportContactsView(name="Import contacts", endpoint="import_contacts",
                                      category=work))
    admin.add_view(UserView(User, db, name="Users", category=setup))
    admin.add_view(SettingsView(Settings, db, name="Settings", category=setup))
    admin.add_view(ScheduledActionView(ScheduledAction, db, name="Scheduled actions",
                                       category=setup))
    admin.add_view(AutomationView(Automation, db, name="Automations", category=setup))
    admin.add_view(ContactAutomationsView(name="Contact automations",
                                          endpoint="contact_automations"))
    admin.add_view(WorkflowView(Workflow, db, name="Workflows", category=setup))
    admin.add_view(WorkflowRunView(WorkflowRun, db, name="Workflow runs", category=setup))
    admin.add_view(AuditView(AuditEntry, db, name="Audit log", category=setup))
    return admin
