"""Every message the code marks is translated in Finnish, Swedish and Hungarian.

The messages are extracted afresh from the sources (babel.cfg, as ``make messages`` does),
so a newly marked string that nobody translated turns this red, as does a catalogue
entry left fuzzy or a translation whose placeholders differ from the English.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from webadmin.i18n import LANGUAGES, TRANSLATIONS, compile_catalogues

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    """The messages the sources mark now."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments,
                    context=context)
    return catalog


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_marked_message_is_translated(extracted, language):
    po = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    untranslated = []
    for message in extracted:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        strings = () if found is None else (
            found.string if isinstance(found.string, tuple) else (found.string,))
        if found is None or found.fuzzy or not all(strings):
            untranslated.append(message.id)
    assert len(extracted) > 500
    assert not untranslated, (
        f"{len(untranslated)} message(s) have no {language} translation (run `make messages` "
        f"and translate them in {po.relative_to(ROOT)}): {untranslated[:10]}")
    problems = [(message.id, errors) for message, errors in catalog.check()]
    assert not problems, f"{language}: translations that break their placeholders: {problems}"


def test_the_catalogues_compile(tmp_path):
    """What ``make translations`` does, into a copy (the real .mo files stay as they are)."""
    import shutil

    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, copy, ignore=shutil.ignore_patterns("*.mo"))
    compiled = compile_catalogues(copy)
    assert {mo.parent.parent.name for mo in compiled} == {"fi", "sv", "hu"}
    assert all(mo.stat().st_size > 10_000 for mo in compiled)
