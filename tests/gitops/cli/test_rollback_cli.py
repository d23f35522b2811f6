"""``gitops history``, ``gitops rollback`` and ``gitops resume`` against a real redis-server, with a fake
dispatcher in place of the workers' (what would be enqueued is recorded), and the HOLD column of
``gitops status``."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops import dispatch
from gitops.cli import build_parser, main
from gitops.state import Operation, RedisStore, TargetStatus
from gitops.state.model import Hold
from gitops.state.suspensions import RedisSuspensions
from gitops.vocabulary import OperationPhase, SyncStatus, Target, Trigger
from workers.redis_server import RedisServer

REV1, REV2 = "1a2b3c4d" + "1" * 32, "9f8e7d6c" + "2" * 32
WEB = Target("web", "prod")


class FakeDispatcher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail = False

    def enqueue_sync(self, app: str, cluster: str, **kw: Any) -> str:
        if self.fail:
            raise OSError("broker down")
        self.calls.append(("sync", (app, cluster), kw))
        return "op-rollback-1"

    def request_reconcile(self, app: str, cluster: str, trigger: Trigger = Trigger.WEBHOOK,
                          detail: str | None = None) -> str | None:
        self.calls.append(("reconcile", (app, cluster), {"trigger": trigger, "detail": detail}))
        return "op-resume-1"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop(save=False)


@pytest.fixture
def store(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisStore:
    client = redis_server.client()
    client.flushdb()
    monkeypatch.setenv("GITOPS_REDIS_URL", redis_server.url)
    found = RedisStore(client)
    ops = [("o1", REV1, True, 100.0, Trigger.POLL, None),
           ("o2", REV2, True, 200.0, Trigger.MANUAL, "alice via api"),
           ("o3", REV2, False, 300.0, Trigger.SELF_HEAL, None)]
    for op_id, revision, applied, started, trigger, detail in ops:
        found.record(TargetStatus("web", "prod", revision=revision, sync=SyncStatus.SYNCED, operation=op_id,
                                  reconciled_at=started + 1),
                     Operation(op_id, "web", "prod", trigger, OperationPhase.SUCCEEDED, revision=revision,
                               started=started, finished=started + 1, applied=applied,
                               manifests_digest="sha256:" + "ab" * 32, trigger_detail=detail))
    return found


@pytest.fixture
def dispatcher(monkeypatch: pytest.MonkeyPatch) -> FakeDispatcher:
    fake = FakeDispatcher()
    monkeypatch.setattr(dispatch, "load_dispatcher", lambda name=None: fake)
    return fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_history_table_and_json(store: RedisStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "history", "web", "--cluster", "prod")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["OPERATION", "STARTED", "TRIGGER", "PHASE", "REVISION",
                                              "DIGEST", "MODE"]
    assert [line.split()[0] for line in lines[1:]] == ["o3", "o2", "o1"]  # newest first
    assert lines[1].split()[-1] == "compare-only" and lines[2].split()[-1] == "applied"
    assert "manual (alice via api)" in lines[2] and "9f8e7d6c2222" in lines[2] and "abababababab" in lines[2]
    code, out, _ = run(capsys, "history", "web", "--cluster", "prod", "-o", "json", "--limit", "2")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == ["o3", "o2"]
    assert rows[1]["revision"] == REV2 and rows[1]["applied"] is True and rows[0]["mode"] == "compare-only"
    code, out, _ = run(capsys, "history", "db", "--cluster", "prod")
    assert code == 0 and "no operations recorded for db@prod" in out
    for argv in (["web:x", "--cluster", "prod"], ["web", "--cluster", "*"], ["web", "--cluster", "prod",
                                                                             "--limit", "0"]):
        code, _, err = run(capsys, "history", *argv)
        assert code == 2 and err.startswith("error:")


def test_rollback_suspends_then_enqueues_the_pinned_sync(store: RedisStore, dispatcher: FakeDispatcher,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rollback", "web", "--cluster", "prod")
    assert code == 0 and "op-rollback-1" in out and REV1 in out
    (kind, args, kw), = dispatcher.calls
    assert (kind, args) == ("sync", ("web", "prod"))
    assert kw["revision"] == REV1 and kw["prune"] is False and kw["dry_run"] is False
    assert kw["detail"].startswith("rollback to 1a2b3c4d1111 by ")
    found = RedisSuspensions(store.redis).suspension(WEB)
    assert found is not None and found.revision == REV1 and found.reason == "rollback to 1a2b3c4d1111"
    assert found.by and "@" in found.by
    assert [e.kind for e in store.events()][-1] == "suspended"
    # status shows it: HOLD column and -o json
    code, out, _ = run(capsys, "status")
    header, row = out.splitlines()[:2]
    assert "HOLD" in header.split() and "suspended (rollback to 1a2b3c4d1111)" in row
    code, out, _ = run(capsys, "status", "-o", "json")
    (entry,) = json.loads(out)
    assert entry["suspension"]["revision"] == REV1 and entry["hold"] is None

    code, out, _ = run(capsys, "resume", "web", "--cluster", "prod")
    assert code == 0 and "op-resume-1" in out
    assert dispatcher.calls[-1][0] == "reconcile" and dispatcher.calls[-1][2]["trigger"] is Trigger.MANUAL
    assert RedisSuspensions(store.redis).suspension(WEB) is None
    assert [e.kind for e in store.events()][-1] == "resumed"
    code, out, _ = run(capsys, "resume", "web", "--cluster", "prod")
    assert code == 0 and "was not suspended" in out


def test_rollback_to_prefix_full_id_and_hostile(store: RedisStore, dispatcher: FakeDispatcher,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "rollback", "web", "--cluster", "prod", "--to", "9F8E")
    assert code == 0 and dispatcher.calls[-1][2]["revision"] == REV2
    code, _, err = run(capsys, "rollback", "web", "--cluster", "prod", "--to", "c" * 40)
    assert code == 0 and "not in the history" in err and dispatcher.calls[-1][2]["revision"] == "c" * 40
    count = len(dispatcher.calls)
    for hostile, message in (("../../etc", "invalid revision"), ("a" * 10_000, "invalid revision"),
                             ("zzzz", "invalid revision"), ("dead", "choices: 9f8e7d6c2222, 1a2b3c4d1111")):
        code, _, err = run(capsys, "rollback", "web", "--cluster", "prod", "--to", hostile)
        assert code == 2 and message in err and len(err) < 300
    code, _, err = run(capsys, "rollback", "web\n", "--cluster", "prod")
    assert code == 2 and "invalid application" in err
    assert len(dispatcher.calls) == count  # nothing enqueued for a refused rollback


def test_a_failed_enqueue_leaves_no_suspension(store: RedisStore, dispatcher: FakeDispatcher,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    dispatcher.fail = True
    with pytest.raises(OSError):
        main(["rollback", "web", "--cluster", "prod"])
    assert RedisSuspensions(store.redis).suspension(WEB) is None


def test_status_hold_column_for_each_reason(store: RedisStore, capsys: pytest.CaptureFixture[str]) -> None:
    op = Operation("d1", "db", "prod", Trigger.POLL, OperationPhase.SUCCEEDED, started=1.0)
    store.record(TargetStatus("api", "prod", sync=SyncStatus.OUT_OF_SYNC, operation="a1", reconciled_at=2.0,
                              hold=Hold("dependency", "waits for db@prod", on=("db@prod",))),
                 Operation("a1", "api", "prod", Trigger.POLL, OperationPhase.SUCCEEDED, started=1.0))
    store.record(TargetStatus("db", "prod", sync=SyncStatus.OUT_OF_SYNC, operation="d1", reconciled_at=2.0,
                              hold=Hold("window", "deny window <b>x</b>", on=("freeze",), until=0.0 + 64800)),
                 op)
    code, out, _ = run(capsys, "status")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 1 and "waiting: db@prod" in rows["api"]
    assert "window freeze until 1970-01-01 18:00Z" in rows["db"] and rows["web"].split()[6] == "-"


def test_the_docs_cli_examples_are_real_commands() -> None:
    """Every ``gitops ...`` line of docs/rollback.md's shell examples parses as a command."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "rollback.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    commands = [shlex.split(line)[1:] for line in lines if line.startswith("gitops ")]
    assert len(commands) >= 5
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)
        assert args.command in {"history", "rollback", "resume", "status"} and callable(args.func)
