"""Render budgets: the Budget value, the per-application configuration, the engine's renderer port,
and the worker process that enforces CPU and memory (its pool, its protocol)."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gitops.config.application import AppSource
from renderers import isolation
from renderers.api import RenderRequest, render
from renderers.budget import DEFAULT, Budget, BudgetExceeded, GiB, MiB, metering
from renderers.errors import RenderError

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_defaults_and_descriptions() -> None:
    assert Budget(cpu_seconds=60, memory_bytes=2 * GiB, max_objects=10_000,
                             max_output_bytes=64 * MiB, max_yaml_nodes=4_000_000) == DEFAULT
    assert DEFAULT.describe("cpu_seconds") == "CPU budget (60 s)"
    assert DEFAULT.describe("memory_bytes") == "memory budget (2048 MiB)"
    assert Budget(max_objects=1).describe("max_objects") == "object budget (1 object)"
    err = DEFAULT.exceeded("max_output_bytes", path="app/x.yaml", detail="what")
    assert isinstance(err, RenderError) and err.budget == "max_output_bytes"
    assert str(err) == "app/x.yaml: render exceeded its output budget (64 MiB): what"


@pytest.mark.parametrize("bad", [{"cpu_seconds": 0}, {"memory_bytes": 1}, {"max_objects": True},
                                 {"max_yaml_nodes": 1.5}])
def test_nonsense_budgets_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="budget"):
        Budget(**bad)  # type: ignore[arg-type]


def test_application_budget_configuration() -> None:
    source = AppSource.model_validate({"repository": "r", "path": "a", "budget": {
        "cpuSeconds": 5, "memoryBytes": "512Mi", "maxObjects": 20, "maxOutputBytes": 1048576,
        "maxYamlNodes": 5000}})
    assert source.budget.to_budget() == Budget(cpu_seconds=5, memory_bytes=512 * MiB, max_objects=20,
                                               max_output_bytes=MiB, max_yaml_nodes=5000)
    assert AppSource(repository="r", path="a").budget.to_budget() == DEFAULT
    for bad in ({"cpuSeconds": 0}, {"memoryBytes": "lots"}, {"maxObjects": 10**9}, {"cpu": 1}):
        with pytest.raises(ValueError):
            AppSource.model_validate({"repository": "r", "path": "a", "budget": bad})


def _renderers_port_and_source(budget: Budget) -> tuple[Any, Any]:
    """The engine's renderer port, and an application source with this budget in the shape it takes
    (typed domain values since the engine's adapters moved to gitops/adapters.py)."""
    try:
        from gitops.adapters import RenderersPort
    except ImportError:  # the port still in gitops/engine.py, taking the configuration model
        from gitops.engine import RenderersPort  # type: ignore[attr-defined,no-redef]

        source: Any = AppSource.model_validate({"repository": "r", "path": "app", "budget": {
            "maxObjects": budget.max_objects}})
        return RenderersPort(), source
    return RenderersPort(), SimpleNamespace(path="app", renderer="plain", options={}, budget=budget)


def test_the_engine_renders_under_the_applications_budget(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": CM.format(name="a"), "app/b.yaml": CM.format(name="b")})
    port, source = _renderers_port_and_source(Budget(max_objects=1))
    with pytest.raises(BudgetExceeded, match=r"render exceeded its object budget \(1 object\)"):
        port.render(tmp_path, source, {})
    port, source = _renderers_port_and_source(DEFAULT)
    assert len(port.render(tmp_path, source, {})) == 2


def test_the_output_budget_counts_shared_values_once_per_use() -> None:
    shared = "x" * 1000
    assert len(isolation.encode([shared] * 10, Budget(max_output_bytes=20_000))) > 10_000
    with pytest.raises(BudgetExceeded, match=r"output budget \(1024 bytes\)"):
        isolation.encode([shared] * 10, Budget(max_output_bytes=1024))


def test_replies_can_only_carry_plain_data() -> None:
    import datetime

    value = {"when": datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC), "day": datetime.date(2026, 1, 2),
             "raw": b"\x00", "set": {1, 2}}
    assert isolation.decode(isolation.encode(value, DEFAULT)) == value
    with pytest.raises(pickle.UnpicklingError, match=r"os\.system"):
        isolation.decode(b"cos\nsystem\n(S'true'\ntR.")


def test_meter_counts_nodes_across_calls() -> None:
    with metering(Budget(max_yaml_nodes=1000)) as meter:
        meter.charge_nodes(600, "a")
        with pytest.raises(BudgetExceeded) as err:
            meter.charge_nodes(600, "b")
    assert err.value.path == "b" and err.value.budget == "max_yaml_nodes"


def test_concurrent_renders_each_get_a_worker(tmp_path: Path) -> None:
    write(tmp_path, {f"app{i}/cm.yaml": CM.format(name=f"c{i}") for i in range(6)})
    results: dict[int, object] = {}

    def one(i: int) -> None:
        results[i] = render(RenderRequest(root=tmp_path, path=f"app{i}", renderer="plain"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {i: r[0]["metadata"]["name"] for i, r in results.items()} == {i: f"c{i}" for i in range(6)}  # type: ignore[index]
    assert len(isolation.POOL.idle) <= isolation.MAX_IDLE


def test_a_worker_survives_ordinary_errors_and_is_reused(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": CM.format(name="a"), "bad/x.yaml": "kind: [\n"})
    render(RenderRequest(root=tmp_path, path="app", renderer="plain"))
    before = [w.proc.pid for w in isolation.POOL.idle]
    with pytest.raises(RenderError, match="invalid YAML"):
        render(RenderRequest(root=tmp_path, path="bad", renderer="plain"))
    assert [w.proc.pid for w in isolation.POOL.idle] == before


def test_unpicklable_options_are_a_render_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="plain data"):
        render(RenderRequest(root=tmp_path, path=".", renderer="plain", options={"x": lambda: 1}))


def test_budget_in_a_configuration_file(tmp_path: Path) -> None:
    import shutil

    from gitops.config import load_config

    config = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples/config", config)
    apps = config / "applications.yaml"
    apps.write_text(apps.read_text().replace(
        "    renderer: kustomize\n",
        "    renderer: kustomize\n    budget: {cpuSeconds: 30, memoryBytes: 1Gi, maxObjects: 500}\n", 1))
    app = load_config(config).applications["guestbook"]
    assert app.source.budget.to_budget() == Budget(cpu_seconds=30, memory_bytes=GiB, max_objects=500)
    apps.write_text(apps.read_text().replace("cpuSeconds: 30", "cpuSeconds: 0"))
    with pytest.raises(Exception, match="cpuSeconds"):
        load_config(config)


def test_a_widened_pool_keeps_more_workers_warm_only_for_the_burst(tmp_path: Path) -> None:
    write(tmp_path, {f"app{i}/cm.yaml": CM.format(name=f"c{i}") for i in range(5)})
    before = isolation.POOL.max_idle
    with isolation.POOL.widened(before + 3):
        assert isolation.POOL.max_idle == before + 3
        threads = [threading.Thread(target=render, args=(RenderRequest(root=tmp_path, path=f"app{i}",
                                                                       renderer="plain"),))
                   for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(isolation.POOL.idle) <= before + 3
    assert isolation.POOL.max_idle == before and len(isolation.POOL.idle) <= before
