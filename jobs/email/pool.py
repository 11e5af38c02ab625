"""Several SMTP connections per sender (issue 17, ``KOHDE_SMTP_CONNECTIONS``).

A relay answers each message after tens of milliseconds (it queues, checks, signs); one
connection spends that time waiting, so one sender process delivers ~30 messages a
second however fast the rest is. A batch's messages are dealt round robin over N
connections, each in a thread with its own connection and its own recorder (its own
database connection): N answers are awaited at once. The installation's rate limit
(ratelimit.py) still holds: every connection takes its tokens from the same buckets.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import current_app


def send_in_parallel(send: Callable, make_recorder: Callable, ready: list, counts: dict,
                     connections: int, **options) -> None:
    """``send(share, recorder, counts, **options)`` for each connection's share of
    ``ready``, side by side; their counts are added to ``counts``. The first error raised
    by a share is raised here, after every share has finished."""
    shares = [ready[n::connections] for n in range(connections) if ready[n::connections]]
    app = current_app._get_current_object()
    recorders = [make_recorder() for _ in shares]  # made here: they read the app's config
    totals = [dict.fromkeys(counts, 0) for _ in shares]

    def run(n: int) -> None:
        with app.app_context():
            try:
                send(shares[n], recorders[n], totals[n], **options)
            finally:
                recorders[n].close()

    with ThreadPoolExecutor(len(shares), thread_name_prefix="kohde-smtp") as pool:
        futures = [pool.submit(run, n) for n in range(len(shares))]
    for total in totals:
        for key, value in total.items():
            counts[key] += value
    for future in futures:
        future.result()
