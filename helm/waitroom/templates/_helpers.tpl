{{- define "waitroom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "waitroom.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "waitroom.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "waitroom.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "waitroom.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "waitroom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "waitroom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "waitroom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "waitroom.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "waitroom.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "waitroom.fullname" .)) -}}
{{- end -}}

{{/* Security settings shared by every container: non-root, read-only root filesystem, no privileges. */}}
{{- define "waitroom.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment shared by the API and the drain worker. */}}
{{- define "waitroom.env" -}}
- name: WAITROOM_KEYS_DIR
  value: /etc/waitroom/keys
{{- if .Values.redis.existingSecret }}
- name: WAITROOM_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- end }}
- name: WAITROOM_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "waitroom.secretName" . }}
      key: admin-token
- name: WAITROOM_SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "waitroom.secretName" . }}
      key: service-token
      optional: true
- name: WAITROOM_INVITATION_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "waitroom.secretName" . }}
      key: invitation-secret
      optional: true
- name: WAITROOM_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "waitroom.secretName" . }}
      key: webhook-secret
      optional: true
{{- if .Values.extraConfig }}
- name: WAITROOM_CONFIG
  value: /etc/waitroom/config/waitroom.toml
{{- end }}
{{- end -}}

{{- define "waitroom.volumes" -}}
# The whole Secret: waitroom reads only its `*.key` and `*.pem` entries as signing keys.
- name: keys
  secret:
    secretName: {{ include "waitroom.secretName" . }}
    # 0440 (decimal, so no YAML reader takes it for 440): key files readable by others are refused.
    defaultMode: 288
{{- if .Values.extraConfig }}
- name: config
  configMap:
    name: {{ include "waitroom.fullname" . }}
    items:
      - key: waitroom.toml
        path: waitroom.toml
{{- end }}
{{- end -}}

{{- define "waitroom.volumeMounts" -}}
- name: keys
  mountPath: /etc/waitroom/keys
  readOnly: true
{{- if .Values.extraConfig }}
- name: config
  mountPath: /etc/waitroom/config
  readOnly: true
{{- end }}
{{- end -}}

{{- define "waitroom.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "waitroom.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}
