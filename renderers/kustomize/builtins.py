"""Built-in field-spec tables: where Kustomize's built-in transformers read and write by default.

Callers: :mod:`renderers.kustomize.config` (the transformer configuration of a build). The tables
follow the behaviour of Kustomize v5.5's defaults, expressed in our own compact form: a referrer is
``"Kind[.group][@version]:path"``; pod-template paths are generated once per workload kind instead of
being spelled out.
"""

from __future__ import annotations

from typing import Final

from renderers.kustomize.fieldspec import FieldSpec
from renderers.kustomize.resource import Gvk

POD_SPEC: Final = {"Pod@v1": "spec", "PodTemplate": "template/spec", "Deployment": "spec/template/spec",
                   "ReplicaSet": "spec/template/spec", "DaemonSet": "spec/template/spec",
                   "StatefulSet": "spec/template/spec", "Job": "spec/template/spec",
                   "CronJob": "spec/jobTemplate/spec/template/spec"}
WORKLOADS: Final = {"Pod": "spec", "StatefulSet": "spec/template/spec", "Deployment": "spec/template/spec",
                    "ReplicationController": "spec/template/spec",
                    "CronJob": "spec/jobTemplate/spec/template/spec", "Job": "spec/template/spec",
                    "DaemonSet": "spec/template/spec"}
_CM_IN_POD = ("volumes/configMap/name", "containers/env/valueFrom/configMapKeyRef/name",
              "initContainers/env/valueFrom/configMapKeyRef/name", "containers/envFrom/configMapRef/name",
              "initContainers/envFrom/configMapRef/name", "volumes/projected/sources/configMap/name")
_SECRET_IN_POD = ("volumes/secret/secretName", "containers/env/valueFrom/secretKeyRef/name",
                  "initContainers/env/valueFrom/secretKeyRef/name", "containers/envFrom/secretRef/name",
                  "initContainers/envFrom/secretRef/name", "imagePullSecrets/name",
                  "volumes/projected/sources/secret/name")


def _in_pods(paths: tuple[str, ...], kinds: dict[str, str]) -> list[str]:
    return [f"{kind}:{base}/{p}" for kind, base in kinds.items() for p in paths]


NAME_REFERENCES: Final[dict[str, list[str]]] = {
    **{k: ["HorizontalPodAutoscaler:spec/scaleTargetRef/name"]
       for k in ("Deployment", "ReplicationController", "ReplicaSet", "StatefulSet")},
    "ConfigMap@v1": [*_in_pods(_CM_IN_POD, POD_SPEC), "Node:spec/configSource/configMap",
                     "Role:rules/resourceNames", "ClusterRole:rules/resourceNames",
                     "Ingress:metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap"],
    "Secret@v1": [*_in_pods(_SECRET_IN_POD, POD_SPEC), "Ingress:spec/tls/secretName",
                  "Ingress:metadata/annotations/ingress.kubernetes.io\\/auth-secret",
                  "Ingress:metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
                  "Ingress:metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
                  "ServiceAccount:imagePullSecrets/name", "StorageClass:parameters/secretName",
                  "StorageClass:parameters/adminSecretName", "StorageClass:parameters/userSecretName",
                  "StorageClass:parameters/secretRef", "Role:rules/resourceNames",
                  "ClusterRole:rules/resourceNames",
                  "Service.serving.knative.dev@v1:spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
                  "PersistentVolume:spec/azureFile/secretName"],
    "Service@v1": ["StatefulSet.apps:spec/serviceName", "Ingress:spec/rules/http/paths/backend/serviceName",
                   "Ingress:spec/backend/serviceName", "Ingress:spec/rules/http/paths/backend/service/name",
                   "Ingress:spec/defaultBackend/service/name",
                   "APIService.apiregistration.k8s.io:spec/service/name",
                   "ValidatingWebhookConfiguration.admissionregistration.k8s.io:webhooks/clientConfig/service",
                   "MutatingWebhookConfiguration.admissionregistration.k8s.io:webhooks/clientConfig/service",
                   "HTTPRoute:spec/rules/backendRefs/name"],
    "Role.rbac.authorization.k8s.io": ["RoleBinding.rbac.authorization.k8s.io:roleRef/name"],
    "ClusterRole.rbac.authorization.k8s.io": ["RoleBinding.rbac.authorization.k8s.io:roleRef/name",
                                              "ClusterRoleBinding.rbac.authorization.k8s.io:roleRef/name"],
    "ServiceAccount@v1": ["RoleBinding.rbac.authorization.k8s.io:subjects",
                          "ClusterRoleBinding.rbac.authorization.k8s.io:subjects",
                          *[f"{k}:{p}/serviceAccountName" for k, p in WORKLOADS.items()]],
    "PersistentVolumeClaim@v1": [f"{k}:{p}/volumes/persistentVolumeClaim/claimName"
                                 for k, p in WORKLOADS.items()],
    "PersistentVolume@v1": ["PersistentVolumeClaim:spec/volumeName", "ClusterRole:rules/resourceNames"],
    "StorageClass.storage.k8s.io@v1": ["PersistentVolume:spec/storageClassName",
                                       "PersistentVolumeClaim:spec/storageClassName",
                                       "StatefulSet:spec/volumeClaimTemplates/spec/storageClassName"],
    "PriorityClass.scheduling.k8s.io@v1": [f"{k}:{p}/priorityClassName" for k, p in WORKLOADS.items()],
    "IngressClass.networking.k8s.io/v1@v1": ["Ingress:spec/ingressClassName"],
    "ValidatingAdmissionPolicy.admissionregistration.k8s.io": [
        "ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io:spec/policyName"],
}

_TEMPLATE_META: Final = {"ReplicationController@v1": "spec/template/metadata",
                         "Deployment": "spec/template/metadata",
                         "ReplicaSet": "spec/template/metadata", "DaemonSet": "spec/template/metadata",
                         "StatefulSet.apps": "spec/template/metadata", "Job.batch": "spec/template/metadata",
                         "CronJob.batch": "spec/jobTemplate/metadata"}
_AFFINITY = ("spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/"
             "podAffinityTerm/labelSelector/matchLabels",
             "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
             "labelSelector/matchLabels",
             "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/"
             "podAffinityTerm/labelSelector/matchLabels",
             "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
             "labelSelector/matchLabels",
             "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels")

TEMPLATE_LABELS: Final = ["!:metadata/labels",
                          *[f"!{k}:{p}/labels" for k, p in _TEMPLATE_META.items()],
                          "!StatefulSet.apps:spec/volumeClaimTemplates[]/metadata/labels",
                          "!CronJob.batch:spec/jobTemplate/spec/template/metadata/labels"]
COMMON_LABELS: Final = [
    "!Service@v1:spec/selector", "!ReplicationController@v1:spec/selector",
    "!Deployment:spec/selector/matchLabels", *[f"Deployment.apps:{p}" for p in _AFFINITY],
    "!ReplicaSet:spec/selector/matchLabels", "!DaemonSet:spec/selector/matchLabels",
    "!StatefulSet.apps:spec/selector/matchLabels",
    "!StatefulSet.apps:spec/volumeClaimTemplates[]/metadata/labels",
    *[f"StatefulSet.apps:{p}" for p in _AFFINITY],
    "Job.batch:spec/selector/matchLabels", "CronJob.batch:spec/jobTemplate/spec/selector/matchLabels",
    "PodDisruptionBudget.policy:spec/selector/matchLabels",
    "NetworkPolicy.networking.k8s.io:spec/podSelector/matchLabels",
    "NetworkPolicy.networking.k8s.io:spec/ingress/from/podSelector/matchLabels",
    "NetworkPolicy.networking.k8s.io:spec/egress/to/podSelector/matchLabels",
    *TEMPLATE_LABELS]
COMMON_ANNOTATIONS: Final = ["!:metadata/annotations",
                             *[f"!{k}:{p}/annotations" for k, p in _TEMPLATE_META.items()],
                             "!CronJob.batch:spec/jobTemplate/spec/template/metadata/annotations"]
NAMESPACE: Final = ["!APIService.apiregistration.k8s.io:spec/service/namespace",
                    "CustomResourceDefinition.apiextensions.k8s.io:"
                    "spec/conversion/webhook/clientConfig/service/namespace"]
NAME_PREFIX: Final = ["!:metadata/name"]
REPLICAS: Final = [f"!{k}:spec/replicas" for k in ("Deployment", "ReplicationController", "ReplicaSet",
                                                     "StatefulSet")]
_VAR_FIELDS = ("containers/args", "containers/command", "containers/env/value",
               "containers/volumeMounts/mountPath",
               "initContainers/args", "initContainers/command", "initContainers/env/value",
               "initContainers/volumeMounts/mountPath")
# Kustomize's varReference field specs, quirks included: Deployment alone has its template's
# annotations, a CronJob's NFS server path lacks the template's "spec", a StatefulSet's is in its claim
# templates.
VAR_REFERENCES: Final = [*[f"{k}:{p}/{f}" for k, p in {**POD_SPEC, "Pod": "spec"}.items()
                           if k not in ("Pod@v1", "PodTemplate") for f in _VAR_FIELDS],
                         *[f"{k}:{p}/volumes/nfs/server" for k, p in POD_SPEC.items()
                           if k not in ("Pod@v1", "PodTemplate", "StatefulSet", "CronJob")],
                         "Pod:spec/volumes/nfs/server",
                         "CronJob:spec/jobTemplate/spec/template/volumes/nfs/server",
                         "StatefulSet:spec/volumeClaimTemplates/spec/nfs/server",
                         "PersistentVolume:spec/nfs/server", "Deployment:spec/template/metadata/annotations",
                         "Ingress:spec/rules/host", "Ingress:spec/tls/hosts", "Ingress:spec/tls/secretName",
                         "Service:spec/ports/port", "Service:spec/ports/targetPort", ":metadata/labels",
                         ":metadata/annotations"]


def parse_gvk(text: str) -> Gvk:
    """``Kind[.group][@version]`` (the group may itself contain dots)."""
    text, _, version = text.partition("@")
    kind, _, group = text.partition(".")
    return Gvk(group, version, kind)


def spec(entry: str) -> FieldSpec:
    """``[!]Kind[.group][@version]:path`` (``!`` = create missing fields)."""
    create = entry.startswith("!")
    target, _, path = entry.lstrip("!").partition(":")
    return FieldSpec(path, parse_gvk(target), create)


def specs(entries: list[str]) -> list[FieldSpec]:
    return [spec(e) for e in entries]
