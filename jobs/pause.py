"""A pause point for crash tests: hold a job at a named place until it is killed.

A crash test must kill a job *while* it is inside its transaction, not before it
started or after it committed. Polling the job from outside races the job (a quiet
machine copies 30,000 members between two polls), so the job itself stops and says so:
with ``KOHDE_PAUSE_AT=<name>`` and ``KOHDE_PAUSE_FILE=<path>`` in a worker's environment,
``pause_at(name)`` writes ``<path>.reached`` and waits while ``<path>`` exists. The test
removes ``<path>`` when it has done its damage, so a retry passes straight through. Nothing
is read when ``KOHDE_PAUSE_AT`` is unset, which is always outside tests.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_at(name: str) -> None:
    """Wait here while the pause file exists, if the environment names this point."""
    if os.environ.get("KOHDE_PAUSE_AT") != name:
        return
    hold = Path(os.environ["KOHDE_PAUSE_FILE"])
    if not hold.exists():
        return
    # Written whole, then renamed: a test that sees the file must never read it empty.
    writing = Path(f"{hold}.reached.writing")
    writing.write_text(str(os.getpid()))
    os.replace(writing, f"{hold}.reached")
    while hold.exists():
        time.sleep(0.05)
