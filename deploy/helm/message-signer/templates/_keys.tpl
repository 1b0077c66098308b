{{/*
Key sources: keys.csv (keys.existingSecret), go-ethereum V3 keystore files (keys.keystores) and
keys on a PKCS#11 token (keys.pkcs11). With keys.csv alone the pod gets BS_KEYS_DIR, as before.
As soon as keystores or PKCS#11 give keys, the chart renders the key-set config
(src/keys/key_set_config.h) into ConfigMap FULLNAME-keys, mounts it and sets BS_KEY_CONFIG.
The signer watches that file and every file it names, so an update of the ConfigMap or of a
mounted Secret reloads the keys in place (docs/K8S.md §10); no checksum annotation rolls the
pods on such a change.
*/}}

{{/* "true" when the pod reads its keys through a key-set config file, "" with keys.csv alone. */}}
{{- define "message-signer.keyConfigEnabled" -}}
{{- if or .Values.keys.keystores.existingSecret .Values.keys.pkcs11.enabled }}true{{ end }}
{{- end }}

{{- define "message-signer.keyConfigMapName" -}}
{{- printf "%s-keys" (include "message-signer.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* BS_KEY_CONFIG: keys.yaml in the mounted ConfigMap. */}}
{{- define "message-signer.keyConfigPath" -}}
{{- clean (printf "%s/keys.yaml" .Values.keys.configMountPath) }}
{{- end }}

{{/* Name of the keys.csv Secret, "" when keys come only from keystores or PKCS#11. */}}
{{- define "message-signer.keysSecretName" -}}
{{- .Values.keys.existingSecret }}
{{- end }}

{{/* The key-set config, in round-robin order: every key of keys.csv, then the keystores in
keys.keystores.files order, then the PKCS#11 keys in keys.pkcs11.keyLabels order. Paths are
absolute, under the mounts the Deployment renders. Scalars go through toJson: a JSON string is
a YAML double-quoted scalar, so no label or path can break the file. Secrets are only named
by file: the password and the PIN never appear here, nor in the pod's environment. */}}
{{- define "message-signer.keyConfig" -}}
{{- $k := .Values.keys }}
{{- $ks := $k.keystores }}
{{- $p := $k.pkcs11 -}}
# Rendered by the message-signer chart from values keys.*. The signer reloads its keys when this
# file or a file it names changes; edit the values, not this ConfigMap.
keys:
{{- if $k.existingSecret }}
  - source: csv
    file: {{ clean (printf "%s/keys.csv" $k.mountPath) | toJson }}
{{- end }}
{{- if $ks.existingSecret }}
{{- range $ks.files }}
  - source: keystore
    file: {{ clean (printf "%s/%s" $ks.mountPath .) | toJson }}
    password_file: {{ clean (printf "%s/password" $ks.passwordMountPath) | toJson }}
{{- end }}
{{- end }}
{{- if $p.enabled }}
{{- range $p.keyLabels }}
  - source: pkcs11
    module: {{ $p.module | toJson }}
    token: {{ $p.token | toJson }}
    key_label: {{ . | toJson }}
    pin_file: {{ clean (printf "%s/pin" $p.pinMountPath) | toJson }}
{{- end }}
{{- end }}
{{- end }}

{{/* Refuses key values that would deploy a signer without keys, or with a key source only
half configured. Included once, by the Deployment. */}}
{{- define "message-signer.validateKeys" -}}
{{- $k := .Values.keys }}
{{- $ks := $k.keystores }}
{{- $p := $k.pkcs11 }}
{{- if and (not $k.existingSecret) (not $ks.existingSecret) (not $ks.files) (not $ks.passwordSecret) (not $p.enabled) }}
{{- fail "keys: no key source. Set keys.existingSecret (a keys.csv Secret from `signer keygen --k8s-secret NAME`), keys.keystores (existingSecret, files, passwordSecret) or keys.pkcs11 (enabled, module, token, keyLabels, pinSecret); see docs/K8S.md §4" }}
{{- end }}
{{- if or $ks.existingSecret $ks.files $ks.passwordSecret }}
{{- if not $ks.existingSecret }}
{{- fail "keys.keystores.existingSecret is required with keys.keystores.files or passwordSecret: the Secret whose data keys are the keystore files (kubectl create secret generic NAME --from-file=DIR)" }}
{{- end }}
{{- if not $ks.files }}
{{- fail "keys.keystores.files is required with keys.keystores.existingSecret: list the Secret's keystore file names (UTC--...) in round-robin order; the chart cannot read the Secret at render time" }}
{{- end }}
{{- if not $ks.passwordSecret }}
{{- fail "keys.keystores.passwordSecret is required with keys.keystores.files: a Secret holding the keystore password (key keys.keystores.passwordKey), mounted as a file" }}
{{- end }}
{{- end }}
{{- if $p.enabled }}
{{- range $field := list "module" "token" "keyLabels" "pinSecret" }}
{{- if not (get $p $field) }}
{{- fail (printf "keys.pkcs11.%s is required with keys.pkcs11.enabled (module: the PKCS#11 library's path in the pod; token: the token label; keyLabels: the keys' CKA_LABELs; pinSecret: a Secret holding the user PIN)" $field) }}
{{- end }}
{{- end }}
{{- $reserved := list "keys" "key-config" "keystores" "keystore-password" "pkcs11-pin" "clients" "tls" "postgresql" "tmp" }}
{{- range $p.volumes }}
{{- if has .name $reserved }}
{{- fail (printf "keys.pkcs11.volumes: the name %q is the chart's own volume; choose another" .name) }}
{{- end }}
{{- end }}
{{- end }}
{{- include "message-signer.validateMountPaths" . }}
{{- end }}

{{/* Refuses two mounts of the signer container at the same path, or one inside another (a
read-only Secret mount cannot hold another mount point). Mirrors the Deployment's conditions. */}}
{{- define "message-signer.validateMountPaths" -}}
{{- $v := .Values }}
{{- $k := $v.keys }}
{{- $mounts := list (list "/tmp" "the /tmp emptyDir") }}
{{- if $k.existingSecret }}
{{- $mounts = append $mounts (list $k.mountPath "keys.mountPath") }}
{{- end }}
{{- if include "message-signer.keyConfigEnabled" . }}
{{- $mounts = append $mounts (list $k.configMountPath "keys.configMountPath") }}
{{- end }}
{{- if $k.keystores.existingSecret }}
{{- $mounts = append $mounts (list $k.keystores.mountPath "keys.keystores.mountPath") }}
{{- $mounts = append $mounts (list $k.keystores.passwordMountPath "keys.keystores.passwordMountPath") }}
{{- end }}
{{- if $k.pkcs11.enabled }}
{{- $mounts = append $mounts (list $k.pkcs11.pinMountPath "keys.pkcs11.pinMountPath") }}
{{- range $k.pkcs11.volumeMounts }}
{{- $mounts = append $mounts (list .mountPath (printf "keys.pkcs11.volumeMounts %s" .name)) }}
{{- end }}
{{- end }}
{{- if not $v.auth.insecureNoAuth }}
{{- $mounts = append $mounts (list $v.auth.clientsSecret.mountPath "auth.clientsSecret.mountPath") }}
{{- end }}
{{- if $v.tls.enabled }}
{{- $mounts = append $mounts (list $v.tls.mountPath "tls.mountPath") }}
{{- end }}
{{- if and (eq $v.store "postgresql") $v.postgresql.existingSecret }}
{{- $mounts = append $mounts (list $v.postgresql.mountPath "postgresql.mountPath") }}
{{- end }}
{{- range $i, $a := $mounts }}
{{- range $j, $b := $mounts }}
{{- if lt $i $j }}
{{- $pa := trimSuffix "/" (clean (index $a 0)) }}
{{- $pb := trimSuffix "/" (clean (index $b 0)) }}
{{- if or (eq $pa $pb) (hasPrefix (printf "%s/" $pa) $pb) (hasPrefix (printf "%s/" $pb) $pa) }}
{{- fail (printf "mount paths overlap: %s (%s) and %s (%s); give each its own directory" (index $a 1) (index $a 0) (index $b 1) (index $b 0)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
