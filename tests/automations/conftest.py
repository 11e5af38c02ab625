"""The scheduled-action tests move the process-wide clock: it is real again after each."""

import pytest

from models import clock


@pytest.fixture(autouse=True)
def real_clock():
    """Whatever a test did to the clock, the next one starts with the real time."""
    yield
    clock.set_now(None)
