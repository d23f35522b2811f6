"""Image references: Docker's normalisation, each component's grammar, hostile input, and policy globs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops.errors import InputError
from gitops.verify.reference import MAX_NAME, ImageRef, check_digest, parse

SHA256 = "sha256:" + "a" * 64
SHA512 = "sha512:" + "b" * 128


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), [
    ("nginx", "docker.io", "library/nginx", None, None),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
    ("docker.io/nginx", "docker.io", "library/nginx", None, None),
    ("index.docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", None),
    ("org/app", "docker.io", "org/app", None, None),
    ("docker.io/org/app/sub", "docker.io", "org/app/sub", None, None),
    ("library/a/b", "docker.io", "library/a/b", None, None),
    ("ghcr.io/org/app:v1.2.3", "ghcr.io", "org/app", "v1.2.3", None),
    ("localhost/app", "localhost", "app", None, None),
    ("localhost:5000/team/app:dev", "localhost:5000", "team/app", "dev", None),
    ("registry.example.com:443/a/b/c", "registry.example.com:443", "a/b/c", None, None),
    ("[::1]:5000/app", "[::1]:5000", "app", None, None),
    ("MyRegistry/app", "MyRegistry", "app", None, None),  # a capital makes it a registry (Docker's rule)
    ("localhost:5000", "docker.io", "library/localhost", "5000", None),  # one component: name:tag
    (f"nginx@{SHA256}", "docker.io", "library/nginx", None, SHA256),
    (f"ghcr.io/org/app:v1@{SHA512}", "ghcr.io", "org/app", "v1", SHA512),
    ("docker.io/a.b/c", "docker.io", "a.b/c", None, None),
    ("a_b__c-d---e/x", "docker.io", "a_b__c-d---e/x", None, None),
    ("app:_tag", "docker.io", "library/app", "_tag", None),
])
def test_parses_and_normalises_like_docker(text: str, registry: str, repository: str, tag: str | None,
                                           digest: str | None) -> None:
    ref = parse(text)
    assert ref == ImageRef(registry, repository, tag, digest)
    assert parse(ref.canonical) == ref == parse(ref.familiar)


@pytest.mark.parametrize(("text", "familiar", "canonical"), [
    ("docker.io/library/nginx:1", "nginx:1", "docker.io/library/nginx:1"),
    ("index.docker.io/org/app", "org/app", "docker.io/org/app"),
    ("library/a/b", "library/a/b", "docker.io/library/a/b"),
    ("ghcr.io/x/y", "ghcr.io/x/y", "ghcr.io/x/y"),
    ("docker.io/a.b/c", "docker.io/a.b/c", "docker.io/a.b/c"),  # 'a.b/c' would name registry a.b
    (f"busybox@{SHA256}", f"busybox@{SHA256}", f"docker.io/library/busybox@{SHA256}"),
])
def test_familiar_and_canonical_forms(text: str, familiar: str, canonical: str) -> None:
    ref = parse(text)
    assert (ref.familiar, ref.canonical) == (familiar, canonical)


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("Nginx", "must be lowercase"),
    ("docker.io/Org/app", "must be lowercase"),
    ("ghcr.io/org/App:v1", "must be lowercase"),
    ("ghcr.io/org/../app", "invalid path component"),
    ("ghcr.io/org/./app", "invalid path component"),
    ("ghcr.io//app", "empty path component"),
    ("ghcr.io/app/", "empty path component"),
    ("/app", "empty path component"),
    ("org/app-", "invalid path component"),
    ("org/a..b", "invalid path component"),
    ("org/a___b", "invalid path component"),
    ("nginx:", "a tag is"),
    ("nginx:.hidden", "a tag is"),
    ("nginx:-x", "a tag is"),
    ("nginx:" + "t" * 129, "a tag is"),
    ("nginx@sha256:abc", "a sha256 digest is 64"),
    ("nginx@sha256:" + "A" * 64, "a sha256 digest is 64"),
    ("nginx@sha512:" + "a" * 64, "a sha512 digest is 128"),
    ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("nginx@" + "a" * 64, "a digest is ALGORITHM:HEX"),
    (f"nginx@{SHA256}@{SHA256}", "more than one '@'"),
    ("a" * 64, "image ID"),
    ("nginx\x00:1", "control"),
    ("nginx 1", "whitespace"),
    ("nginx\n", "whitespace"),
    ("ngïnx", "non-ASCII"),
    ("-bad.host/app", "invalid registry host"),
    ("a.b_c/x", "invalid registry host"),  # '.' makes it a registry, and '_' is no host character
    ("host.-x/app", "invalid registry host"),
    ("host.com:port/app", "invalid registry host"),
    (":tag", "no repository name"),
    ("ghcr.io/" + "/".join(["abcdefgh"] * 40), "must not be more than 255"),
    ("x" * 5000, "longer than 1024"),
])
def test_refuses_invalid_references_naming_them(text: str, why: str) -> None:
    with pytest.raises(InputError) as info:
        parse(text)
    message = info.value.problem.message
    assert why in message
    assert message.startswith("invalid image reference ") and len(message) < 400
    assert "\x00" not in message and "\n" not in message


def test_a_non_string_is_refused() -> None:
    with pytest.raises(InputError, match="must be a string, not int"):
        parse(42)


def test_the_longest_name_is_accepted_and_one_more_is_not() -> None:
    repository = "a" * (MAX_NAME - len("ghcr.io/"))
    assert parse(f"ghcr.io/{repository}").name == f"ghcr.io/{repository}"
    with pytest.raises(InputError, match="255"):
        parse(f"ghcr.io/{repository}a")


def test_the_constructor_only_holds_normalised_references() -> None:
    for args in (("docker.io", "nginx"), ("index.docker.io", "org/app"), ("myhost", "app"),
                 ("ghcr.io", "Org/app"), ("ghcr.io", "app", ".x"), ("ghcr.io", "app", None, "sha256:1")):
        with pytest.raises(InputError):
            ImageRef(*args)


def test_with_digest_pins_and_keeps_the_tag() -> None:
    ref = parse("nginx:1.25")
    pinned = ref.with_digest(SHA256)
    assert pinned.familiar == f"nginx:1.25@{SHA256}" and pinned.digest == SHA256 and ref.digest is None
    with pytest.raises(InputError, match="sha256 digest"):
        ref.with_digest("sha256:xyz")
    assert check_digest(SHA512) == SHA512


def test_pull_tag() -> None:
    assert parse("nginx").pull_tag == "latest"
    assert parse("nginx:1").pull_tag == "1"
    assert parse(f"nginx@{SHA256}").pull_tag is None
    assert parse(f"nginx:1@{SHA256}").pull_tag == "1"


@pytest.mark.parametrize(("glob", "image", "expected"), [
    ("nginx", "nginx:1.25", True),
    ("nginx", "docker.io/library/nginx", True),
    ("docker.io/library/nginx", "nginx", True),
    ("index.docker.io/nginx", "nginx", True),
    ("*", "nginx", True),  # one component: an official Docker Hub image
    ("*", "org/app", False),
    ("docker.io/*", "busybox", True),
    ("org/*", "org/app", True),
    ("org/*", "org/app/sub", False),
    ("org/**", "org/app/sub", True),
    ("**", "ghcr.io/any/thing:v1", True),
    ("**", "localhost:5000/app", True),
    ("ghcr.io/org/*", "ghcr.io/org/app", True),
    ("ghcr.io/org/*", "ghcr.io/org/team/app", False),
    ("ghcr.io/org/**", "ghcr.io/org/team/app", True),
    ("ghcr.io/org/**", "ghcr.io/org2/app", False),
    ("ghcr.io/org/**", "ghcr.io/org", False),
    ("GHCR.IO/org/*", "ghcr.io/org/app", True),  # registries compare without case
    ("ghcr.io/org/*", "GHCR.io/org/app", True),
    ("*/org/app", "quay.io/org/app", True),
    ("*/org/app", "localhost:5000/org/app", True),
    ("*.example.com/**", "r1.example.com/a/b", True),
    ("*.example.com/**", "example.com/a/b", False),
    ("ghcr.io/org/app-*", "ghcr.io/org/app-web", True),
    ("ghcr.io/org/app:v1.*", "ghcr.io/org/app:v1.2", True),
    ("ghcr.io/org/app:v1.*", "ghcr.io/org/app:v2.0", False),
    ("ghcr.io/org/app:v1.*", f"ghcr.io/org/app@{SHA256}", False),  # pinned only by digest: no tag
    ("ghcr.io/org/app:v1", f"ghcr.io/org/app:v1@{SHA256}", True),
    ("nginx:latest", "nginx", True),  # no tag, no digest: latest
    ("localhost:5000/*", "localhost:5000/app", True),
    ("localhost:5000/*", "localhost:5001/app", False),
])
def test_globs(glob: str, image: str, expected: bool) -> None:
    assert parse(image).matches(glob) is expected


@pytest.mark.parametrize("glob", ["", "a//b", "/a", "a/", "***", "ghcr.io/Org/*", "a@sha256:x", "a b",
                                  "ghcr.io/a:b/c", "x" * 600, "a:.bad"])
def test_invalid_globs_are_input_errors(glob: str) -> None:
    with pytest.raises(InputError, match="invalid image glob"):
        parse("nginx").matches(glob)


def test_glob_matching_does_not_backtrack() -> None:
    glob = "ghcr.io/" + "*a" * 60 + "b"
    image = parse("ghcr.io/" + "a" * 200)
    assert image.matches(glob) is False  # a backtracking matcher takes ages here


# --- properties ---------------------------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_separator = st.sampled_from([".", "_", "__", "-", "--"])
_component = st.builds(lambda first, rest: first + "".join(s + a for s, a in rest), _alnum,
                       st.lists(st.tuples(_separator, _alnum), max_size=2))
_host_label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
_registry = st.one_of(
    st.just("docker.io"),
    st.just("localhost"),
    st.builds(lambda labels, port: ".".join(labels) + port,
              st.lists(_host_label, min_size=2, max_size=3),
              st.sampled_from(["", ":5000", ":443"])),
    st.builds(lambda label, port: label + port, _host_label, st.just(":8080")),
).filter(lambda r: r.lower() != "index.docker.io")
_tag = st.from_regex(r"[\w][\w.-]{0,20}", fullmatch=True).filter(str.isascii)
_digest = st.one_of(st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256:".__add__),
                    st.text("0123456789abcdef", min_size=128, max_size=128).map("sha512:".__add__))


@st.composite
def image_refs(draw: st.DrawFn) -> ImageRef:
    registry = draw(_registry)
    components = draw(st.lists(_component, min_size=2 if registry == "docker.io" else 1, max_size=4))
    return ImageRef(registry, "/".join(components), draw(st.none() | _tag), draw(st.none() | _digest))


@given(image_refs())
def test_parse_of_canonical_and_familiar_is_the_same_reference(ref: ImageRef) -> None:
    assert parse(ref.canonical) == ref
    assert parse(ref.familiar) == ref
    assert ref.matches(ref.name) and ref.matches("**")
    if ref.digest is None:  # the familiar form, tag included, is a glob matching the image it names
        assert ref.matches(ref.familiar)


@given(st.text(max_size=300))
def test_any_text_parses_or_is_an_input_error(text: str) -> None:
    try:
        ref = parse(text)
    except InputError as exc:
        assert exc.problem.message.startswith("invalid image reference")
    else:
        assert parse(ref.canonical) == ref


# Cases distribution/reference's own tests hold (ParseNormalizedNamed): the same verdicts here.
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
DOCKER_VALID = [
    "docker/docker", "library/debian", "debian", "docker.io/docker/docker", "docker.io/library/debian",
    "docker.io/debian", "index.docker.io/docker/docker", "index.docker.io/library/debian",
    "index.docker.io/debian", "127.0.0.1:5000/docker/docker", "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian", "192.168.0.1", "192.168.0.1:80", "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian", "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker", "[fc00::1]:5000/docker/docker", "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    f"docker.io/{HEX64}", "Docker/docker", "DOCKER/docker", "docker-rules/docker", "docker---rules/docker",
    "d/docker", "jess/t", "dock__er/docker", "test_com/foo", "test-com:8080/foo", "xn--n3h.com:18080/foo",
    "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
]
DOCKER_INVALID = [
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker", "docker.io/docker/Docker", "docker.io/docker///docker", "[fc00::1]", "[fc00::1]:5000",
    "fc00::1:5000/debian", "[fe80::1%eth0]:5000/debian", "[2001:db8:3:4::192.0.2.33]:5000/debian", HEX64,
    "docker-/docker", "-docker-/docker", "____/____", "_docker/_docker", "dock..er/docker", "dock_.er/docker",
    "dock-.er/docker", "docker/", "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4
    + "/docker",
]


@pytest.mark.parametrize("text", DOCKER_VALID)
def test_what_docker_accepts(text: str) -> None:
    assert parse(parse(text).canonical) == parse(text)


@pytest.mark.parametrize("text", DOCKER_INVALID)
def test_what_docker_refuses(text: str) -> None:
    with pytest.raises(InputError):
        parse(text)


@pytest.mark.parametrize(("text", "familiar", "canonical"), [
    ("index.docker.io/fooo/bar", "fooo/bar", "docker.io/fooo/bar"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu"),
    ("other/library", "other/library", "docker.io/other/library"),
    ("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase"),
    ("index.docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base"),
    ("docker.io/library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar"),
    ("Foo/bar", "Foo/bar", "Foo/bar"),
])
def test_familiar_and_full_names_as_docker_prints_them(text: str, familiar: str, canonical: str) -> None:
    assert (parse(text).familiar, parse(text).canonical) == (familiar, canonical)
