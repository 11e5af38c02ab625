"""How fast the outbox sends, next to a plain smtplib loop, to a local aiosmtpd sink.

One run, one machine, one sink (an aiosmtpd server in its own process, so it
does not share the GIL with the senders; it counts what it receives and keeps
nothing):

* floor     — a plain smtplib loop: build each ``EmailMessage`` (From, To,
  Subject, Date, Message-ID, text + HTML alternative) and send it over one
  connection; no database, no templates;
* 1 worker  — Kohde's ``send_outbox()`` in this process over N queued
  messages: claim batches, check suppression again, render each message in the
  sandbox, send over one connection per batch, commit each message as sent
  right after the server's 250;
* 2 workers — a fresh outbox of the same N messages, sent by two processes
  running ``send_outbox()`` side by side (each started and warmed up before the
  clock starts).

The messages are queued as the product queues them: N contacts join a
campaign that has a template, and ``queue_campaign_join`` writes the outbox.
"sink CPU" is the share of one CPU the sink used meanwhile: near 100 % the
sink, not the sender, is the limit. ``--rounds R`` repeats all three and
prints medians (on a busy machine single runs scatter).
It wipes the database it runs on, so on PostgreSQL it only runs on a database
named ``kohde_bench…`` or with --force (see bench/seed.py and bench/README.md).
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
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import smtplib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from email.headerregistry import Address  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from email.utils import format_datetime, make_msgid  # noqa: E402

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
    parser.add_argument("--messages", type=int, default=20_000, help="messages per run (N)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the three measurements; the table shows medians")
    return database_arguments(parser).parse_args(argv)


# --- the sink: its own process ----------------------------------------------------------


class CountingHandler:
    """Accepts every message and counts its recipients; parses and keeps nothing, as a
    fast MTA's queue would not slow the sender down either."""

    def __init__(self, counter):
        self.counter = counter

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """aiosmtpd hook: count, answer 250."""
        with self.counter.get_lock():
            self.counter.value += len(envelope.rcpt_tos)
        return "250 OK"


def run_sink(port: int, counter, cpu, ready, stop) -> None:
    """The sink process: listen on 127.0.0.1:``port`` until ``stop`` is set, publishing
    its CPU seconds in ``cpu`` (is the sink, not the sender, the limit?)."""
    from jobs.email import sink

    controller = sink.start(CountingHandler(counter), port)
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


def sender_config(smtp_port: int) -> dict:
    """What the app needs to send to the sink (besides the database)."""
    return {"SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "KOHDE_BASE_URL": "https://crm.example.fi"}


def make_app(url: str, smtp_port: int):
    """The app as a sender process sees it (no Redis: nothing here enqueues work)."""
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       **sender_config(smtp_port)})


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


def run_sender_process(url: str, smtp_port: int, ready, go, results) -> None:
    """A second sender: build the app and warm up, wait for ``go``, send, report."""
    app = make_app(url, smtp_port)
    with app.app_context():
        db.session.execute(select(1))  # connect now, not on the clock
        db.session.remove()
        ready.put(os.getpid())
        go.wait()
        began = time.perf_counter()
        counts = send_outbox()
        results.put((os.getpid(), time.perf_counter() - began, counts))


def run_workers(ctx, url: str, smtp_port: int, workers: int,
                clock: Stopwatch) -> tuple[list, tuple[float, float]]:
    """``workers`` sender processes started together on the same outbox: what each one
    reported, and the clock from the go (once each has its app up and connected) to the
    last one's report (not to the processes' exit)."""
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=run_sender_process, args=(url, smtp_port, ready, go, results))
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


FLOOR, ONE, TWO = ("floor: smtplib loop, 1 connection", "kohde: send_outbox, 1 worker",
                   "kohde: send_outbox, 2 workers")
WORKERS = {FLOOR: 1, ONE: 1, TWO: 2}


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


def measure_round(ctx, url: str, port: int, counter, cpu, campaign_id: int,
                  messages: int) -> dict:
    """The three operations once, each checked to have delivered every message."""
    seconds, sink_cpu, clock = {}, {}, Stopwatch(cpu)

    counter.value = 0
    clock.start()
    run_floor(messages, port)
    seconds[FLOOR], sink_cpu[FLOOR] = clock.stop()
    assert counter.value == messages, counter.value

    fresh_outbox(campaign_id, messages)
    counter.value = 0
    clock.start()
    counts = send_outbox()
    seconds[ONE], sink_cpu[ONE] = clock.stop()
    assert counts["sent"] == messages == counter.value == sent_count(), counts

    fresh_outbox(campaign_id, messages)
    counter.value = 0
    reports, (seconds[TWO], sink_cpu[TWO]) = run_workers(ctx, url, port, 2, clock)
    assert counter.value == messages == sent_count(), counter.value
    assert sum(r[2]["sent"] for r in reports) == messages, reports
    shares = ", ".join(f"{r[2]['sent']:,} in {r[1]:.1f} s" for r in reports)
    print(f"  round: floor {seconds[FLOOR]:.1f} s, 1 worker {seconds[ONE]:.1f} s, "
          f"2 workers {seconds[TWO]:.1f} s ({shares})", flush=True)
    return {"seconds": seconds, "sink_cpu": sink_cpu}


def print_table(rounds: list[dict], messages: int, dialect: str) -> None:
    """The bench's table (``bench/table.py``): medians over the rounds; per worker and the
    sink's CPU as notes."""
    lines = []
    for name in (FLOOR, ONE, TWO):
        seconds = statistics.median(r["seconds"][name] for r in rounds)
        speedup = statistics.median(r["seconds"][FLOOR] / r["seconds"][name] for r in rounds)
        sink = statistics.median(r["sink_cpu"][name] for r in rounds)
        lines.append(Line(name, messages, seconds, None if name == FLOOR else FLOOR,
                          note=f"{speedup / WORKERS[name]:.2f}× the floor's rate per worker; "
                               f"sink CPU {sink:.0%}"))
    print_table_lines("outbox_send", dialect, lines, unit="messages")


def main(argv: list[str] | None = None) -> None:
    """Sink up, fresh schema, the measurements, the table; then clean up unless --keep."""
    args = parse_args(argv)
    # spawn, not fork: the sink and the senders start clean, without this process's
    # connections and threads.
    ctx = mp.get_context("spawn")
    port = free_port()
    counter, cpu, ready, stop = ctx.Value("q", 0), ctx.Value("d", 0.0), ctx.Event(), ctx.Event()
    sink_proc = ctx.Process(target=run_sink, args=(port, counter, cpu, ready, stop),
                            daemon=True)
    sink_proc.start()
    assert ready.wait(60), "the sink did not start"
    try:
        with bench_database(args, **sender_config(port)) as (_app, url):
            print(f"sink: aiosmtpd on 127.0.0.1:{port} (pid {sink_proc.pid}); CPUs: "
                  f"{os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}")
            campaign_id = create_audience(args.messages)
            db.session.remove()
            rounds = [measure_round(ctx, url, port, counter, cpu, campaign_id, args.messages)
                      for _ in range(args.rounds)]
            print(f"messages: {args.messages:,}; rounds: {args.rounds} (medians); load average "
                  f"at the end: {os.getloadavg()[0]:.1f}\n")
            print_table(rounds, args.messages, db.engine.dialect.name)
    finally:
        stop.set()
        sink_proc.join(10)

if __name__ == "__main__":
    main()
