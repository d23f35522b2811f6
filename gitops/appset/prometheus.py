"""The optional Prometheus gate of a progressive rollout step: one instant query that must hold.

Called by the ApplicationSet controller (gitops.appset.controller) while a RollingSync step bakes,
through the :class:`GateClient` Protocol; :class:`PrometheusGateClient` is the real one (an instant
query ``GET {url}/api/v1/query?query=...`` with the standard library), gitops.testing.gate.StaticGate
the fake. The gate *holds* when Prometheus answers ``status: success`` with a non-empty vector or a
scalar whose every sample value is a finite number other than 0: filter expressions (``up == 1``,
``rate(errors[5m]) < 0.01``, which drop the samples that do not match) and ``bool`` comparisons
(which answer 0 or 1) both read as users expect, and an empty answer does not hold.

Key design choice: fail closed. Any doubt (HTTP error, timeout, refused connection, a redirect, a
body over :data:`MAX_BODY`, JSON that is not a Prometheus answer, an error status, NaN) is a
:class:`GateResult` that does not hold, with a short one-line reason (at most :data:`MAX_DETAIL`
characters, never the response body beyond Prometheus' own clipped error string): the step keeps
baking and asks again later. :meth:`PrometheusGateClient.check` never raises for the network or the
remote side, so the controller never halts on a gate. Redirects are refused, not followed: the
configured address is the only one asked.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.client import HTTPException, HTTPResponse
from typing import Any, Protocol

from gitops.appset.rollout import GateResult, PrometheusCheck
from gitops.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
MAX_DETAIL = 200
MAX_ERROR = 120
CHUNK = 64 * 1024
API_PATH = "/api/v1/query"


class GateClient(Protocol):
    """Asks whether a step's Prometheus gate holds; never raises for network or remote problems."""

    def check(self, gate: PrometheusCheck) -> GateResult: ...


class _TooLarge(Exception):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: urllib then reports the 3xx answer as an HTTPError."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        return None


def _clip(text: str, limit: int = MAX_DETAIL) -> str:
    """One printable line of at most ``limit`` characters."""
    line = "".join(c if c.isprintable() else " " for c in text)
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _fail(reason: str) -> GateResult:
    return GateResult(holds=False, detail=_clip(reason))


def query_url(base: str, query: str) -> str | None:
    """``{base}/api/v1/query?query=...``, or None when ``base`` is not a plain http(s) address."""
    try:
        parts = urllib.parse.urlsplit(base)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return None
    if any(not c.isprintable() or c.isspace() for c in base):
        return None
    path = parts.path.rstrip("/") + API_PATH
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path,
                                    urllib.parse.urlencode({"query": query}), ""))


def _number(value: Any) -> float | None:
    """A sample value (Prometheus sends strings: "1", "NaN", "+Inf") as a float, or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, str) and len(value) > 64:
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def _sample(pair: Any) -> float | None:
    if not isinstance(pair, list) or len(pair) != 2:
        return None
    return _number(pair[1])


def _load(body: bytes) -> dict[str, Any] | str:
    """The answer as a JSON object, or why not."""
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "the answer is not JSON"
    if not isinstance(answer, dict):
        return "the answer is not a Prometheus API answer"
    return answer


def _error(answer: dict[str, Any]) -> str | None:
    """Prometheus' own error (``status: error``), clipped, or None."""
    if answer.get("status") != "error":
        return None
    kind = answer.get("errorType")
    error = answer.get("error")
    kind_text = _clip(kind, 40) if isinstance(kind, str) else "unknown"
    error_text = _clip(error, MAX_ERROR) if isinstance(error, str) else "no message"
    return f"Prometheus error ({kind_text}): {error_text}"


def judge(body: bytes) -> GateResult:
    """Whether a Prometheus instant-query answer (the raw body) holds. Pure; never raises."""
    answer = _load(body)
    if isinstance(answer, str):
        return _fail(answer)
    error = _error(answer)
    if error is not None:
        return _fail(error)
    if answer.get("status") != "success":
        return _fail("the answer has no success status")
    data = answer.get("data")
    if not isinstance(data, dict):
        return _fail("the answer has no data")
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        values = [_sample(result)]
    elif kind == "vector":
        if not isinstance(result, list):
            return _fail("the vector answer has no result list")
        if not result:
            return _fail("empty result: no sample matches the query")
        values = [_sample(item.get("value")) if isinstance(item, dict) else None for item in result]
    elif kind == "matrix":
        return _fail("the query answers a range vector; use an instant expression")
    else:
        return _fail(f"unsupported result type {_clip(str(kind), 20)!r}")
    for value in values:
        if value is None:
            return _fail(f"a {kind} sample has no numeric value")
        if not math.isfinite(value):
            return _fail(f"a {kind} sample is {value!r}, not a finite number")
        if value == 0:
            return _fail(f"a {kind} sample is 0 ({len(values)} sample(s))")
    return GateResult(holds=True, detail=f"holds: {len(values)} {kind} sample(s), all non-zero")


class PrometheusGateClient:
    """The real gate: an instant query to a Prometheus HTTP API (http:// or https:// only).

    ``proxies``: None uses the environment's proxy settings (``https_proxy``, ``no_proxy``), as urllib
    does; ``{}`` connects directly. ``clock`` bounds the whole read (the socket timeout bounds each
    wait only), so a server that drips its answer cannot hold a step beyond the gate's timeout.
    """

    def __init__(self, *, proxies: Mapping[str, str] | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if proxies is not None:
            handlers.append(urllib.request.ProxyHandler(dict(proxies)))
        self._opener = urllib.request.build_opener(*handlers)
        self._clock = clock

    def check(self, gate: PrometheusCheck) -> GateResult:
        url = query_url(gate.url, gate.query)
        if url is None:
            return _fail("the gate's url is not a plain http:// or https:// address")
        if not math.isfinite(gate.timeout_seconds) or gate.timeout_seconds <= 0:
            return _fail("the gate's timeout is not a positive number of seconds")
        try:
            return self._ask(url, gate.timeout_seconds)
        except Exception as exc:  # fail closed: a gate never stops the controller
            log.exception("Prometheus gate: unexpected error")
            return _fail(f"unexpected error ({type(exc).__name__})")

    def _ask(self, url: str, timeout: float) -> GateResult:
        request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                       "User-Agent": "gitops-rollout-gate"})
        deadline = self._clock.monotonic() + timeout
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return judge(self._read(response, deadline))
        except urllib.error.HTTPError as exc:
            with exc:
                return self._http_error(exc, deadline)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return _fail(f"no answer within {timeout:g}s")
            return _fail(f"Prometheus is unreachable: {self._reason(exc.reason)}")
        except _TooLarge:
            return _fail(f"the answer is larger than {MAX_BODY} bytes")
        except TimeoutError:
            return _fail(f"no answer within {timeout:g}s")
        except (OSError, HTTPException, ValueError) as exc:
            return _fail(f"Prometheus is unreachable: {self._reason(exc)}")

    def _http_error(self, exc: urllib.error.HTTPError, deadline: float) -> GateResult:
        if 300 <= exc.code < 400:
            return _fail(f"redirect refused (HTTP {exc.code}): set the gate's url to the final address")
        try:
            body = self._read(exc, deadline)
        except (_TooLarge, OSError, HTTPException, ValueError):
            body = b""
        answer = _load(body)
        error = _error(answer) if isinstance(answer, dict) else None
        if error is not None:
            return _fail(f"HTTP {exc.code}: {error}")
        return _fail(f"HTTP {exc.code} from Prometheus")

    def _read(self, response: HTTPResponse | urllib.error.HTTPError, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            if self._clock.monotonic() > deadline:
                raise TimeoutError("the answer took too long")
            chunk = response.read(CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_BODY:
                raise _TooLarge
            chunks.append(chunk)

    @staticmethod
    def _reason(reason: object) -> str:
        if isinstance(reason, TimeoutError):
            return "timed out"
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, OSError) and reason.strerror:
            return _clip(reason.strerror, 80)
        return _clip(type(reason).__name__ if not isinstance(reason, str) else reason, 80)
