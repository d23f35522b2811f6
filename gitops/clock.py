"""Time as a port: the :class:`Clock` Protocol, the system clock, and a manual clock for tests.

Injected wherever code waits or stamps: the in-memory state store (lock and coalescing TTLs, event
ids, the default ``now`` of ``claim_due``), the workers' lease keeper and beat loop (their waits and
``now``). Key design choice: four small methods cover every use — wall time for stamps (``now``),
monotonic time for deadlines and TTLs (``monotonic``), ``sleep``, and ``wait`` (sleep that an event
cuts short, the shape of every stoppable loop) — so a test drives time with :meth:`ManualClock.advance`
instead of sleeping, and a plain ``time.monotonic``/``time.sleep`` parameter elsewhere takes
``clock.monotonic``/``clock.sleep`` unchanged. :func:`poll_until` is the one polling loop (a condition
with a deadline), for code and tests that wait on something outside their control.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Where time comes from."""

    def now(self) -> float:
        """Wall-clock time in epoch seconds (for stamps: started, finished, event ids, due times)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for deadlines and TTLs)."""

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait until ``event`` is set or ``timeout`` seconds pass; True when it was set."""


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(0.0, timeout))


SYSTEM_CLOCK: Clock = SystemClock()


class ManualClock:
    """A clock that moves only when told to: :meth:`advance` (or :meth:`sleep`, which advances).

    ``wait`` blocks until the event is set or the clock is advanced past the timeout, so a thread
    looping on ``wait`` (a lease keeper, the beat) takes exactly one turn per :meth:`advance` that
    crosses its deadline; :attr:`waiting` tells a test how many threads are parked in ``wait``, so it
    can advance only once a thread is waiting.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._wall = float(start)
        self._mono = 0.0
        self._cond = threading.Condition()
        self._waiting = 0

    def now(self) -> float:
        with self._cond:
            return self._wall + self._mono

    def monotonic(self) -> float:
        with self._cond:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass; threads whose ``wait`` deadline is reached wake up."""
        if seconds < 0:
            raise ValueError("time does not go back")
        with self._cond:
            self._mono += seconds
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        """Sleeping on a manual clock is advancing it: code that sleeps runs at once."""
        self.advance(max(0.0, seconds))

    @property
    def waiting(self) -> int:
        """Threads currently parked in :meth:`wait`."""
        with self._cond:
            return self._waiting

    def wait(self, event: threading.Event, timeout: float) -> bool:
        with self._cond:
            deadline = self._mono + max(0.0, timeout)
            self._waiting += 1
            self._cond.notify_all()
            try:
                # the event cannot notify this condition: look at it often (it is set by the test)
                while not event.is_set() and self._mono < deadline:
                    self._cond.wait(0.01)
                return event.is_set()
            finally:
                self._waiting -= 1
                self._cond.notify_all()


def poll_until(check: Callable[[], T], timeout: float, *, every: float = 0.05,
               clock: Clock = SYSTEM_CLOCK) -> T | None:
    """Call ``check`` until it returns a truthy value (returned) or ``timeout`` seconds pass (None)."""
    deadline = clock.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if clock.monotonic() >= deadline:
            return None
        clock.sleep(min(every, max(0.0, deadline - clock.monotonic())))
