"""Kohde's typed SQLAlchemy models, one module per aggregate.

Importing this package registers every table on ``db.metadata`` (Alembic and
the app factory rely on that).
"""

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
from .base import Base, UTCDateTime, db, utcnow
from .campaigns import Campaign, CampaignMember, CampaignMemberRemoval, MemberSource
from .companies import Company
from .contacts import Contact, ContactKind
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
from .groups import FilterModule, SampleMode, SavedFilter, TargetGroup, TargetGroupMember
from .jobs import ACTIVE_STATUSES, JobRun, JobStatus
from .scheduled_action import ActionKind, Frequency, ScheduledAction
from .settings import Settings
from .users import Role, User

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
    "SenderMode",
    "Settings",
    "SuppressedAddress",
    "TargetGroup",
    "TargetGroupMember",
    "UTCDateTime",
    "WizardAssignment",
    "WizardMode",
    "WizardSource",
    "User",
    "db",
    "utcnow",
]
