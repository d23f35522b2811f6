"""Duration parsing: units, numbers, hostile and nonsensical values, and the format round trip."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops.config import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1.5s", 1.5),
    ("2d", 172800.0), (" 10s ", 10.0), (45, 45.0), (2.5, 2.5), (0, 0.0),
])
def test_parses_units_and_numbers(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5", "5 minutes", "", "m", "-5s", "1y", "5s5", "1e9s", "0x10s", "五s", "٣s",
                                 "1h 30m", "inf", "nan"])
def test_rejects_malformed_strings(bad: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [True, False])
def test_rejects_booleans(bad: bool) -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [-1, math.inf, math.nan, -0.5])
def test_rejects_negative_and_non_finite_numbers(bad: float) -> None:
    with pytest.raises(ValueError, match="finite, non-negative"):
        parse_duration(bad)


def test_rejects_absurdly_long_durations() -> None:
    with pytest.raises(ValueError, match="366 days"):
        parse_duration("9999999999999h")


def test_error_messages_never_echo_the_input() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("s3cr3t-value")
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(("seconds", "text"), [(300.0, "5m"), (5400.0, "1h30m"), (0.25, "250ms"),
                                               (0.0, "0s"), (61.0, "1m1s"), (1.5, "1.5s")])
def test_formats_shortest_string(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=366 * 86400))
def test_format_round_trips_whole_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(float(seconds))) == seconds
