"""Kohde's typed SQLAlchemy models, one module per aggregate.

Importing this package registers every table on ``db.metadata`` (Alembic and
the app factory rely on that).
"""

from . import sqlite_unicode  # noqa: F401 (ILIKE folds every script on SQLite too)
from .activities import (
    Activity,
    ActivityContact,
    ActivityPlan,
    ActivitySlot,
    ActivityStatus,
    ActivityType,
)
from .activities.wizard import (
    ActivityWizardExclusion,
    ActivityWizardRun,
    WizardAssignment,
    WizardMode,
    WizardSource,
)
from .audit import AuditEntry
from .automations import (
    Automation,
    AutomationEnrolment,
    AutomationStep,
    StepTrace,
)
from .base import Base, UTCDateTime, db, utcnow
from .bulk import BulkUndo
from .campaigns import Campaign, CampaignMember, CampaignMemberRemoval, MemberSource
from .companies import Company
from .contacts import Contact, ContactKind
from .email import (
    CAMPAIGN_FOLDER,
    TEMPLATE_FOLDERS,
    EmailTemplate,
    EmailTemplateVariant,
    MailboxMessage,
    OutboxMessage,
    OutboxState,
    SenderMode,
    SendTiming,
    SuppressedAddress,
)
from .groups import (
    FilterModule,
    SampleMode,
    SavedFilter,
    TargetGroup,
    TargetGroupMember,
    TargetGroupRefresh,
)
from .jobs import ACTIVE_STATUSES, STUCK, WORKER_LOST, JobRun, JobStatus
from .schedules import (
    ActionInUse,
    ActionKind,
    ActivityAssignee,
    ActivityDay,
    CatchUp,
    Frequency,
    Origin,
    Overlap,
    RunStatus,
    ScheduledAction,
    ScheduledActionRun,
    SchedulerTick,
)
from .settings import Settings
from .users import Role, User
from .workflows import Workflow, WorkflowRun

__all__ = [
    "ACTIVE_STATUSES",
    "CAMPAIGN_FOLDER",
    "TEMPLATE_FOLDERS",
    "ActionInUse",
    "ActionKind",
    "Activity",
    "ActivityAssignee",
    "ActivityContact",
    "ActivityDay",
    "ActivityPlan",
    "ActivitySlot",
    "ActivityStatus",
    "ActivityType",
    "ActivityWizardExclusion",
    "ActivityWizardRun",
    "AuditEntry",
    "Automation",
    "AutomationEnrolment",
    "AutomationStep",
    "StepTrace",
    "Base",
    "BulkUndo",
    "Campaign",
    "CampaignMember",
    "CampaignMemberRemoval",
    "CatchUp",
    "Company",
    "Contact",
    "ContactKind",
    "EmailTemplate",
    "EmailTemplateVariant",
    "FilterModule",
    "Frequency",
    "JobRun",
    "JobStatus",
    "MailboxMessage",
    "MemberSource",
    "OutboxMessage",
    "OutboxState",
    "Origin",
    "Overlap",
    "Role",
    "RunStatus",
    "SampleMode",
    "SavedFilter",
    "ScheduledAction",
    "ScheduledActionRun",
    "SchedulerTick",
    "SendTiming",
    "STUCK",
    "SenderMode",
    "Settings",
    "SuppressedAddress",
    "TargetGroup",
    "TargetGroupMember",
    "TargetGroupRefresh",
    "UTCDateTime",
    "WORKER_LOST",
    "WizardAssignment",
    "WizardMode",
    "WizardSource",
    "User",
    "Workflow",
    "WorkflowRun",
    "db",
    "utcnow",
]
