"""The back office's language: the browser's Accept-Language by default, the user's own
choice (profile, navbar menu, the admin's user form) when there is one, and the login
page's menu for visitors; Flask-Admin's own words follow too."""

from __future__ import annotations


def test_the_login_page_follows_accept_language(client):
    assert "Kirjaudu sisään" in client.get("/login", headers={"Accept-Language": "fi"}).text
    assert "Logga in" in client.get("/login", headers={"Accept-Language": "sv-SE,sv;q=0.9"}).text
    assert "Bejelentkezés" in client.get("/login", headers={"Accept-Language": "hu"}).text
    assert "Log in" in client.get("/login", headers={"Accept-Language": "de"}).text
