"""Kohde's typed SQLAlchemy models, one module per aggregate.

Importing this package registers every table on ``db.metadata`` (Alembic and
the app factory rely on that).
"""

from .activity import (
    Activity,
    ActivityContact,
    ActivityPlan,
    ActivitySlot,
    ActivityStatus,
    ActivityType,
)
from .activity_wizard import (
    ActivityWizardExclusion,
    ActivityWizardRun,
    WizardAssignment,
    WizardMode,
    WizardSource,
)
from .audit import AuditEntry
from .base import Base, UTCDateTime, db, utcnow
from .campaign import Campaign, CampaignMember, CampaignMemberRemoval, MemberSource
from .company import Company
from .contact import Contact, ContactKind
from .email import (
    CAMPAIGN_FOLDER,
    EmailTemplate,
    MailboxMessage,
    OutboxMessage,
    OutboxState,
    SenderMode,
    SendTiming,
    SuppressedAddress,
)
from .job_run import ACTIVE_STATUSES, STUCK, WORKER_LOST, JobRun, JobStatus
from .scheduled_action import ActionKind, Frequency, ScheduledAction
from .settings import Settings
from .target_group import FilterModule, SampleMode, SavedFilter, TargetGroup, TargetGroupMember
from .user import Role, User

__all__ = [
    "ACTIVE_STATUSES",
    "CAMPAIGN_FOLDER",
    "ActionKind",
    "Activity",
    "ActivityContact",
    "ActivityPlan",
    "ActivitySlot",
    "ActivityStatus",
    "ActivityType",
    "ActivityWizardExclusion",
    "ActivityWizardRun",
    "AuditEntry",
    "Base",
    "Campaign",
    "CampaignMember",
    "CampaignMemberRemoval",
    "Company",
    "Contact",
    "ContactKind",
    "EmailTemplate",
    "FilterModule",
    "Frequency",
    "JobRun",
    "JobStatus",
    "MailboxMessage",
    "MemberSource",
    "OutboxMessage",
    "OutboxState",
    "Role",
    "SampleMode",
    "SavedFilter",
    "ScheduledAction",
    "SendTiming",
    "STUCK",
    "SenderMode",
    "Settings",
    "SuppressedAddress",
    "TargetGroup",
    "TargetGroupMember",
    "UTCDateTime",
    "WORKER_LOST",
    "WizardAssignment",
    "WizardMode",
    "WizardSource",
    "User",
    "db",
    "utcnow",
]
