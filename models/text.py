"""Text normalisation in one place: the keys names are matched on and the text search reads.

SQL's ``lower()`` is no help here: SQLite's only knows ASCII (``lower('Ääni')`` is
``'Ääni'``) while Python's knows every script, so a name matched once in SQL and
once in Python is two different names. Keys are therefore computed in Python, the
same way for every writer, and stored.
"""

from __future__ import annotations

import unicodedata


def squeeze(text: str) -> str:
    """Surrounding spaces trimmed and every run of whitespace made one space."""
    return " ".join(text.split())


def name_key(name: str | None) -> str | None:
    """What two names must share to be the same company: case-folded (every script),
    trimmed, inner spaces collapsed. Accents stay: "Ääni Oy" and "Aani Oy" differ."""
    if name is None:
        return None
    return squeeze(name).casefold()


def fold(text: str | None) -> str:
    """Search form of a text: case-folded and without accents, so "ohman", "ÖHMAN" and
    "Öhman" all find "Öhman"."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return squeeze("".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def unstorable(text: str) -> str | None:
    """Why a database cannot store ``text`` (None when it can): PostgreSQL refuses NUL
    characters and neither database takes a lone surrogate (bytes that were not UTF-8)."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains bytes that are not UTF-8 text"
    return None


def like_pattern(term: str) -> str:
    """``%term%`` for LIKE with ``escape="\\"``: the term's own ``%`` and ``_`` match
    themselves."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_terms(search: str) -> list[str]:
    """The folded words of a search box, each to be found somewhere in the search text."""
    return [word for word in fold(search).split(" ") if word][:10]
