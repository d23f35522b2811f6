{{/* Names, labels and the pieces every engine pod shares (web, workers, beat). */}}

{{- define "gitops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gitops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains (include "gitops.name" .) .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "gitops.name" .) | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gitops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gitops.labels" -}}
{{ include "gitops.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gitops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gitops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gitops.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "gitops.configMapName" -}}
{{- default (printf "%s-config" (include "gitops.fullname" .)) .Values.config.existingConfigMap -}}
{{- end -}}

{{- define "gitops.redisSecretName" -}}
{{- default (printf "%s-redis" (include "gitops.fullname" .)) .Values.redis.bundled.existingSecret -}}
{{- end -}}

{{/* The Redis URL: bundled (the password from its Secret, expanded by the kubelet), or external. */}}
{{- define "gitops.redisEnv" -}}
{{- if .Values.redis.bundled.enabled }}
- name: GITOPS_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "gitops.redisSecretName" . }}
      key: {{ .Values.redis.bundled.existingSecretKey }}
- name: GITOPS_REDIS_URL
  value: {{ printf "redis://:$(GITOPS_REDIS_PASSWORD)@%s-redis:6379/0" (include "gitops.fullname" .) | quote }}
{{- else if .Values.redis.external.sentinel.masterName }}
{{- $s := .Values.redis.external.sentinel }}
{{- $auth := "" }}
{{- if $s.passwordSecret.name }}
{{- $auth = "$(GITOPS_REDIS_PASSWORD)@" }}
- name: GITOPS_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $s.passwordSecret.name }}
      key: {{ required "redis.external.sentinel.passwordSecret.key is required with its name" $s.passwordSecret.key }}
{{- end }}
- name: GITOPS_REDIS_URL
  value: {{ printf "redis+sentinel://%s%s%s/%s/%d%s" (ternary ":" "" (ne $auth "")) $auth (join "," $s.hosts) $s.masterName (int $s.db) (ternary "?sentinel_auth=yes" "" (and (ne $auth "") $s.sentinelAuth)) | quote }}
{{- else if .Values.redis.external.urlSecret.name }}
- name: GITOPS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.urlSecret.name }}
      key: {{ required "redis.external.urlSecret.key is required with redis.external.urlSecret.name" .Values.redis.external.urlSecret.key }}
{{- else }}
- name: GITOPS_REDIS_URL
  value: {{ required "redis: set redis.external.url or redis.external.urlSecret, or enable redis.bundled" .Values.redis.external.url | quote }}
{{- end }}
{{- end -}}

{{/* The environment of every engine container. */}}
{{- define "gitops.env" -}}
- name: GITOPS_CONFIG
  value: /config
- name: GITOPS_DATA_DIR
  value: /data
- name: GITOPS_CACHE_DIR
  value: /data/cache
- name: HOME
  value: /tmp
{{- include "gitops.redisEnv" . }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "gitops.envFrom" -}}
{{- with .Values.envFromSecrets }}
envFrom:
{{- range . }}
  - secretRef:
      name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "gitops.containerSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  privileged: false
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "gitops.volumeMounts" -}}
volumeMounts:
  - name: config
    mountPath: /config
    readOnly: true
  - name: tmp
    mountPath: /tmp
  - name: data
    mountPath: /data
{{- range .Values.extraSecretMounts }}
  - name: {{ .name }}
    mountPath: {{ .mountPath }}
    readOnly: true
{{- end }}
{{- end -}}

{{/* The pod-level part every engine pod shares: service account, security context, volumes, scheduling. */}}
{{- define "gitops.podSpec" -}}
serviceAccountName: {{ include "gitops.serviceAccountName" . }}
automountServiceAccountToken: true
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .Values.podSecurityContext.runAsUser }}
  runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
  fsGroup: {{ .Values.podSecurityContext.fsGroup }}
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "gitops.configMapName" . }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpSize }}
  - name: data
    emptyDir:
      sizeLimit: {{ .Values.dataSize }}
{{- range .Values.extraSecretMounts }}
  - name: {{ .name }}
    secret:
      secretName: {{ .secretName }}
      defaultMode: {{ .defaultMode | default 256 }}
{{- end }}
{{- end -}}

{{- define "gitops.podMetadata" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $pool := index . 2 -}}
metadata:
  labels:
    {{- include "gitops.selectorLabels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ $component }}
    {{- with $pool }}
    gitops.dev/worker-pool: {{ . }}
    {{- end }}
    {{- with $.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ toYaml $.Values.config | sha256sum }}
    {{- with $.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
