"""`kohde users …`, `kohde bootstrap` and the dashboard numbers."""

import json

from sqlalchemy import select

from models import Contact, ContactKind, Role, Settings, User, db
from tests.conftest import login
from webadmin.admin.dashboard import dashboard_counts
from webadmin.auth import find_user


def test_users_create_with_password_option(app, ctx):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "Maija@Example.fi", "--role", "admin", "--password", "s3cret-pass"]
    )
    assert result.exit_code == 0, result.output
    assert "created Maija@Example.fi (admin)" in result.output
    user = find_user("maija@example.fi")
    assert user.role == Role.ADMIN and user.check_password("s3cret-pass")
    assert login(app.test_client(), "maija@example.fi", "s3cret-pass").status_code == 302


def test_users_create_prompts_for_the_password(app, ctx):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "olli@example.fi"], input="long enough\nlong enough\n"
    )
    assert result.exit_code == 0, result.output
    user = find_user("olli@example.fi")
    assert user.role == Role.USER and user.check_password("long enough")


def test_users_create_refuses_a_short_password_and_resets_an_existing_user(app, ctx):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["users", "create", "x@example.fi", "--password", "short"])
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    assert find_user("x@example.fi") is None
    runner.invoke(args=["users", "create", "x@example.fi", "--password", "first-password"])
    again = runner.invoke(args=["users", "create", "x@example.fi", "--password", "second-password",
                                "--role", "admin"])
    assert "updated x@example.fi (admin)" in again.output
    assert db.session.query(User).count() == 1
    assert find_user("x@example.fi").check_password("second-password")


def test_users_list_json(app, ctx, admin_user):
    result = app.test_cli_runner().invoke(args=["users", "list", "--json"])
    assert json.loads(result.output) == [
        {"id": admin_user.id, "email": "admin@example.com", "name": "Admin", "role": "admin",
         "active": True}
    ]


def test_bootstrap_creates_the_admin_settings_and_demo_data_once(app, ctx, monkeypatch):
    monkeypatch.setenv("KOHDE_ADMIN_PASSWORD", "first-run-password")
    runner = app.test_cli_runner()
    first = runner.invoke(args=["bootstrap", "--demo-contacts", "300"])
    assert first.exit_code == 0, first.output
    assert "created the admin user admin@example.com" in first.output
    admin = find_user("admin@example.com")
    assert admin.is_admin and admin.check_password("first-run-password")
    assert db.session.query(Contact).count() == 300
    assert db.session.get(Settings, 1) is not None
    second = runner.invoke(args=["bootstrap", "--demo-contacts", "300"])
    assert second.exit_code == 0 and "created" not in second.output
    assert db.session.query(Contact).count() == 300
    assert db.session.scalars(select(User).where(User.role == Role.ADMIN)).all() == [admin]


def test_dashboard_counts(admin_client, ctx):
    db.session.add_all(
        [
            Contact(last_name="A", email="a@example.fi"),
            Contact(last_name="B", email="b@example.fi", email_opt_out=True),
            Contact(last_name="C", email="c@example.fi", kind=ContactKind.LEAD),
        ]
    )
    db.session.commit()
    counts = dashboard_counts()
    assert (counts["contacts"], counts["leads"], counts["opted_out"]) == (2, 1, 1)
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-count="contacts" href="/admin/contact/">2<' in page
