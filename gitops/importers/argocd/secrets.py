"""Argo CD's repository, credential-template and cluster Secrets -> credentials *references*.

Part of :class:`gitops.importers.argocd.Converter`. Key design choice: a Secret's values are read only
to find the URL, the server and the name; every credential becomes the name of an environment
variable or a file to provide, announced in a comment, and its value never reaches the output or the
report.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from gitops.importers.argocd.base import (
    IN_CLUSTER,
    SECRET_TYPE,
    CredsTemplate,
    Registry,
    as_map,
    dns_label,
    env_name,
    normal_url,
)


class Secrets(Registry):
    """Repository, repo-creds and cluster Secrets -> credential references on Repositories and Clusters."""

    def _secret_values(self, doc: dict[str, Any], ident: str) -> dict[str, str]:
        values: dict[str, str] = {}
        for key, raw in as_map(doc.get("data")).items():
            try:
                values[key] = base64.b64decode(str(raw), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                self.loss(ident, f"data.{key}", "is not valid base64 UTF-8 text; ignored")
        for key, raw in as_map(doc.get("stringData")).items():
            values[key] = str(raw)
        return values

    def _secret(self, doc: dict[str, Any]) -> None:
        meta = as_map(doc["metadata"])
        kind = as_map(meta.get("labels"))[SECRET_TYPE]
        ident = f"Secret/{meta['name']}"
        values = self._secret_values(doc, ident)
        if kind == "cluster":
            self._cluster_secret(ident, meta, values)
        else:
            self._repo_secret(ident, str(meta["name"]), values, template=kind == "repo-creds")

    def _repo_secret(self, ident: str, secret: str, values: dict[str, str], *, template: bool) -> None:
        url = values.get("url", "")
        if not url:
            self.loss(ident, "stringData.url", "missing: the secret names no repository; not converted")
            return
        if values.get("type", "git") != "git":
            self.loss(ident, "stringData.type", "only Git repositories are sources here (Helm charts are "
                                                 "rendered from a Git repository); not converted")
            return
        handled = {"url", "type", "name", "username", "password", "sshPrivateKey", "insecure"}
        self.unhandled(ident, "stringData", values, handled, "has no equivalent here (credentials are not "
                                                            "copied); not converted")
        ssh = not url.startswith(("http://", "https://"))
        repo = None if template else self._repository(url, ident, "stringData.url")
        if not template and repo is None:
            return
        prefix = env_name("REPO_CREDS", dns_label(secret)) if repo is None else env_name("REPO", repo.name)
        creds: dict[str, Any] = {}
        comments: list[str] = []
        if "sshPrivateKey" in values:
            creds["sshKeyEnv"] = f"{prefix}_SSH_KEY"
            comments.append(f"set {prefix}_SSH_KEY to the private key of Argo CD secret {secret} "
                            "(key sshPrivateKey); it was not copied")
        if values.get("insecure") == "true":
            if ssh:
                creds["insecureIgnoreHostKey"] = True
            else:
                self.loss(ident, "stringData.insecure", "skipping TLS verification of a Git server is not "
                                                       "supported; not converted")
        if "password" in values:
            if ssh:
                self.loss(ident, "stringData.password", "a password with an ssh URL has no equivalent")
            elif "username" in values:
                creds["username"] = values["username"]
                creds["passwordEnv"] = f"{prefix}_PASSWORD"
                comments.append(f"set {prefix}_PASSWORD to the password of Argo CD secret {secret} "
                                "(key password); it was not copied")
            else:
                creds["tokenEnv"] = f"{prefix}_TOKEN"
                comments.append(f"set {prefix}_TOKEN to the password (a token) of Argo CD secret {secret}; "
                                "it was not copied")
                self.loss(ident, "stringData.password", "a password without username is sent as a token "
                                                       "here; check that the Git server accepts it")
        if ssh and "sshPrivateKey" in values and values.get("insecure") != "true":
            self.note(ident, "", "Argo CD checks ssh host keys against argocd-ssh-known-hosts-cm: give "
                                 "credentials.knownHostsFile (else ~/.ssh/known_hosts of the engine is used)")
        if repo is None:
            self.creds.append(CredsTemplate(normal_url(url), creds, tuple(comments)))
            return
        repo.credentials = creds or None
        repo.comments = comments

    def _cluster_secret(self, ident: str, meta: dict[str, Any], values: dict[str, str]) -> None:
        server = values.get("server", "")
        if not server:
            self.loss(ident, "stringData.server", "missing; not converted")
            return
        handled = {"name", "server", "config"}
        self.unhandled(ident, "stringData", values, handled, "restricts or configures the cluster in a way "
                                                            "that has no equivalent here; not converted")
        raw_name = values.get("name") or server
        cluster = self._cluster(server=server, name=raw_name, ident=ident, path="stringData.name")
        labels = {k: str(v) for k, v in as_map(meta.get("labels")).items() if k != SECRET_TYPE}
        cluster.labels.update(labels)
        cluster.annotations.update({k: str(v) for k, v in as_map(meta.get("annotations")).items()})
        if server.rstrip("/") == IN_CLUSTER:
            return
        try:
            config = json.loads(values.get("config", "{}") or "{}")
        except (ValueError, RecursionError):
            self.loss(ident, "stringData.config", "is not JSON; ignored")
            config = {}
        config = as_map(config)
        tls = as_map(config.get("tlsClientConfig"))
        self.unhandled(ident, "stringData.config", config, {"bearerToken", "tlsClientConfig"},
                       "has no equivalent here (only a bearer token and a CA); not converted")
        self.unhandled(ident, "stringData.config.tlsClientConfig", tls, {"caData", "insecure", "serverName"},
                       "client certificates have no equivalent here; not converted")
        if tls.get("serverName"):
            self.loss(ident, "stringData.config.tlsClientConfig.serverName",
                      "has no equivalent; not converted")
        if tls.get("insecure") is True:
            cluster.spec["insecureSkipTlsVerify"] = True
        elif tls.get("caData"):
            path = f"certs/{cluster.name}-ca.crt"
            cluster.spec["caFile"] = path
            cluster.comments.append(f"write the CA of Argo CD secret {meta['name']} (config.tlsClientConfig."
                                    f"caData, base64-decoded) to {path}; it was not copied")
