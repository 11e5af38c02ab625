"""What a bulk action is to the pages: its label, the fields its confirmation asks for,
its dry run in words, its starter, and who may use it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _

from models import Campaign, User, db
from models.campaigns import active_campaigns
from models.selections import Selection
from models.users import active_users


class BulkRefused(ValueError):
    """A posted value the action cannot take (no such user, a reason missing, …)."""


def user_choices() -> list[tuple[str, str]]:
    """Active users, for "who" fields."""
    return [(str(u.id), u.name or u.email) for u in active_users()]


def campaign_choices() -> list[tuple[str, str]]:
    """Active campaigns (only those can be used in actions)."""
    return [(str(c.id), f"{c.number or ''} {c.name}".strip()) for c in active_campaigns()]


@dataclass(frozen=True)
class Field:
    """One value the confirmation asks for.

    ``kind``: ``user`` / ``campaign`` (an active one, by id), ``choice`` (one of
    ``choices``), ``text`` (1…``size`` characters), ``int`` (``low``…``high``, not 0),
    ``date``. ``optional``: empty is None.
    """

    name: str
    label: str
    kind: str
    choices: tuple[tuple[str, str], ...] | Callable[[], list] = ()
    optional: bool = False
    default: str = ""
    size: int = 255
    low: int = -100_000
    high: int = 100_000
    help: str = ""

    def options(self) -> list[tuple[str, str]]:
        """The choices a select shows (users and campaigns as they are now)."""
        if self.kind == "user":
            return user_choices()
        if self.kind == "campaign":
            return campaign_choices()
        return list(self.choices() if callable(self.choices) else self.choices)

    def parse(self, raw: str | None):
        """The posted text as the value a starter takes; BulkRefused says what is wrong."""
        raw = (raw or "").strip()
        label = str(self.label).lower()
        if not raw:
            if self.optional:
                return None
            raise BulkRefused(_("choose or fill in %(field)s", field=label))
        if self.kind in ("user", "campaign"):
            model = User if self.kind == "user" else Campaign
            row = db.session.get(model, int(raw)) if raw.isdigit() and len(raw) < 10 else None
            if row is None or not row.active:  # users and campaigns both can be inactive
                raise BulkRefused(_("there is no active %(kind)s %(raw)s", kind=self.kind,
                                    raw=repr(raw[:40])))
            return row.id
        if self.kind == "choice":
            if raw not in {value for value, _label in self.options()}:
                raise BulkRefused(_("%(raw)s is not a choice for %(field)s", raw=repr(raw[:40]),
                                    field=label))
            return raw
        if self.kind == "int":
            if not raw.lstrip("-").isdigit() or len(raw) > 7:
                raise BulkRefused(_("%(field)s must be a whole number", field=label))
            value = int(raw)
            if not value or not self.low <= value <= self.high:
                raise BulkRefused(_("%(field)s must be from %(low)s to %(high)s and not 0",
                                    field=label, low=self.low, high=self.high))
            return value
        if self.kind == "date":
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise BulkRefused(_("%(field)s must be a date", field=label)) from None
        if len(raw) > self.size or "\x00" in raw:
            raise BulkRefused(_("%(field)s may have at most %(size)s characters", field=label,
                                size=self.size))
        return raw


@dataclass(frozen=True)
class Preview:
    """The dry run in words: one sentence, a few more lines, an optional per-user table."""

    sentence: str
    details: list[str] = field(default_factory=list)
    table: list[tuple[str, dict]] | None = None
    runnable: bool = True


@dataclass(frozen=True)
class BulkAction:
    """One entry of a list's "With selected" menu, run as a job on the selection."""

    name: str
    label: str
    fields: tuple[Field, ...]
    preview: Callable[[Selection, dict], Preview]
    start: Callable[[Selection, dict, int], list]
    admin_only: bool = False
    danger: bool = False

    def form_fields(self) -> list[tuple[Field, list[tuple[str, str]]]]:
        """Each field with the choices its select offers."""
        return [(f, f.options()) for f in self.fields]

    def parse(self, form) -> dict:
        """The posted fields, checked."""
        return {f.name: f.parse(form.get(f.name)) for f in self.fields}
