"""The pure matching of pushes to targets: URL identity, refs, changed paths, and the reasons given when
nothing matches."""

from __future__ import annotations

import pytest
from webhook_kit import webhook_fleet

from gitops.domain import Application, AppSource, Destination, Fleet, Repository
from web.webhooks.match import Push, affected, clean_path, follows, identity, match

SAME = "github.com/codertocat/hello-world"


@pytest.mark.parametrize("url", [
    "git@github.com:Codertocat/Hello-World.git",
    "git@github.com:Codertocat/Hello-World",
    "git@GitHub.COM:codertocat/hello-world.git/",
    "ssh://git@github.com:22/Codertocat/Hello-World",
    "ssh://git@github.com/Codertocat/Hello-World.git",
    "ssh://github.com:2222/Codertocat/Hello-World.git",
    "git+ssh://git@github.com/Codertocat/Hello-World.git",
    "https://github.com/Codertocat/Hello-World",
    "https://github.com/Codertocat/Hello-World.git",
    "https://github.com/Codertocat/Hello-World/",
    "https://github.com/Codertocat/Hello-World.git/",
    "https://GITHUB.com./Codertocat//Hello-World.git",
    "https://github.com:443/Codertocat/Hello-World.git",
    "https://x-access-token@github.com/Codertocat/Hello-World.git",
    "http://github.com/Codertocat/Hello-World.git",
    "git://github.com/Codertocat/Hello-World.git",
])
def test_every_spelling_of_a_repository_has_one_identity(url: str) -> None:
    assert identity(url) == SAME


@pytest.mark.parametrize(("url", "expected"), [
    ("https://github.com/Codertocat/Other.git", "github.com/codertocat/other"),
    ("https://gitlab.example.com/group/sub/project.git", "gitlab.example.com/group/sub/project"),
    ("ssh://git@[2001:db8::1]:22/org/repo.git", "2001:db8::1/org/repo"),
    ("git@[2001:db8::1]:org/repo.git", "2001:db8::1/org/repo"),
    ("file:///srv/Git/Demo.git", "file:/srv/Git/Demo"),
    ("file://localhost/srv/Git/Demo/", "file:/srv/Git/Demo"),
    ("/srv/Git/Demo", "file:/srv/Git/Demo"),
    ("https://github.com/", None),
    ("https://github.com", None),
    ("git@github.com:", None),
    ("", None),
    ("not a url", None),
    ("relative/path", None),
    ("https://[bad/x", None),
    ("https://h/x\n", None),
    ("https://h/" + "a" * 3000, None),
])
def test_identity(url: str, expected: str | None) -> None:
    assert identity(url) == expected


HELLO = ("https://github.com/Codertocat/Hello-World.git",)


def _push(ref: str = "refs/heads/main", paths: frozenset[str] | None = None, *, default: str | None = None,
          deleted: bool = False, urls: tuple[str, ...] = HELLO) -> Push:
    return Push(urls=urls, ref=ref, after="a" * 40, paths=paths, deleted=deleted, default_branch=default)


@pytest.mark.parametrize(("revision", "ref", "default", "expected"), [
    ("main", "refs/heads/main", None, True),
    ("refs/heads/main", "refs/heads/main", None, True),
    ("main", "refs/heads/maintenance", None, False),
    ("main", "refs/tags/main", None, True),          # a tag named like the branch: refreshing is harmless
    ("v1.0.0", "refs/tags/v1.0.0", None, True),
    ("refs/tags/v1.0.0", "refs/tags/v1.0.0", None, True),
    ("v1.0.0", "refs/tags/v1.0.1", None, False),
    ("refs/tags/v1.0.0", "refs/heads/v1.0.0", None, False),
    ("HEAD", "refs/heads/main", "main", True),
    ("HEAD", "refs/heads/dev", "main", False),
    ("HEAD", "refs/heads/dev", None, True),           # default unknown: every branch may be it
    ("HEAD", "refs/tags/v1", None, False),
    ("f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "refs/heads/main", None, False),  # pinned to a commit
])
def test_follows(revision: str, ref: str, default: str | None, expected: bool) -> None:
    assert follows(revision, _push(ref, default=default)) is expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("apps/web/deploy.yaml", "apps/web/deploy.yaml"),
    ("/apps/web/deploy.yaml", "apps/web/deploy.yaml"),
    ("apps/./web//deploy.yaml", "apps/web/deploy.yaml"),
    ("apps/../base/x.yaml", "base/x.yaml"),
    ("../../etc/passwd", None),
    ("..", None),
    (".", None),
    ("", None),
    ("a\x00b", None),
    ("x" * 5000, None),
    (5, None),
])
def test_clean_path(raw: object, expected: str | None) -> None:
    assert clean_path(raw) == expected


def _apps(*paths: str) -> list[Application]:
    return [Application(f"app-{i}", AppSource("hello", p), Destination("prod")) for i, p in enumerate(paths)]


def test_affected_follows_the_workers_rule() -> None:
    apps = _apps("apps/web", "apps/api", "apps/webhooks")

    def names(found: list[Application]) -> list[str]:
        return [a.name for a in found]

    assert names(affected(apps, frozenset({"apps/web/deploy.yaml"}))) == ["app-0"]
    assert names(affected(apps, frozenset({"apps/web"}))) == ["app-0"]                  # the path itself
    assert names(affected(apps, frozenset({"apps/webhooks/x.yaml"}))) == ["app-2"]      # not a prefix match
    assert names(affected(apps, frozenset({"apps/web/a", "apps/api/b"}))) == ["app-0", "app-1"]
    assert names(affected(apps, frozenset({"apps/web/a", "base/common.yaml"}))) == ["app-0", "app-1", "app-2"]
    assert names(affected(apps, frozenset({"README.md"}))) == ["app-0", "app-1", "app-2"]
    assert names(affected(apps, None)) == ["app-0", "app-1", "app-2"]
    assert names(affected(apps, frozenset())) == ["app-0", "app-1", "app-2"]
    root = _apps(".", "apps/api")
    assert names(affected(root, frozenset({"apps/web/a"}))) == ["app-0"]                 # the root holds all


def _keys(found: object) -> list[str]:
    return sorted(h.key for h in found.hits)  # type: ignore[attr-defined]


def test_a_push_touching_one_app_path_hits_only_that_app() -> None:
    found = match(webhook_fleet(), [_push(paths=frozenset({"apps/api/deployment.yaml"}))])
    assert _keys(found) == ["api@prod"]
    assert found.repositories == ("hello",)
    assert found.reasons == ("1 application(s) of repository hello on branch main hold none of the changed "
                             "paths: web",)
    assert found.hits[0].repository == "hello" and found.hits[0].ref == "refs/heads/main"


def test_a_shared_path_hits_every_app_of_the_repository_on_that_ref() -> None:
    found = match(webhook_fleet(), [_push(paths=frozenset({"bases/common/labels.yaml"}))])
    assert _keys(found) == ["api@prod", "web@prod"]  # not api-staging (branch staging), not web-v1 (a tag)
    assert found.reasons == ()


def test_unknown_paths_hit_every_app_on_the_ref() -> None:
    assert _keys(match(webhook_fleet(), [_push()])) == ["api@prod", "web@prod"]


def test_another_branch_and_a_tag() -> None:
    fleet = webhook_fleet()
    staging = _push("refs/heads/staging", frozenset({"apps/api/x"}))
    assert _keys(match(fleet, [staging])) == ["api-staging@staging"]
    assert _keys(match(fleet, [_push("refs/tags/v1.0.0")])) == ["web-v1@prod"]
    none = match(fleet, [_push("refs/heads/feature/x")])
    assert none.hits == ()
    assert none.reasons == ("branch feature/x of repository hello is not followed by any application (they "
                            "follow main, staging, v1.0.0)",)


def test_another_repository_is_unaffected() -> None:
    found = match(webhook_fleet(), [_push(urls=("git@github.com:Codertocat/Other.git",))])
    assert _keys(found) == ["other-app@prod"]


def test_no_repository_matched_names_the_url_redacted() -> None:
    found = match(webhook_fleet(), [_push(urls=("https://user:pa55@github.com/someone/else.git",
                                                "git@github.com:someone/else.git"))])
    assert found.hits == ()
    assert found.reasons == ("no repository matched the URL https://***@github.com/someone/else.git, "
                             "git@github.com:someone/else.git",)
    assert "pa55" not in str(found)
    assert match(webhook_fleet(), [_push(urls=())]).reasons == ("the payload names no repository URL",)


def test_a_deleted_branch_is_ignored() -> None:
    found = match(webhook_fleet(), [_push(deleted=True)])
    assert found.hits == () and found.reasons == ("branch main was deleted: nothing to refresh",)


def test_a_receiver_restricted_to_other_repositories() -> None:
    found = match(webhook_fleet(), [_push()], allowed=frozenset({"other"}))
    assert found.hits == ()
    assert found.reasons == ("repository hello matched, but this receiver may not trigger it "
                             "(spec.repositories)",)
    assert _keys(match(webhook_fleet(), [_push()], allowed=frozenset({"hello"}))) == ["api@prod", "web@prod"]


def test_a_repository_without_applications() -> None:
    fleet = Fleet({"lonely": Repository("lonely", "https://github.com/Codertocat/Hello-World")}, {}, {})
    assert match(fleet, [_push()]).reasons == ("repository lonely has no applications",)


def test_two_repositories_with_one_url_and_several_pushes() -> None:
    repos = {"a": Repository("a", "git@github.com:org/mono.git", ref="main"),
             "b": Repository("b", "https://github.com/org/mono", ref="release")}
    apps = {"x": Application("x", AppSource("a", "x"), Destination("prod")),
            "y": Application("y", AppSource("b", "y"), Destination("prod")),
            "z": Application("z", AppSource("b", "z", revision="main"), Destination("staging"))}
    fleet = Fleet(repos, {}, apps)
    urls = ("https://github.com/org/mono.git",)
    found = match(fleet, [_push("refs/heads/main", frozenset({"x/a"}), urls=urls),
                          _push("refs/heads/release", None, urls=urls),
                          _push("refs/heads/main", frozenset({"x/b"}), urls=urls)])
    # x: repository a on main, path x. z: repository b pinned to main; among b's applications on main, x/a
    # is outside every path (a shared change, as far as b knows). y: release. Each target once.
    assert [h.key for h in found.hits] == ["x@prod", "z@staging", "y@prod"]
    assert found.repositories == ("a", "b")
