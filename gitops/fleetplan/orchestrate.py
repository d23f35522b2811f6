"""``plan_fleet(request) -> FleetPlan``: every (application, cluster) pair at BASE and NEW, diffed.

Called by ``gitops plan`` (gitops/cli/plan.py) and the benchmark (bench/fleet_plan.py). A thin
orchestrator over ports: the two sides of the changed repository come from the :class:`TreeSource`
port, every other repository and the renderers and clusters from the engine's ``Ports``. Steps:

1. pairs at each side: every configured Application plus every application each ApplicationSet
   generates (``gitops.appset.generate`` / ``render_applications``), the git generators reading the
   changed repository's tree at that side and every other repository at its ref (:class:`SideTree`);
2. a pair whose Application is the same at both sides and whose source does not follow the changed
   repository's ref cannot change: unchanged, not rendered;
3. every other pair is rendered at the side(s) where it exists, through the engine's render step
   (``gitops.render.render`` over the Renderer port: redacted ``RenderFailed``), in a thread pool; renders
   are cached by their full input (:func:`render_key`), so one base shared by many clusters renders once
   per side; a failed render is that pair's error, never the others';
4. BASE vs NEW offline (:func:`gitops.fleetplan.diff.offline`) gives each pair's status;
5. unless offline, each cluster with an added or changed pair is probed once (one GET); on a reachable
   one, those pairs are planned again with the engine's compare-only reconcile (``sync=False``: the same
   plan as ``gitops diff``, server-side dry-run apply, never a write) and their diffs are the cluster's
   view; otherwise they keep the offline diff, the reason said per pair.

Key design choice: the status of a pair is what Git changes (BASE vs NEW rendered); the server-side
dry-run, where possible, only replaces *how* its change is shown (live vs predicted), so pairs Git does
not change are never sent to a cluster and drift that was already there is ``gitops diff``'s job.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from gitops import domain
from gitops import render as rendering
from gitops.appset import ElementError, Generated, GitTree, Inputs, generate, render_applications
from gitops.config import Config
from gitops.engine import Ports, ReconcileRequest, Source, reconcile
from gitops.errors import Forbidden, GitOpsError, NotFound
from gitops.fleetplan import diff
from gitops.fleetplan.model import FleetPlan, Mode, PairPlan, Side, Status
from gitops.fleetplan.ports import DirectoryFiles, SideTree, Tree, TreeSource
from gitops.render import RemoteLoader, Renderer
from gitops.render.manifests import validate
from gitops.vocabulary import ObjectRef, Trigger
from renderers import isolation
from renderers.manifest import Manifest

log = logging.getLogger(__name__)
T = TypeVar("T")
Key = tuple[str, str]  # (application, cluster)
Objects = dict[ObjectRef, Manifest]
# Renderers that never read the per-cluster parameters (renderers.api: _kustomize and _plain ignore
# them): their renders are keyed without them, so a base shared by every cluster renders once.
PARAMETER_FREE = frozenset({"kustomize", "plain"})
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class PlanRequest:
    """What to plan: the configuration (``config`` for its ApplicationSets, ``fleet`` its values), the
    changed ``repository`` and its two sides, the appset GitTree for every other repository, the
    engine's ports, whether clusters may be contacted and how many renders run at once."""

    config: Config
    fleet: domain.Fleet
    repository: domain.Repository
    base: TreeSource
    new: TreeSource
    others: GitTree
    ports: Ports
    offline: bool = False
    workers: int = DEFAULT_WORKERS
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Placed:
    application: domain.Application
    origin: str


@dataclass
class _Pairs:
    placed: dict[Key, Placed] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)   # element errors
    failures: list[str] = field(default_factory=list)   # generators that failed as a whole


def render_key(root: Path, source: domain.AppSource, parameters: Mapping[str, object]) -> tuple[str, ...]:
    """Everything a render depends on: the tree (its directory: one per repository and commit, or per
    working tree and run), path, renderer, options, budget and, for renderers that read them, the
    parameters (which carry the cluster's name and labels, the application and the namespace)."""
    params = "" if source.renderer in PARAMETER_FREE else _canonical(parameters)
    return (str(root), source.path, str(source.renderer), _canonical(source.options), repr(source.budget),
            params)


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=repr, separators=(",", ":"))


class _Slot:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: list[Manifest] | None = None
        self.error: BaseException | None = None


class CachingRenderer:
    """The Renderer port with every render cached by :func:`render_key` (concurrent callers of one key
    wait for the first; errors are cached too); each caller gets its own copy."""

    def __init__(self, inner: Renderer) -> None:
        self.inner = inner
        self.slots: dict[tuple[str, ...], _Slot] = {}
        self.lock = threading.Lock()
        self.renders = 0

    def render(self, root: Path, source: domain.AppSource, parameters: Mapping[str, object],
               remote_loader: RemoteLoader | None = None) -> list[Manifest]:
        key = render_key(root, source, parameters)
        with self.lock:
            slot = self.slots.get(key)
            owner = slot is None
            if slot is None:
                slot = self.slots[key] = _Slot()
                self.renders += 1
        if owner:
            try:
                slot.value = self.inner.render(root, source, parameters, remote_loader)
            except BaseException as exc:
                slot.error = exc
            finally:
                slot.done.set()
        else:
            slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return copy.deepcopy(slot.value or [])


class _SideSource:
    """The engine's Source port in which the changed repository's ref is the NEW tree."""

    def __init__(self, inner: Source, repository: domain.Repository, tree: Tree) -> None:
        self.inner, self.repository, self.tree = inner, repository, tree

    def _ours(self, repository: domain.Repository, revision: str | None) -> bool:
        return repository.name == self.repository.name and revision in (None, repository.ref,
                                                                         self.tree.revision)

    def resolve(self, repository: domain.Repository, revision: str | None) -> str:
        return self.tree.revision if self._ours(repository, revision) else self.inner.resolve(repository,
                                                                                               revision)

    def checkout(self, repository: domain.Repository, revision: str) -> Path:
        if self._ours(repository, revision):
            return self.tree.root
        return self.inner.checkout(repository, revision)

    def remote_loader(self, repository: domain.Repository) -> RemoteLoader | None:
        return self.inner.remote_loader(repository)

    def commit_time(self, repository: domain.Repository, revision: str) -> float | None:
        if self._ours(repository, revision):
            return None if self.tree.revision.startswith("worktree:") else self.inner.commit_time(
                repository, revision)
        return self.inner.commit_time(repository, revision)


def _parallel(fn: Callable[[T], Any], items: Iterable[T], workers: int) -> None:
    todo = list(items)
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
        for _ in pool.map(fn, todo):
            pass


class Planner:
    """One plan run (holds the caches); :func:`plan_fleet` is the entry point."""

    def __init__(self, request: PlanRequest) -> None:
        self.request = request
        self.renderer = CachingRenderer(request.ports.renderer)
        self.revisions: dict[tuple[str, str | None], str] = {}
        self.lock = threading.Lock()

    # -- pairs --------------------------------------------------------------------------------------
    def pairs(self, tree: Tree, side: str) -> _Pairs:
        req = self.request
        out = _Pairs()
        for app in req.fleet.applications.values():
            out.placed[(app.name, app.destination.cluster)] = Placed(app, "Application")
        git = SideTree(req.repository.name, DirectoryFiles(tree.root), req.others)
        for name in sorted(req.config.application_sets):
            appset = req.config.application_sets[name]
            generation = generate(appset, Inputs(req.fleet, git))
            for failure in generation.failures:
                out.failures.append(f"ApplicationSet {name} at {side}: {failure} (its applications are "
                                    "unknown)")
            for error in generation.errors:
                out.problems.append(f"ApplicationSet {name} at {side}: {error}")
            for rendered in render_applications(appset, generation, req.fleet):
                if isinstance(rendered, ElementError):
                    out.problems.append(f"ApplicationSet {name} at {side}: {rendered}")
                    continue
                assert isinstance(rendered, Generated)
                app = rendered.application
                key = (app.name, app.destination.cluster)
                if key in out.placed:
                    out.problems.append(f"ApplicationSet {name} at {side}: application {app.name!r} on "
                                        f"{app.destination.cluster!r} is also {out.placed[key].origin}")
                    continue
                out.placed[key] = Placed(app, f"ApplicationSet {name}")
        return out

    # -- rendering ----------------------------------------------------------------------------------
    def follows(self, app: domain.Application) -> bool:
        """Whether ``app`` renders from the changed repository's ref (so BASE and NEW may differ)."""
        return (app.source.repository == self.request.repository.name
                and app.source.revision in (None, self.request.repository.ref))

    def _revision(self, repository: domain.Repository, revision: str | None) -> str:
        key = (repository.name, revision)
        with self.lock:
            found = self.revisions.get(key)
        if found is None:
            found = self.request.ports.source.resolve(repository, revision)
            with self.lock:
                self.revisions[key] = found
        return found

    def render(self, tree: Tree, app: domain.Application) -> Objects:
        """The comparable desired objects of ``app`` at the side whose tree is ``tree`` (GitOpsError)."""
        source = self.request.ports.source
        repository = self.request.fleet.repositories[app.source.repository]
        cluster = self.request.fleet.clusters[app.destination.cluster]
        if self.follows(app):
            root, revision = tree.root, tree.revision
        else:
            revision = self._revision(repository, app.source.revision)
            root = source.checkout(repository, revision)
        manifests = rendering.render(self.renderer, root, app, cluster, revision=revision,
                                     remote_loader=source.remote_loader(repository))
        return diff.comparable(validate(manifests, source=app.source.path or "."), app.destination.namespace)

    # -- the plan -----------------------------------------------------------------------------------
    def run(self) -> FleetPlan:
        req = self.request
        base_tree, new_tree = req.base.tree(), req.new.tree()
        at_base, at_new = self.pairs(base_tree, "BASE"), self.pairs(new_tree, "NEW")
        same_tree = base_tree.revision == new_tree.revision
        rendered: dict[tuple[str, Key], Objects | str] = {}
        jobs: list[tuple[str, Key]] = []
        decided: dict[Key, PairPlan] = {}
        for key in sorted(at_base.placed.keys() | at_new.placed.keys()):
            old, new = at_base.placed.get(key), at_new.placed.get(key)
            if old is not None and new is not None and old.application == new.application and (
                    same_tree or not self.follows(new.application)):
                why = ("BASE and NEW are the same tree" if same_tree else
                       f"its source does not follow repository {req.repository.name}'s ref")
                decided[key] = PairPlan(key[0], key[1], Status.UNCHANGED, new.origin, Mode.NONE,
                                        f"not rendered: {why}")
                continue
            jobs += [("BASE", key)] if old is not None else []
            jobs += [("NEW", key)] if new is not None else []

        def render_one(job: tuple[str, Key]) -> None:
            side, key = job
            placed = (at_base if side == "BASE" else at_new).placed[key]
            try:
                rendered[job] = self.render(base_tree if side == "BASE" else new_tree, placed.application)
            except GitOpsError as exc:
                rendered[job] = f"{side}: {exc}"
            except Exception as exc:  # a bug in one render must not cost the others their plan
                log.exception("planning %s@%s at %s failed", key[0], key[1], side)
                rendered[job] = f"{side}: unexpected {type(exc).__name__} (see the log)"

        with isolation.POOL.widened(req.workers):  # warm workers for the burst, not for the process
            _parallel(render_one, jobs, req.workers)
        for key in sorted(at_base.placed.keys() | at_new.placed.keys()):
            if key not in decided:
                decided[key] = self._offline(key, at_base.placed.get(key), at_new.placed.get(key),
                                             rendered.get(("BASE", key)), rendered.get(("NEW", key)))
        if not req.offline:
            self._dry_run(decided, at_new, new_tree)
        # element errors count when the change brings them (at NEW, not already at BASE: a set broken
        # before the change is a note, so it does not fail every plan); a failed generator at either side
        failures = at_base.failures + at_new.failures
        before = {p.replace(" at BASE: ", ": ", 1) for p in at_base.problems}
        known = {p for p in at_new.problems if p.replace(" at NEW: ", ": ", 1) in before}
        problems = list(dict.fromkeys(failures + [p for p in at_new.problems if p not in known]))
        already = tuple(f"already failing at BASE: {p.replace(' at NEW: ', ': ', 1)}"
                        for p in dict.fromkeys(at_new.problems) if p in known)
        return FleetPlan(req.repository.name, Side(base_tree.revision, base_tree.label),
                         Side(new_tree.revision, new_tree.label), tuple(decided[k] for k in sorted(decided)),
                         tuple(problems), bool(failures), self.renderer.renders, (*req.notes, *already))

    def _offline(self, key: Key, old: Placed | None, new: Placed | None, base: Objects | str | None,
                 now: Objects | str | None) -> PairPlan:
        placed = new or old
        assert placed is not None
        origin = placed.origin
        mode = Mode.OFFLINE
        reason = "--offline" if self.request.offline else "not planned against the cluster"
        if isinstance(base, str) or isinstance(now, str):
            error = "; ".join(s for s in (base, now) if isinstance(s, str))
            return PairPlan(key[0], key[1], Status.ERROR, origin, Mode.NONE, "render failed", error=error)
        if base is None:
            assert now is not None
            return PairPlan(key[0], key[1], Status.ADDED, origin, mode, reason, diff.listing(now, "added"),
                            diff.offline({}, now)[1])
        if now is None:
            removed = diff.listing(base, "removed")
            return PairPlan(key[0], key[1], Status.REMOVED, origin, mode, reason, removed,
                            diff.offline(base, {})[1])
        objects, text = diff.offline(base, now)
        status = Status.CHANGED if objects else Status.UNCHANGED
        return PairPlan(key[0], key[1], status, origin, mode, reason, objects, text)

    def _dry_run(self, decided: dict[Key, PairPlan], at_new: _Pairs, new_tree: Tree) -> None:
        req = self.request
        wanted = [k for k, p in decided.items() if p.status in (Status.ADDED, Status.CHANGED)]
        clusters = sorted({k[1] for k in wanted})
        reachable: dict[str, str | None] = {}

        def probe(name: str) -> None:
            reachable[name] = probe_cluster(req.ports, req.fleet.clusters[name])

        _parallel(probe, clusters, req.workers)
        ports = replace(req.ports, source=_SideSource(req.ports.source, req.repository, new_tree),
                        renderer=self.renderer)

        def one(key: Key) -> None:
            pair = decided[key]
            unreachable = reachable.get(key[1])
            if unreachable is not None:
                decided[key] = replace(pair, reason=unreachable)
                return
            app = at_new.placed[key].application
            request = ReconcileRequest(app, req.fleet.repositories[app.source.repository],
                                       req.fleet.clusters[key[1]], trigger=Trigger.MANUAL, sync=False)
            try:
                result = reconcile(request, ports)
            except Exception as exc:  # reconcile reports GitOpsError itself; anything else keeps offline
                log.exception("server-side dry-run of %s@%s failed", key[0], key[1])
                decided[key] = replace(pair, reason=f"server-side dry-run failed ({type(exc).__name__})")
                return
            if result.failure is not None:
                decided[key] = replace(pair, reason=f"server-side dry-run failed ({result.failure.kind}): "
                                                    f"{diff.cut(result.failure.message, 300)}")
                return
            objects, text = diff.from_dry_run(result)
            decided[key] = replace(pair, mode=Mode.DRY_RUN, reason="", objects=objects, diff=text)

        _parallel(one, wanted, req.workers)


def probe_cluster(ports: Ports, cluster: domain.Cluster) -> str | None:
    """None when ``cluster`` answers (one GET of the default namespace; Forbidden and NotFound are
    answers), else why not: ``cluster unreachable (<error kind>)``."""
    try:
        ports.clusters.connect(cluster).get(ObjectRef("", "Namespace", "", "default", "v1"))
    except (Forbidden, NotFound):
        return None
    except GitOpsError as exc:
        return f"cluster unreachable ({type(exc).__name__})"
    return None


def plan_fleet(request: PlanRequest) -> FleetPlan:
    """The plan of every pair (see the module docstring); raises GitOpsError only when a side cannot be
    read at all (the plan itself failed)."""
    return Planner(request).run()
