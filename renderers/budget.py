"""Render budgets: the one set of bounds every render of repository content runs under.

Repository content is untrusted, and a single commit must never take a worker down. A
:class:`Budget` bounds one render as a whole (never one value, one file or one document):

- ``cpu_seconds``: CPU time of the render process, enforced by the kernel (``RLIMIT_CPU``) in the
  child process that runs the render (:mod:`renderers.isolation`), so it holds inside built-ins and
  native code that Python cannot interrupt. Helm's own child process gets the same limit.
- ``memory_bytes``: memory the render may allocate on top of what its process already holds,
  enforced by the kernel (``RLIMIT_DATA``: heap and private writable mappings) in the same child.
- ``max_objects``: objects in the output, and in any intermediate Kustomize resource map (a diamond of
  bases multiplies objects long before the output is assembled).
- ``max_output_bytes``: the serialised size of the rendered manifests (shared values counted every
  time they appear, as they will be when applied); Kustomize replacements are charged as they copy.
- ``max_yaml_nodes``: YAML nodes, aliases expanded, summed over every file the render parses
  (cached parses are charged again, so the outcome never depends on what a cache holds).

The last three are counted in-process by a :class:`Meter`, found through a context variable so the
parsers and the Kustomize builder charge the render they belong to without threading a parameter
through every call. Every breach raises :class:`BudgetExceeded`, a :class:`RenderError` whose message
names the budget (``render exceeded its CPU budget (60 s)``) and whose ``budget`` attribute names the
field. Imports nothing but :mod:`renderers.errors`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields

from renderers.errors import RenderError

MiB = 1024 * 1024
GiB = 1024 * MiB

#: How much wall-clock time a render may take per second of CPU budget before its process is killed:
#: a blocked render uses no CPU, and a loaded machine gives a busy one a fraction of a core.
WALL_PER_CPU_SECOND = 10

#: The range each budget field accepts (the configuration validates against it too).
LIMITS = {
    "cpu_seconds": (1, 3600),
    "memory_bytes": (16 * MiB, 64 * GiB),
    "max_objects": (1, 1_000_000),
    "max_output_bytes": (1024, 4 * GiB),
    "max_yaml_nodes": (1000, 100_000_000),
}


@dataclass(frozen=True)
class Budget:
    """What one render may use; the defaults fit any reasonable application with room to spare."""

    cpu_seconds: int = 60
    memory_bytes: int = 2 * GiB
    max_objects: int = 10_000
    max_output_bytes: int = 64 * MiB
    max_yaml_nodes: int = 4_000_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            low, high = LIMITS[f.name]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"budget {f.name} must be an integer from {low} to {high}, got {value!r}")

    @property
    def wall_seconds(self) -> float:
        """The wall-clock backstop: a render process still running after this long is killed."""
        return float(self.cpu_seconds * WALL_PER_CPU_SECOND)

    def describe(self, name: str) -> str:
        """``"CPU budget (60 s)"``: the budget ``name`` (a field name or ``"wall"``) and its value."""
        if name == "cpu_seconds":
            return f"CPU budget ({self.cpu_seconds} s)"
        if name == "memory_bytes":
            return f"memory budget ({_size(self.memory_bytes)})"
        if name == "max_objects":
            return f"object budget ({self.max_objects} object{'s' if self.max_objects != 1 else ''})"
        if name == "max_output_bytes":
            return f"output budget ({_size(self.max_output_bytes)})"
        if name == "max_yaml_nodes":
            return f"YAML node budget ({self.max_yaml_nodes} nodes)"
        if name == "wall":
            return f"wall-clock limit ({self.wall_seconds:g} s, {WALL_PER_CPU_SECOND}x the CPU budget)"
        raise ValueError(f"unknown budget {name!r}")

    def exceeded(self, name: str, *, path: str | None = None, detail: str = "") -> BudgetExceeded:
        """The error to raise when the budget ``name`` ran out (``detail``: what was being done)."""
        message = f"render exceeded its {self.describe(name)}" + (f": {detail}" if detail else "")
        return BudgetExceeded(message, budget=name, path=path)


DEFAULT = Budget()


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"


class BudgetExceeded(RenderError):
    """A render ran out of one of its budgets; ``budget`` is the field name (``"cpu_seconds"``, ...,
    or ``"wall"`` for the wall-clock backstop) and the message names it with its value."""

    def __init__(self, message: str, *, budget: str, path: str | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        self.budget = budget
        super().__init__(message, path=path, field=field, line=line)


class Meter:
    """The in-process counters of one render: YAML nodes, output bytes, objects."""

    __slots__ = ("budget", "nodes", "output")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.nodes = 0
        self.output = 0

    def charge_nodes(self, count: int, source: str | None) -> None:
        self.nodes += count
        if self.nodes > self.budget.max_yaml_nodes:
            raise self.budget.exceeded("max_yaml_nodes", path=source,
                                       detail=f"{self.nodes} YAML nodes parsed so far")

    def charge_output(self, size: int, source: str | None) -> None:
        self.output += size
        if self.output > self.budget.max_output_bytes:
            raise self.budget.exceeded("max_output_bytes", path=source,
                                       detail=f"about {self.output} bytes produced so far")

    def check_objects(self, count: int, source: str | None) -> None:
        if count > self.budget.max_objects:
            raise self.budget.exceeded("max_objects", path=source, detail=f"{count} objects")


_current: ContextVar[Meter | None] = ContextVar("renderers_budget_meter", default=None)


@contextmanager
def metering(budget: Budget | None = None) -> Iterator[Meter]:
    """Count everything rendered inside the block against ``budget`` (default :data:`DEFAULT`)."""
    meter = Meter(budget or DEFAULT)
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def active() -> Meter | None:
    """The meter of the render running in this context, if any."""
    return _current.get()


def current() -> Budget:
    """The budget of the render running in this context (:data:`DEFAULT` outside one)."""
    meter = _current.get()
    return meter.budget if meter is not None else DEFAULT


def charge_nodes(count: int, source: str | None) -> None:
    meter = _current.get()
    if meter is not None:
        meter.charge_nodes(count, source)


def charge_output(size: int, source: str | None) -> None:
    meter = _current.get()
    if meter is not None:
        meter.charge_output(size, source)


def check_objects(count: int, source: str | None) -> None:
    """Refuse more than the render's ``max_objects`` (the default budget's outside a render)."""
    limit = current().max_objects
    if count > limit:
        raise current().exceeded("max_objects", path=source, detail=f"{count} objects")


def cpu_limit(budget: Budget, used: float) -> int:
    """``RLIMIT_CPU`` soft limit (whole seconds) for a process that has used ``used`` CPU seconds."""
    return math.ceil(used + budget.cpu_seconds)
