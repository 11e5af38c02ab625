"""One sending rate for the whole installation, however many senders run (issue 17).

A relay (or a receiving domain) allows so many messages a second from us, not so many
per worker: with N workers a per-process pace lets N times too many through. Every
sender takes a token from the same buckets in Redis before each message: one for the
installation (Admin → Settings, "email messages per second") and, when
``KOHDE_EMAIL_DOMAIN_PER_SECOND`` is set, one per recipient domain. A Lua script refills
and takes atomically on the Redis server's clock, so senders on other machines share
the buckets exactly. Redis only paces here; nothing is lost if it is flushed (a new
bucket starts empty: its first token comes after one interval).
"""

from __future__ import annotations

import time

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

from jobs.queue import get_redis

# KEYS: the buckets; ARGV: per bucket its rate (tokens a second) and its size. Takes one
# token from every bucket when each has one, else takes nothing; answers the milliseconds
# to wait (0: taken).
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait, tokens = 0, {}
for i, key in ipairs(KEYS) do
  local rate, size = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local have = tonumber(state[1]) or 0
  local at = tonumber(state[2]) or now
  have = math.min(size, have + math.max(0, now - at) * rate / 1000)
  tokens[i] = have
  if have < 1 then wait = math.max(wait, math.ceil((1 - have) * 1000 / rate)) end
end
for i, key in ipairs(KEYS) do
  local have = tokens[i]
  if wait == 0 then have = have - 1 end
  redis.call('HSET', key, 'tokens', tostring(have), 'at', now)
  redis.call('PEXPIRE', key, 60000)
end
return wait
"""


class RateLimit:
    """Token buckets shared by every sender: ``take(address)`` returns once this message
    may go (the installation's rate and, if set, its recipient domain's)."""

    def __init__(self, redis: Redis, prefix: str, per_second: float, per_domain: float = 0):
        self.redis, self.prefix = redis, prefix
        self.per_second, self.per_domain = per_second, per_domain
        self.script = redis.register_script(TAKE)

    def _buckets(self, address: str) -> tuple[list[str], list[float]]:
        keys, args = [], []
        for key, rate in ((f"{self.prefix}:all", self.per_second),
                          (f"{self.prefix}:domain:{domain_of(address)}", self.per_domain)):
            if rate > 0:
                # A bucket holds one message: a steady rate, no bursts past it.
                keys.append(key)
                args += [rate, 1]
        return keys, args

    def take(self, address: str) -> None:
        """Wait until a token for this recipient is ours."""
        keys, args = self._buckets(address)
        if not keys:
            return
        while True:
            wait = int(self.script(keys=keys, args=args))
            if wait <= 0:
                return
            time.sleep(wait / 1000)


class LocalPace:
    """Without Redis (a bare `kohde outbox send`): each process keeps the rate alone."""

    def __init__(self, per_second: float):
        self.gap = 1.0 / per_second if per_second > 0 else 0.0
        self.next = 0.0

    def take(self, address: str) -> None:  # noqa: ARG002 (the same call as RateLimit's)
        """Wait for this process's next slot."""
        now = time.monotonic()
        if self.next > now:
            time.sleep(self.next - now)
        self.next = max(now, self.next) + self.gap


def domain_of(address: str) -> str:
    """The recipient's domain, lower case (the part after the last @)."""
    return address.rpartition("@")[2].lower()


def rate_limit(per_second: float) -> RateLimit | LocalPace:
    """The installation's buckets in Redis, or a local pace when Redis does not answer."""
    config = current_app.config
    per_domain = float(config.get("KOHDE_EMAIL_DOMAIN_PER_SECOND") or 0)
    redis = get_redis()
    try:
        redis.ping()
    except (RedisError, OSError):
        return LocalPace(per_second)
    prefix = f"kohde:{config.get('KOHDE_QUEUE', 'kohde')}:email-rate"
    return RateLimit(redis, prefix, per_second, per_domain)
