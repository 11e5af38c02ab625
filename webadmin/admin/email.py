"""Email templates (admins) and the outbox (everyone may look)."""

from __future__ import annotations

from models import OutboxState, SenderMode, SendTiming

from .base import ReadOnlyModelView, SecureModelView, enum_choices


class EmailTemplateView(SecureModelView):
    """Sender, subject, bodies with placeholders, and when to send."""

    admin_only = True
    column_list = ["id", "name", "folder", "subject", "sender_mode", "send_timing", "marketing"]
    column_searchable_list = ["name", "subject"]
    column_filters = ["folder", "sender_mode", "send_timing", "marketing"]
    form_columns = [
        "name", "folder", "sender_mode", "sender_name", "sender_email", "sender_user",
        "subject", "body_html", "body_text", "marketing", "send_timing", "send_weekdays",
        "send_time", "registration_url", "survey_url",
    ]  # fmt: skip
    form_choices = {
        "sender_mode": enum_choices(SenderMode),
        "send_timing": enum_choices(SendTiming),
    }
    form_args = {
        "send_weekdays": {"description": "ISO weekdays, 1 = Monday … 7 = Sunday, e.g. 1,3,5"},
        "folder": {"description": 'Only templates in "Campaign" attach to campaigns and groups.'},
    }
    form_ajax_refs = {"sender_user": {"fields": ["email", "name"], "page_size": 20}}


class OutboxView(ReadOnlyModelView):
    """One row per message and its state; written by the email jobs only."""

    column_list = [
        "id", "state", "suppressed_reason", "to_email", "template", "campaign", "attempts",
        "created_at", "sent_at", "last_error",
    ]  # fmt: skip
    column_filters = ["state", "suppressed_reason", "created_at", "sent_at", "template.name",
                      "campaign.name"]  # fmt: skip
    column_labels = {"template.name": "Template", "campaign.name": "Campaign"}
    column_searchable_list = ["to_email"]
    column_choices = {"state": enum_choices(OutboxState)}
