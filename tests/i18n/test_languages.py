"""The back office's language: the browser's Accept-Language by default, the user's own
choice (profile, navbar menu, the admin's user form) when there is one, and the login
page's menu for visitors; Flask-Admin's own words and our dates follow too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from models import Contact, User, db
from tests.conftest import csrf_token


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


@pytest.mark.parametrize(("header", "heading"), [
    ("fi", "Kirjaudu sisään"), ("sv-SE,sv;q=0.9,en;q=0.5", "Logga in"), ("hu", "Bejelentkezés"),
    ("de", "Log in"), ("", "Log in"),
])
def test_the_login_page_follows_accept_language(app, header, heading):
    page = app.test_client().get("/login", headers={"Accept-Language": header} if header else {})
    assert page.status_code == 200
    assert f">{heading}</button>" in page.text
    assert 'data-language-menu' in page.text


def test_a_visitor_picks_a_language_on_the_login_page(app):
    client = app.test_client()
    token = csrf_token(client, "/login")
    answer = client.post("/language", data={"language": "sv", "next": "/login?next=/admin/",
                                            "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/login?next=/admin/"
    # The choice beats the browser's.
    assert ">Logga in</button>" in client.get("/login", headers={"Accept-Language": "fi"}).text


def test_a_signed_in_user_follows_the_browser_until_choosing(admin_client, admin_user):
    assert "Kontaktit" in admin_client.get("/admin/", headers={"Accept-Language": "fi"}).text
    assert "Kontakter" in admin_client.get("/admin/", headers={"Accept-Language": "sv"}).text
    token = csrf_token(admin_client, "/admin/profile/")
    saved = admin_client.post("/admin/profile/", data={"language": "hu", "csrf_token": token},
                              follow_redirects=True)
    assert "A profilja mentve." in saved.text
    assert _user(admin_user.email).language == "hu"
    # Now Hungarian whatever the browser says; "" follows the browser again.
    assert "Ügyfelek" in admin_client.get("/admin/", headers={"Accept-Language": "fi"}).text
    token = csrf_token(admin_client, "/admin/profile/")
    admin_client.post("/admin/profile/", data={"language": "", "csrf_token": token})
    assert _user(admin_user.email).language is None
    assert "Kontaktit" in admin_client.get("/admin/", headers={"Accept-Language": "fi"}).text


def test_the_profile_refuses_a_language_we_do_not_speak(admin_client, admin_user):
    token = csrf_token(admin_client, "/admin/profile/")
    answer = admin_client.post("/admin/profile/", data={"language": "de", "csrf_token": token})
    assert answer.status_code == 200 and "Not a valid choice" in answer.text
    assert _user(admin_user.email).language is None


def test_the_navbar_menu_keeps_the_choice_on_the_user(admin_client, admin_user):
    token = csrf_token(admin_client, "/admin/")
    answer = admin_client.post("/language", data={"language": "fi", "next": "/admin/user/",
                                                  "csrf_token": token})
    assert answer.headers["Location"] == "/admin/user/"
    assert _user(admin_user.email).language == "fi"
    # Flask-Admin's own words (its "admin" domain) are Finnish too: "Luo" is "Create".
    listing = admin_client.get("/admin/user/").text
    assert "Käyttäjät" in listing and "Luo" in listing and "Sähköposti" in listing
    # An unknown code is no choice: the browser's language again, never an error.
    admin_client.post("/language", data={"language": "xx", "csrf_token": token})
    assert _user(admin_user.email).language is None
    # An outside "next" is not followed (no open redirect).
    answer = admin_client.post("/language", data={"language": "sv", "csrf_token": token,
                                                  "next": "https://evil.example/"})
    assert answer.headers["Location"] == "/admin/"


def test_an_admin_sets_a_users_language_on_the_user_form(admin_client, plain_user):
    token = csrf_token(admin_client, f"/admin/user/edit/?id={plain_user.id}")
    answer = admin_client.post(f"/admin/user/edit/?id={plain_user.id}", data={
        "email": plain_user.email, "name": "Plain", "role": "user", "language": "sv",
        "active": "y", "new_password": "", "csrf_token": token})
    assert answer.status_code == 302
    assert _user(plain_user.email).language == "sv"
    # The users list names the language in its own words.
    assert "Svenska" in admin_client.get("/admin/user/").text


def test_list_dates_are_local_and_in_the_readers_format(admin_client, admin_user):
    user = _user(admin_user.email)
    user.created_at = datetime(2026, 7, 1, 9, 5, 30, 123456, tzinfo=UTC)  # 12:05 in Helsinki
    db.session.commit()
    english = admin_client.get("/admin/user/").text
    assert "2026-07-01 12:05" in english and "09:05" not in english and ".123456" not in english
    assert "1.7.2026 12.05" in admin_client.get("/admin/user/",
                                                 headers={"Accept-Language": "fi"}).text
    assert "1 juli 2026 12:05" in admin_client.get("/admin/user/",
                                                    headers={"Accept-Language": "sv"}).text
    assert "2026. júl. 1. 12:05" in admin_client.get("/admin/user/",
                                                      headers={"Accept-Language": "hu"}).text


def test_enums_read_as_words(admin_client):
    # The audit log lists the admin's own role change as a word, and scheduled-action kinds
    # on the create form are labels, never snake_case.
    form = admin_client.get("/admin/scheduledaction/new/", headers={"Accept-Language": "fi"}).text
    assert "Päivitä kohderyhmä" in form and ">refresh_group<" not in form
    assert "Aja viimeisin väliin jäänyt kerran" in form


def test_every_menu_screen_answers_in_every_language(app, admin_client, admin_user):
    from flask_login import login_user

    admin = app.extensions["admin"][0]
    with app.test_request_context():
        login_user(admin_user)
        urls = [view.url.rstrip("/") + "/" for view in admin._views if view.is_visible()]
    assert len(urls) > 15
    for language in ("fi", "sv", "hu"):
        for url in urls:
            answer = admin_client.get(url, headers={"Accept-Language": language},
                                      follow_redirects=True)
            assert answer.status_code == 200, (language, url, answer.status_code)


def test_error_pages_speak_the_readers_language(admin_client):
    answer = admin_client.get("/admin/scheduledaction/details/?id=999",
                              headers={"Accept-Language": "fi"})
    assert answer.status_code == 404
    assert "Takaisin etusivulle" in answer.text and "tietuetta ei ole" in answer.text


@pytest.fixture
def finnish_contact(ctx):
    contact = Contact(first_name="Aino", last_name="Virtanen", email="aino@example.fi",
                      language="fi")
    db.session.add(contact)
    db.session.commit()
    return contact


def test_the_unsubscribe_page_speaks_the_contacts_language(app, finnish_contact):
    from models.email.unsubscribe import unsubscribe_url

    with app.test_request_context():
        path = "/" + unsubscribe_url(finnish_contact.id).split("/", 3)[3]
    client = app.test_client()
    page = client.get(path, headers={"Accept-Language": "sv"})
    assert page.status_code == 200 and 'lang="fi"' in page.text
    assert "Perutaanko osoitteen aino@example.fi tilaus?" in page.text
    done = client.post(path, headers={"Accept-Language": "sv"})
    assert "Tilauksesi on peruttu." in done.text
    assert db.session.get(Contact, finnish_contact.id).email_opt_out is True


def test_unsubscribe_falls_back_to_the_browser(app, finnish_contact):
    from models.email.unsubscribe import unsubscribe_url

    finnish_contact.language = "de"
    db.session.commit()
    with app.test_request_context():
        path = "/" + unsubscribe_url(finnish_contact.id).split("/", 3)[3]
    page = app.test_client().get(path, headers={"Accept-Language": "hu"})
    assert "Leiratkoztatja ezt a címet" in page.text
    invalid = app.test_client().get("/unsubscribe/forged", headers={"Accept-Language": "sv"})
    assert invalid.status_code == 404 and "Länken är inte giltig." in invalid.text


def test_a_picker_names_each_language_in_itself_a_stored_language_reads_translated(
        admin_client):
    page = admin_client.get("/admin/contact/new/", headers={"Accept-Language": "fi"}).text
    # The language menu: each language in its own words, whatever the page's language.
    assert ">Svenska</option>" in page
    # A contact's language is a stored value: named in the reader's language.
    assert '<option value="sv">Ruotsi</option>' in page
