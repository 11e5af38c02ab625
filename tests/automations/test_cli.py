"""`kohde automations …` end to end on the real database."""

from __future__ import annotations

import json

from models import clock

from .support import contact, helsinki, local, template, tick_at, traces


def test_create_add_steps_dry_run_activate(app, ctx):
    helsinki()
    template("Welcome")
    anna = contact("Anna")
    contact("Optout", email_opt_out=True)
    cli = app.test_cli_runner()
    out = cli.invoke(args=["automations", "create", "Leads", "--status", "lead"])
    assert out.exit_code == 0, out.output
    out = cli.invoke(args=["automations", "add-step", "Leads", "--email-contact", "Welcome",
                           "--delay-days", "0", "--weekdays", "1-5", "--at", "09:00"])
    assert out.exit_code == 0, out.output
    out = cli.invoke(args=["automations", "add-step", "Leads", "--task", "Call",
                           "--delay-days", "2", "--at", "10:00"])
    assert out.exit_code == 0, out.output
    with clock.frozen(local(2026, 12, 7, 10)):
        out = cli.invoke(args=["automations", "dry-run", "Leads", "--json"])
        assert out.exit_code == 0, out.output
        data = json.loads(out.output)
        assert data["entering"] == 2 and data["held_back"] == {"opted_out": 1}
        assert data["steps"][0]["held_back"] == {"opted_out": 1}  # per email step
        assert "held_back" not in data["steps"][1]  # a task holds nobody back
        out = cli.invoke(args=["automations", "dry-run", "Leads"])
        assert "held back: 1 opted_out" in out.output
        assert data["steps"][0]["due_at"] == "2026-12-08T09:00+02:00"
        out = cli.invoke(args=["automations", "activate", "Leads", "--json"])
        assert out.exit_code == 0, out.output
    tick_at(local(2026, 12, 7, 10))  # the tick after activation: they enter
    tick_at(local(2026, 12, 8, 9, 30))
    assert [t.outcome for t in traces(anna)] == ["queued", None]
    out = cli.invoke(args=["automations", "show", "Leads", "--json"])
    data = json.loads(out.output)
    assert data["enrolled_now"] == 2 and data["steps"][0]["counts"] == {"queued": 1,
                                                                        "suppressed": 1}
    out = cli.invoke(args=["automations", "deactivate", "Leads"])
    assert out.exit_code == 0 and "off" in out.output
    out = cli.invoke(args=["automations", "list", "--json"])
    assert json.loads(out.output)[0]["active"] is False
