"""Sync windows at fixed instants: open/closed in several time zones (a daylight-saving day included),
deny over allow, manualSync, when the verdict changes, schedules that fire rarely or never, hostile
schedules, and a thousand windows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gitops.domain import Selector, SyncWindow
from gitops.errors import InputError
from gitops.permit.windows import MAX_STEPS, change_reason, evaluate, explain, is_open, last_opened


def at(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def deny(name: str = "freeze", schedule: str = "0 22 * * *", hours: float = 8, zone: str = "UTC",
         manual: bool = False, **sel: Selector) -> SyncWindow:
    return SyncWindow(name, "deny", schedule, hours * 3600, zone, manual, **sel)


def allow(name: str = "office", schedule: str = "0 9 * * 1-5", hours: float = 8, zone: str = "UTC",
          manual: bool = False, **sel: Selector) -> SyncWindow:
    return SyncWindow(name, "allow", schedule, hours * 3600, zone, manual, **sel)


def test_no_window_permits_everything() -> None:
    state = evaluate([], at("2026-12-05T12:00:00"), application="web", cluster="prod")
    assert state.automated and state.manual and state.active == () and state.changes_at is None


def test_a_deny_window_is_open_from_its_tick_for_its_duration_and_says_until_when() -> None:
    w = deny()  # 22:00 for 8 hours
    assert not is_open(w, at("2026-12-05T21:59:59"))
    assert is_open(w, at("2026-12-05T22:00:00"))
    assert is_open(w, at("2026-12-06T05:59:59"))
    assert not is_open(w, at("2026-12-06T06:00:00"))
    state = evaluate([w], at("2026-12-06T01:00:00"))
    assert not state.automated and not state.manual and state.active == ("freeze",)
    assert state.blocking == ("freeze",) and state.changes_at == at("2026-12-06T06:00:00")
    assert explain(state) == "deny window freeze is open; automated syncs resume at 2026-12-06 06:00 UTC"
    later = evaluate([w], at("2026-12-06T07:00:00"))
    assert later.automated and later.changes_at is None and explain(later) == ""  # nothing to wait for


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_the_schedule_runs_in_the_window_time_zone(zone: str) -> None:
    w = deny(schedule="0 22 * * *", hours=2, zone=zone)
    assert is_open(w, at("2026-07-01T22:30:00", zone))
    assert not is_open(w, at("2026-07-01T22:30:00", "UTC")) or zone == "UTC"
    assert evaluate([w], at("2026-07-01T23:00:00", zone)).changes_at == at("2026-07-02T00:00:00", zone)


def test_a_daylight_saving_change_day_keeps_local_times() -> None:
    # Europe/Paris springs forward on 2026-03-29 at 02:00 (to 03:00): a 01:00 window of 3 hours lasts
    # 3 real hours and closes at 05:00 local (UTC+2), while the day before it closed at 04:00 local
    w = deny(schedule="0 1 * * *", hours=3, zone="Europe/Paris")
    opened = last_opened(w, at("2026-03-29T04:30:00", "Europe/Paris"))
    assert opened == at("2026-03-29T01:00:00", "Europe/Paris")
    assert is_open(w, at("2026-03-29T04:30:00", "Europe/Paris"))   # 2.5 real hours after 01:00 CET
    assert not is_open(w, at("2026-03-29T05:00:00", "Europe/Paris"))
    assert not is_open(w, at("2026-03-28T04:00:00", "Europe/Paris"))
    # a tick in the skipped hour (02:30) fires at 03:00 on that day
    skipped = deny(schedule="30 2 * * *", hours=1, zone="Europe/Paris")
    assert last_opened(skipped, at("2026-03-29T03:10:00", "Europe/Paris")) == at("2026-03-29T03:00:00",
                                                                                 "Europe/Paris")
    # New York falls back on 2026-11-01: 01:30 happens twice; the window opens once per cron match
    ny = deny(schedule="0 0 * * *", hours=3, zone="America/New_York")
    assert evaluate([ny], at("2026-11-01T00:30:00", "America/New_York")).changes_at == \
        at("2026-11-01T00:00:00", "America/New_York") + 3 * 3600


def test_allow_windows_block_outside_them_and_deny_wins_over_allow() -> None:
    office = allow()  # weekdays 09:00-17:00 UTC
    friday_night = at("2026-12-04T20:00:00")  # a Friday
    state = evaluate([office], friday_night)
    assert not state.automated and not state.manual and state.blocking == ("office",)
    assert state.changes_at == at("2026-12-07T09:00:00")  # Monday morning
    assert explain(state) == "outside the allow window office; automated syncs resume at 2026-12-07 09:00 UTC"
    assert evaluate([office], at("2026-12-07T10:00:00")).automated
    lunch = deny("lunch", "0 12 * * *", hours=1)
    state = evaluate([office, lunch], at("2026-12-07T12:30:00"))
    assert not state.automated and state.blocking == ("lunch",) and set(state.active) == {"office", "lunch"}
    assert state.changes_at == at("2026-12-07T13:00:00")


def test_manual_sync_follows_the_window_flags() -> None:
    night = at("2026-12-06T01:00:00")
    assert not evaluate([deny()], night).manual
    assert evaluate([deny(manual=True)], night).manual
    # every open deny window must allow it
    state = evaluate([deny(manual=True), deny("other")], night)
    assert not state.manual and state.blocking_manual == ("other",)
    # outside allow windows, a manual sync runs when one of them says manualSync
    weekend = at("2026-12-05T12:00:00")
    assert not evaluate([allow()], weekend).manual
    assert evaluate([allow(), allow("other", manual=True)], weekend).manual
    # changes_at follows the manual verdict when asked
    assert evaluate([deny()], night, manual=True).changes_at == at("2026-12-06T06:00:00")


def test_selectors_choose_applications_and_clusters_by_name_and_label() -> None:
    w = deny(applications=Selector(("db-*",), {"tier": "data"}),
             clusters=Selector(match_labels={"env": "prod"}))
    night = at("2026-12-06T01:00:00")

    def automated(app: str, labels: dict[str, str], cluster_labels: dict[str, str]) -> bool:
        return evaluate([w], night, application=app, app_labels=labels, cluster="c",
                        cluster_labels=cluster_labels).automated

    assert not automated("db-main", {"tier": "data"}, {"env": "prod"})
    assert automated("db-main", {"tier": "data"}, {"env": "dev"})
    assert automated("db-main", {}, {"env": "prod"})
    assert automated("web", {"tier": "data"}, {"env": "prod"})


def test_overlapping_ticks_extend_the_window_and_an_always_open_one_has_no_end_in_reach() -> None:
    hourly = deny(schedule="0 * * * *", hours=1.5)
    state = evaluate([hourly], at("2026-12-06T01:10:00"))
    assert not state.automated and state.changes_at is None  # every hour re-opens it: never ends
    every_minute = deny(schedule="* * * * *", hours=1)
    assert evaluate([every_minute], at("2026-12-06T01:10:00")).changes_at is None


def test_rare_schedules_are_found_and_the_search_is_bounded() -> None:
    leap = deny("leap", "0 0 29 2 *", hours=24)
    assert evaluate([leap], at("2026-12-06T00:00:00")).automated
    assert evaluate([leap], at("2028-02-29T10:00:00")).changes_at == at("2028-03-01T00:00:00")
    rare = allow("leap-only", "0 0 29 2 *", hours=24)
    assert evaluate([rare], at("2026-12-06T00:00:00")).changes_at is None  # 2028 is beyond the horizon
    yearly = allow("new-year", "0 0 1 1 *", hours=24)
    assert evaluate([yearly], at("2026-12-06T00:00:00")).changes_at == at("2027-01-01T00:00:00")
    # many windows whose boundaries never change the verdict: the search gives up after MAX_STEPS
    noise = [allow(f"a{i}", f"{i % 60} * * * *", hours=0.01) for i in range(MAX_STEPS + 5)]
    state = evaluate([deny("forever", "* * * * *", hours=2), *noise], at("2026-12-06T00:00:00"))
    assert not state.automated and state.changes_at is None


@pytest.mark.parametrize("schedule", ["", "* * * *", "0 0 30 2 *", "99 * * * *", "* * * * * * *",
                                      "x" * 10_000, "0 0 * * *; rm -rf /", "\x00 * * * *",
                                      "1-100000000 * * * *"])
def test_hostile_schedules_raise_input_errors(schedule: str) -> None:
    with pytest.raises(InputError):
        evaluate([deny(schedule=schedule)], at("2026-12-06T00:00:00"))


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "", "UTC\x00", "/etc/localtime"])
def test_hostile_zones_raise_input_errors(zone: str) -> None:
    with pytest.raises(InputError):
        evaluate([deny(zone=zone)], at("2026-12-06T00:00:00"))


def test_a_thousand_windows() -> None:
    zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
    many = [deny(f"d{i}", f"{i % 60} {i % 24} * * *", hours=0.5, zone=zones[i % 4],
                 applications=Selector((f"app-{i % 10}",))) for i in range(1000)]
    state = evaluate(many, at("2026-12-06T00:00:00"), application="app-3", cluster="prod")
    assert state.automated or state.changes_at is not None
    unselected = evaluate(many, at("2026-12-06T00:00:00"), application="web", cluster="prod")
    assert unselected.automated and unselected.active == ()


def test_a_thousand_windows_selecting_one_target() -> None:
    zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
    night = at("2026-12-06T00:00:00")
    daily = [deny(f"d{i}", f"{i % 60} {i % 24} * * *", hours=0.5, zone=zones[i % 4]) for i in range(1000)]
    state = evaluate(daily, night)
    assert not state.automated and state.changes_at is not None and state.changes_at > night
    assert evaluate(daily, state.changes_at).automated
    always = [deny(f"d{i}", "* * * * *", hours=1, zone=zones[i % 4]) for i in range(1000)]
    state = evaluate(always, night)
    assert not state.automated and len(state.active) == 1000 and state.changes_at is None
    mondays = [allow(f"a{i}", f"{i % 60} {i % 24} * * 1", hours=0.2) for i in range(1000)]
    state = evaluate(mondays, night)
    assert state.changes_at == at("2026-12-07T00:00:00")  # the first Monday tick (a0: 00:00)


def test_the_reason_a_block_lifts_names_what_changed() -> None:
    night = at("2026-12-06T01:00:00")  # a Sunday
    for windows, reason in (
            ([deny()], "sync window freeze closed"),
            ([allow()], "sync window office opened"),
            ([deny(), allow(schedule="0 6 * * *", hours=1)], "sync windows freeze closed and office opened"),
            ([allow(schedule="0 9 * * 1", hours=1), deny()],  # the freeze ends at 6:00, office on Monday
             "sync windows freeze closed and office opened")):
        state = evaluate(windows, night)
        assert state.changes_at is not None
        assert change_reason(state, evaluate(windows, state.changes_at)) == reason
