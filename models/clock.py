"""The one clock that decides what is due (docs/architecture.md, rule 8: time is an input).

Everything that asks "is it time yet?" for scheduled actions reads :func:`now`.
Tests freeze it with :func:`frozen`; ``kohde scheduler --burst --now ISO`` sets it
for its own process with :func:`set_now`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_fixed: datetime | None = None


def _aware(moment: datetime) -> datetime:
    # A naive moment is taken as UTC, like everything the database stores.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def now() -> datetime:
    """The current moment as an aware UTC datetime, or the moment the clock was set to."""
    return _fixed if _fixed is not None else datetime.now(UTC)


def set_now(moment: datetime | None) -> None:
    """Make :func:`now` answer ``moment`` from here on (``None``: the real time again)."""
    global _fixed
    _fixed = None if moment is None else _aware(moment)


@contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    """Within the block, :func:`now` answers ``moment`` (the previous setting comes back).

    The setting is one per process (a test's live server thread sees it too), so do not
    freeze it from several threads at once: freeze once around them.
    """
    before = _fixed
    set_now(moment)
    try:
        yield
    finally:
        set_now(before)


def parse_moment(text: str) -> datetime:
    """An ISO date-time typed on the command line; without an offset it is UTC."""
    return _aware(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
