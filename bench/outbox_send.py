"""How fast the outbox sends with more workers and connections, to a sink that answers like
a remote relay (issue 17).

One sink (an aiosmtpd server in its own process, so it does not share the GIL with
the senders) counts what it receives and answers each message after ``--delay-ms``
(20–50 ms by default, as a relay that queues and checks does). Against it:

* floor — a plain smtplib loop: build each ``EmailMessage`` (From, To, Subject, Date,
  Message-ID, text + HTML alternative) and send it over one connection; no database;
* kohde: W workers × C connections — a fresh outbox of the same N messages sent by W
  processes running ``send_outbox()`` side by side (each started and connected before
  the clock starts), each over C SMTP connections (``KOHDE_SMTP_CONNECTIONS``): claim
  batches, check suppression again, render each message in the sandbox, record each as
  sent right after the server's 250;
* the largest setup again under an installation-wide limit (``--rate-limit``, messages
  a second in Admin → Settings) and under a per-domain one (``--domain-limit``,
  ``KOHDE_EMAIL_DOMAIN_PER_SECOND``; every recipient is @example.fi): the senders share
  the schedules in Redis, and the line shows the rate they kept.

The messages are queued as the product queues them: N contacts join a campaign that
has a template, and ``queue_campaign_join`` writes the outbox. The unlimited setups run
at the highest rate Admin → Settings accepts (checked: a value it refuses would fall
back to its default of 50/s and measure that instead). The notes give each setup's rate
as a share of N × one worker with one connection's (N = workers × connections; the
goal: ≥ 0.8). A second table shows where the time goes: CPU milliseconds per message
in the senders, their PostgreSQL backends (read from /proc, so only for a local server)
and the sink; SQL statements per message; the SMTP connections the sink saw; and how
many messages the sink held at once on average (the connections' real concurrency).
It wipes the database it runs on, so on PostgreSQL it only runs on a database named
``kohde_bench…`` or with --force (see bench/seed.py and bench/README.md); the Redis
database of ``--redis-url`` is flushed before each run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is called email.py: drop its own folder from the path before anything
# imports the standard library's ``email`` package, or Python would find this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import smtplib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from email.headerregistry import Address  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from email.utils import format_datetime, make_msgid  # noqa: E402

from redis import Redis  # noqa: E402
from sqlalchemy import event, func, insert, literal, make_url, select, text  # noqa: E402

from bench.seed import bench_database, database_arguments  # noqa: E402
from bench.table import Line  # noqa: E402
from bench.table import print_table as print_table_lines  # noqa: E402
from jobs.email.sender import send_outbox  # noqa: E402
from jobs.embedded_redis import free_port  # noqa: E402
from models import (  # noqa: E402
    Campaign,
    CampaignMember,
    Company,
    Contact,
    EmailTemplate,
    OutboxMessage,
    OutboxState,
    SenderMode,
    Settings,
    User,
    db,
    utcnow,
)
from models.email.outbox import queue_campaign_join  # noqa: E402
from models.settings import MAX_MESSAGES_PER_SECOND  # noqa: E402
from webadmin import create_app  # noqa: E402

OWNERS = 10
JOB_ID = "bench-email"  # the members' job id: queue_campaign_join picks exactly them
SUBJECT = "Tervetuloa kevään tapahtumaan, {{ contact.first_name }}"
# A typical campaign email: a greeting with placeholders, a few paragraphs, a link out
# and the unsubscribe link (about 1.2 kB of HTML).
BODY_HTML = """<html><body style="font-family: sans-serif">
<p>Hei {{ contact.first_name }} {{ contact.last_name }},</p>
<p>{{ company.name }} on kutsuttu kevään asiakastapahtumaamme Helsinkiin. Esittelemme
uudet palvelumme, kerromme asiakkaidemme kokemuksista ja tarjoamme pientä purtavaa.</p>
<p>Tapahtuma alkaa kello 16.00 ja päättyy noin kello 19.00. Ilmoittaudu mukaan viimeistään
viikkoa ennen tapahtumaa, niin varaamme sinulle paikan.</p>
<p><a href="https://www.example.fi/kevat">Lue lisää ja ilmoittaudu</a></p>
<p>Ystävällisin terveisin<br>{{ owner.name }}<br>{{ owner.email }}</p>
<hr>
<p style="font-size: small">Et halua enää viestejämme?
<a href="{{ unsubscribe_url }}">Peru tilaus</a>.</p>
</body></html>
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: size, database and what may be wiped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=600, help="messages per run (N)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the measurements; the table shows medians")
    parser.add_argument("--delay-ms", default="20-50",
                        help="the sink answers each message after MIN-MAX ms, like a remote "
                             "relay ('0': at once)")
    parser.add_argument("--setups", default="1x1,2x1,4x1,1x2,1x4",
                        help="WORKERSxCONNECTIONS to measure, comma separated")
    parser.add_argument("--rate-limit", type=int, default=50,
                        help="also run the largest setup under this installation-wide "
                             "messages/s and check it holds (0: skip)")
    parser.add_argument("--domain-limit", type=int, default=30,
                        help="also run the largest setup with this many messages/s per "
                             "recipient domain and check it holds (0: skip)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="the Redis the senders share the rate limit in, flushed before "
                             "each run [default: REDIS_URL; without one each sender paces "
                             "alone and the limit is not checked]")
    return database_arguments(parser).parse_args(argv)


# --- the sink: its own process ----------------------------------------------------------


class SinkStats:
    """What the sink publishes for the bench process: messages received, its CPU seconds,
    the SMTP connections it saw and the integral of messages in hand over time (seconds;
    divided by a run's wall time, how many it held at once on average)."""

    def __init__(self, ctx):
        self.received, self.cpu = ctx.Value("q", 0), ctx.Value("d", 0.0)
        self.connections, self.held = ctx.Value("q", 0), ctx.Value("d", 0.0)

    def snapshot(self) -> tuple[int, float, int, float]:
        """(received, CPU seconds, connections, held) now."""
        return (self.received.value, self.cpu.value, self.connections.value,
                self.held.value)


class CountingHandler:
    """Accepts every message and counts its recipients; parses and keeps nothing, as a
    fast MTA's queue would not slow the sender down either."""

    def __init__(self, stats: SinkStats, delay: tuple[float, float]):
        self.stats, self.delay = stats, delay
        self.in_hand, self.since = 0, time.perf_counter()

    def _hold(self, change: int) -> None:
        # The event loop's one thread runs every handler: no lock needed for in_hand.
        now = time.perf_counter()
        self.stats.held.value += self.in_hand * (now - self.since)
        self.in_hand, self.since = self.in_hand + change, now

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """aiosmtpd hook: count, wait as a remote relay does (each connection on its own),
        answer 250."""
        if not getattr(session, "counted", False):  # a session is one connection
            session.counted = True
            self.stats.connections.value += 1
        self._hold(+1)
        if self.delay[1] > 0:
            await asyncio.sleep(random.uniform(*self.delay))
        self._hold(-1)
        self.stats.received.value += len(envelope.rcpt_tos)
        return "250 OK"


def parse_delay(text: str) -> tuple[float, float]:
    """'20-50' → (0.02, 0.05) seconds; '0' → no delay."""
    low, _, high = text.partition("-")
    return float(low) / 1000, float(high or low) / 1000


def run_sink(port: int, stats: SinkStats, ready, stop, delay=(0.0, 0.0)) -> None:
    """The sink process: listen on 127.0.0.1:``port`` until ``stop`` is set, publishing
    its CPU seconds in ``stats`` (is the sink, not the sender, the limit?)."""
    from jobs.email import sink

    controller = sink.start(CountingHandler(stats, delay), port)
    ready.set()
    while not stop.wait(0.05):
        stats.cpu.value = time.process_time()
    controller.stop()


# --- the floor: a plain smtplib loop -----------------------------------------------------


def floor_message(n: int) -> EmailMessage:
    """The message the floor sends: the same parts and about the same size as Kohde's."""
    first, last, company = f"Etunimi{n}", "Sukunimi", f"Yritys {n // 20} Oy"
    html = (BODY_HTML.replace("{{ contact.first_name }}", first)
            .replace("{{ contact.last_name }}", last).replace("{{ company.name }}", company)
            .replace("{{ owner.name }}", "Olli Omistaja")
            .replace("{{ owner.email }}", "olli@example.fi")
            .replace("{{ unsubscribe_url }}", f"https://crm.example.fi/unsubscribe/{n:040d}")
            )
    message = EmailMessage()
    message["From"] = Address("Olli Omistaja", addr_spec="olli@example.fi")
    message["To"] = Address(f"{first} {last}", addr_spec=f"person{n}@example.fi")
    message["Subject"] = f"Tervetuloa kevään tapahtumaan, {first}"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(idstring=f"floor.{n}", domain="example.fi")
    message.set_content(f"Hei {first} {last}, tervetuloa. Peru tilaus: https://crm.example.fi/")
    message.add_alternative(html, subtype="html")
    return message


def run_floor(messages: int, port: int) -> float:
    """Build and send ``messages`` messages over one connection; seconds taken."""
    began = time.perf_counter()
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    for n in range(messages):
        message = floor_message(n)
        client.send_message(message, to_addrs=[f"person{n}@example.fi"])
    client.quit()
    return time.perf_counter() - began


# --- Kohde's sender ----------------------------------------------------------------------


def sender_config(smtp_port: int, connections: int = 1, redis_url: str | None = None,
                  per_domain: int = 0) -> dict:
    """What the app needs to send to the sink (besides the database)."""
    return {"SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "KOHDE_BASE_URL": "https://crm.example.fi",
            "KOHDE_SMTP_CONNECTIONS": connections, "REDIS_URL": redis_url,
            "KOHDE_EMAIL_DOMAIN_PER_SECOND": per_domain}


def make_app(url: str, config: dict):
    """The app as a sender process sees it (Redis only for the shared rate limit)."""
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", **config})


def create_audience(messages: int) -> int:
    """N contacts (with companies and owners) in a campaign that has a template; its id."""
    db.session.execute(insert(User), [{"email": f"owner{n}@example.fi", "name": f"Omistaja {n}"}
                                      for n in range(OWNERS)])
    db.session.execute(insert(Company), [{"name": f"Yritys {n} Oy", "city": "Helsinki"}
                                         for n in range(max(messages // 20, 1))])
    owners = db.session.scalars(select(User.id).order_by(User.id)).all()
    companies = db.session.scalars(select(Company.id).order_by(Company.id)).all()
    template = EmailTemplate(name="Bench", subject=SUBJECT, body_html=BODY_HTML,
                             sender_mode=SenderMode.OWNER)
    campaign = Campaign(name="Bench campaign", email_template=template)
    db.session.add(campaign)
    db.session.commit()
    db.session.execute(insert(Contact), [
        {"first_name": f"Etunimi{n}", "last_name": "Sukunimi", "email": f"person{n}@example.fi",
         "company_id": companies[n % len(companies)], "owner_id": owners[n % len(owners)],
         "language": "fi", "city": "Helsinki"}
        for n in range(messages)
    ])
    db.session.execute(
        insert(CampaignMember).from_select(
            ["campaign_id", "contact_id", "added_at", "job_id"],
            select(
                literal(campaign.id),
                Contact.id,
                literal(utcnow(), CampaignMember.added_at.type),
                literal(JOB_ID),
            ),
        )
    )
    db.session.commit()
    return campaign.id


def fresh_outbox(campaign_id: int, messages: int) -> None:
    """Empty the outbox and queue the campaign's messages again, as on join."""
    db.session.execute(OutboxMessage.__table__.delete())
    db.session.commit()
    queued = queue_campaign_join(campaign_id, job_id=JOB_ID)
    db.session.commit()
    assert queued == {"queued": messages, "suppressed": 0}, queued
    db.session.remove()


def sent_count() -> int:
    """Messages in the outbox recorded as sent."""
    db.session.remove()
    return db.session.scalar(select(func.count()).where(OutboxMessage.state == OutboxState.SENT))


def run_sender_process(url: str, config: dict, ready, go, results, leave) -> None:
    """A sender: build the app and warm up, wait for ``go``, send, report (seconds, counts,
    CPU seconds, SQL statements); stay until ``leave``, so that the bench can read its
    database backends' CPU time first."""
    app = make_app(url, config)
    with app.app_context():
        statements = [0]

        @event.listens_for(db.engine, "before_cursor_execute")
        def count(*_args):
            statements[0] += 1

        db.session.execute(select(1))  # connect now, not on the clock
        db.session.remove()
        ready.put(os.getpid())
        go.wait()
        began, cpu = time.perf_counter(), cpu_seconds()
        counts = send_outbox()
        results.put((os.getpid(), time.perf_counter() - began, counts,
                     cpu_seconds() - cpu, statements[0]))
        leave.wait()


def cpu_seconds() -> float:
    """This process's CPU time, every thread's (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backends_cpu(database: str) -> dict[int, float] | None:
    """CPU seconds of each PostgreSQL backend connected to ``database`` (but this one), from
    /proc; None when the server is not on this machine (or not PostgreSQL)."""
    if db.engine.dialect.name != "postgresql":
        return None
    pids = db.session.scalars(text(
        "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
        {"db": database}).all()
    db.session.remove()
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


@dataclass
class Run:
    """One setup's measurement."""

    seconds: float
    sender_cpu: float  # CPU seconds, all sender processes
    statements: int
    database_cpu: float | None  # CPU seconds of their PostgreSQL backends (None: unknown)
    sink_cpu: float
    connections: int  # SMTP connections the sink saw
    held: float  # messages the sink held at once, on average


def run_workers(ctx, url: str, config: dict, workers: int, sink: SinkStats) -> Run:
    """``workers`` sender processes started together on the same outbox; the clock runs
    from the go (once each has its app up and connected) to the last one's report."""
    ready, results, go, leave = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
    procs = [ctx.Process(target=run_sender_process,
                         args=(url, config, ready, go, results, leave))
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    database = make_url(url).database
    backends = backends_cpu(database)
    sink_before = sink.snapshot()
    began = time.perf_counter()
    go.set()
    reports = [results.get(timeout=3600) for _ in procs]
    seconds = time.perf_counter() - began
    backends_after = backends_cpu(database)
    time.sleep(0.1)  # the sink publishes its CPU time every 50 ms
    received, sink_cpu, connections, held = (
        after - before for after, before in zip(sink.snapshot(), sink_before, strict=True))
    leave.set()
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0, f"sender process exited with {proc.exitcode}"
    assert sum(r[2]["sent"] for r in reports) == received, (reports, received)
    database_cpu = None
    if backends is not None and backends_after is not None:
        database_cpu = sum(cpu - backends.get(pid, 0.0) for pid, cpu in backends_after.items())
    return Run(seconds, sum(r[3] for r in reports), sum(r[4] for r in reports), database_cpu,
               sink_cpu, connections, held / seconds)


FLOOR = "floor: smtplib loop, 1 connection"


def setup_name(workers: int, connections: int) -> str:
    """The table's name for a setup."""
    return f"kohde: {workers} worker{'s' if workers > 1 else ''} × {connections} connection" + (
        "s" if connections > 1 else "")


def set_rate(per_second: int) -> None:
    """The installation's messages per second (Admin → Settings), checked to be taken as
    set: a value the settings refuse falls back to the default."""
    Settings.get().email_messages_per_second = per_second
    db.session.commit()
    taken = Settings.current()
    assert taken.email_messages_per_second == per_second and not taken.problems, taken.problems
    db.session.remove()


@dataclass
class Setup:
    """A line of the table: W workers × C connections, under a limit or not."""

    name: str
    workers: int
    connections: int
    per_second: int = MAX_MESSAGES_PER_SECOND  # the installation's limit
    per_domain: int = 0  # KOHDE_EMAIL_DOMAIN_PER_SECOND

    @property
    def limit(self) -> int | None:
        """The limit this line checks, if any."""
        if self.per_domain:
            return self.per_domain
        return self.per_second if self.per_second < MAX_MESSAGES_PER_SECOND else None


def setups_of(args) -> list[Setup]:
    """The setups to measure: --setups, then the largest under each limit asked for (and
    a Redis to share it in)."""
    pairs = [tuple(int(x) for x in s.split("x")) for s in args.setups.split(",")]
    setups = [Setup(setup_name(w, c), w, c) for w, c in pairs]
    # The largest, the one with the most processes among equals: the limit is shared
    # across processes.
    w, c = max(pairs, key=lambda wc: (wc[0] * wc[1], wc[0]))
    if args.redis_url and args.rate_limit:
        setups.append(Setup(f"{setup_name(w, c)}, limit {args.rate_limit}/s", w, c,
                            per_second=args.rate_limit))
    if args.redis_url and args.domain_limit:
        setups.append(Setup(f"{setup_name(w, c)}, {args.domain_limit}/s per domain", w, c,
                            per_domain=args.domain_limit))
    return setups


def measure_round(ctx, url: str, port: int, sink: SinkStats, campaign_id: int,
                  args) -> dict:
    """The floor and every setup once, each checked to have delivered every message."""
    messages = args.messages
    sink.received.value = 0
    floor_cpu = sink.cpu.value
    floor_seconds = run_floor(messages, port)
    time.sleep(0.1)
    assert sink.received.value == messages, sink.received.value
    runs = {FLOOR: Run(floor_seconds, 0.0, 0, None, sink.cpu.value - floor_cpu, 1, 0.0)}
    for setup in setups_of(args):
        fresh_outbox(campaign_id, messages)
        set_rate(setup.per_second)
        if args.redis_url:
            Redis.from_url(args.redis_url).flushdb()
        sink.received.value = 0
        config = sender_config(port, setup.connections, args.redis_url, setup.per_domain)
        run = runs[setup.name] = run_workers(ctx, url, config, setup.workers, sink)
        assert sink.received.value == messages == sent_count(), sink.received.value
        print(f"  {setup.name}: {run.seconds:.1f} s ({messages / run.seconds:,.1f} msgs/s; "
              f"load average {os.getloadavg()[0]:.1f})", flush=True)
    return runs


def print_table(rounds: list[dict], setups: list[Setup], messages: int,
                dialect: str) -> None:
    """The bench's table (``bench/table.py``), medians over the rounds: each setup's rate
    as a share of N × one worker with one connection's; then where each message's time
    goes."""
    def median(name: str, key: str) -> float | None:
        values = [getattr(r[name], key) for r in rounds]
        return None if None in values else statistics.median(values)

    one = median(setup_name(1, 1), "seconds") if setup_name(1, 1) in rounds[0] else None
    lines = [Line(FLOOR, messages, median(FLOOR, "seconds"), FLOOR)]
    for setup in setups:
        seconds, n = median(setup.name, "seconds"), setup.workers * setup.connections
        notes = []
        if setup.limit:
            notes.append(f"limit {setup.limit}/s: kept {messages / seconds:.1f}/s "
                         f"({'held' if messages / seconds <= setup.limit else 'EXCEEDED'})")
        elif one:
            notes.append(f"{one / seconds / n:.2f} × {n} × one worker's rate")
        lines.append(Line(setup.name, messages, seconds, FLOOR, note="; ".join(notes)))
    print_table_lines("outbox_send", dialect, lines, unit="messages")

    print("\nwhere the time goes (per message: CPU ms of the senders, their PostgreSQL "
          "backends and the sink; SQL statements; SMTP connections the sink saw; messages "
          "the sink held at once on average):")
    width = max(len(FLOOR), *(len(s.name) for s in setups))
    print(f"{'setup':<{width}} {'sender':>7} {'pg':>6} {'sink':>6} {'SQL':>6} "
          f"{'SMTP conns':>10} {'held':>5}")
    def per_message(name: str, key: str) -> str:
        value = median(name, key)
        return "—" if value is None else f"{1000 * value / messages:.2f}"

    for name in [FLOOR, *(s.name for s in setups)]:
        database = "—" if name == FLOOR else per_message(name, "database_cpu")
        sender = "—" if name == FLOOR else per_message(name, "sender_cpu")
        statements = "—" if name == FLOOR else f"{median(name, 'statements') / messages:.2f}"
        print(f"{name:<{width}} {sender:>7} {database:>6} {per_message(name, 'sink_cpu'):>6} "
              f"{statements:>6} {median(name, 'connections'):>10.0f} "
              f"{'—' if name == FLOOR else format(median(name, 'held'), '.2f'):>5}")


def main(argv: list[str] | None = None) -> None:
    """Sink up, fresh schema, the measurements, the table; then clean up unless --keep."""
    args = parse_args(argv)
    # spawn, not fork: the sink and the senders start clean, without this process's
    # connections and threads.
    ctx = mp.get_context("spawn")
    port = free_port()
    sink, ready, stop = SinkStats(ctx), ctx.Event(), ctx.Event()
    delay = parse_delay(args.delay_ms)
    sink_proc = ctx.Process(target=run_sink, args=(port, sink, ready, stop, delay),
                            daemon=True)
    sink_proc.start()
    assert ready.wait(60), "the sink did not start"
    try:
        with bench_database(args, **sender_config(port, 1, args.redis_url)) as (_app, url):
            print(f"sink: aiosmtpd on 127.0.0.1:{port} (pid {sink_proc.pid}), answering after "
                  f"{args.delay_ms} ms; CPUs: {os.cpu_count()}; load average: "
                  f"{os.getloadavg()[0]:.1f}")
            campaign_id = create_audience(args.messages)
            db.session.remove()
            rounds = [measure_round(ctx, url, port, sink, campaign_id, args)
                      for _ in range(args.rounds)]
            print(f"messages: {args.messages:,}; rounds: {args.rounds} (medians); load average "
                  f"at the end: {os.getloadavg()[0]:.1f}\n")
            print_table(rounds, setups_of(args), args.messages, db.engine.dialect.name)
    finally:
        stop.set()
        sink_proc.join(10)

if __name__ == "__main__":
    main()
