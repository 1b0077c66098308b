package k8s

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Wiring of the key sources. With keys.csv alone the pod reads $BS_KEYS_DIR/keys.csv, as
// before. With keystores or PKCS#11 the signer reads a key-set config (src/keys/
// key_set_config.h) from BS_KEY_CONFIG: that file must be the ConfigMap the chart renders,
// mounted so the kubelet's updates reach it, and every file it names must be a file of the
// right Secret, mounted read-only where the config says. Passwords and PINs are files only.

const keyConfigFileName = "keys.yaml"

// secretEnvName matches env names that would carry a password or PIN as a value.
var secretEnvName = regexp.MustCompile(`(^|_)(PIN|PASSWORD|PASSPHRASE|PWD)(_|$)`)

// keySourcesCase is what a rendering must show of the keys: which Secrets hold which files,
// and the order of the key set.
type keySourcesCase struct {
	csvSecret string // keys.existingSecret; "" when keystores or PKCS#11 give all keys
	keystores keystoresCase
	pkcs11    pkcs11Case
}

type keystoresCase struct {
	secret         string   // keys.keystores.existingSecret; "" when unused
	files          []string // its data keys, in round-robin order
	passwordSecret string
	passwordKey    string
}

type pkcs11Case struct {
	module        string // "" when PKCS#11 is off
	token         string
	labels        []string
	pinSecret     string
	pinKey        string
	env           map[string]string // keys.pkcs11.env: name -> value
	mounts        map[string]string // keys.pkcs11.volumeMounts: volume name -> mount path
	secretVolumes int               // how many of keys.pkcs11.volumes are Secret volumes
}

// usesConfig reports whether the signer must get its keys through BS_KEY_CONFIG.
func (k keySourcesCase) usesConfig() bool {
	return k.keystores.secret != "" || k.pkcs11.module != ""
}

// secretVolumes is the number of Secret volumes the key sources add to the pod.
func (k keySourcesCase) secretVolumes() int {
	n := 0
	if k.csvSecret != "" {
		n++
	}
	if k.keystores.secret != "" {
		n += 2 // the keystore files and the password
	}
	if k.pkcs11.module != "" {
		n += 1 + k.pkcs11.secretVolumes // the PIN, and the operator's own
	}
	return n
}

// keySetConfig is the key-set config file. Decoding is strict, so a field the signer does
// not know fails here as it would in the signer.
type keySetConfig struct {
	Keys []keyEntry `json:"keys"`
}

type keyEntry struct {
	Source       string `json:"source"`
	File         string `json:"file,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	PasswordEnv  string `json:"password_env,omitempty"`
	Module       string `json:"module,omitempty"`
	Token        string `json:"token,omitempty"`
	KeyLabel     string `json:"key_label,omitempty"`
	PinFile      string `json:"pin_file,omitempty"`
}

// secretFile is where a file named by the key-set config comes from.
type secretFile struct {
	secret string // the Secret of the volume mounted at the file's directory
	key    string // the Secret's data key projected to the file
}

func (w *wiring) checkKeySources(k keySourcesCase) {
	t := w.t
	if !k.usesConfig() {
		if _, ok := w.envByName["BS_KEY_CONFIG"]; ok {
			t.Errorf("BS_KEY_CONFIG is set although keys.csv is the only key source")
		}
		if len(w.m.ConfigMaps) != 0 {
			t.Errorf("%d ConfigMaps rendered although keys.csv is the only key source",
				len(w.m.ConfigMaps))
		}
		w.checkKeysVolume(k.csvSecret)
		w.checkPKCS11Extras(k.pkcs11)
		return
	}
	if e, ok := w.envByName["BS_KEYS_DIR"]; ok {
		t.Errorf("BS_KEYS_DIR = %+v is set besides BS_KEY_CONFIG: one source of truth, please", e)
	}
	cfg := w.keyConfig(w.envValue("BS_KEY_CONFIG"))
	if cfg == nil {
		return
	}
	var want []keyEntry
	if k.csvSecret != "" {
		want = append(want, keyEntry{Source: "csv"})
	}
	for range k.keystores.files {
		want = append(want, keyEntry{Source: "keystore"})
	}
	for _, label := range k.pkcs11.labels {
		want = append(want, keyEntry{Source: "pkcs11", Module: k.pkcs11.module,
			Token: k.pkcs11.token, KeyLabel: label})
	}
	if len(cfg.Keys) != len(want) {
		t.Fatalf("key-set config lists %d keys %+v, want %d (csv, then keystores, then "+
			"PKCS#11 labels)", len(cfg.Keys), cfg.Keys, len(want))
	}
	ks := 0
	for i, got := range cfg.Keys {
		if got.Source != want[i].Source {
			t.Errorf("key %d: source %q, want %q", i, got.Source, want[i].Source)
			continue
		}
		if got.PasswordEnv != "" {
			t.Errorf("key %d: password_env %q: the password must be a mounted file", i,
				got.PasswordEnv)
		}
		switch got.Source {
		case "csv":
			w.wantFields(i, got, "file")
			w.checkKeyFile(i, "file", got.File, k.csvSecret, keysFileName)
		case "keystore":
			w.wantFields(i, got, "file", "password_file")
			w.checkKeyFile(i, "file", got.File, k.keystores.secret, k.keystores.files[ks])
			w.checkKeyFile(i, "password_file", got.PasswordFile, k.keystores.passwordSecret,
				k.keystores.passwordKey)
			ks++
		case "pkcs11":
			w.wantFields(i, got, "module", "token", "key_label", "pin_file")
			if got.Module != want[i].Module || got.Token != want[i].Token ||
				got.KeyLabel != want[i].KeyLabel {
				t.Errorf("key %d: module %q token %q key_label %q, want %q %q %q", i, got.Module,
					got.Token, got.KeyLabel, want[i].Module, want[i].Token, want[i].KeyLabel)
			}
			w.checkKeyFile(i, "pin_file", got.PinFile, k.pkcs11.pinSecret, k.pkcs11.pinKey)
		}
	}
	w.checkNoSecretInEnv(k)
	w.checkPKCS11Extras(k.pkcs11)
}

// keyConfig checks that file is keys.yaml of the rendered key ConfigMap, mounted read-only
// without subPath, and returns its strictly decoded content.
func (w *wiring) keyConfig(file string) *keySetConfig {
	t := w.t
	t.Helper()
	if !path.IsAbs(file) || path.Base(file) != keyConfigFileName {
		t.Errorf("BS_KEY_CONFIG = %q, want an absolute path to %s", file, keyConfigFileName)
		return nil
	}
	vol, _ := w.mountAt(path.Dir(file))
	if vol == nil {
		return nil
	}
	if vol.ConfigMap == nil {
		t.Errorf("BS_KEY_CONFIG's directory is volume %q, which is not a ConfigMap: %+v", vol.Name,
			vol.VolumeSource)
		return nil
	}
	key := projectedKey(vol.ConfigMap.Items, keyConfigFileName)
	if key == "" {
		t.Errorf("ConfigMap volume %q items %+v do not project a key to %s", vol.Name,
			vol.ConfigMap.Items, keyConfigFileName)
		return nil
	}
	var cm *corev1.ConfigMap
	for i := range w.m.ConfigMaps {
		if w.m.ConfigMaps[i].Name == vol.ConfigMap.Name {
			cm = &w.m.ConfigMaps[i]
		}
	}
	if cm == nil {
		t.Errorf("BS_KEY_CONFIG is in ConfigMap %q, which the chart does not render",
			vol.ConfigMap.Name)
		return nil
	}
	if cm.Namespace != releaseNamespace {
		t.Errorf("ConfigMap %q namespace = %q, want %q", cm.Name, cm.Namespace, releaseNamespace)
	}
	if cm.Immutable != nil && *cm.Immutable {
		t.Errorf("ConfigMap %q is immutable: its updates could not reload the keys", cm.Name)
	}
	text, ok := cm.Data[key]
	if !ok {
		t.Errorf("ConfigMap %q has no key %q (keys: %v)", cm.Name, key, mapKeys(cm.Data))
		return nil
	}
	var cfg keySetConfig
	if err := yaml.UnmarshalStrict([]byte(text), &cfg); err != nil {
		t.Errorf("ConfigMap %q %s is not a key-set config: %v\n%s", cm.Name, key, err, text)
		return nil
	}
	return &cfg
}

// mountAt returns the volume mounted at dir in the signer container, and its mount. The
// mount must be read-only and without subPath (the kubelet's updates reach only whole-volume
// mounts, and a reload is how keys change).
func (w *wiring) mountAt(dir string) (*corev1.Volume, *corev1.VolumeMount) {
	t := w.t
	t.Helper()
	var found []*corev1.VolumeMount
	for i := range w.container.VolumeMounts {
		if path.Clean(w.container.VolumeMounts[i].MountPath) == path.Clean(dir) {
			found = append(found, &w.container.VolumeMounts[i])
		}
	}
	if len(found) != 1 {
		var paths []string
		for _, m := range w.container.VolumeMounts {
			paths = append(paths, m.MountPath)
		}
		t.Errorf("%d mounts at %s, want exactly 1 (mounts: %q)", len(found), dir, paths)
		return nil, nil
	}
	m := found[0]
	if !m.ReadOnly {
		t.Errorf("volume %q at %s must be mounted read-only", m.Name, dir)
	}
	if m.SubPath != "" || m.SubPathExpr != "" {
		t.Errorf("volume %q at %s uses subPath: it would not see updates", m.Name, dir)
	}
	for i := range w.pod.Volumes {
		if w.pod.Volumes[i].Name == m.Name {
			return &w.pod.Volumes[i], m
		}
	}
	t.Errorf("mount %q at %s names no volume of the pod", m.Name, dir)
	return nil, nil
}

// secretFileAt resolves a file named by the key-set config to the Secret key behind it,
// checking the Secret volume's mode and that it is not optional.
func (w *wiring) secretFileAt(file string) (secretFile, error) {
	if !path.IsAbs(file) {
		return secretFile{}, fmt.Errorf("%q is not absolute", file)
	}
	vol, _ := w.mountAt(path.Dir(file))
	if vol == nil {
		return secretFile{}, fmt.Errorf("nothing is mounted at %s", path.Dir(file))
	}
	s := vol.Secret
	if s == nil {
		return secretFile{}, fmt.Errorf("%s is volume %q, not a Secret: %+v", path.Dir(file),
			vol.Name, vol.VolumeSource)
	}
	if s.Optional != nil && *s.Optional {
		w.t.Errorf("Secret volume %q must not be optional", vol.Name)
	}
	if s.DefaultMode == nil {
		w.t.Errorf("Secret volume %q has no defaultMode, want %#o", vol.Name, secretFileMode)
	} else if *s.DefaultMode != secretFileMode {
		w.t.Errorf("Secret volume %q defaultMode = %#o, want %#o", vol.Name, *s.DefaultMode,
			secretFileMode)
	}
	key := projectedKey(s.Items, path.Base(file))
	if key == "" {
		return secretFile{}, fmt.Errorf("Secret volume %q items %+v do not project any key to %s",
			vol.Name, s.Items, path.Base(file))
	}
	return secretFile{secret: s.SecretName, key: key}, nil
}

// checkKeyFile checks that field of key i names the data key wantKey of Secret wantSecret.
func (w *wiring) checkKeyFile(i int, field, file, wantSecret, wantKey string) {
	t := w.t
	t.Helper()
	got, err := w.secretFileAt(file)
	if err != nil {
		t.Errorf("key %d: %s %q: %v", i, field, file, err)
		return
	}
	if want := (secretFile{secret: wantSecret, key: wantKey}); got != want {
		t.Errorf("key %d: %s %q is key %q of Secret %q, want key %q of Secret %q", i, field,
			file, got.key, got.secret, wantKey, wantSecret)
	}
}

// wantFields fails when entry i sets a field outside fields (the signer would refuse it) or
// leaves one of them empty.
func (w *wiring) wantFields(i int, e keyEntry, fields ...string) {
	t := w.t
	t.Helper()
	set := map[string]string{"file": e.File, "password_file": e.PasswordFile,
		"password_env": e.PasswordEnv, "module": e.Module, "token": e.Token,
		"key_label": e.KeyLabel, "pin_file": e.PinFile}
	for name, value := range set {
		if slices.Contains(fields, name) != (value != "") {
			t.Errorf("key %d (%s): field %s = %q, want it %s", i, e.Source, name, value,
				map[bool]string{true: "set", false: "absent"}[slices.Contains(fields, name)])
		}
	}
}

// checkNoSecretInEnv pins that the keystore password and the PIN reach the signer only as
// files: no env var reads their Secrets, and no envFrom imports a Secret wholesale.
func (w *wiring) checkNoSecretInEnv(k keySourcesCase) {
	t := w.t
	secrets := map[string]bool{}
	for _, s := range []string{k.keystores.passwordSecret, k.pkcs11.pinSecret, k.keystores.secret,
		k.csvSecret} {
		if s != "" {
			secrets[s] = true
		}
	}
	for _, e := range w.container.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
			secrets[e.ValueFrom.SecretKeyRef.Name] {
			t.Errorf("env %s reads key Secret %q: passwords, PINs and keys must be files only",
				e.Name, e.ValueFrom.SecretKeyRef.Name)
		}
		// A path to a file is fine; MongoDB's password is the original's contract (BS_MONGO_PWD).
		upper := strings.ToUpper(e.Name)
		if secretEnvName.MatchString(upper) && !strings.HasSuffix(upper, "_FILE") &&
			e.Name != "BS_MONGO_PWD" {
			t.Errorf("env %s looks like a password or PIN in the environment", e.Name)
		}
	}
	for _, from := range w.container.EnvFrom {
		if from.SecretRef != nil {
			t.Errorf("envFrom imports Secret %q into the environment", from.SecretRef.Name)
		}
	}
}

// checkPKCS11Extras checks the operator's env and volumes for the PKCS#11 module: rendered
// with keys.pkcs11.enabled (module set), absent without it.
func (w *wiring) checkPKCS11Extras(p pkcs11Case) {
	t := w.t
	on := p.module != ""
	for name, value := range p.env {
		e, ok := w.envByName[name]
		switch {
		case on && (!ok || e.Value != value || e.ValueFrom != nil):
			t.Errorf("keys.pkcs11.env %s = %+v, want the value %q", name, e, value)
		case !on && ok:
			t.Errorf("keys.pkcs11.env %s rendered although PKCS#11 is off", name)
		}
	}
	for volume, dir := range p.mounts {
		mounted := slices.ContainsFunc(w.container.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == volume && m.MountPath == dir
		})
		declared := slices.ContainsFunc(w.pod.Volumes, func(v corev1.Volume) bool {
			return v.Name == volume
		})
		if on && (!mounted || !declared) {
			t.Errorf("keys.pkcs11 volume %q: declared %v, mounted at %s %v; want both", volume,
				declared, dir, mounted)
		}
		if !on && (mounted || declared) {
			t.Errorf("keys.pkcs11 volume %q rendered although PKCS#11 is off", volume)
		}
	}
}

// projectedKey returns the data key projected to file: through items, or, without items,
// the key of that name (the whole Secret or ConfigMap is mounted).
func projectedKey(items []corev1.KeyToPath, file string) string {
	if len(items) == 0 {
		return file
	}
	for _, it := range items {
		if it.Path == file {
			return it.Key
		}
	}
	return ""
}

func mapKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
