"""One sending rate for the whole installation, however many senders run (issue 17).

A relay (or a receiving domain) allows so many messages a second from us, not so many
per worker: with N workers a per-process pace lets N times too many through. Every
sender reserves a slot in the same schedules in Redis before each message: one for the
installation (Admin → Settings, "email messages per second") and, when
``KOHDE_EMAIL_DOMAIN_PER_SECOND`` is set, one per recipient domain.

Each schedule is a cell-rate reservation (GCRA): Redis keeps the next free slot; a take
reserves it, moves it on by one interval and answers how long to wait for it — one call
per message, on the Redis server's clock, so senders on other machines share the
schedule exactly. A sender that wakes late loses nothing (its slot was its own), so the
installation sends *at* its rate when there is enough to send, never over it. A new or
expired schedule's first slot is one interval away. Redis only paces here; nothing is
lost if it is flushed.
"""

from __future__ import annotations

import threading
import time

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

from jobs.queue import get_redis

# KEYS[1]: the schedule; ARGV[1]: its interval in microseconds. Reserves the next free
# slot (now at the earliest) and answers the microseconds until it.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or (now + interval))
if slot < now then slot = now end
local after = slot + interval
redis.call('SET', KEYS[1], string.format('%d', after), 'PX',
           math.floor((after - now) / 1000) + 60000)
return slot - now
"""


class RateLimit:
    """Schedules shared by every sender: ``take(address)`` returns when this message may
    go (the installation's rate and, if set, its recipient domain's)."""

    def __init__(self, redis: Redis, prefix: str, per_second: float, per_domain: float = 0):
        self.redis, self.prefix = redis, prefix
        self.per_second, self.per_domain = per_second, per_domain
        self.script = redis.register_script(RESERVE)

    def _wait(self, key: str, per_second: float) -> None:
        micros = int(self.script(keys=[key], args=[round(1_000_000 / per_second)]))
        if micros > 0:
            time.sleep(micros / 1_000_000)

    def take(self, address: str) -> None:
        """Wait for this recipient's slots: its domain's first, then the installation's.

        In that order, so a message waiting for a slow domain holds no installation slot
        (which would slow every other domain down to that domain's pace)."""
        if self.per_domain > 0:
            self._wait(f"{self.prefix}:domain:{domain_of(address)}", self.per_domain)
        if self.per_second > 0:
            self._wait(f"{self.prefix}:all", self.per_second)


class LocalPace:
    """Without Redis (a bare `kohde outbox send`): each process keeps the rate alone (its
    connections share it)."""

    def __init__(self, per_second: float):
        self.gap = 1.0 / per_second if per_second > 0 else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def take(self, address: str) -> None:  # noqa: ARG002 (the same call as RateLimit's)
        """Reserve this process's next slot and wait for it."""
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.gap
        if slot > now:
            time.sleep(slot - now)


def domain_of(address: str) -> str:
    """The recipient's domain, lower case (the part after the last @)."""
    return address.rpartition("@")[2].lower()


def rate_limit(per_second: float) -> RateLimit | LocalPace:
    """The installation's schedules in Redis, or a local pace when Redis does not answer."""
    config = current_app.config
    per_domain = float(config.get("KOHDE_EMAIL_DOMAIN_PER_SECOND") or 0)
    redis = get_redis()
    try:
        redis.ping()
    except (RedisError, OSError):
        return LocalPace(per_second)
    prefix = f"kohde:{config.get('KOHDE_QUEUE', 'kohde')}:email-rate"
    return RateLimit(redis, prefix, per_second, per_domain)
