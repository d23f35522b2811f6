"""``gitops source check`` end to end: a real configuration file, real servers, one listing per URL."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import pytest

from gitops.cli import main

pytest.importorskip("gitops.config")


def _repo_doc(name: str, url: str, ref: str = "main") -> str:
    return textwrap.dedent(f"""\
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {{name: {name}}}
        spec: {{url: "{url}", ref: {ref}}}
        """)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_check_json_reports_each_repository(builder, http, daemon, tmp_path: Path, capsys) -> None:
    one, two = builder("one.git"), builder("two.git")
    main_one = one.commit({"a": "1"})
    dev_one = one.commit({"a": "d"}, branch="dev")
    main_two = two.commit({"b": "1"})
    config = tmp_path / "gitops.yaml"
    config.write_text("---\n".join([
        _repo_doc("alpha", http.url("one.git")), _repo_doc("beta", http.url("one.git"), "dev"),
        _repo_doc("gamma", daemon.url("two.git")),
        _repo_doc("down", f"http://127.0.0.1:{_closed_port()}/x.git")]))
    code = main(["source", "check", "-c", str(config), "-o", "json", "--cache-dir", str(tmp_path / "c"),
                 "--timeout", "5"])
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["repositories"]}
    assert code == 2  # "down" failed
    assert rows["alpha"]["revision"] == main_one and rows["beta"]["revision"] == dev_one
    assert rows["gamma"]["revision"] == main_two
    assert "error" in rows["down"] and rows["down"]["temporary"] is True
    assert http.ref_listings("one.git") == 1, "two repositories on one URL cost one listing"


def test_check_text_all_good_exits_zero(builder, daemon, tmp_path: Path, capsys) -> None:
    head = builder().commit({"a": "1"})
    config = tmp_path / "gitops.yaml"
    config.write_text(_repo_doc("app", daemon.url("app.git")))
    code = main(["source", "check", "-c", str(config), "--cache-dir", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert code == 0 and out.split() == ["app", "main", head]


def test_check_invalid_config_exits_two(tmp_path: Path, capsys) -> None:
    config = tmp_path / "gitops.yaml"
    config.write_text(_repo_doc("bad", "ext::sh -c id"))
    assert main(["source", "check", "-c", str(config), "--cache-dir", str(tmp_path / "c")]) == 2
    assert "error" in capsys.readouterr().err
