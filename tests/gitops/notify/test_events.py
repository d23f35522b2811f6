"""Pure event derivation and routing: transitions only (no repeats on resyncs), each event's rule,
routing by the Notifications' selectors and events, and the notice as an untrusted message."""

from __future__ import annotations

import json

import pytest

from gitops.domain import Application, AppSource, Cluster, Destination, Fleet, Notification, Selector
from gitops.errors import Failure, InputError
from gitops.notify import MAX_MESSAGE, Notice
from gitops.notify.events import halts, raised
from gitops.notify.route import for_operation, for_rollout
from gitops.results import ImageCheck
from gitops.state import Operation, TargetStatus
from gitops.state.model import DriftRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger

REV = "a" * 40
OK = OperationPhase.SUCCEEDED
FAILED = OperationPhase.FAILED


def status(health: HealthStatus = HealthStatus.HEALTHY, drift: int = 0, failure: Failure | None = None,
           revision: str | None = REV, app: str = "web", cluster: str = "prod",
           verification: tuple[ImageCheck, ...] | None = None) -> TargetStatus:
    return TargetStatus(app, cluster, revision, SyncStatus.SYNCED if not drift else SyncStatus.OUT_OF_SYNC,
                        health, drift, tuple(DriftRecord("apps/Deployment/web/web", "/spec/replicas", "3",
                                                         "2", "kubectl-edit") for _ in range(min(drift, 1))),
                        failure=failure, verification=verification)


def op(phase: OperationPhase = OK, applied: bool = False, dry_run: bool = False,
       trigger: Trigger = Trigger.POLL, app: str = "web", cluster: str = "prod") -> Operation:
    return Operation("op-1", app, cluster, trigger, phase, REV, dry_run=dry_run, applied=applied)


BROKEN = Failure("SyncFailed", "Deployment web: image pull failed")
GIT_DOWN = Failure("SourceUnavailable", "git server unreachable", temporary=True)


def test_a_write_that_succeeded_is_a_sync_succeeded_and_a_compare_or_dry_run_is_not() -> None:
    assert raised(None, status(), op(applied=True)) == ("SyncSucceeded",)
    assert raised(status(), status(), op(applied=False)) == ()
    assert raised(status(), status(), op(applied=True, dry_run=True)) == ()
    assert raised(status(), status(), op(OperationPhase.RUNNING, applied=True)) == ()


def test_health_degraded_only_when_it_becomes_degraded() -> None:
    degraded = status(HealthStatus.DEGRADED)
    assert raised(status(), degraded, op()) == ("HealthDegraded",)
    assert raised(degraded, degraded, op()) == ()  # the next resync: no repeat
    assert raised(degraded, status(), op()) == ()
    assert raised(status(), degraded, op()) == ("HealthDegraded",)  # degraded again later: again


def test_drift_detected_when_it_appears_without_a_write_correcting_it() -> None:
    assert raised(status(), status(drift=2), op()) == ("DriftDetected",)
    assert raised(status(drift=2), status(drift=3), op()) == ()  # still drifted: no repeat
    assert raised(status(), status(drift=2), op(applied=True)) == ("SyncSucceeded",)  # self-heal wrote


def test_sync_failed_once_per_failure_but_again_for_a_user_a_new_revision_or_after_retries() -> None:
    failed = status(failure=BROKEN)
    assert raised(status(), failed, op(FAILED)) == ("SyncFailed",)
    assert raised(failed, failed, op(FAILED)) == ()  # the same failure at the next resync
    assert raised(failed, failed, op(FAILED, trigger=Trigger.MANUAL)) == ("SyncFailed",)
    assert raised(status(), failed, op(FAILED, dry_run=True)) == ()  # a dry run only previews
    assert raised(failed, status(failure=BROKEN, revision="b" * 40), op(FAILED)) == ("SyncFailed",)
    # the retries of a temporary failure record it each time; the final outcome is the one notified
    retried = status(failure=GIT_DOWN)
    assert raised(retried, retried, op(FAILED)) == ("SyncFailed",)


def test_verification_failed_from_the_failure_kind_or_a_refused_image() -> None:
    refused = Failure("VerificationFailed", "image refused by the policy")
    assert raised(status(), status(failure=refused), op(FAILED)) == ("SyncFailed", "VerificationFailed")
    check = ImageCheck("registry.example/web:v1", None, "refused", reasons=("no cosign signature",))
    by_check = status(failure=BROKEN, verification=(check,))
    assert raised(None, by_check, op(FAILED)) == ("SyncFailed", "VerificationFailed")


def test_rollout_halts_come_from_the_pass_sentences_once() -> None:
    assert halts(["rollout started", "rollout halted: web@prod is Degraded"]) == ("web@prod is Degraded",)
    assert halts(["rollout completed"]) == ()


def fleet(*notifications: Notification) -> Fleet:
    app = Application("web", AppSource("demo"), Destination("prod"), labels={"team": "shop"})
    other = Application("api", AppSource("demo"), Destination("prod"), labels={"team": "core"})
    return Fleet({}, {"prod": Cluster("prod", {"env": "prod"}), "dev": Cluster("dev", {"env": "dev"})},
                 {"web": app, "api": other}, notifications={n.name: n for n in notifications})


def test_routing_by_selectors_and_events() -> None:
    shop = Notification("shop", ("SyncFailed",), Selector(match_labels={"team": "shop"}))
    prod = Notification("prod", (), clusters=Selector(("pr*",)))
    devs = Notification("devs", (), clusters=Selector(match_labels={"env": "dev"}))
    f = fleet(shop, prod, devs)
    failed = for_operation(f, status(), status(failure=BROKEN), op(FAILED))
    assert [(n.notification, n.event) for n in failed] == [("prod", "SyncFailed"), ("shop", "SyncFailed")]
    notice = failed[0]
    assert notice.message == f"sync of web on prod failed at {REV[:12]}: Deployment web: image pull failed"
    assert notice.data["revision"] == REV and notice.data["operation"] == "op-1"
    api = for_operation(f, None, status(app="api", failure=BROKEN), op(FAILED, app="api"))
    assert [n.notification for n in api] == ["prod"]  # shop selects team=shop only
    assert for_operation(f, status(), status(), op()) == ()  # nothing raised
    assert for_operation(fleet(), None, status(failure=BROKEN), op(FAILED)) == ()  # nothing configured


def test_rollout_notices_select_by_the_set_or_its_applications() -> None:
    f = fleet(Notification("shop", (), Selector(match_labels={"team": "shop"})),
              Notification("quiet", ("SyncFailed",)))
    [notice] = for_rollout(f, "fanout", ["web"], ["rollout halted: web@prod is Degraded"])
    assert (notice.notification, notice.event, notice.application, notice.cluster) == (
        "shop", "RolloutHalted", "fanout", "")
    assert Notice.from_message(json.loads(notice.to_json())) == notice
    assert for_rollout(f, "fanout", ["api"], ["rollout halted: x"]) == ()


def test_a_notice_is_small_json_and_its_id_stable() -> None:
    huge = Failure("SyncFailed", "x" * 1_000_000)
    [notice] = for_operation(fleet(Notification("all")), None, status(failure=huge), op(FAILED))
    assert len(notice.message) <= MAX_MESSAGE and len(notice.to_json()) < 3 * MAX_MESSAGE
    again = for_operation(fleet(Notification("all")), None, status(failure=huge), op(FAILED))[0]
    assert again.id == notice.id and len(notice.id) == 32
    assert Notice.from_message(notice.to_message()) == notice


@pytest.mark.parametrize("forged", [
    "not an object", {"event": "SyncSucceeded"},
    {"id": "", "notification": "all", "event": "Rm -rf", "application": "web", "cluster": "prod",
     "message": "m", "data": {}},
    {"notification": "all", "event": "SyncFailed", "application": "web\r\nX-Evil: 1", "cluster": "prod",
     "message": "m"},
    {"notification": "all", "event": "SyncFailed", "application": "web", "cluster": "", "message": "m"},
    {"notification": "all", "event": "SyncFailed", "application": "web", "cluster": "prod", "message": 3},
    {"notification": "all", "event": "SyncFailed", "application": "web", "cluster": "prod", "message": "m",
     "data": {"secret": "x"}},
    {"notification": "all", "event": "SyncFailed", "application": "web", "cluster": "prod", "message": "m",
     "data": {"revision": 1}},
    {"notification": "all", "event": "SyncFailed", "application": "web", "cluster": "prod", "message": "m",
     "id": "../../etc"},
    {"notification": "all", "event": "SyncFailed", "application": "web", "cluster": "prod", "message": "m",
     "url": "http://elsewhere"},
])
def test_a_forged_message_is_refused(forged: object) -> None:
    with pytest.raises(InputError):
        Notice.from_message(forged)


def test_a_huge_message_is_clipped_when_read_back() -> None:
    notice = Notice.from_message({"notification": "all", "event": "SyncFailed", "application": "web",
                                  "cluster": "prod", "message": "y" * 1_000_000,
                                  "data": {"revision": "z" * 5000}})
    assert len(notice.message) <= MAX_MESSAGE and len(notice.data["revision"]) <= 256
