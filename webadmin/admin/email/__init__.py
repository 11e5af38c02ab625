"""Email templates (admins), the outbox (everyone may look) and the dev mailbox (admins)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.helpers import is_form_submitted
from flask_admin.model.form import InlineFormAdmin
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import delete, func, select

from models import (
    CAMPAIGN_FOLDER,
    TEMPLATE_FOLDERS,
    Campaign,
    EmailTemplate,
    EmailTemplateVariant,
    MailboxMessage,
    OutboxState,
    SenderMode,
    SendTiming,
    TargetGroup,
    User,
    db,
)
from models.email.message import AddressProblem, address
from models.email.outbox import ALREADY_HAD
from models.email.render import TemplateProblem, check_template
from models.labels import choices, label

from ..base import ReadOnlyModelView, SecureModelView
from ..bulk import BulkActionsMixin
from ..bulk.lists import OUTBOX_ACTIONS
from ..columns import COLUMN_LABELS
from ..forms import picker
from .preview import (
    ContactNotFound,
    parse_mail,
    preview_message,
    sample_contact,
    send_test,
)

# The template's parts: check_template's arguments and the form's fields alike.
PARTS = ("subject", "body_html", "body_text")


def _check_parts(form) -> bool:
    """Each part on its own first, so every part's syntax error shows on its field."""
    ok = True
    for name in PARTS:
        sources = {part: (form[part].data or "") if part == name else "" for part in PARTS}
        try:
            check_template(**sources, marketing=False)
        except TemplateProblem as exc:
            form[name].errors = [*form[name].errors, str(exc)]
            ok = False
    return ok


class VariantForm(InlineFormAdmin):
    """A template's subject and bodies in one more language (the "Language variants" part
    of the template's form); contacts in that language get it instead of the main text."""

    form_columns = ["id", "language", "subject", "body_html", "body_text"]
    form_label = _l("Language variant")
    column_labels = {**COLUMN_LABELS, "language": _l("Language")}
    # The language a variant is written in: a stored value, named in the reader's language.
    form_choices = {"language": choices("language")}
    form_args = {
        "subject": {"description": _l("Empty: this variant is not used.")},
        "body_html": {"render_kw": {"rows": 8, "style": "font-family: monospace"}},
        "body_text": {"description": _l("Empty: made from the HTML body when a message is "
                                        "sent."),
                      "render_kw": {"rows": 5, "style": "font-family: monospace"}},
    }


def _check_variants(form) -> bool:
    """Each language once, and each variant checked like the main text (syntax, the
    unsubscribe link of marketing email), its problems shown on its own fields."""
    entries = getattr(form, "variants", None)
    if entries is None:
        return True
    ok, seen = True, set()
    for entry in entries.entries:
        if entries.should_delete(entry):
            continue
        variant = entry.form
        if variant.language.data in seen:
            variant.language.errors = [*variant.language.errors,
                                       _("This language has a variant already.")]
            ok = False
        seen.add(variant.language.data)
        if not (variant.subject.data or "").strip():
            continue
        try:
            check_template(variant.subject.data, variant.body_html.data or "",
                           variant.body_text.data or "", bool(form.marketing.data))
        except TemplateProblem as exc:
            variant.body_html.errors = [*variant.body_html.errors, str(exc)]
            ok = False
    return ok


def folder_choices(current: str | None = None) -> list[tuple[str, object]]:
    """The template folder select: the known folders, then any other folder in use (and the
    edited template's own), each in the reader's words."""
    used = db.session.scalars(select(EmailTemplate.folder).distinct()).all()
    others = sorted({f for f in [*used, current] if f and f not in TEMPLATE_FOLDERS})
    return [(f, label(f, "template_folder")) for f in (*TEMPLATE_FOLDERS, *others)]


def known_folder_spelling(value):
    """A folder posted in another case ("campaign") is the known one, or it would never
    attach (campaigns and groups compare the stored code)."""
    if isinstance(value, str):
        for folder in TEMPLATE_FOLDERS:
            if value.strip().lower() == folder.lower():
                return folder
    return value


def _attached_to(template_id: int) -> int:
    """Campaigns and target groups that send this template."""
    return sum(
        db.session.scalar(select(func.count()).where(model.email_template_id == template_id))
        for model in (Campaign, TargetGroup)
    )


class EmailTemplateView(SecureModelView):
    """Sender, subject, bodies with placeholders, and when to send; checked on save,
    previewed for a sample contact, sent to oneself as a test."""

    admin_only = True
    column_list = ["id", "name", "folder", "subject", "sender_mode", "send_timing", "marketing"]
    column_searchable_list = ["name", "subject"]
    column_filters = ["folder", "sender_mode", "send_timing", "marketing"]
    column_formatters = {"folder": lambda v, c, m, n: label(m.folder, "template_folder")}
    column_formatters_detail = column_formatters
    form_columns = [
        "name", "folder", "sender_mode", "sender_name", "sender_email", "sender_user",
        "subject", "body_html", "body_text", "marketing", "send_timing", "send_weekdays",
        "send_time", "registration_url", "survey_url", "variants",
    ]
    inline_models = [VariantForm(EmailTemplateVariant)]
    form_choices = {
        "folder": [(f, f) for f in TEMPLATE_FOLDERS],  # per form: folder_choices()
        "sender_mode": choices(SenderMode),
        "send_timing": choices(SendTiming),
    }
    # render_kw, not form_widget_args: Flask-Admin's render_field writes "is-invalid" into
    # the widget-args dict it is given, so one refused save would mark these fields invalid
    # on every later page until the process restarts.
    form_args = {
        "send_weekdays": {"description": _l("ISO weekdays, 1 = Monday … 7 = Sunday, e.g. "
                                            "1,3,5")},
        "folder": {"description": _l('Only templates in "Campaign" attach to campaigns and '
                                     'groups.'),
                   "filters": [known_folder_spelling]},
        "body_html": {"render_kw": {"rows": 14, "style": "font-family: monospace"}},
        "body_text": {"description": _l("Empty: made from the HTML body when a message is "
                                        "sent."),
                      "render_kw": {"rows": 8, "style": "font-family: monospace"}},
        "marketing": {"description": _l("Marketing email must contain {{ unsubscribe_url }} "
                                        "and is never sent to contacts who opted out.")},
    }
    form_ajax_refs = {"sender_user": picker(["email", "name"], _l("Choose a user…"))}
    create_template = "kohde/email/template_create.html"
    edit_template = "kohde/email/template_edit.html"
    details_template = "kohde/email/template_details.html"

    def create_form(self, obj=None):  # noqa: D102 (the folders: known and in use, as words)
        form = super().create_form(obj)
        form.folder.choices = folder_choices()
        return form

    def edit_form(self, obj=None):  # noqa: D102 (the same, the template's own folder kept)
        form = super().edit_form(obj)
        form.folder.choices = folder_choices(getattr(obj, "folder", None))
        return form

    def validate_form(self, form) -> bool:
        """Flask-Admin's checks, then the template's own: syntax errors (with their line) and
        a marketing email without an unsubscribe link are refused on their field."""
        valid = super().validate_form(form)
        if not hasattr(form, "body_html") or not is_form_submitted():
            return valid  # the delete form, or a GET
        checked = _check_parts(form) and self._check_whole(form) and _check_variants(form)
        return self._check_sender(form) & self._check_folder(form) & checked & valid

    @staticmethod
    def _check_whole(form) -> bool:
        try:
            result = check_template(
                form.subject.data or "",
                form.body_html.data or "",
                form.body_text.data or "",
                bool(form.marketing.data),
            )
        except TemplateProblem as exc:  # only the unsubscribe rule is left to fail here
            form.body_html.errors = [*form.body_html.errors, str(exc)]
            return False
        form.template_warnings = result.warnings  # flashed once the template is saved
        return True

    @staticmethod
    def _check_sender(form) -> bool:
        # Refused here, not in the sender job: a bad From would fail every message.
        mode, email = form.sender_mode.data, (form.sender_email.data or "").strip()
        if mode == SenderMode.USER and not form.sender_user.data:
            form.sender_user.errors = [*form.sender_user.errors,
                                       _("Choose the user to send as.")]
            return False
        if email:
            try:
                address("", email)
            except AddressProblem as exc:
                form.sender_email.errors = [*form.sender_email.errors, str(exc)]
                return False
        return True

    @staticmethod
    def _check_folder(form) -> bool:
        # Campaigns and groups accept only Campaign templates; a template they already send
        # may not leave the folder behind their back.
        folder = (form.folder.data or "").strip()
        if folder.lower() == CAMPAIGN_FOLDER.lower():
            form.folder.data = CAMPAIGN_FOLDER  # one spelling, or it would not attach
            return True
        model = getattr(form, "_obj", None)
        if model is not None and model.folder == CAMPAIGN_FOLDER and _attached_to(model.id):
            problem = _("Campaigns or target groups send this template; detach it there "
                        "before moving it out of %(folder)s.", folder=repr(CAMPAIGN_FOLDER))
            form.folder.errors = [*form.folder.errors, problem]
            return False
        return True

    def after_model_change(self, form, model, is_created):
        """Saved with unknown placeholders: say so (they render empty)."""
        for warning in getattr(form, "template_warnings", []):
            flash(_("Saved, but %(warning)s — it renders empty.", warning=warning), "warning")

    def _template(self, template_id: int) -> EmailTemplate:
        template = db.session.get(EmailTemplate, template_id)
        if template is None:
            abort(404)
        return template

    @expose("/preview/<int:template_id>", methods=["POST"])
    def preview(self, template_id: int):
        """htmx: the template rendered for a sample contact (by default: you), with the
        headers; the edit page sends its unsaved subject and bodies along."""
        template = self._template(template_id)
        parts = {name: request.form[name] for name in PARTS if name in request.form}
        try:
            contact = sample_contact(request.form.get("contact", ""))
            preview = preview_message(template, contact, parts)
        except (ContactNotFound, TemplateProblem, AddressProblem) as exc:
            return self.render("kohde/email/_preview.html", error=str(exc))
        return self.render("kohde/email/_preview.html", preview=preview)

    @expose("/send-test/<int:template_id>", methods=["POST"])
    def send_test(self, template_id: int):
        """Send the saved template, rendered for the sample contact, to yourself at once
        (not through the outbox); the flash says where it went or what the server said."""
        template = self._template(template_id)
        page = ".edit_view" if request.form.get("back") == "edit" else ".details_view"
        user = db.session.get(User, current_user.id)
        try:
            contact = sample_contact(request.form.get("contact", ""))
        except ContactNotFound as exc:
            flash(_("Nothing sent: %(problem)s", problem=exc), "error")
        else:
            ok, said = send_test(template, contact, user)
            flash(said, "success" if ok else "error")
        return redirect(url_for(page, id=template.id))


class OutboxView(BulkActionsMixin, ReadOnlyModelView):
    """One row per message and its state; written by the email jobs (and the list's
    retry / cancel, which are jobs too)."""

    bulk_area = "outbox"
    bulk_actions = OUTBOX_ACTIONS

    column_list = [
        "id", "state", "suppressed_reason", "to_email", "template", "campaign", "attempts",
        "created_at", "sent_at", "last_error",
    ]
    column_filters = ["state", "suppressed_reason", "created_at", "sent_at", "template.name",
                      "campaign.name"]
    column_labels = {"template.name": _l("Template"), "campaign.name": _l("Campaign")}
    column_searchable_list = ["to_email"]
    column_choices = {"state": choices(OutboxState),
                      "suppressed_reason": [(code, words) for code, words in choices("suppression")
                                            if code != ALREADY_HAD]}  # a preview's only
    column_formatters_detail = {
        "reason": lambda v, c, m, n: label(m.reason, "outbox_reason"),
        "suppressed_reason": lambda v, c, m, n: label(m.suppressed_reason, "suppression"),
        "state": lambda v, c, m, n: label(m.state, OutboxState),
    }


class MailboxView(ReadOnlyModelView):
    """What the development mail sink received (`kohde mailsink`, `make run` without
    SMTP_URL): nothing here left the machine."""

    admin_only = True
    can_export = False
    column_list = ["received_at", "mail_from", "recipients", "subject"]
    column_labels = {"mail_from": _l("From"), "received_at": _l("Received")}
    column_default_sort = [("received_at", True), ("id", True)]
    column_searchable_list = ["subject", "recipients", "mail_from"]
    column_details_list = ["id", "received_at", "mail_from", "recipients", "subject",
                           "message_id"]
    list_template = "kohde/email/mailbox_list.html"
    details_template = "kohde/email/mailbox_details.html"

    def render(self, template, **kwargs):  # noqa: D102 (the details page shows the parts)
        if template == self.details_template and kwargs.get("model") is not None:
            kwargs["mail"] = parse_mail(kwargs["model"].raw)
        return super().render(template, **kwargs)

    @expose("/clear", methods=["POST"])
    def clear(self):
        """Empty the mailbox."""
        removed = db.session.execute(delete(MailboxMessage)).rowcount
        db.session.commit()
        flash(ngettext("Mailbox cleared: %(num)d message removed.",
                       "Mailbox cleared: %(num)d messages removed.", removed), "success")
        return redirect(url_for(".index_view"))
