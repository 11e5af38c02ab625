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
  a second in Admin → Settings): the senders share one token bucket in Redis, and the
  line shows the rate they kept.

The messages are queued as the product queues them: N contacts join a campaign that
has a template, and ``queue_campaign_join`` writes the outbox. The notes give each
setup's rate as a multiple of one worker with one connection (the goal: ≥ 0.8 × the
number of connections in use) and the sink's CPU (near 100 % the sink is the limit).
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
import smtplib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from email.headerregistry import Address  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from email.utils import format_datetime, make_msgid  # noqa: E402

from redis import Redis  # noqa: E402
from sqlalchemy import func, insert, literal, select  # noqa: E402

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
    parser.add_argument("--setups", default="1x1,2x1,4x1,1x2,1x4,2x4",
                        help="WORKERSxCONNECTIONS to measure, comma separated")
    parser.add_argument("--rate-limit", type=int, default=50,
                        help="also run the largest setup under this installation-wide "
                             "messages/s and check it holds (0: skip)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="the Redis the senders share the rate limit in, flushed before "
                             "each run [default: REDIS_URL; without one each sender paces "
                             "alone and the limit is not checked]")
    return database_arguments(parser).parse_args(argv)


# --- the sink: its own process ----------------------------------------------------------


class CountingHandler:
    """Accepts every message and counts its recipients; parses and keeps nothing, as a
    fast MTA's queue would not slow the sender down either."""

    def __init__(self, counter, delay: tuple[float, float]):
        self.counter, self.delay = counter, delay

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """aiosmtpd hook: count, wait as a remote relay does (each connection on its own),
        answer 250."""
        if self.delay[1] > 0:
            await asyncio.sleep(random.uniform(*self.delay))
        with self.counter.get_lock():
            self.counter.value += len(envelope.rcpt_tos)
        return "250 OK"


def parse_delay(text: str) -> tuple[float, float]:
    """'20-50' → (0.02, 0.05) seconds; '0' → no delay."""
    low, _, high = text.partition("-")
    return float(low) / 1000, float(high or low) / 1000


def run_sink(port: int, counter, cpu, ready, stop, delay=(0.0, 0.0)) -> None:
    """The sink process: listen on 127.0.0.1:``port`` until ``stop`` is set, publishing
    its CPU seconds in ``cpu`` (is the sink, not the sender, the limit?)."""
    from jobs.email import sink

    controller = sink.start(CountingHandler(counter, delay), port)
    ready.set()
    while not stop.wait(0.05):
        cpu.value = time.process_time()
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


def sender_config(smtp_port: int, connections: int = 1, redis_url: str | None = None) -> dict:
    """What the app needs to send to the sink (besides the database)."""
    return {"SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "KOHDE_BASE_URL": "https://crm.example.fi",
            "KOHDE_SMTP_CONNECTIONS": connections, "REDIS_URL": redis_url}


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
    settings = Settings.get()
    settings.email_messages_per_second = 1_000_000  # measure the sender, not the throttle
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


def run_sender_process(url: str, config: dict, ready, go, results) -> None:
    """A sender: build the app and warm up, wait for ``go``, send, report."""
    app = make_app(url, config)
    with app.app_context():
        db.session.execute(select(1))  # connect now, not on the clock
        db.session.remove()
        ready.put(os.getpid())
        go.wait()
        began = time.perf_counter()
        counts = send_outbox()
        results.put((os.getpid(), time.perf_counter() - began, counts))


def run_workers(ctx, url: str, config: dict, workers: int,
                clock: Stopwatch) -> tuple[list, tuple[float, float]]:
    """``workers`` sender processes started together on the same outbox: what each one
    reported, and the clock from the go (once each has its app up and connected) to the
    last one's report (not to the processes' exit)."""
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=run_sender_process, args=(url, config, ready, go, results))
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    clock.start()
    go.set()
    reports = [results.get(timeout=3600) for _ in procs]
    timing = clock.stop()
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0, f"sender process exited with {proc.exitcode}"
    return reports, timing


FLOOR = "floor: smtplib loop, 1 connection"


def setup_name(workers: int, connections: int) -> str:
    """The table's name for a setup."""
    return f"kohde: {workers} worker{'s' if workers > 1 else ''} × {connections} connection" + (
        "s" if connections > 1 else "")


class Stopwatch:
    """Wall seconds of an operation, and the share of a CPU the sink used meanwhile."""

    def __init__(self, sink_cpu):
        self.sink_cpu = sink_cpu
        self.began = self.sink_began = 0.0

    def start(self) -> None:
        """The clock starts now."""
        self.sink_began, self.began = self.sink_cpu.value, time.perf_counter()

    def stop(self) -> tuple[float, float]:
        """Seconds since start, and the sink's CPU seconds per second meanwhile."""
        seconds = time.perf_counter() - self.began
        time.sleep(0.1)  # the sink publishes its CPU time every 50 ms
        return seconds, (self.sink_cpu.value - self.sink_began) / seconds


def set_rate(per_second: int) -> None:
    """The installation's messages per second (Admin → Settings)."""
    Settings.get().email_messages_per_second = per_second
    db.session.commit()
    db.session.remove()


def measure_round(ctx, url: str, port: int, sink: tuple, campaign_id: int, args) -> dict:
    """The floor and every setup once, each checked to have delivered every message."""
    counter, cpu = sink
    seconds, sink_cpu, clock = {}, {}, Stopwatch(cpu)
    messages = args.messages
    counter.value = 0
    clock.start()
    run_floor(messages, port)
    seconds[FLOOR], sink_cpu[FLOOR] = clock.stop()
    assert counter.value == messages, counter.value
    setups = [tuple(int(x) for x in s.split("x")) for s in args.setups.split(",")]
    runs = [(setup_name(w, c), w, c, 1_000_000) for w, c in setups]
    if args.rate_limit and args.redis_url:
        w, c = max(setups, key=lambda wc: wc[0] * wc[1])
        runs.append((f"{setup_name(w, c)}, limit {args.rate_limit}/s", w, c, args.rate_limit))
    for name, workers, connections, rate in runs:
        fresh_outbox(campaign_id, messages)
        set_rate(rate)
        if args.redis_url:
            Redis.from_url(args.redis_url).flushdb()
        counter.value = 0
        config = sender_config(port, connections, args.redis_url)
        reports, (seconds[name], sink_cpu[name]) = run_workers(ctx, url, config, workers, clock)
        assert counter.value == messages == sent_count(), counter.value
        assert sum(r[2]["sent"] for r in reports) == messages, reports
        print(f"  {name}: {seconds[name]:.1f} s ({messages / seconds[name]:,.0f} msgs/s)",
              flush=True)
    return {"seconds": seconds, "sink_cpu": sink_cpu, "runs": runs}


def print_table(rounds: list[dict], messages: int, dialect: str) -> None:
    """The bench's table (``bench/table.py``): medians over the rounds; the rate as a
    multiple of one worker with one connection, and per sending connection, as notes."""
    def median(name: str, key: str = "seconds") -> float:
        return statistics.median(r[key][name] for r in rounds)

    runs = rounds[0]["runs"]
    one = median(setup_name(1, 1)) if any(r[1:3] == (1, 1) for r in runs) else None
    lines = [Line(FLOOR, messages, median(FLOOR), FLOOR,
                  note=f"sink CPU {median(FLOOR, 'sink_cpu'):.0%}")]
    for name, workers, connections, rate in runs:
        seconds = median(name)
        note = f"sink CPU {median(name, 'sink_cpu'):.0%}"
        if one:
            speedup = one / seconds
            share = speedup / workers / connections
            note = f"{speedup:.2f}× 1 worker × 1 connection, {share:.2f} per connection; " + note
        if rate < 1_000_000:
            note = f"limit {rate}/s: measured {messages / seconds:.1f}/s; " + note
        lines.append(Line(name, messages, seconds, FLOOR, note=note))
    print_table_lines("outbox_send", dialect, lines, unit="messages")


def main(argv: list[str] | None = None) -> None:
    """Sink up, fresh schema, the measurements, the table; then clean up unless --keep."""
    args = parse_args(argv)
    # spawn, not fork: the sink and the senders start clean, without this process's
    # connections and threads.
    ctx = mp.get_context("spawn")
    port = free_port()
    counter, cpu, ready, stop = ctx.Value("q", 0), ctx.Value("d", 0.0), ctx.Event(), ctx.Event()
    delay = parse_delay(args.delay_ms)
    sink_proc = ctx.Process(target=run_sink, args=(port, counter, cpu, ready, stop, delay),
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
            rounds = [measure_round(ctx, url, port, (counter, cpu), campaign_id, args)
                      for _ in range(args.rounds)]
            print(f"messages: {args.messages:,}; rounds: {args.rounds} (medians); load average "
                  f"at the end: {os.getloadavg()[0]:.1f}\n")
            print_table(rounds, args.messages, db.engine.dialect.name)
    finally:
        stop.set()
        sink_proc.join(10)

if __name__ == "__main__":
    main()
