"""Login, logout, roles and CSRF."""

import pytest

from models import Company, db
from tests.conftest import csrf_token, login

ADMIN_ONLY = ["/admin/user/", "/admin/settings/", "/admin/emailtemplate/",
              "/admin/scheduledaction/", "/admin/auditentry/"]
EVERYONE = ["/admin/", "/admin/contact/", "/admin/company/", "/admin/campaign/",
            "/admin/campaignmember/", "/admin/activity/", "/admin/targetgroup/",
            "/admin/targetgroupmember/", "/admin/savedfilter/", "/admin/outboxmessage/",
            "/admin/jobrun/", "/admin/import_contacts/"]


def test_anonymous_is_sent_to_the_login_page(app):
    response = app.test_client().get("/admin/contact/")
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_wrong_password_is_refused(app, admin_user):
    response = login(app.test_client(), admin_user.email, "wrong password")
    assert response.status_code == 401
    assert "Wrong email or password" in response.get_data(as_text=True)


def test_login_is_case_insensitive_and_logout_needs_post(app, admin_user):
    client = app.test_client()
    assert login(client, "ADMIN@example.com").status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/logout").status_code == 405  # a link cannot log anyone out
    token = csrf_token(client, "/admin/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(app, admin_user):
    client = app.test_client()
    response = client.post("/login", data={"email": admin_user.email, "password": "x" * 20})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("url", EVERYONE + ADMIN_ONLY)
def test_admin_opens_every_screen(admin_client, url):
    assert admin_client.get(url, follow_redirects=True).status_code == 200


@pytest.mark.parametrize("url", EVERYONE)
def test_user_opens_the_work_screens(user_client, url):
    assert user_client.get(url).status_code == 200


@pytest.mark.parametrize("url", ADMIN_ONLY)
def test_user_is_refused_admin_only_screens(user_client, url):
    assert user_client.get(url).status_code == 403


def test_user_menu_hides_admin_only_screens(user_client):
    page = user_client.get("/admin/").get_data(as_text=True)
    assert "/admin/contact/" in page
    assert "/admin/user/" not in page
    assert "/admin/settings/" not in page


def test_post_without_csrf_token_changes_nothing(admin_client, ctx):
    response = admin_client.post("/admin/company/new/", data={"name": "No Token Oy"})
    # Flask-WTF refuses the POST before Flask-Admin sees it.
    assert response.status_code == 400
    assert db.session.query(Company).count() == 0


def test_post_with_a_forged_csrf_token_changes_nothing(admin_client, ctx):
    admin_client.post("/admin/company/new/", data={"name": "Forged Oy", "csrf_token": "forged"})
    assert db.session.query(Company).count() == 0


def test_inactive_user_cannot_log_in(app, plain_user):
    plain_user.active = False
    db.session.commit()
    assert login(app.test_client(), plain_user.email).status_code == 401
