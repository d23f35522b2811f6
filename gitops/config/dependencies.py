"""``spec.dependsOn`` of an ``Application``: the applications it waits for, and the cycle check.

``DependencyRef`` is validated here; the loader (:mod:`gitops.config.loader`) checks that each names a
configured application deployed to the cluster it means, that none names the application itself, and
that the graph has no cycle (:func:`find_cycle`, here rather than in gitops.permit because the
configuration sits below it and refuses cycles at load). gitops.permit.dependencies decides readiness
(docs/dependencies.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gitops.config.fields import Model, Name

MAX_DEPENDENCIES = 32  # entries of one dependsOn list


class DependencyRef(Model):
    """One entry of ``dependsOn``: an application, on this application's cluster unless ``cluster``."""

    name: Name
    """The Application depended on."""
    cluster: Name | None = None
    """Its cluster (default: this application's cluster)."""


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle of ``graph`` (application -> the applications it depends on) as a closed path
    ``[a, b, c, a]`` (print it with ``" -> ".join``), or None. Deterministic (names in sorted order),
    iterative (no recursion limit), linear in the size of the graph; edges to unknown names are
    ignored."""
    edges = {name: sorted(set(deps)) for name, deps in graph.items()}
    done: set[str] = set()
    for root in sorted(edges):
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root: 0}
        stack = [iter(edges[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                done.add(finished)
                del on_path[finished]
                continue
            if nxt in on_path:
                return [*path[on_path[nxt]:], nxt]
            if nxt in done or nxt not in edges:
                continue
            on_path[nxt] = len(path)
            path.append(nxt)
            stack.append(iter(edges[nxt]))
    return None
