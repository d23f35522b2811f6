"""The bounded YAML loader: ordinary documents load, hostile ones are refused by cheap guards (before
the step they spare) with located errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from renderers import yamlio
from renderers.errors import RenderError


def bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_multi_document_stream_drops_empty_documents() -> None:
    assert yamlio.load_all("a: 1\n---\n---\nb: [1, 2]\n", "f.yaml") == [{"a": 1}, {"b": [1, 2]}]


def test_alias_bomb_is_refused_before_expansion(monkeypatch: pytest.MonkeyPatch,
                                                forbid: Callable[..., list[str]]) -> None:
    loaded: list[object] = []
    real_load_all = yaml.load_all

    def load_all(*args: object, **kwargs: object) -> list[object]:
        loaded.extend(real_load_all(*args, **kwargs))  # type: ignore[arg-type]
        return loaded

    monkeypatch.setattr(yaml, "load_all", load_all)
    called = forbid((yamlio, "tree_size"))  # the walk that would visit every expanded node
    with pytest.raises(RenderError) as err:
        yamlio.load_all(bomb(), "bomb.yaml")
    assert called == []
    [doc] = loaded  # each alias is the anchored list itself: the count never copied anything out
    assert all(child is doc["a7"] for child in doc["a8"]) and all(child is doc["a0"] for child in doc["a1"])
    assert err.value.path == "bomb.yaml"
    assert err.value.message == (f"YAML aliases expand to more than {yamlio.MAX_NODES} nodes in one file "
                                 "(alias bomb?)")


@pytest.mark.parametrize("text", ["spec: &s [*s]\n", "a: &a {b: *a}\n", "x: &x [1, {y: [*x]}]\n"])
def test_recursive_aliases_rejected(text: str) -> None:
    with pytest.raises(RenderError, match="refers to itself"):
        yamlio.load_all(text, "loop.yaml")


def test_shared_aliases_in_sibling_positions_are_not_cycles() -> None:
    doc = yamlio.load("a: &a {k: 1}\nb: [*a, *a, {c: *a}]\n")
    assert doc["b"][2] == {"c": {"k": 1}}


def test_small_aliases_are_fine() -> None:
    doc = yamlio.load("base: &b {x: 1}\nother: *b\n")
    assert doc == {"base": {"x": 1}, "other": {"x": 1}}


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    "{a: " * 5_000 + "1" + "}" * 5_000,
    "- " * 300 + "x\n",
    "".join(" " * (2 * i) + f"k{i}:\n" for i in range(200)) + " " * 400 + "v: 1\n",
])
def test_deep_nesting_rejected_without_crashing(text: str) -> None:
    with pytest.raises(RenderError, match="nested deeper"):
        yamlio.load_all(text, "deep.yaml")


class _StrictLibyaml(yamlio._Loader):  # type: ignore[name-defined,misc]
    """A libyaml loader that, like libyaml releases that cap nesting, refuses deep flow nesting with a
    message of its own before emitting a single event."""

    def __init__(self, stream: str) -> None:
        if stream.count("[") > 60:
            raise yaml.YAMLError("some library's own wording about nesting")
        super().__init__(stream)


def test_our_depth_check_wins_whatever_libyaml_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "_Loader", _StrictLibyaml)
    with pytest.raises(RenderError, match=f"nested deeper than {yamlio.MAX_DEPTH} levels") as err:
        yamlio.load_all("spec: " + "[" * 5_000 + "]" * 5_000 + "\n", "deep.yaml")
    assert (err.value.path, err.value.line) == ("deep.yaml", 1)
    # a malformed document that is not too deep still gets its located syntax error
    with pytest.raises(RenderError) as err:
        yamlio.load_all("a: " + "[" * 70 + "\n b: }\n", "bad.yaml")
    assert err.value.path == "bad.yaml" and err.value.line == 2 and "nested" not in err.value.message


def test_size_limit_and_binary_content() -> None:
    with pytest.raises(RenderError, match="over the limit"):
        yamlio.load_all("a: 1\n" * 100, "big.yaml", max_bytes=100)
    with pytest.raises(RenderError, match="not UTF-8"):
        yamlio.load_all(b"\xff\xfe\x00garbage", "bin.yaml")
    with pytest.raises(RenderError, match="NUL"):
        yamlio.load_all("a: \x00", "nul.yaml")


def test_malformed_yaml_names_file_and_line() -> None:
    with pytest.raises(RenderError) as err:
        yamlio.load_all("ok: 1\nbad: [1, 2\n", "broken.yaml")
    assert err.value.path == "broken.yaml"
    assert err.value.line == 3
    assert str(err.value).startswith("broken.yaml:3:")


def test_load_refuses_several_documents() -> None:
    with pytest.raises(RenderError, match="expected one YAML document"):
        yamlio.load("a: 1\n---\nb: 2\n", "two.yaml")


def test_dump_sorts_keys_like_kubectl() -> None:
    out = yamlio.dump_all([{"kind": "A", "apiVersion": "v1"}, {"b": 1, "a": [1]}])
    assert out == "apiVersion: v1\nkind: A\n---\na:\n- 1\nb: 1\n"


def _document(i: int, levels: int = 5) -> str:
    """One document whose aliases expand to about 10**levels nodes (under the per-file limit alone)."""
    lines = [f"kind: D{i}", 'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{k}: &a{k} [{','.join([f'*a{k - 1}'] * 10)}]" for k in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_expansion_is_bounded_per_file_not_per_document() -> None:
    one = _document(0)
    assert len(yamlio.load_all(one, "one.yaml")) == 1
    many = "---\n".join(_document(i) for i in range(12))  # 12 x ~111k nodes: over 1M for the file
    with pytest.raises(RenderError, match="alias") as err:
        yamlio.load_all(many, "many.yaml")
    assert err.value.path == "many.yaml"


def test_yaml_nodes_add_up_across_files_of_one_render() -> None:
    from renderers.budget import Budget, BudgetExceeded, metering

    with metering(Budget(max_yaml_nodes=250_000)):
        yamlio.load_all(_document(0), "a.yaml")
        yamlio.load_all(_document(1), "b.yaml")
        with pytest.raises(BudgetExceeded, match=r"YAML node budget \(250000 nodes\)") as err:
            yamlio.load_all(_document(2), "c.yaml")
    assert err.value.path == "c.yaml" and err.value.budget == "max_yaml_nodes"
    with metering(Budget(max_yaml_nodes=2000)):
        plain_text = "items:\n" + "".join(f"- {{name: n{i}, value: {i}}}\n" for i in range(1000))
        with pytest.raises(BudgetExceeded, match="YAML node budget"):
            yamlio.load_all(plain_text, "plain.yaml")
