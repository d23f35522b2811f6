"""Argo CD manifests for the importer tests, shaped after Argo CD's documentation
(operator-manual/application.yaml, project.yaml, argocd-repositories.yaml, declarative-setup.md,
applicationset generators): the fields a real installation sets."""

from __future__ import annotations

HELM_APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
  labels: {team: web}
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: v1.4.0
    path: helm-guestbook
    helm:
      releaseName: guestbook
      valueFiles:
      - values-prod.yaml
      values: |
        ingress:
          enabled: true
          hosts: [guestbook.example.com]
      parameters:
      - name: "ingress.annotations.kubernetes\\\\.io/tls-acme"
        value: "true"
        forceString: true
      - name: replicaCount
        value: "3"
      - name: image.tag
        value: "1.4.0"
      - name: service.enabled
        value: "false"
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    syncOptions:
    - ServerSideApply=true
    retry:
      limit: 5
      backoff:
        duration: 5s
        factor: 2
        maxDuration: 3m
  ignoreDifferences:
  - group: apps
    kind: Deployment
    jsonPointers:
    - /spec/replicas
"""

KUSTOMIZE_APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: kustomize-guestbook
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: kustomize-guestbook
    kustomize: {}
  destination:
    name: in-cluster
    namespace: kustomize-guestbook
  syncPolicy:
    syncOptions:
    - RespectIgnoreDifferences=true
  ignoreDifferences:
  - group: apps
    kind: Deployment
    managedFieldsManagers:
    - kube-controller-manager
"""

DIRECTORY_APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: plain-guestbook
  namespace: argocd
spec:
  project: default
  source:
    repoURL: git@github.com:example/platform.git
    targetRevision: main
    path: guestbook
    directory:
      recurse: true
      include: '{*.yaml,*.yml}'
      exclude: 'test-*.yaml'
  destination:
    server: https://10.0.0.1:6443
    namespace: guestbook
  syncPolicy:
    automated: {}
"""

# Argo CD's operator-manual/application.yaml, abridged: a field of every kind that does not map
LOSSY_APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
  finalizers:
    - resources-finalizer.argocd.argoproj.io
  annotations:
    notifications.argoproj.io/subscribe.on-sync-succeeded.slack: my-channel
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: guestbook
    kustomize:
      namePrefix: prod-
      images:
      - gcr.io/heptio-images/ks-guestbook-demo:0.2
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
      allowEmpty: false
    syncOptions:
    - Validate=false
    - CreateNamespace=true
    - PrunePropagationPolicy=foreground
    - PruneLast=true
    retry:
      limit: -1
      backoff:
        duration: 5s
        factor: 2
        maxDuration: 3m
  ignoreDifferences:
  - group: apps
    kind: Deployment
    jsonPointers:
    - /spec/replicas
    jqPathExpressions:
    - .spec.template.spec.initContainers[] | select(.name == "injected")
  - group: "*"
    kind: "*"
    managedFieldsManagers:
    - kube-controller-manager
"""

LOSSY_FIELDS = {
    ("Application/guestbook", "metadata.finalizers"),
    ("Application/guestbook",
     "metadata.annotations.notifications.argoproj.io/subscribe.on-sync-succeeded.slack"),
    ("Application/guestbook", "spec.source.kustomize.namePrefix"),
    ("Application/guestbook", "spec.source.kustomize.images"),
    ("Application/guestbook", "spec.syncPolicy.syncOptions"),
    ("Application/guestbook", "spec.syncPolicy.retry.limit"),
    ("Application/guestbook", "spec.ignoreDifferences[0].jqPathExpressions"),
    ("Application/guestbook", "spec.ignoreDifferences[1]"),
}

LIST_APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: guestbook
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - list:
      elements:
      - cluster: engineering-dev
        url: https://1.2.3.4
      - cluster: engineering-prod
        url: https://2.4.6.8
  template:
    metadata:
      name: '{{.cluster}}-guestbook'
    spec:
      project: default
      source:
        repoURL: https://github.com/argoproj/argo-cd.git
        targetRevision: HEAD
        path: applicationset/examples/list-generator/guestbook/{{.cluster}}
        directory: {}
      destination:
        server: '{{.url}}'
        namespace: guestbook
"""

CLUSTER_SECRETS = """\
apiVersion: v1
kind: Secret
metadata:
  name: mycluster-secret
  namespace: argocd
  labels:
    argocd.argoproj.io/secret-type: cluster
    env: prod
type: Opaque
stringData:
  name: mycluster.example.com
  server: https://mycluster.example.com
  config: |
    {
      "bearerToken": "SECRET-CLUSTER-TOKEN-123",
      "tlsClientConfig": {
        "insecure": false,
        "caData": "U0VDUkVULUNBLURBVEE="
      }
    }
---
apiVersion: v1
kind: Secret
metadata:
  name: staging-secret
  namespace: argocd
  labels:
    argocd.argoproj.io/secret-type: cluster
    env: staging
data:
  name: c3RhZ2luZw==
  server: aHR0cHM6Ly9zdGFnaW5nLmV4YW1wbGUuY29tOjY0NDM=
  config: eyJiZWFyZXJUb2tlbiI6ICJTRUNSRVQtU1RBR0lORy1UT0tFTiJ9
"""

CLUSTER_APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: guestbook-clusters
  namespace: argocd
spec:
  generators:
  - clusters:
      selector:
        matchLabels:
          env: prod
  template:
    metadata:
      name: '{{name}}-guestbook'
      labels:
        env: '{{metadata.labels.env}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/argoproj/argocd-example-apps.git
        targetRevision: HEAD
        path: guestbook/{{metadata.labels.env}}
        kustomize: {}
      destination:
        server: '{{server}}'
        namespace: guestbook
      syncPolicy:
        automated: {prune: true}
"""

GIT_APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: cluster-addons
  namespace: argocd
spec:
  generators:
  - git:
      repoURL: https://github.com/argoproj/argo-cd.git
      revision: HEAD
      directories:
      - path: applicationset/examples/git-generator-directory/cluster-addons/*
      - path: applicationset/examples/git-generator-directory/cluster-addons/exclude-this
        exclude: true
  template:
    metadata:
      name: '{{path.basename}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/argoproj/argo-cd.git
        targetRevision: HEAD
        path: '{{path}}'
        directory: {}
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{path[3]}}'
"""

PROJECT = """\
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: my-project
  namespace: argocd
spec:
  description: Example Project
  sourceRepos:
  - '*'
  destinations:
  - namespace: '*'
    server: '*'
  syncWindows:
  - kind: allow
    schedule: '10 1 * * *'
    duration: 1h
    applications:
      - '*-prod'
    manualSync: true
  - kind: deny
    schedule: '0 22 * * *'
    duration: 8h
    timeZone: Europe/Paris
    applications:
      - 'payments-*'
    clusters:
      - in-cluster
  - kind: allow
    schedule: '@daily'
    duration: 1h
    clusters:
      - in-cluster
      - cluster1
"""

LOSSY_PROJECT = """\
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: my-project
  namespace: argocd
spec:
  sourceRepos:
  - https://github.com/example/*
  destinations:
  - namespace: guestbook
    server: https://kubernetes.default.svc
  roles:
  - name: read-only
    policies:
    - p, proj:my-project:read-only, applications, get, my-project/*, allow
  syncWindows:
  - kind: deny
    schedule: '0 22 * * *'
    duration: 1h
    namespaces:
      - default
"""

REPO_SECRETS = """\
apiVersion: v1
kind: Secret
metadata:
  name: private-repo
  namespace: argocd
  labels:
    argocd.argoproj.io/secret-type: repository
stringData:
  type: git
  url: https://github.com/example/private-repo.git
  username: deploy
  password: SECRET-PASSWORD-456
---
apiVersion: v1
kind: Secret
metadata:
  name: ssh-repo
  namespace: argocd
  labels:
    argocd.argoproj.io/secret-type: repository
stringData:
  type: git
  url: git@github.com:example/ssh-repo.git
  sshPrivateKey: |
    -----BEGIN OPENSSH PRIVATE KEY-----
    SECRET-KEY-MATERIAL-789
    -----END OPENSSH PRIVATE KEY-----
---
apiVersion: v1
kind: Secret
metadata:
  name: org-creds
  namespace: argocd
  labels:
    argocd.argoproj.io/secret-type: repo-creds
stringData:
  type: git
  url: https://github.com/example-org
  username: bot
  password: SECRET-TEMPLATE-PASSWORD
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: private
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/example/private-repo.git
    path: deploy
    directory: {}
  destination: {server: https://kubernetes.default.svc, namespace: private}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: org-app
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/example-org/app.git
    path: deploy
    directory: {}
  destination: {server: https://kubernetes.default.svc, namespace: org-app}
"""

MATRIX_APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: addons
  namespace: argocd
spec:
  goTemplate: true
  generators:
  - matrix:
      generators:
      - clusters:
          selector:
            matchExpressions:
            - {key: env, operator: In, values: [prod, staging]}
      - git:
          repoURL: https://github.com/example/addons.git
          revision: main
          directories:
          - path: addons/*
  template:
    metadata:
      name: '{{.name}}-{{.path.basename}}'
      labels:
        env: '{{index .metadata.labels "env"}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/example/addons.git
        targetRevision: main
        path: '{{.path.path}}'
        kustomize: {}
      destination:
        server: '{{.server}}'
        namespace: '{{.path.basename}}'
  strategy:
    type: RollingSync
    rollingSync:
      steps:
      - matchExpressions:
        - {key: env, operator: In, values: [staging]}
      - matchExpressions:
        - {key: env, operator: In, values: [prod]}
        maxUpdate: 2
"""

MERGE_APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: merged
  namespace: argocd
spec:
  generators:
  - merge:
      mergeKeys: [name]
      generators:
      - clusters: {}
      - list:
          elements:
          - {name: staging, replicas: "3"}
          - {name: prod, replicas: "5"}
          - {name: in-cluster, replicas: "1"}
  template:
    metadata:
      name: 'web-{{name}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/example/web.git
        path: web
        helm:
          parameters:
          - {name: replicas, value: '{{replicas}}', forceString: true}
          - {name: image.tag, value: '{{ .Values.tag | default "x" }}'}
      destination:
        name: '{{name}}'
        namespace: web
"""
