"""The back office under load: 10 people clicking through 8 pages for 60 s (issue 17).

One database of N seeded contacts (`kohde seed`'s data) with what a live installation
has around them: campaigns (one holding half the contacts), target groups (one of
~60 %), a few thousand job runs. A gunicorn (2 processes × 4 threads, as in production
but smaller) serves it on a free local port; ``--users`` threads each log in through
the real form (CSRF token and all) and request the pages in turn for ``--seconds``:
as fast as the answers come (``--think 0``, the default: a stress test, where a page's
time is mostly its wait behind the other nine people's pages on two cores), or reading
each page for a random ``--think 1-3`` seconds first, as people do (locust's
``between(1, 3)``). Printed per page: requests, errors, p50 / p95 / p99 ms, and the
requests per second the server answered.

The pages: the contact list, a search, a sort by last name, page 5,000 (past the
deepest page a list offers: the hint to filter), the campaign list, the target group
list, the dashboard and the jobs list.

It wipes its database unless ``--reuse`` finds it seeded with N contacts already
(seeding a million takes a minute or two): PostgreSQL only in a database named
``kohde_bench…`` or with --force, like the other benches.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.seed import SEED, USERS, database_arguments, drop_schema, prepare  # noqa: E402
from jobs.embedded_redis import free_port  # noqa: E402
from models import Campaign, Contact, JobRun, JobStatus, Role, TargetGroup, User, db  # noqa: E402
from models.groups.refresh import refresh  # noqa: E402
from models.seed import seed_demo  # noqa: E402
from webadmin import create_app  # noqa: E402
from webadmin.config import database_url  # noqa: E402

PASSWORD = "bench-admin-password"
ADMIN = "bench-admin@example.com"
CSRF_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
PAGES = [  # (name, path, text the answer must hold)
    ("contact list", "/admin/contact/", "name=\"rowid\""),
    ("search", "/admin/contact/?search=virtanen", "Virtanen"),
    ("sort by last name", "/admin/contact/?sort=2", "<table"),
    ("page 5,000", "/admin/contact/?page=4999", "Pages past the first"),
    ("campaign list", "/admin/campaign/", "<table"),
    ("group list", "/admin/targetgroup/", "<table"),
    ("dashboard", "/admin/", "data-count"),
    ("jobs", "/admin/jobrun/", "<table"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Size, load, database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10, help="people clicking at once")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--web-processes", type=int, default=2)
    parser.add_argument("--think", type=parse_think, default=(0.0, 0.0),
                        help="seconds each person reads a page before the next click: "
                             "0 (as fast as answers come) or a range like 1-3")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a database already seeded with N contacts")
    return database_arguments(parser).parse_args(argv)


def parse_think(text: str) -> tuple[float, float]:
    """'1-3' → (1.0, 3.0); '0' → no pause."""
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def populate() -> None:
    """Around the contacts: campaigns, groups and job runs as a live installation has them."""
    admin = User(email=ADMIN, name="Bench admin", role=Role.ADMIN)
    admin.set_password(PASSWORD)
    db.session.add(admin)
    groups = [TargetGroup(name="Finnish speakers",
                          criteria={"all": [{"field": "language", "op": "eq", "value": "fi"}]})]
    groups += [TargetGroup(name=f"Group {n}", criteria={"all": [
        {"field": "status", "op": "eq", "value": "customer"},
        {"field": "city", "op": "eq", "value": f"City {n}"}]}) for n in range(1, 30)]
    campaigns = [Campaign(name=f"Campaign {n}", number=f"C-{n:04d}") for n in range(1, 41)]
    db.session.add_all(groups + campaigns)
    db.session.commit()
    for group in groups:
        refresh(group)
    # Half the contacts in the first campaign (what a copy of a big group leaves behind).
    db.session.execute(text(
        "INSERT INTO campaign_members (campaign_id, contact_id, added_at, source) "
        "SELECT :c, id, CURRENT_TIMESTAMP, 'group' FROM contacts WHERE id % 2 = 0"),
        {"c": campaigns[0].id})
    db.session.execute(insert(JobRun), [
        {"id": f"bench-{n}", "kind": "group_refresh", "dedupe_key": f"bench:{n}",
         "params": {}, "status": JobStatus.DONE, "user_id": admin.id}
        for n in range(3000)])
    db.session.commit()


def prepare_database(args: argparse.Namespace) -> str:
    """The URL of a database holding the installation (seeded now unless reused)."""
    url = database_url(args.database_url) if args.database_url else None
    if url is None:
        sys.exit("give --database-url (a kohde_bench… PostgreSQL database, or a SQLite file)")
    if not args.reuse:
        prepare(url, args.force)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        contacts = populated = None
        if args.reuse:
            try:
                contacts = db.session.scalar(select(func.count()).select_from(Contact))
                populated = db.session.scalar(select(User.id).where(User.email == ADMIN))
            except Exception:  # noqa: BLE001 (no schema yet: made below)
                db.session.rollback()
        began = time.perf_counter()
        if contacts != args.contacts:
            if db.engine.dialect.name == "postgresql":
                drop_schema()
            flask_migrate.upgrade()
            seed_demo(args.contacts, None, USERS, SEED)
            populated = None
        if populated is None:
            populate()
            print(f"seeded {args.contacts:,} contacts and the rest in "
                  f"{time.perf_counter() - began:.0f} s")
        if db.engine.dialect.name == "postgresql":
            db.session.remove()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        db.session.remove()
        db.engine.dispose()
    return url


class Browser:
    """One person: a keep-alive connection and the session cookie."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        """One request; the answer's status and text. Cookies kept, no redirects followed."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            answer = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # gunicorn closes a keep-alive connection idle for 2 s (a person reading a
            # page); a browser opens a new one and asks again, so does this.
            self.conn.close()
            self.conn.request(method, path, body=data, headers=headers)
            answer = self.conn.getresponse()
        text_ = answer.read().decode("utf-8", "replace")
        for header in answer.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return answer.status, text_

    def login(self) -> None:
        """Through the real form, CSRF token included."""
        status, page = self.request("GET", "/login")
        token = CSRF_RE.search(page).group(1)
        status, _ = self.request("POST", "/login",
                                 {"email": ADMIN, "password": PASSWORD, "csrf_token": token})
        assert status == 302, f"login answered {status}"


def click_through(port: int, start: int, until: list[float], times: dict, errors: dict,
                  ready: threading.Barrier, think: tuple[float, float]) -> None:
    """One person requesting the pages in turn (starting at page ``start``) until
    ``until[0]`` (set once everyone has logged in)."""
    browser = Browser(port)
    browser.login()
    ready.wait()
    n = start
    while time.perf_counter() < until[0]:
        name, path, marker = PAGES[n % len(PAGES)]
        began = time.perf_counter()
        try:
            status, page = browser.request("GET", path)
        except (OSError, http.client.HTTPException):  # counted, never a silent dead thread
            browser.conn.close()
            status, page = 0, ""
        elapsed = time.perf_counter() - began
        if status != 200 or marker not in page:
            errors[name] = errors.get(name, 0) + 1
        times[name].append(elapsed)
        n += 1
        if think[1]:
            time.sleep(random.uniform(*think))


def serve(url: str, port: int, processes: int) -> subprocess.Popen:
    """gunicorn on the port, up and answering."""
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench",
           "KOHDE_INSTANCE_PATH": os.environ.get("KOHDE_INSTANCE_PATH", "/tmp/kohde-admin-load")}
    Path(env["KOHDE_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
         str(processes), "--threads", "4", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env)
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("the web server did not start")


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of them lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> None:
    """Seed (or reuse), serve, load, print the table."""
    args = parse_args(argv)
    url = prepare_database(args)
    port = free_port()
    server = serve(url, port, args.web_processes)
    try:
        browser = Browser(port)
        browser.login()
        for _name, path, _marker in PAGES:  # every page once: no one pays the first render
            browser.request("GET", path)
        times = {name: [] for name, _, _ in PAGES}
        errors: dict[str, int] = {}
        ready = threading.Barrier(args.users + 1)
        until = [float("inf")]  # set once everyone has logged in
        threads = [threading.Thread(target=click_through, daemon=True,
                                    args=(port, n, until, times, errors, ready, args.think))
                   for n in range(args.users)]
        for thread in threads:
            thread.start()
        ready.wait()  # everyone logged in
        load_before = os.getloadavg()
        until[0] = time.perf_counter() + args.seconds
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(30)
    shown = make_url(url).render_as_string(hide_password=True)
    pause = (f"each reads a page {args.think[0]:g}–{args.think[1]:g} s" if args.think[1]
             else "no pause between clicks")
    print(f"\n{shown}; {args.contacts:,} contacts; {args.users} users for {args.seconds:.0f} s; "
          f"gunicorn {args.web_processes} × 4 threads; {pause}; "
          f"{sum(map(len, times.values())) / args.seconds:.1f} requests/s answered; "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}\n")
    header = f"{'page':<20} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    print(header)
    print("-" * len(header))
    for name, _path, _marker in PAGES:
        values = times[name] or [float("nan")]
        print(f"{name:<20} {len(times[name]):>9,} {errors.get(name, 0):>7} "
              f"{statistics.median(values) * 1000:>8.0f} {percentile(values, 0.95) * 1000:>8.0f} "
              f"{percentile(values, 0.99) * 1000:>8.0f}")


if __name__ == "__main__":
    main()
