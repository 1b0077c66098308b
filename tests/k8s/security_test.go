package k8s

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Wiring of caller authentication, TLS and metrics auth: the flags the signer gets must
// point at the files of the Secrets the pod mounts, and the Certificate, probes, peer URL
// and ServiceMonitor must agree with them.

const (
	clientsFileName = "clients.json"
	secretFileMode  = int32(0o400)
)

// flags parses the container's args after `serve` into flag -> values. A flag followed by
// another flag, or by nothing, is a switch with the value "".
func (w *wiring) flags() map[string][]string {
	args := w.container.Args
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	out := map[string][]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			w.t.Errorf("argument %q does not follow a flag (args %q)", a, w.container.Args)
			continue
		}
		if name, value, ok := strings.Cut(a, "="); ok {
			out[name] = append(out[name], value)
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			out[a] = append(out[a], args[i+1])
			i++
			continue
		}
		out[a] = append(out[a], "")
	}
	return out
}

// flagValue returns the single value of a flag, failing when it is missing or repeated.
func (w *wiring) flagValue(flags map[string][]string, name string) string {
	w.t.Helper()
	v := flags[name]
	if len(v) != 1 || v[0] == "" {
		w.t.Errorf("want exactly one %s FILE, got %q", name, v)
		return ""
	}
	return v[0]
}

// secretMount finds the volume of Secret name and its mount in the signer container. It
// checks that the mount is read-only, not optional, without subPath (so the kubelet
// updates renewed files), and that the volume projects each key to a file of its name.
func (w *wiring) secretMount(name string, projected map[string]string) (*corev1.Volume, string) {
	t := w.t
	t.Helper()
	var vol *corev1.Volume
	for i := range w.pod.Volumes {
		if s := w.pod.Volumes[i].Secret; s != nil && s.SecretName == name {
			vol = &w.pod.Volumes[i]
		}
	}
	if vol == nil {
		var names []string
		for _, v := range w.pod.Volumes {
			if v.Secret != nil {
				names = append(names, v.Secret.SecretName)
			}
		}
		t.Fatalf("no volume of Secret %q; Secret volumes: %q", name, names)
	}
	s := vol.Secret
	if s.Optional != nil && *s.Optional {
		t.Errorf("Secret volume %q must not be optional", name)
	}
	if s.DefaultMode == nil || *s.DefaultMode != secretFileMode {
		t.Errorf("Secret volume %q defaultMode = %v, want %#o", name, s.DefaultMode, secretFileMode)
	}
	if len(s.Items) > 0 {
		for key, file := range projected {
			if !slices.ContainsFunc(s.Items, func(it corev1.KeyToPath) bool {
				return it.Key == key && it.Path == file
			}) {
				t.Errorf("Secret volume %q items %+v do not project key %s to %s", name, s.Items,
					key, file)
			}
		}
	}
	var mounts []corev1.VolumeMount
	for _, m := range w.container.VolumeMounts {
		if m.Name == vol.Name {
			mounts = append(mounts, m)
		}
	}
	if len(mounts) != 1 {
		t.Fatalf("Secret volume %q is mounted %d times, want once", name, len(mounts))
	}
	m := mounts[0]
	if !m.ReadOnly {
		t.Errorf("Secret %q must be mounted read-only", name)
	}
	if m.SubPath != "" {
		t.Errorf("Secret %q must not use subPath (it would not see Secret updates)", name)
	}
	return vol, m.MountPath
}

// tlsSecretName is the Secret holding tls.crt, tls.key and ca.crt: the existing one, or
// the one the rendered Certificate writes.
func (w *wiring) tlsSecretName() string {
	w.t.Helper()
	if !w.sec.certManager {
		return w.sec.tlsSecret
	}
	if len(w.m.Certificates) != 1 {
		w.t.Fatalf("want 1 cert-manager Certificate, got %d", len(w.m.Certificates))
	}
	return w.m.Certificates[0].Spec.SecretName
}

// tlsDir is where the TLS Secret is mounted.
func (w *wiring) tlsDir() string {
	w.t.Helper()
	_, dir := w.secretMount(w.tlsSecretName(),
		map[string]string{"tls.crt": "tls.crt", "tls.key": "tls.key", "ca.crt": "ca.crt"})
	return dir
}

func (w *wiring) checkListenAndAuth() {
	t := w.t
	f := w.flags()
	if got := f["--host"]; len(got) != 1 || got[0] != "0.0.0.0" {
		t.Errorf("--host = %q, want 0.0.0.0 (the Service and the other pods reach the pod IP)",
			got)
	}
	_, insecure := f["--insecure-no-auth"]
	if insecure != w.sec.insecure {
		t.Errorf("--insecure-no-auth present = %v, want %v (auth.insecureNoAuth)", insecure,
			w.sec.insecure)
	}
	if w.sec.insecure {
		if v, ok := f["--clients"]; ok {
			t.Errorf("--clients %q passed although auth.insecureNoAuth is true", v)
		}
	} else {
		clients := w.flagValue(f, "--clients")
		_, dir := w.secretMount(w.sec.clientsSecret,
			map[string]string{w.sec.clientsKey: clientsFileName})
		if want := path.Join(dir, clientsFileName); clients != want {
			t.Errorf("--clients = %q, but Secret %q's %s is mounted at %q", clients,
				w.sec.clientsSecret, w.sec.clientsKey, want)
		}
	}
	for _, env := range []string{"BS_CLIENTS_FILE", "BS_INSECURE_NO_AUTH"} {
		if _, ok := w.envByName[env]; ok {
			t.Errorf("env %s is set besides the flags: one source of truth, please", env)
		}
	}
	// Secret volumes are exactly the key sources' (keys.csv, keystores and their password,
	// the PKCS#11 PIN and the operator's own for the module), clients (unless insecure), TLS
	// (when enabled) and the PostgreSQL password (when it comes from a Secret).
	wantSecrets := w.keys.secretVolumes()
	if !w.sec.insecure {
		wantSecrets++
	}
	if w.sec.tls {
		wantSecrets++
	}
	if w.postgres.secret != "" {
		wantSecrets++
	}
	n := 0
	for _, v := range w.pod.Volumes {
		if v.Secret != nil {
			n++
		}
	}
	if n != wantSecrets {
		t.Errorf("pod mounts %d Secret volumes, want %d (key sources, clients unless "+
			"insecureNoAuth, TLS when enabled, PostgreSQL password)", n, wantSecrets)
	}
	if got := f["--allow-origin"]; !slices.Equal(got, w.sec.allowedOrigins) &&
		(len(got) != 0 || len(w.sec.allowedOrigins) != 0) {
		t.Errorf("--allow-origin values %q, want %q (auth.allowedOrigins)", got,
			w.sec.allowedOrigins)
	}
	if got, want := f["--audit-retention-days"], w.sec.retentionDays; (want == 0 && len(got) != 0) ||
		(want > 0 && !slices.Equal(got, []string{fmt.Sprint(want)})) {
		t.Errorf("--audit-retention-days = %q, want %d (audit.retentionDays; 0: absent)", got, want)
	}
	if v, ok := f["--metrics-auth"]; ok != w.sec.metricsAuth || (ok && v[0] != "") {
		t.Errorf("--metrics-auth = %q (present %v), want present %v as a switch", v, ok,
			w.sec.metricsAuth)
	}
}

func (w *wiring) checkTLS() {
	t := w.t
	f := w.flags()
	tlsFlags := []string{"--tls-cert", "--tls-key", "--peer-ca"}
	mtlsFlags := []string{"--tls-client-ca", "--peer-cert", "--peer-key"}
	if !w.sec.tls {
		for _, name := range append(tlsFlags, mtlsFlags...) {
			if v, ok := f[name]; ok {
				t.Errorf("%s %q passed although tls.enabled is false", name, v)
			}
		}
		if len(w.m.Certificates) != 0 {
			t.Errorf("Certificate rendered although tls is disabled")
		}
		return
	}
	dir := w.tlsDir()
	profile := w.sec.tlsProfile
	if profile == "" {
		profile = "intermediate" // the chart's default
	}
	want := map[string]string{
		"--tls-cert":    path.Join(dir, "tls.crt"),
		"--tls-key":     path.Join(dir, "tls.key"),
		"--peer-ca":     path.Join(dir, "ca.crt"),
		"--tls-profile": profile,
	}
	if w.sec.mtls {
		want["--tls-client-ca"] = path.Join(dir, "ca.crt")
		want["--peer-cert"] = path.Join(dir, "tls.crt")
		want["--peer-key"] = path.Join(dir, "tls.key")
		// A proxy's certificate (the ingress's) must reach the signer as --proxy-cert-name, or
		// a client named by it would take every request through the proxy as its own.
		if got := f["--proxy-cert-name"]; !slices.Equal(got, w.sec.proxyCertNames) {
			t.Errorf("--proxy-cert-name = %q, want %q (tls.proxyCertNames)", got,
				w.sec.proxyCertNames)
		}
	} else {
		for _, name := range mtlsFlags {
			if v, ok := f[name]; ok {
				t.Errorf("%s %q passed although tls.requireClientCert is false", name, v)
			}
		}
	}
	for name, file := range want {
		if got := w.flagValue(f, name); got != file {
			t.Errorf("%s = %q, want %q (the mounted TLS Secret)", name, got, file)
		}
	}
	if !w.sec.certManager {
		if len(w.m.Certificates) != 0 {
			t.Errorf("Certificate rendered although tls.existingSecret is used")
		}
		return
	}
	w.checkCertificate()
}

func (w *wiring) checkCertificate() {
	t := w.t
	c := w.m.Certificates[0]
	if c.Namespace != releaseNamespace {
		t.Errorf("Certificate namespace = %q, want %q", c.Namespace, releaseNamespace)
	}
	if c.Spec.IssuerRef.Name != w.sec.issuer || c.Spec.IssuerRef.Name == "" {
		t.Errorf("Certificate issuerRef.name = %q, want %q", c.Spec.IssuerRef.Name, w.sec.issuer)
	}
	u, err := url.Parse(w.envValue("BS_MSG_SIGNER_URL"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{u.Hostname(), w.service.Name,
		fmt.Sprintf("%s.%s.svc", w.service.Name, releaseNamespace), "localhost"} {
		if !slices.Contains(c.Spec.DNSNames, name) {
			t.Errorf("Certificate dnsNames %q lack %q", c.Spec.DNSNames, name)
		}
	}
	if !slices.Contains(c.Spec.IPAddresses, "127.0.0.1") {
		t.Errorf("Certificate ipAddresses %q lack 127.0.0.1", c.Spec.IPAddresses)
	}
	// The same certificate serves clients and is presented to the other pods under mTLS.
	for _, usage := range []string{"server auth", "client auth"} {
		if !slices.Contains(c.Spec.Usages, usage) {
			t.Errorf("Certificate usages %q lack %q", c.Spec.Usages, usage)
		}
	}
	if c.Spec.Duration == nil || c.Spec.RenewBefore == nil ||
		c.Spec.RenewBefore.Duration >= c.Spec.Duration.Duration {
		t.Errorf("Certificate renewBefore %v must be set and shorter than duration %v",
			c.Spec.RenewBefore, c.Spec.Duration)
	}
}

// checkHealthcheckProbe pins the mTLS probe: `signer healthcheck` against https://localhost
// on the internal container port, verifying with the mounted CA and presenting the pod's
// certificate.
func (w *wiring) checkHealthcheckProbe(kind string, p *corev1.Probe, probePath string) {
	t := w.t
	t.Helper()
	if p == nil || p.Exec == nil || p.HTTPGet != nil || p.TCPSocket != nil {
		t.Errorf("%s probe must be an exec probe under mTLS, got %+v", kind, p)
		return
	}
	dir := w.tlsDir()
	port := w.portByName[internalPortName].ContainerPort
	if port == 0 {
		t.Errorf("%s probe: no container port named %q", kind, internalPortName)
	}
	want := []string{signerBinary, "healthcheck",
		"--url", fmt.Sprintf("https://localhost:%d%s", port, probePath),
		"--peer-ca", path.Join(dir, "ca.crt"),
		"--peer-cert", path.Join(dir, "tls.crt"),
		"--peer-key", path.Join(dir, "tls.key")}
	if !slices.Equal(p.Exec.Command, want) {
		t.Errorf("%s probe runs %q, want %q", kind, p.Exec.Command, want)
	}
}

func (w *wiring) checkServiceMonitorSecurity() {
	t := w.t
	if len(w.m.ServiceMonitors) != 1 {
		return // checkServiceMonitor decides whether one must exist
	}
	ep := w.m.ServiceMonitors[0].Spec.Endpoints[0]
	if !w.sec.tls {
		if (ep.Scheme != "" && ep.Scheme != "http") || ep.TLSConfig != nil {
			t.Errorf("ServiceMonitor scheme %q / tlsConfig %+v without TLS", ep.Scheme, ep.TLSConfig)
		}
	} else {
		if ep.Scheme != "https" {
			t.Errorf("ServiceMonitor scheme = %q, want https", ep.Scheme)
		}
		tc := ep.TLSConfig
		if tc == nil || tc.CA == nil || tc.CA.Secret == nil {
			t.Fatalf("ServiceMonitor tlsConfig must take the CA from a Secret, got %+v", tc)
		}
		if tc.CA.Secret.Name != w.tlsSecretName() || tc.CA.Secret.Key != "ca.crt" {
			t.Errorf("ServiceMonitor CA = %s/%s, want %s/ca.crt", tc.CA.Secret.Name,
				tc.CA.Secret.Key, w.tlsSecretName())
		}
		u, _ := url.Parse(w.envValue("BS_MSG_SIGNER_URL"))
		if tc.ServerName != u.Hostname() {
			t.Errorf("ServiceMonitor serverName = %q, want the Service name %q", tc.ServerName,
				u.Hostname())
		}
		if tc.InsecureSkipVerify != nil && *tc.InsecureSkipVerify {
			t.Errorf("ServiceMonitor must verify the certificate")
		}
		if w.sec.mtls {
			if tc.Cert == nil || tc.Cert.Secret == nil || tc.Cert.Secret.Name != w.sec.promCertSecret ||
				tc.Cert.Secret.Key != "tls.crt" || tc.KeySecret == nil ||
				tc.KeySecret.Name != w.sec.promCertSecret || tc.KeySecret.Key != "tls.key" {
				t.Errorf("ServiceMonitor client certificate %+v / key %+v, want Secret %q "+
					"tls.crt and tls.key", tc.Cert, tc.KeySecret, w.sec.promCertSecret)
			}
		} else if tc.Cert != nil || tc.KeySecret != nil {
			t.Errorf("ServiceMonitor presents a client certificate without mTLS")
		}
	}
	a := ep.Authorization
	if !w.sec.metricsAuth {
		if a != nil {
			t.Errorf("ServiceMonitor sends credentials %+v although metrics.requireAuth is false", a)
		}
		return
	}
	if a == nil || a.Type != "Bearer" || a.Credentials == nil ||
		a.Credentials.Name != w.sec.bearerSecret || a.Credentials.Key != w.sec.bearerKey {
		t.Errorf("ServiceMonitor authorization = %+v, want Bearer from Secret %s key %s", a,
			w.sec.bearerSecret, w.sec.bearerKey)
	}
}

// checkMountsNameVolumes pins that every volumeMount names a volume of the pod, and every
// volume is mounted: a mount guarded by one condition and its volume by another would
// render a pod the API server rejects.
func (w *wiring) checkMountsNameVolumes() {
	t := w.t
	volumes := map[string]bool{}
	for _, v := range w.pod.Volumes {
		volumes[v.Name] = false
	}
	for _, m := range w.container.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			t.Errorf("volumeMount %q at %s names no volume of the pod", m.Name, m.MountPath)
		}
		volumes[m.Name] = true
	}
	for name, mounted := range volumes {
		if !mounted {
			t.Errorf("volume %q is not mounted in the signer container", name)
		}
	}
}
