{{/*
Names, labels, shared pod parts and value validation for the msp chart.
*/}}

{{- define "msp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "msp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "msp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change for a release (used in selectors). Call with (dict "ctx" $ "component" "web"). */}}
{{- define "msp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "msp.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels. Call with (dict "ctx" $ "component" "web"). */}}
{{- define "msp.labels" -}}
helm.sh/chart: {{ include "msp.chart" .ctx }}
{{ include "msp.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: msp
{{- end -}}

{{- define "msp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "msp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "msp.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "msp.configMapName" -}}
{{- printf "%s-config" (include "msp.fullname" .) -}}
{{- end -}}

{{- define "msp.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "msp.fullname" . -}}
{{- end -}}
{{- end -}}

{{/*
The Secret's data, computed once per render and memoised in .Values, so the release Secret and
the migration hook's copy carry the same generated keys. Generated keys are kept across upgrades
by reading the live Secret (lookup returns nothing under `helm template`).
*/}}
{{- define "msp.secretData" -}}
{{- if not (hasKey .Values.secrets "_rendered") -}}
{{- $live := lookup "v1" "Secret" .Release.Namespace (include "msp.fullname" .) -}}
{{- $liveData := dict -}}
{{- if $live -}}{{- $liveData = $live.data | default dict -}}{{- end -}}
{{- $data := dict -}}
{{- with .Values.secrets.databaseUrl -}}{{- $_ := set $data "MSP_DATABASE_URL" (. | b64enc) -}}{{- end -}}
{{- with .Values.secrets.redisUrl -}}{{- $_ := set $data "MSP_REDIS_URL" (. | b64enc) -}}{{- end -}}
{{- if .Values.secrets.secretKey -}}
{{- $_ := set $data "MSP_SECRET_KEY" (.Values.secrets.secretKey | b64enc) -}}
{{- else -}}
{{- $_ := set $data "MSP_SECRET_KEY" (get $liveData "MSP_SECRET_KEY" | default (randAlphaNum 50 | b64enc)) -}}
{{- end -}}
{{- if .Values.secrets.encryptionKey -}}
{{- $_ := set $data "MSP_ENCRYPTION_KEY" (.Values.secrets.encryptionKey | b64enc) -}}
{{- else -}}
{{- $fernet := randBytes 32 | replace "+" "-" | replace "/" "_" -}}
{{- $_ := set $data "MSP_ENCRYPTION_KEY" (get $liveData "MSP_ENCRYPTION_KEY" | default ($fernet | b64enc)) -}}
{{- end -}}
{{- range $key, $value := .Values.secrets.extra -}}
{{- $_ := set $data $key ($value | toString | b64enc) -}}
{{- end -}}
{{- with .Values.publishing.hosted.providerOptions -}}
{{- $options := dict -}}
{{- range $key, $value := . -}}{{- $_ := set $options $key ($value | toString) -}}{{- end -}}
{{- $_ := set $data "MSP_HOSTED_PROVIDER_OPTIONS" ($options | toJson | b64enc) -}}
{{- end -}}
{{- $_ := set .Values.secrets "_rendered" $data -}}
{{- end -}}
{{- toYaml (get .Values.secrets "_rendered") -}}
{{- end -}}

{{/* Environment shared by every container: ConfigMap + Secret through envFrom. */}}
{{- define "msp.envFrom" -}}
- configMapRef:
    name: {{ include "msp.configMapName" . }}
- secretRef:
    name: {{ include "msp.secretName" . }}
{{- end -}}

{{- define "msp.env" -}}
- name: TZ
  value: UTC
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The file a worker or scheduler touches each time its loop turns (on the /tmp emptyDir). */}}
{{- define "msp.livenessFile" -}}
/tmp/msp-alive
{{- end -}}

{{/* env entry and exec liveness probe of a worker or scheduler container (msp/liveness.py).
Call with (dict "ctx" $ "probe" .Values.scheduler.livenessProbe); renders nothing when disabled. */}}
{{- define "msp.livenessEnv" -}}
{{- if .probe.enabled -}}
- name: MSP_LIVENESS_FILE
  value: {{ include "msp.livenessFile" .ctx }}
{{- end }}
{{- end -}}

{{- define "msp.livenessProbe" -}}
{{- if .probe.enabled -}}
livenessProbe:
  exec:
    command: ["msp", "alive", {{ include "msp.livenessFile" .ctx | quote }}, "--max-age={{ .probe.maxAgeSeconds }}"]
  periodSeconds: {{ .probe.periodSeconds }}
  timeoutSeconds: {{ .probe.timeoutSeconds }}
  failureThreshold: {{ .probe.failureThreshold }}
{{- end }}
{{- end -}}

{{/* Pod annotations: roll pods when configuration changes. */}}
{{- define "msp.podAnnotations" -}}
checksum/config: {{ printf "%s%s" (toYaml .Values.config) (include "msp.publishingConfig" .) | sha256sum }}
checksum/secret: {{ printf "%s%s" (toYaml .Values.secrets.existingSecret) (include "msp.secretData" .) | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level fields shared by all Deployments and the Job (everything but containers). */}}
{{- define "msp.podCommon" -}}
serviceAccountName: {{ include "msp.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
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
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/* Container fields shared by every container (everything but name, env, args, probes,
resources): each adds `env:` with "msp.env" and its own variables. */}}
{{- define "msp.containerCommon" -}}
image: {{ include "msp.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
envFrom:
  {{- include "msp.envFrom" . | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* Fail the render with every problem in the values, not just the first. */}}
{{- define "msp.validateValues" -}}
{{- $errors := list -}}
{{- $s := .Values.secrets -}}
{{- if and $s.existingSecret (or $s.databaseUrl $s.redisUrl $s.secretKey $s.encryptionKey $s.extra) -}}
{{- $errors = append $errors "secrets.existingSecret is set: leave the inline secrets (databaseUrl, redisUrl, secretKey, encryptionKey, extra) empty" -}}
{{- end -}}
{{- $errors = concat $errors (include "msp.publishingErrors" . | fromYamlArray) -}}
{{- if and $s.databaseUrl (not (regexMatch "^postgresql(\\+psycopg)?://" $s.databaseUrl)) -}}
{{- $errors = append $errors "secrets.databaseUrl must be a postgresql+psycopg:// URL (SQLite is the single-machine mode, not for Kubernetes)" -}}
{{- end -}}
{{- if and $s.redisUrl (not (regexMatch "^rediss?://" $s.redisUrl)) -}}
{{- $errors = append $errors "secrets.redisUrl must start with redis:// or rediss://" -}}
{{- end -}}
{{- range $key, $_ := $s.extra -}}
{{- if not (hasPrefix "MSP_" $key) -}}
{{- $errors = append $errors (printf "secrets.extra.%s: keys must start with MSP_" $key) -}}
{{- end -}}
{{- end -}}
{{- range $key, $_ := .Values.config -}}
{{- if has $key (list "MSP_DATABASE_URL" "MSP_REDIS_URL" "MSP_SECRET_KEY" "MSP_ENCRYPTION_KEY") -}}
{{- $errors = append $errors (printf "config.%s is a secret: set it under secrets (or in secrets.existingSecret)" $key) -}}
{{- end -}}
{{- end -}}
{{- $names := list -}}
{{- range .Values.workers -}}
{{- if has .name $names -}}
{{- $errors = append $errors (printf "workers: the name %q is used twice" .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- with .autoscaling -}}
{{- if and .enabled (gt (int .minReplicas) (int .maxReplicas)) -}}
{{- $errors = append $errors "workers[].autoscaling: minReplicas is greater than maxReplicas" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with .Values.web.autoscaling -}}
{{- if and .enabled (gt (int .minReplicas) (int .maxReplicas)) -}}
{{- $errors = append $errors "web.autoscaling: minReplicas is greater than maxReplicas" -}}
{{- end -}}
{{- end -}}
{{- if .Values.ingress.enabled -}}
{{- range .Values.ingress.tls -}}
{{- if not .hosts -}}
{{- $errors = append $errors (printf "ingress.tls: the entry for secret %q lists no hosts" .secretName) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\n\nmsp: invalid values:\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}

{{/* True when the app has what it needs to reach PostgreSQL and Redis. */}}
{{- define "msp.hasBackends" -}}
{{- if or .Values.secrets.existingSecret (and .Values.secrets.databaseUrl .Values.secrets.redisUrl) -}}true{{- end -}}
{{- end -}}


{{/* Problems with the publishing and mtaSts values, as a YAML list (msp.validateValues
reports them with the others). */}}
{{- define "msp.publishingErrors" -}}
{{- $errors := list -}}
{{- $h := .Values.publishing.hosted -}}
{{- if and .Values.secrets.existingSecret $h.providerOptions -}}
{{- $errors = append $errors "secrets.existingSecret is set: put MSP_HOSTED_PROVIDER_OPTIONS in that Secret and leave publishing.hosted.providerOptions empty" -}}
{{- end -}}
{{- if and $h.zone (not $h.providerKind) -}}
{{- $errors = append $errors "publishing.hosted.zone is set: say how it is updated in publishing.hosted.providerKind (rfc2136 or powerdns)" -}}
{{- end -}}
{{- if and $h.providerKind (not $h.zone) -}}
{{- $errors = append $errors "publishing.hosted.providerKind is set but publishing.hosted.zone is empty" -}}
{{- end -}}
{{- if and $h.zone (not $h.providerOptions) (not .Values.secrets.existingSecret) -}}
{{- $errors = append $errors "publishing.hosted.zone is set: give its provider's options in publishing.hosted.providerOptions (server, tsig_name, tsig_secret or api_url, api_key)" -}}
{{- end -}}
{{- range $key := list "MSP_PUBLISH_RETRY_SECONDS" "MSP_PUBLISH_TIMEOUT" "MSP_PUBLISH_TTL" "MSP_HOSTED_ZONE" "MSP_HOSTED_PROVIDER_KIND" "MSP_HOSTED_PROVIDER_OPTIONS" -}}
{{- if or (hasKey $.Values.config $key) (hasKey $.Values.secrets.extra $key) -}}
{{- $errors = append $errors (printf "%s is set through the publishing values (publishing.*), not config or secrets.extra" $key) -}}
{{- end -}}
{{- end -}}
{{- $m := .Values.mtaSts -}}
{{- if $m.enabled -}}
{{- if not $m.hosts -}}
{{- $errors = append $errors "mtaSts.enabled: list the hosts (mta-sts.<client domain>) in mtaSts.hosts" -}}
{{- end -}}
{{- if not $h.zone -}}
{{- $errors = append $errors "mtaSts.enabled: policies are served for delegated domains only: set publishing.hosted.zone" -}}
{{- end -}}
{{- if eq (len (compact (list $m.certManager.clusterIssuer $m.certManager.issuer))) 0 -}}
{{- $errors = append $errors "mtaSts.enabled: receivers accept the policy only over HTTPS with a valid certificate: set mtaSts.certManager.clusterIssuer or mtaSts.certManager.issuer" -}}
{{- end -}}
{{- if and $m.certManager.clusterIssuer $m.certManager.issuer -}}
{{- $errors = append $errors "mtaSts.certManager: set clusterIssuer or issuer, not both" -}}
{{- end -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/* The TLS Secret of one MTA-STS host: <fullname>-<host with dashes>-tls. */}}
{{- define "msp.mtaStsSecretName" -}}
{{- printf "%s-%s-tls" (include "msp.fullname" .ctx) (.host | replace "." "-") | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{/* The publishing area's non-secret settings (msp/publishing/settings.py) for the ConfigMaps;
its provider options are in the Secret (msp.secretData). */}}
{{- define "msp.publishingConfig" -}}
{{- with .Values.publishing -}}
MSP_PUBLISH_RETRY_SECONDS: {{ join "," .retrySeconds | quote }}
MSP_PUBLISH_TIMEOUT: {{ .timeoutSeconds | toString | quote }}
MSP_PUBLISH_TTL: {{ .ttl | toString | quote }}
{{- with .hosted.zone }}
MSP_HOSTED_ZONE: {{ . | quote }}
{{- end }}
{{- with .hosted.providerKind }}
MSP_HOSTED_PROVIDER_KIND: {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}
