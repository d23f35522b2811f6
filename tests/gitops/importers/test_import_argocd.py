"""``gitops import argocd``: Argo CD manifests (after Argo CD's documentation) convert into documents
that ``gitops validate`` accepts and ``to_fleet`` turns into the expected values; every field that does
not map is reported with its document and path (exit 1); hostile input exits 2 or is reported."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.appset import Generated, Inputs, generate, render_applications
from gitops.cli import main
from gitops.config import load_config, to_fleet
from gitops.domain import Fleet
from gitops.importers import convert
from gitops.testing.gittree import FakeGitTree
from tests.gitops.importers.argo_inputs import (
    CLUSTER_APPSET,
    CLUSTER_SECRETS,
    DIRECTORY_APP,
    GIT_APPSET,
    HELM_APP,
    KUSTOMIZE_APP,
    LIST_APPSET,
    LOSSY_APP,
    LOSSY_FIELDS,
    LOSSY_PROJECT,
    MATRIX_APPSET,
    MERGE_APPSET,
    PROJECT,
    REPO_SECRETS,
)

Capsys = pytest.CaptureFixture[str]


class Run:
    def __init__(self, code: int, out: str, err: str, config: Path) -> None:
        self.code, self.out, self.err, self.config = code, out, err, config

    def fleet(self) -> Fleet:
        return to_fleet(load_config(self.config))

    def losses(self) -> set[tuple[str, str]]:
        found = set()
        for line in self.err.splitlines():
            if line.startswith("loss: "):
                document, field, _ = line[len("loss: "):].split(": ", 2)
                found.add((document, field))
        return found


Runner = Callable[..., Run]


@pytest.fixture
def run(tmp_path: Path, capsys: Capsys) -> Runner:
    def go(text: str, *extra: str) -> Run:
        source = tmp_path / "argo.yaml"
        source.write_text(text)
        code = main(["import", "argocd", str(source), *extra])
        captured = capsys.readouterr()
        config = tmp_path / "converted.yaml"
        config.write_text(captured.out)
        return Run(code, captured.out, captured.err, config)
    return go


def validate(capsys: Capsys, path: Path) -> str:
    assert main(["validate", "-c", str(path)]) == 0, capsys.readouterr().out
    return capsys.readouterr().out


def test_a_helm_application_converts_exactly(run: Runner, capsys: Capsys) -> None:
    result = run(HELM_APP)
    assert result.code == 0, result.err
    assert "exact" in result.err and "loss:" not in result.err
    assert "valid: 1 Repository, 1 Cluster, 1 Application" in validate(capsys, result.config)
    fleet = result.fleet()
    app = fleet.applications["guestbook"]
    assert app.source.repository == "argocd-example-apps"
    assert (app.source.path, app.source.revision, app.source.renderer) == ("helm-guestbook", "v1.4.0", "helm")
    assert app.source.options["values_files"] == ["values-prod.yaml"]
    assert app.source.options["release_name"] == "guestbook"
    # values < parameters, typed as Helm's --set types them (forceString keeps a string)
    assert app.source.options["values"] == {
        "ingress": {"enabled": True, "hosts": ["guestbook.example.com"],
                    "annotations": {"kubernetes.io/tls-acme": "true"}},
        "replicaCount": 3, "image": {"tag": "1.4.0"}, "service": {"enabled": False}}
    policy = app.sync_policy
    assert (policy.automated, policy.prune, policy.self_heal, policy.allow_empty) == (True, True, True, False)
    assert (policy.retry.limit, policy.retry.backoff_seconds, policy.retry.factor,
            policy.retry.max_backoff_seconds) == (5, 5.0, 2.0, 180.0)
    [rule] = app.ignore_differences
    assert (rule.group, rule.kind, rule.json_pointers) == ("apps", "Deployment", ("/spec/replicas",))
    assert app.destination.namespace == "guestbook"
    assert app.labels == {"team": "web", "argocd.argoproj.io/project": "default"}
    cluster = fleet.clusters[app.destination.cluster]
    assert cluster.name == "in-cluster"
    assert "in-cluster" in result.out and "/var/run/secrets/kubernetes.io/serviceaccount/token" in result.out
    assert "sync hooks need no conversion" in result.err


def test_a_kustomize_application_with_respected_manager_rules_is_exact(run: Runner, capsys: Capsys) -> None:
    result = run(KUSTOMIZE_APP)
    assert result.code == 0, result.err
    validate(capsys, result.config)
    app = result.fleet().applications["kustomize-guestbook"]
    assert app.source.renderer == "kustomize" and app.source.revision is None
    assert app.destination.cluster == "in-cluster"
    assert app.sync_policy.automated is False
    assert app.ignore_differences[0].managers == ("kube-controller-manager",)


def test_a_directory_application_keeps_recurse_and_globs(run: Runner, capsys: Capsys) -> None:
    result = run(DIRECTORY_APP)
    assert result.code == 0, result.err
    validate(capsys, result.config)
    fleet = result.fleet()
    app = fleet.applications["plain-guestbook"]
    assert app.source.renderer == "plain"
    assert app.source.options == {"recursive": True, "include": ["*.yaml", "*.yml"],
                                  "exclude": ["test-*.yaml"]}
    assert app.sync_policy.automated and not app.sync_policy.prune
    assert fleet.repositories[app.source.repository].url == "git@github.com:example/platform.git"
    # a cluster Argo CD knew by server only: a Cluster with a token reference to provide
    assert "tokenEnv: CLUSTER_10_0_0_1_TOKEN" in result.out
    assert "# set CLUSTER_10_0_0_1_TOKEN to a bearer token" in result.out


def test_every_field_that_does_not_map_is_reported_and_exits_1(run: Runner, capsys: Capsys) -> None:
    result = run(LOSSY_APP)
    assert result.code == 1
    assert result.losses() == LOSSY_FIELDS
    options = ("Validate=false", "CreateNamespace=true", "PrunePropagationPolicy=foreground",
               "PruneLast=true")
    for option in options:
        assert option in result.err
    assert "NOT exact: 11 field(s)" in result.err  # four sync options
    # what could be converted still is, and validates
    validate(capsys, result.config)
    app = result.fleet().applications["guestbook"]
    assert app.sync_policy.retry.limit == 1000
    assert app.ignore_differences[0].json_pointers == ("/spec/replicas",)


def test_an_application_without_a_tool_is_reported_as_guessed(run: Runner) -> None:
    block = ("    directory:\n      recurse: true\n      include: '{*.yaml,*.yml}'\n"
             "      exclude: 'test-*.yaml'\n")
    result = run(DIRECTORY_APP.replace(block, ""))
    assert result.code == 1
    assert result.losses() == {("Application/plain-guestbook", "spec.source")}
    assert "converted as renderer plain" in result.err


def test_a_list_applicationset_generates_the_same_applications(run: Runner, capsys: Capsys) -> None:
    result = run(LIST_APPSET)
    assert result.code == 0, result.err
    validate(capsys, result.config)
    assert main(["appset", "preview", "-c", str(result.config), "-o", "json"]) == 0
    [preview] = json.loads(capsys.readouterr().out)["applicationSets"]
    apps = {a["name"]: a for a in preview["applications"]}
    assert set(apps) == {"engineering-dev-guestbook", "engineering-prod-guestbook"}
    fleet = result.fleet()
    servers = {c.name: c.server for c in fleet.clusters.values()}
    assert servers[apps["engineering-dev-guestbook"]["cluster"]] == "https://1.2.3.4"
    assert servers[apps["engineering-prod-guestbook"]["cluster"]] == "https://2.4.6.8"
    assert apps["engineering-prod-guestbook"]["path"] == \
        "applicationset/examples/list-generator/guestbook/engineering-prod"


def test_a_cluster_applicationset_and_cluster_secrets(run: Runner, capsys: Capsys) -> None:
    result = run(CLUSTER_SECRETS + "---\n" + CLUSTER_APPSET)
    # Argo CD's cluster names may be DNS subdomains; ours are labels, so the generated names change
    assert result.code == 1
    assert result.losses() == {("Secret/mycluster-secret", "stringData.name")}
    validate(capsys, result.config)
    # credentials are references, never copied
    secrets = ("SECRET-CLUSTER-TOKEN-123", "SECRET-STAGING-TOKEN", "U0VDUkVULUNBLURBVEE=", "SECRET-CA-DATA")
    for secret in secrets:
        assert secret not in result.out and secret not in result.err
    fleet = result.fleet()
    prod = fleet.clusters["mycluster-example-com"]
    assert prod.labels == {"env": "prod"}
    assert "tokenEnv: CLUSTER_MYCLUSTER_EXAMPLE_COM_TOKEN" in result.out
    assert "caFile: certs/mycluster-example-com-ca.crt" in result.out
    assert fleet.clusters["staging"].labels == {"env": "staging"}
    assert main(["appset", "preview", "-c", str(result.config), "-o", "json"]) == 0
    [appset] = json.loads(capsys.readouterr().out)["applicationSets"]
    [app] = appset["applications"]
    assert (app["name"], app["cluster"], app["path"]) == ("mycluster-example-com-guestbook",
                                                         "mycluster-example-com", "guestbook/prod")


def test_a_git_directory_applicationset_maps_path_parameters(run: Runner, capsys: Capsys) -> None:
    result = run(GIT_APPSET)
    assert result.code == 0, result.err
    validate(capsys, result.config)
    appset = load_config(result.config).application_sets["cluster-addons"]
    assert appset.template.metadata is not None and appset.template.metadata.name == "{{ path.basename }}"
    assert appset.template.spec["destination"]["namespace"] == "{{ path.segments[3] }}"
    git = appset.generators[0].git
    assert git is not None and [(d.path, d.exclude) for d in git.directories] == [
        ("applicationset/examples/git-generator-directory/cluster-addons/*", False),
        ("applicationset/examples/git-generator-directory/cluster-addons/exclude-this", True)]


def test_an_appproject_sync_windows_become_sync_windows(run: Runner, capsys: Capsys) -> None:
    apps = HELM_APP.replace("name: guestbook\n  namespace", "name: payments-prod\n  namespace").replace(
        "project: default", "project: my-project")
    result = run(PROJECT + "---\n" + apps)
    assert result.code == 0, result.err
    validate(capsys, result.config)
    fleet = result.fleet()
    windows = dict(fleet.sync_windows)
    assert set(windows) == {"my-project-window-1", "my-project-window-2-apps", "my-project-window-2-clusters",
                            "my-project-window-3"}
    first = windows["my-project-window-1"]
    assert (first.kind, first.schedule, first.duration_seconds, first.manual_sync) == ("allow", "10 1 * * *",
                                                                                       3600.0, True)
    assert first.applications.names == ("*-prod",)
    assert first.applications.match_labels == {"argocd.argoproj.io/project": "my-project"}
    assert windows["my-project-window-2-clusters"].clusters.names == ("in-cluster",)
    assert windows["my-project-window-2-apps"].time_zone == "Europe/Paris"
    assert windows["my-project-window-3"].schedule == "0 0 * * *"
    assert fleet.applications["payments-prod"].labels["argocd.argoproj.io/project"] == "my-project"


def test_what_an_appproject_restricts_is_reported(run: Runner, capsys: Capsys) -> None:
    result = run(LOSSY_PROJECT)
    assert result.code == 1
    assert result.losses() == {("AppProject/my-project", "spec.sourceRepos"),
                               ("AppProject/my-project", "spec.destinations[0]"),
                               ("AppProject/my-project", "spec.roles"),
                               ("AppProject/my-project", "spec.syncWindows[0].namespaces")}
    assert "docs/access-control.md" in result.err


def test_repository_credentials_are_references_never_copies(run: Runner, capsys: Capsys) -> None:
    result = run(REPO_SECRETS)
    assert result.code == 0, result.err
    for secret in ("SECRET-PASSWORD-456", "SECRET-KEY-MATERIAL-789", "SECRET-TEMPLATE-PASSWORD", "OPENSSH"):
        assert secret not in result.out and secret not in result.err
    validate(capsys, result.config)
    fleet = result.fleet()
    private = fleet.repositories["private-repo"]
    assert "passwordEnv: REPO_PRIVATE_REPO_PASSWORD" in result.out
    assert "# set REPO_PRIVATE_REPO_PASSWORD to the password of Argo CD secret private-repo" in result.out
    assert private.url == "https://github.com/example/private-repo.git"
    assert "sshKeyEnv: REPO_SSH_REPO_SSH_KEY" in result.out
    # the credential template applies to the repositories under its URL
    assert "passwordEnv: REPO_CREDS_ORG_CREDS_PASSWORD" in result.out
    assert "Argo CD checks ssh host keys" in result.err


def test_output_directory_one_file_per_kind_never_overwritten(run: Runner, tmp_path: Path,
                                                               capsys: Capsys) -> None:
    out = tmp_path / "converted"
    result = run(PROJECT + "---\n" + HELM_APP + "---\n" + LIST_APPSET, "-o", str(out))
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["applications.yaml", "applicationsets.yaml",
                                                     "clusters.yaml", "repositories.yaml", "syncwindows.yaml"]
    validate(capsys, out)
    again = run(HELM_APP, "-o", str(out))
    assert again.code == 2 and "not overwritten" in again.err


# --- hostile input ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("kind: [unclosed\n", "invalid YAML"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n", "alias"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n", "not an Argo CD object"),
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: other}\nstringData: {password: x}\n",
     "not an Argo CD object"),
    ("- just\n- a list\n", "not a mapping"),
    ("a: " + "[" * 300 + "]" * 300 + "\n", "nest"),
    ("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\nspec: nope\n", "spec"),
    ("!!python/object/apply:os.system ['true']\n", "YAML"),
    ("# nothing\n", "no Argo CD objects"),
])
def test_malformed_or_foreign_input_exits_2(run: Runner, text: str, message: str) -> None:
    result = run(text)
    assert result.code == 2 and result.out == ""
    assert message in result.err, result.err


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path: Path, capsys: Capsys) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    assert main(["import", "argocd", str(big)]) == 2
    assert "over the limit" in capsys.readouterr().err


def test_a_fifo_or_a_symlink_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert main(["import", "argocd", str(fifo)]) == 2
    assert "not a regular file" in capsys.readouterr().err
    real = tmp_path / "real.yaml"
    real.write_text(HELM_APP)
    (tmp_path / "link.yaml").symlink_to(real)
    assert main(["import", "argocd", str(tmp_path / "link.yaml")]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert main(["import", "argocd", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["import", "argocd", str(tmp_path)]) == 2  # a directory is not a file
    assert "Is a directory" in capsys.readouterr().err


def test_names_that_are_not_dns_labels_are_sanitised_and_reported(run: Runner, capsys: Capsys) -> None:
    text = HELM_APP.replace("name: guestbook\n  namespace: argocd",
                            "name: Guest_Book.v2\n  namespace: argocd")
    text += "---\n" + CLUSTER_SECRETS.replace("name: mycluster.example.com", "name: My Cluster!")
    text = text.replace("server: https://kubernetes.default.svc", "name: My Cluster!")
    result = run(text)
    assert result.code == 1
    assert ("Application/Guest_Book.v2", "metadata.name") in result.losses()
    validate(capsys, result.config)
    fleet = result.fleet()
    assert fleet.applications["guest-book-v2"].destination.cluster == "my-cluster"


PROD_SECRETS = CLUSTER_SECRETS.replace("name: mycluster.example.com", "name: prod") + "---\n"
INJECTION = ["{{ 7*7 }}", "{% for x in range(99999999) %}x{% endfor %}", "{#", "}}{{", "'\"\\", "${HOME}",
             "{{ ''.__class__.__mro__ }}"]


def test_template_injection_in_values_stays_data(run: Runner, capsys: Capsys) -> None:
    elements = "".join(f"      - cluster: c{i}\n        note: {json.dumps(v)}\n"
                       for i, v in enumerate(INJECTION))
    appset = f"""\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: inject}}
spec:
  generators:
  - list:
      elements:
{elements}  template:
    metadata:
      name: 'app-{{{{cluster}}}}'
      labels: {{literal: '{{{{unknown}}}}'}}
    spec:
      source:
        repoURL: https://github.com/example/apps.git
        path: 'apps/{{{{cluster}}}}'
        helm:
          valuesObject:
            note: '{{{{note}}}}'
            raw: "{{% raw %}}{{{{ 1 + 1 }}}}{{# c #}}"
      destination: {{server: https://kubernetes.default.svc, namespace: x}}
"""
    result = run(appset)
    assert result.code == 0, result.err
    validate(capsys, result.config)
    assert main(["appset", "preview", "-c", str(result.config), "-o", "json"]) == 0, capsys.readouterr()
    [generated] = json.loads(capsys.readouterr().out)["applicationSets"]
    assert len(generated["applications"]) == len(INJECTION)
    config = load_config(result.config)
    fleet = to_fleet(config)
    appset = config.application_sets["inject"]
    rendered = render_applications(appset, generate(appset, Inputs(fleet, FakeGitTree({}))), fleet)
    notes = {r.application.name: r.application.source.options["values"] for r in rendered
             if isinstance(r, Generated)}
    for i, value in enumerate(INJECTION):
        assert notes[f"app-c{i}"]["note"] == value  # the parameter's text, never evaluated
        assert notes[f"app-c{i}"]["raw"] == "{% raw %}{{ 1 + 1 }}{# c #}"  # literal text stays literal


def test_the_converter_is_pure_and_a_plain_application_keeps_helm_templates_as_data() -> None:
    from renderers import yamlio

    text = HELM_APP.replace("enabled: true\n", "enabled: true\n          tpl: '{{ .Values.x }}'\n")
    docs = yamlio.load_all(text)
    first = convert(docs)
    second = convert(docs)
    assert first == second and first.exact
    [app] = [d for d in first.documents if d.kind == "Application"]
    assert app.body["spec"]["source"]["options"]["values"]["ingress"]["tpl"] == "{{ .Values.x }}"


def test_a_matrix_with_go_templates_and_a_rolling_sync(run: Runner, capsys: Capsys) -> None:
    result = run(PROD_SECRETS + MATRIX_APPSET)
    assert result.code == 0, result.err
    validate(capsys, result.config)
    appset = load_config(result.config).application_sets["addons"]
    assert appset.template.metadata is not None
    assert appset.template.metadata.name == "{{ name }}-{{ path.basename }}"
    assert appset.template.metadata.labels["env"] == "{{ labels['env'] }}"
    assert appset.template.spec["source"]["path"] == "{{ path }}"
    assert appset.template.spec["destination"] == {"cluster": "{{ name }}",
                                                   "namespace": "{{ path.basename }}"}
    matrix = appset.generators[0].matrix
    assert matrix is not None and [g.kind for g in matrix.generators] == ["clusters", "git"]
    rolling = appset.strategy.rolling_sync
    assert appset.strategy.type == "RollingSync" and rolling is not None
    selected = [s.clusters.match_expressions[0].values for s in rolling.steps if s.clusters]
    assert selected == [["staging"], ["prod"]]
    assert [s.max_concurrent for s in rolling.steps] == [None, 2]
    assert rolling.bake_seconds == 0
    assert "applications no step selects" in result.err


def test_a_rolling_sync_over_other_labels_and_go_functions_are_reported(run: Runner, capsys: Capsys) -> None:
    text = MATRIX_APPSET.replace("""env: '{{index .metadata.labels "env"}}'""", "tier: web").replace(
        "maxUpdate: 2", "maxUpdate: 50%").replace("'{{.name}}-{{.path.basename}}'", "'{{.name | lower}}'")
    result = run(text)
    assert result.code == 1
    steps = "spec.strategy.rollingSync.steps"
    assert result.losses() == {("ApplicationSet/addons", f"{steps}[0].matchExpressions"),
                               ("ApplicationSet/addons", f"{steps}[1].matchExpressions"),
                               ("ApplicationSet/addons", f"{steps}[1].maxUpdate"),
                               ("ApplicationSet/addons", "spec.template.metadata.name")}
    assert "'{{.name | lower}}' has no exact equivalent" in result.err
    validate(capsys, result.config)


def test_a_merge_generator_and_parameters_from_templates(run: Runner, capsys: Capsys) -> None:
    result = run(PROD_SECRETS + MERGE_APPSET)
    assert result.code == 1
    assert result.losses() == {("ApplicationSet/merged",
                                "spec.template.spec.source.helm.parameters[1].value")}
    # a merge's later children may not fill a parameter for every set: said, not a loss
    assert "'{{replicas}}': an element without this parameter is an error here" in result.err
    validate(capsys, result.config)
    appset = load_config(result.config).application_sets["merged"]
    merge = appset.generators[0].merge
    assert merge is not None and merge.merge_keys == ["name"]
    values = appset.template.spec["source"]["options"]["values"]
    assert values["replicas"] == "{{ replicas }}"
    # a Helm template in a parameter is not a parameter reference: kept as literal text
    assert values["image"]["tag"] == "{{ '{{ .Values.tag | default \"x\" }}' }}"
    assert appset.template.spec["destination"]["cluster"] == "{{ name }}"
    assert main(["appset", "preview", "-c", str(result.config), "-o", "json"]) == 0
    [generated] = json.loads(capsys.readouterr().out)["applicationSets"]
    # a clusters generator without a selector includes the local cluster, as Argo CD's does
    assert [a["name"] for a in generated["applications"]] == ["web-in-cluster", "web-prod", "web-staging"]


def test_names_cannot_inject_yaml_or_terminal_escapes(run: Runner, capsys: Capsys) -> None:
    hostile = REPO_SECRETS.replace("name: private-repo\n", 'name: "x\\napiVersion: gitops.dev/v1alpha1\\n'
                                                           'kind: Cluster\\n\\u001b[31m"\n', 1)
    hostile += "---\n" + CLUSTER_SECRETS.replace('"bearerToken"', '"deep": ' + "[" * 5000 + "]" * 5000
                                                 + ', "bearerToken"', 1)
    result = run(hostile)
    assert result.code == 1
    assert "\x1b" not in result.out and "\x1b" not in result.err
    assert "\\x0aapiVersion" in result.out  # the newline of the name stays inside the comment
    validate(capsys, result.config)
    assert set(result.fleet().clusters) == {"in-cluster", "mycluster-example-com", "staging"}
    assert ("Secret/mycluster-secret", "stringData.config") in result.losses()  # not JSON we can read


def test_a_window_names_a_renamed_cluster_by_its_new_name(run: Runner, capsys: Capsys) -> None:
    project = PROJECT.replace("      - in-cluster\n      - cluster1\n", "      - mycluster.example.com\n")
    result = run(CLUSTER_SECRETS + "---\n" + project)
    validate(capsys, result.config)
    assert result.fleet().sync_windows["my-project-window-3"].clusters.names == ("mycluster-example-com",)


def test_what_our_rules_refuse_is_left_out_with_what_depends_on_it(run: Runner, capsys: Capsys) -> None:
    text = HELM_APP.replace("https://github.com/argoproj/argocd-example-apps.git",
                            "http://git.example.com/apps.git")  # plain http off loopback: refused here
    text += "---\n" + GIT_APPSET.replace("https://github.com/argoproj/argo-cd.git",
                                         "ext::sh -c touch% /tmp/pwned")
    text = text.replace("prune: true", 'prune: "true"')
    result = run(text)
    assert result.code == 1
    losses = result.losses()
    assert {("Repository/apps", "spec.url"), ("Application/guestbook", "spec"),
            ("Repository/pwned", "spec.url"), ("ApplicationSet/cluster-addons", "spec"),
            ("Application/guestbook", "spec.syncPolicy.automated.prune")} <= losses
    assert "hunter2" not in result.out and "hunter2" not in result.err
    validate(capsys, result.config)


def test_argo_cd_configmaps_are_reported_with_where_their_content_goes(run: Runner) -> None:
    argocd_cm = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-cm, namespace: argocd}
data:
  resource.customizations.health.example.com_Widget: |
    hs = {}
    hs.status = "Healthy"
    return hs
"""
    result = run(argocd_cm + "---\n" + HELM_APP)
    assert result.code == 1
    assert result.losses() == {("ConfigMap/argocd-cm", "data")}
    assert "healthCheckExprs, docs/health.md" in result.err


def test_what_kubectl_get_prints_converts(run: Runner, capsys: Capsys) -> None:
    """``kubectl get applications -n argocd -o yaml``: a v1 List, with status and server-set metadata."""
    items = "".join("- " + doc.replace("\n", "\n  ").rstrip() + "\n" for doc in (HELM_APP, KUSTOMIZE_APP))
    listing = f"""\
apiVersion: v1
kind: List
metadata: {{resourceVersion: ""}}
items:
{items}"""
    listing = listing.replace("  namespace: argocd\n", "  namespace: argocd\n    uid: 3f1c\n"
                              "    resourceVersion: '123'\n    generation: 4\n", 1)
    listing = listing.replace("      - /spec/replicas\n", "      - /spec/replicas\n  status:\n"
                              "    sync: {status: Synced}\n    health: {status: Healthy}\n", 1)
    result = run(listing)
    assert result.code == 0, result.err
    validate(capsys, result.config)
    assert set(result.fleet().applications) == {"guestbook", "kustomize-guestbook"}
    assert "uid" not in result.out and "Synced" not in result.out


def test_notification_subscriptions_become_notifications(run: Runner, capsys: Capsys) -> None:
    annotations = """\
  annotations:
    notifications.argoproj.io/subscribe.on-sync-failed.slack: alerts;oncall
    notifications.argoproj.io/subscribe.on-health-degraded.slack: alerts
    notifications.argoproj.io/subscribe.on-sync-running.slack: alerts
"""
    text = HELM_APP.replace("  labels: {team: web}\n", "  labels: {team: web}\n" + annotations)
    text += "---\n" + KUSTOMIZE_APP.replace("  namespace: argocd\n", "  namespace: argocd\n  annotations:\n"
                                            "    notifications.argoproj.io/subscribe.on-sync-failed.slack: "
                                            "alerts\n", 1)
    result = run(text)
    assert result.code == 1  # message templates are not converted; on-sync-running has no event
    assert "the trigger 'on-sync-running' has no equivalent event" in result.err
    validate(capsys, result.config)
    by_name = dict(result.fleet().notifications)
    assert set(by_name) == {"slack-alerts", "slack-alerts-2", "slack-oncall"}
    failed = [n for n in by_name.values() if tuple(n.events) == ("SyncFailed",)]
    assert {tuple(n.applications.names) for n in failed} == {("guestbook", "kustomize-guestbook"),
                                                            ("guestbook",)}
    assert "urlRef:\n      env: NOTIFY_SLACK_ALERTS_URL" in result.out
    assert "# set NOTIFY_SLACK_ALERTS_URL to an Apprise URL for slack recipient alerts" in result.out


def test_credentials_written_in_a_url_become_a_reference(run: Runner, capsys: Capsys) -> None:
    text = HELM_APP.replace("https://github.com/argoproj/argocd-example-apps.git",
                            "https://deploy:hunter2@git.example.com/apps.git")
    text += "---\n" + DIRECTORY_APP.replace("git@github.com:example/platform.git",
                                             "https://ghp_TOKEN123@git.example.com/platform.git")
    result = run(text)
    assert result.code == 0, result.err
    for secret in ("hunter2", "ghp_TOKEN123"):
        assert secret not in result.out and secret not in result.err
    validate(capsys, result.config)
    fleet = result.fleet()
    assert fleet.repositories["apps"].url == "https://git.example.com/apps.git"
    assert "passwordEnv: REPO_APPS_PASSWORD" in result.out and "username: deploy" in result.out
    assert "tokenEnv: REPO_PLATFORM_TOKEN" in result.out
    assert "credentials written in the URL were removed" in result.err
