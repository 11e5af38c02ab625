"""Conditions in words (issue 16): one sentence wherever a tree is shown."""

from __future__ import annotations

from models import Campaign, TargetGroup, db
from models.criteria.sentence import sentence


def test_a_tree_reads_as_a_sentence(ctx):
    tree = {"all": [{"field": "language", "op": "eq", "value": "fi"},
                    {"field": "company.city", "op": "eq", "value": "Helsinki"}]}
    assert sentence(tree) == "Language is Finnish and company city is Helsinki"


def test_groups_nesting_booleans_days_and_names(ctx):
    spring = Campaign(name="Spring")
    db.session.add(spring)
    db.session.commit()
    tree = {"any": [
        {"field": "email_opt_out", "op": "eq", "value": False},
        {"all": [{"field": "city", "op": "in", "value": ["Turku", "Oulu"]},
                 {"field": "created_at", "op": "within_last_days", "value": 30}]},
        {"not": {"field": "campaign", "op": "eq", "value": spring.id}},
        {"field": "campaign", "op": "eq", "value": 99999},
    ]}
    assert sentence(tree) == (
        "Email opt-out is no or (city is one of Turku, Oulu and created within the last "
        "30 days) or not (member of campaign is Spring) or member of campaign is #99999")
    assert sentence({"all": []}) == "Every contact"


def test_the_group_page_shows_the_sentence_not_json(ctx, admin_client):
    group = TargetGroup(name="Finns", criteria={"all": [
        {"field": "language", "op": "eq", "value": "fi"}]})
    db.session.add(group)
    db.session.commit()
    page = admin_client.get(f"/admin/targetgroup/details/?id={group.id}").get_data(as_text=True)
    assert "<span data-criteria-sentence>Language is Finnish</span>" in page
    assert '"field"' not in page and "&#34;field&#34;" not in page


def test_stored_codes_read_as_words_in_the_readers_language(ctx):
    from flask_babel import force_locale

    tree = {"all": [{"field": "kind", "op": "eq", "value": "lead"},
                    {"field": "language", "op": "in", "value": ["fi", "sv"]},
                    {"field": "activity", "op": "has",
                     "value": {"type": "call", "within_last_days": 30}}]}
    # A language value is the language's name in the reader's language, not its own name.
    assert sentence(tree) == ("Kind is Lead and language is one of Finnish, Swedish and "
                              "activity has call in the last 30 days")
    with force_locale("fi"):
        assert "lead" not in sentence(tree) and "Suomi, Ruotsi" in sentence(tree)
    with force_locale("sv"):
        assert "Finska, Svenska" in sentence(tree)
