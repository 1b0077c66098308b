package k8s

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	clusterDomain    = "cluster.local"
	signerBinary     = "/usr/local/bin/signer"
	keysFileName     = "keys.csv"
	keysFileMode     = int32(0o400)
	nonRootUID       = int64(10001)
	httpPortName     = "http"
	internalPortName = "internal"
	livenessPath     = "/healthz"
	readinessPath    = "/readyz"
	metricsPath      = "/metrics"
	hostnameTopoKey  = "kubernetes.io/hostname"
)

func TestChartLintsStrictly(t *testing.T) {
	for _, c := range renderCases(t) {
		t.Run(c.name, func(t *testing.T) {
			runHelm(t, append([]string{"lint", "--strict", chartDir}, valuesArgs(c)...)...)
		})
	}
}

func TestChartRendersOnlyKnownKindsThatDecodeStrictly(t *testing.T) {
	for _, c := range renderCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeStrict(renderChart(t, c))
			if err != nil {
				t.Fatal(err)
			}
			if m.Count() == 0 {
				t.Fatal("helm template rendered no objects")
			}
			t.Logf("%d objects decoded strictly", m.Count())
		})
	}
}

func TestChartWiring(t *testing.T) {
	for _, c := range renderCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeStrict(renderChart(t, c))
			if err != nil {
				t.Fatal(err)
			}
			w := newWiring(t, m, c.sec, c.ports)
			w.postgres = c.postgres
			w.keys = c.keys
			w.checkCommandAndPort()
			w.checkInternalListener()
			w.checkConnectionLimits()
			w.checkListenAndAuth()
			w.checkTLS()
			w.checkMountsNameVolumes()
			w.checkProbes()
			w.checkKeySources(c.keys)
			w.checkServiceTargetsContainerPort()
			w.checkSignerURLNamesService()
			w.checkSecurityContext()
			w.checkInternalToken(c.internalTokenSecret)
			w.checkStoreEnv(c.postgres)
			w.checkShutdownBudget()
			w.checkAntiAffinity()
			w.checkPDB()
			w.checkNetworkPolicy()
			w.checkNetworkPolicyPorts()
			w.checkServiceAccount()
			w.checkHPA(c.hpa)
			w.checkServiceMonitor(c.serviceMonitor)
			w.checkServiceMonitorSecurity()
		})
	}
}

// wiring holds one rendering's objects and checks how they refer to each other.
type wiring struct {
	t          *testing.T
	m          *Manifests
	deploy     *appsv1.Deployment
	pod        *corev1.PodSpec
	container  *corev1.Container
	service    *corev1.Service
	podLabels  map[string]string
	envByName  map[string]corev1.EnvVar
	portByName map[string]corev1.ContainerPort
	sec        securityCase
	ports      portsCase
	postgres   postgresCase
	keys       keySourcesCase
}

func newWiring(t *testing.T, m *Manifests, sec securityCase, ports portsCase) *wiring {
	t.Helper()
	if len(m.Deployments) != 1 {
		t.Fatalf("want exactly 1 Deployment, got %d", len(m.Deployments))
	}
	if len(m.Services) != 1 {
		t.Fatalf("want exactly 1 Service, got %d", len(m.Services))
	}
	d := &m.Deployments[0]
	pod := &d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want exactly 1 container in the signer pod, got %d", len(pod.Containers))
	}
	w := &wiring{
		t: t, m: m, deploy: d, pod: pod, container: &pod.Containers[0], service: &m.Services[0],
		podLabels:  d.Spec.Template.Labels,
		envByName:  map[string]corev1.EnvVar{},
		portByName: map[string]corev1.ContainerPort{},
		sec:        sec,
		ports:      ports,
	}
	for _, e := range w.container.Env {
		if _, dup := w.envByName[e.Name]; dup {
			t.Errorf("env %s is set twice", e.Name)
		}
		w.envByName[e.Name] = e
	}
	for _, p := range w.container.Ports {
		w.portByName[p.Name] = p
	}
	if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, w.podLabels) {
		t.Fatalf("Deployment selector %v does not select its own pod labels %v",
			d.Spec.Selector, w.podLabels)
	}
	return w
}

// envValue returns a plain env value; it fails the test when the variable is missing or
// comes from a reference.
func (w *wiring) envValue(name string) string {
	w.t.Helper()
	e, ok := w.envByName[name]
	if !ok {
		w.t.Fatalf("env %s is not set", name)
	}
	if e.ValueFrom != nil {
		w.t.Fatalf("env %s must be a plain value, got valueFrom %+v", name, e.ValueFrom)
	}
	return e.Value
}

// resolvePort maps a named or numeric port of the signer container to its number.
func (w *wiring) resolvePort(p intstr.IntOrString) (int32, error) {
	if p.Type == intstr.String {
		cp, ok := w.portByName[p.StrVal]
		if !ok {
			return 0, fmt.Errorf("named port %q is not a port of container %s", p.StrVal,
				w.container.Name)
		}
		return cp.ContainerPort, nil
	}
	for _, cp := range w.container.Ports {
		if cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("port %d is not a port of container %s", p.IntVal, w.container.Name)
}

func (w *wiring) checkCommandAndPort() {
	t := w.t
	cmd := append(append([]string{}, w.container.Command...), w.container.Args...)
	if len(cmd) < 2 || cmd[0] != signerBinary || cmd[1] != "serve" {
		t.Errorf("container runs %q, want %s serve", cmd, signerBinary)
	}
	http, ok := w.portByName[httpPortName]
	if !ok {
		t.Fatalf("container has no port named %q: %+v", httpPortName, w.container.Ports)
	}
	if http.Protocol != corev1.ProtocolTCP {
		t.Errorf("port http protocol = %q, want TCP", http.Protocol)
	}
	if e := w.envByName["BS_POD_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("BS_POD_NAME must come from the downward API metadata.name, got %+v", e)
	}
	if got := w.envValue("BS_SIGNER_PORT"); got != strconv.Itoa(int(http.ContainerPort)) {
		t.Errorf("BS_SIGNER_PORT = %q, but the container port named http is %d", got,
			http.ContainerPort)
	}
}

func (w *wiring) checkProbes() {
	t := w.t
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", w.container.LivenessProbe, livenessPath},
		{"readiness", w.container.ReadinessProbe, readinessPath},
	} {
		if w.sec.mtls {
			// The kubelet cannot present a client certificate: exec `signer healthcheck`.
			w.checkHealthcheckProbe(p.kind, p.probe, p.path)
			continue
		}
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe must be an httpGet probe, got %+v", p.kind, p.probe)
			continue
		}
		wantScheme := corev1.URISchemeHTTP
		if w.sec.tls {
			wantScheme = corev1.URISchemeHTTPS
		}
		if got := p.probe.HTTPGet.Scheme; got != wantScheme && !(got == "" && !w.sec.tls) {
			t.Errorf("%s probe scheme = %q, want %q", p.kind, got, wantScheme)
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe path = %q, want %q", p.kind, p.probe.HTTPGet.Path, p.path)
		}
		if p.probe.HTTPGet.Port.Type != intstr.String {
			t.Errorf("%s probe should use the named port, got %v", p.kind, p.probe.HTTPGet.Port)
		}
		w.checkProbeOnInternalPort(p.kind, p.probe.HTTPGet.Port)
	}
	sp := w.container.StartupProbe
	switch {
	case sp == nil:
		t.Errorf("startup probe missing")
	case w.sec.mtls:
		w.checkHealthcheckProbe("startup", sp, livenessPath)
	case sp.HTTPGet == nil:
		t.Errorf("startup probe must be an httpGet probe, got %+v", sp)
	default:
		w.checkProbeOnInternalPort("startup", sp.HTTPGet.Port)
		if w.sec.tls && sp.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("startup probe scheme = %q, want HTTPS", sp.HTTPGet.Scheme)
		}
	}
}

// checkProbeOnInternalPort pins a probe to the internal listener: a flood on port http must
// not make the kubelet restart or unready the pods.
func (w *wiring) checkProbeOnInternalPort(kind string, port intstr.IntOrString) {
	t := w.t
	t.Helper()
	got, err := w.resolvePort(port)
	if err != nil {
		t.Errorf("%s probe: %v", kind, err)
		return
	}
	if want := w.portByName[internalPortName].ContainerPort; got != want || want == 0 {
		t.Errorf("%s probe port %v resolves to %d, want the container port named %q (%d)",
			kind, port.String(), got, internalPortName, want)
	}
}

func (w *wiring) checkKeysVolume(wantSecret string) {
	t := w.t
	if wantSecret == "" {
		t.Fatal("test case has no expected keys.existingSecret")
	}
	var keys *corev1.Volume
	for i := range w.pod.Volumes {
		if s := w.pod.Volumes[i].Secret; s != nil && s.SecretName == wantSecret {
			keys = &w.pod.Volumes[i]
		}
	}
	if keys == nil {
		var names []string
		for _, v := range w.pod.Volumes {
			if v.Secret != nil {
				names = append(names, v.Secret.SecretName)
			}
		}
		t.Fatalf("no Secret volume for keys.existingSecret %q; Secret volumes: %q", wantSecret, names)
	}
	s := keys.Secret
	if s.Optional != nil && *s.Optional {
		t.Errorf("the keys Secret volume must not be optional")
	}
	if s.DefaultMode == nil || *s.DefaultMode != keysFileMode {
		t.Errorf("keys volume defaultMode = %v, want %#o", s.DefaultMode, keysFileMode)
	}
	if len(s.Items) > 0 {
		found := false
		for _, it := range s.Items {
			found = found || (it.Key == keysFileName && it.Path == keysFileName)
		}
		if !found {
			t.Errorf("keys volume items %+v do not project %s to %s", s.Items, keysFileName,
				keysFileName)
		}
	}
	var mount *corev1.VolumeMount
	for i := range w.container.VolumeMounts {
		if w.container.VolumeMounts[i].Name == keys.Name {
			mount = &w.container.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("keys volume %q is not mounted in the signer container", keys.Name)
	}
	if !mount.ReadOnly {
		t.Errorf("keys volume must be mounted read-only")
	}
	if mount.SubPath != "" {
		t.Errorf("keys volume must not use subPath (it would not see Secret updates)")
	}
	if got := w.envValue("BS_KEYS_DIR"); got != mount.MountPath {
		t.Errorf("BS_KEYS_DIR = %q, but the keys Secret is mounted at %q", got, mount.MountPath)
	}
}

func (w *wiring) checkServiceTargetsContainerPort() {
	t := w.t
	svc := w.service
	if !selects(svc.Spec.Selector, w.podLabels) {
		t.Errorf("Service selector %v does not select the pod labels %v", svc.Spec.Selector,
			w.podLabels)
	}
	if len(svc.Spec.Ports) != 2 {
		t.Fatalf("want 2 Service ports (http, internal), got %+v", svc.Spec.Ports)
	}
	// Each Service port targets the container port of the same name.
	for _, name := range []string{httpPortName, internalPortName} {
		p := w.servicePort(name)
		if p == nil {
			continue
		}
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			t.Errorf("Service port %s protocol = %q, want TCP", name, p.Protocol)
		}
		got, err := w.resolvePort(w.serviceTarget(*p))
		if err != nil {
			t.Errorf("Service port %s targetPort: %v", name, err)
			continue
		}
		if want := w.portByName[name].ContainerPort; got != want {
			t.Errorf("Service port %s targetPort resolves to %d, want the %s container port %d",
				name, got, name, want)
		}
	}
	if p := w.servicePort(internalPortName); p != nil && p.Port != w.ports.serviceInternalPort {
		t.Errorf("Service port internal = %d, want service.internalPort %d", p.Port,
			w.ports.serviceInternalPort)
	}
}

// servicePort returns the Service port of that name, failing the test when it is missing.
func (w *wiring) servicePort(name string) *corev1.ServicePort {
	w.t.Helper()
	for i := range w.service.Spec.Ports {
		if w.service.Spec.Ports[i].Name == name {
			return &w.service.Spec.Ports[i]
		}
	}
	w.t.Errorf("Service has no port named %q: %+v", name, w.service.Spec.Ports)
	return nil
}

// serviceTarget is a Service port's targetPort, which defaults to its port.
func (w *wiring) serviceTarget(p corev1.ServicePort) intstr.IntOrString {
	if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
		return intstr.FromInt32(p.Port)
	}
	return p.TargetPort
}

func (w *wiring) checkSignerURLNamesService() {
	t := w.t
	raw := w.envValue("BS_MSG_SIGNER_URL")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("BS_MSG_SIGNER_URL %q: %v", raw, err)
	}
	ns := w.service.Namespace
	if ns == "" {
		ns = releaseNamespace
	}
	wantHost := fmt.Sprintf("%s.%s.svc.%s", w.service.Name, ns, clusterDomain)
	// The peer URL is the Service's internal port: batches never queue behind public clients.
	internal := w.servicePort(internalPortName)
	if internal == nil {
		return
	}
	wantPort := strconv.Itoa(int(internal.Port))
	wantScheme := "http"
	if w.sec.tls {
		wantScheme = "https"
	}
	if u.Scheme != wantScheme || u.Hostname() != wantHost || u.Port() != wantPort ||
		(u.Path != "" && u.Path != "/") {
		t.Errorf("BS_MSG_SIGNER_URL = %q, want %s://%s:%s (the rendered Service's internal port)", raw,
			wantScheme, wantHost, wantPort)
	}
}

func (w *wiring) checkSecurityContext() {
	t := w.t
	psc := w.pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot must be true, got %+v", psc)
	}
	if psc != nil && (psc.FSGroup == nil || *psc.FSGroup == 0) {
		t.Errorf("pod securityContext.fsGroup must be set (non-root reads the 0400 keys file "+
			"through it), got %v", psc.FSGroup)
	}
	sc := w.container.SecurityContext
	if sc == nil {
		t.Fatal("container securityContext missing")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem must be true")
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("container runAsNonRoot must be true")
	}
	uid := sc.RunAsUser
	if uid == nil && psc != nil {
		uid = psc.RunAsUser
	}
	if uid == nil || *uid != nonRootUID {
		t.Errorf("runAsUser = %v, want %d (the image's USER)", uid, nonRootUID)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation must be false")
	}
	if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
		len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities must drop ALL and add none, got %+v", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && psc != nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile must be RuntimeDefault, got %+v", seccomp)
	}
	// The only writable path is an emptyDir at /tmp.
	tmp := false
	for _, vm := range w.container.VolumeMounts {
		if vm.MountPath != "/tmp" {
			continue
		}
		for _, v := range w.pod.Volumes {
			tmp = tmp || (v.Name == vm.Name && v.EmptyDir != nil)
		}
	}
	if !tmp {
		t.Errorf("no emptyDir mounted at /tmp")
	}
	if w.pod.AutomountServiceAccountToken == nil || *w.pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken must be false: the signer never calls the API")
	}
}

func (w *wiring) checkInternalToken(existing string) {
	t := w.t
	e, ok := w.envByName["BS_INTERNAL_TOKEN"]
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("BS_INTERNAL_TOKEN must come from a secretKeyRef, got %+v", e)
	}
	ref := e.ValueFrom.SecretKeyRef
	if ref.Optional != nil && *ref.Optional {
		t.Errorf("BS_INTERNAL_TOKEN must not be optional")
	}
	generated := findSecret(w.m, ref.Name)
	if existing != "" {
		if ref.Name != existing {
			t.Errorf("BS_INTERNAL_TOKEN reads Secret %q, want internalToken.existingSecret %q",
				ref.Name, existing)
		}
		if generated != nil {
			t.Errorf("chart renders Secret %q although internalToken.existingSecret is set",
				ref.Name)
		}
		return
	}
	if generated == nil {
		t.Fatalf("BS_INTERNAL_TOKEN reads Secret %q, which the chart does not render", ref.Name)
	}
	token, ok := generated.Data[ref.Key]
	if !ok {
		t.Fatalf("generated Secret %q has no key %q", ref.Name, ref.Key)
	}
	if len(token) < 32 {
		t.Errorf("generated token has %d bytes, want at least 32", len(token))
	}
}

// checkStoreEnv checks the store's environment: MongoDB's (the original's BS_MONGO_*) by
// default, or PostgreSQL's, whose password is a file from the Secret, never an env value.
func (w *wiring) checkStoreEnv(pg postgresCase) {
	if pg == (postgresCase{}) {
		w.checkMongoEnv()
		return
	}
	t := w.t
	for name := range w.envByName {
		if strings.HasPrefix(name, "BS_MONGO") || name == "BS_PG_PASSWORD" {
			t.Errorf("store is postgresql but %s is set", name)
		}
	}
	e, ok := w.envByName["BS_STORE"]
	if !ok {
		t.Fatal("BS_STORE is not set")
	}
	if pg.url != "" {
		if e.Value != pg.url {
			t.Errorf("BS_STORE = %q, want %q", e.Value, pg.url)
		}
	} else if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != pg.secret || e.ValueFrom.SecretKeyRef.Key != pg.urlKey {
		t.Errorf("BS_STORE must read key %q of Secret %q, got %+v", pg.urlKey, pg.secret, e)
	}
	// A multi-host URL (host1:port1,host2:port2, libpq's failover list) is no URL for Go's
	// parser: the scheme and the user info are checked on the text.
	if e.Value != "" {
		scheme, rest, found := strings.Cut(e.Value, "://")
		if !found || (scheme != "postgres" && scheme != "postgresql") {
			t.Errorf("BS_STORE = %q is not a postgresql:// URL", e.Value)
		}
		authority, _, _ := strings.Cut(rest, "/")
		if userinfo, _, hasUser := strings.Cut(authority, "@"); hasUser &&
			strings.Contains(userinfo, ":") {
			t.Errorf("BS_STORE carries a password in plain text")
		}
	}
	pwdFile, hasFile := w.envByName["BS_PG_PASSWORD_FILE"]
	if pg.secret == "" {
		if hasFile {
			t.Errorf("BS_PG_PASSWORD_FILE set without a Secret: %+v", pwdFile)
		}
		return
	}
	if !hasFile || pwdFile.Value != pg.mountPath+"/password" {
		t.Fatalf("BS_PG_PASSWORD_FILE = %+v, want %s/password", pwdFile, pg.mountPath)
	}
	// The file is the Secret's password key, mounted read-only at mountPath.
	var mounted bool
	for _, m := range w.container.VolumeMounts {
		if m.MountPath != pg.mountPath {
			continue
		}
		mounted = m.ReadOnly
		for _, v := range w.pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.Secret == nil || v.Secret.SecretName != pg.secret || len(v.Secret.Items) != 1 ||
				v.Secret.Items[0].Key != pg.pwdKey || v.Secret.Items[0].Path != "password" {
				t.Errorf("volume %q must project key %q of Secret %q to password, got %+v",
					v.Name, pg.pwdKey, pg.secret, v.VolumeSource)
			}
		}
	}
	if !mounted {
		t.Errorf("no read-only volume mounted at %s", pg.mountPath)
	}
}

func (w *wiring) checkMongoEnv() {
	t := w.t
	e, ok := w.envByName["BS_MONGO_URL"]
	if !ok {
		t.Fatal("BS_MONGO_URL is not set")
	}
	if e.ValueFrom == nil {
		u, err := url.Parse(e.Value)
		if err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") {
			t.Errorf("BS_MONGO_URL = %q is not a mongodb:// URL", e.Value)
		}
		if u != nil && u.User != nil {
			if _, hasPwd := u.User.Password(); hasPwd {
				t.Errorf("BS_MONGO_URL carries a password in plain text")
			}
		}
	} else if e.ValueFrom.SecretKeyRef == nil {
		t.Errorf("BS_MONGO_URL must be a value or a secretKeyRef, got %+v", e.ValueFrom)
	}
	if p, ok := w.envByName["BS_MONGO_PWD"]; ok && (p.ValueFrom == nil || p.ValueFrom.SecretKeyRef == nil) {
		t.Errorf("BS_MONGO_PWD must come from a Secret, got %+v", p)
	}
}

func (w *wiring) checkShutdownBudget() {
	t := w.t
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if w.pod.TerminationGracePeriodSeconds != nil {
		grace = *w.pod.TerminationGracePeriodSeconds
	}
	budget, err := strconv.ParseInt(w.envValue("BS_SHUTDOWN_GRACE_SECONDS"), 10, 64)
	if err != nil || budget < 1 {
		t.Fatalf("BS_SHUTDOWN_GRACE_SECONDS must be a positive integer: %v", err)
	}
	preStop := int64(0)
	if l := w.container.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Exec != nil {
		cmd := l.PreStop.Exec.Command
		if len(cmd) == 2 && cmd[0] == "/bin/sleep" {
			preStop, _ = strconv.ParseInt(cmd[1], 10, 64)
		} else {
			t.Errorf("unexpected preStop command %q", cmd)
		}
	}
	if want := grace - preStop - 5; budget != want {
		t.Errorf("BS_SHUTDOWN_GRACE_SECONDS = %d, want grace %d - preStop %d - 5 = %d", budget,
			grace, preStop, want)
	}
}

func (w *wiring) checkAntiAffinity() {
	t := w.t
	a := w.pod.Affinity
	if a == nil || a.PodAntiAffinity == nil ||
		len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Fatalf("want preferred podAntiAffinity, got %+v", a)
	}
	term := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	if term.TopologyKey != hostnameTopoKey {
		t.Errorf("anti-affinity topologyKey = %q, want %q", term.TopologyKey, hostnameTopoKey)
	}
	if term.LabelSelector == nil || !selects(term.LabelSelector.MatchLabels, w.podLabels) {
		t.Errorf("anti-affinity selector %+v does not select the signer pods", term.LabelSelector)
	}
}

func (w *wiring) checkPDB() {
	t := w.t
	if len(w.m.PDBs) != 1 {
		t.Fatalf("want 1 PodDisruptionBudget, got %d", len(w.m.PDBs))
	}
	pdb := w.m.PDBs[0]
	if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
		t.Errorf("PDB must set exactly one of minAvailable/maxUnavailable: %+v", pdb.Spec)
	}
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, w.podLabels) {
		t.Errorf("PDB selector %+v does not select the signer pods", pdb.Spec.Selector)
	}
}

func (w *wiring) checkNetworkPolicy() {
	t := w.t
	if len(w.m.NetworkPolicies) != 1 {
		t.Fatalf("want 1 NetworkPolicy, got %d", len(w.m.NetworkPolicies))
	}
	np := w.m.NetworkPolicies[0]
	if !selects(np.Spec.PodSelector.MatchLabels, w.podLabels) {
		t.Errorf("NetworkPolicy podSelector %v does not select the signer pods",
			np.Spec.PodSelector.MatchLabels)
	}
	peersAllowed := false
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port == nil {
				t.Errorf("ingress rule without port opens every port")
				continue
			}
			if _, err := w.resolvePort(*p.Port); err != nil {
				t.Errorf("NetworkPolicy port: %v", err)
			}
		}
		for _, from := range rule.From {
			if from.NamespaceSelector == nil && from.PodSelector != nil &&
				selects(from.PodSelector.MatchLabels, w.podLabels) {
				peersAllowed = true
			}
		}
	}
	if !peersAllowed {
		t.Errorf("NetworkPolicy does not let the signer pods reach each other (coordinator -> " +
			"/batch via the Service)")
	}
}

func (w *wiring) checkServiceAccount() {
	t := w.t
	name := w.pod.ServiceAccountName
	for _, sa := range w.m.ServiceAccounts {
		if sa.Name == name {
			return
		}
	}
	if name != "" && name != "default" {
		t.Errorf("pod uses ServiceAccount %q, which the chart does not render", name)
	}
}

func (w *wiring) checkHPA(want bool) {
	t := w.t
	if !want {
		if len(w.m.HPAs) != 0 {
			t.Errorf("HPA rendered although autoscaling is disabled")
		}
		if w.deploy.Spec.Replicas == nil {
			t.Errorf("Deployment without replicas although autoscaling is disabled")
		}
		return
	}
	if len(w.m.HPAs) != 1 {
		t.Fatalf("want 1 HPA, got %d", len(w.m.HPAs))
	}
	ref := w.m.HPAs[0].Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != w.deploy.Name {
		t.Errorf("HPA scales %+v, want apps/v1 Deployment %s", ref, w.deploy.Name)
	}
	if w.deploy.Spec.Replicas != nil {
		t.Errorf("Deployment sets replicas although the HPA owns them")
	}
}

func (w *wiring) checkServiceMonitor(want bool) {
	t := w.t
	if !want {
		if len(w.m.ServiceMonitors) != 0 {
			t.Errorf("ServiceMonitor rendered although serviceMonitor.enabled is false")
		}
		return
	}
	if len(w.m.ServiceMonitors) != 1 {
		t.Fatalf("want 1 ServiceMonitor, got %d", len(w.m.ServiceMonitors))
	}
	sm := w.m.ServiceMonitors[0]
	if !selects(sm.Spec.Selector.MatchLabels, w.service.Labels) {
		t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v",
			sm.Spec.Selector.MatchLabels, w.service.Labels)
	}
	// Scrapes go to the internal listener, so a flood on port http cannot starve them.
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != internalPortName ||
		sm.Spec.Endpoints[0].Path != metricsPath {
		t.Fatalf("ServiceMonitor endpoints %+v, want port %q path %s", sm.Spec.Endpoints,
			internalPortName, metricsPath)
	}
	// The signer exports its own `pod` label (signer_records_signed_total,
	// signer_batches_run_total); without honorLabels Prometheus renames it exported_pod and the
	// dashboard's per-pod panels find nothing.
	if !sm.Spec.Endpoints[0].HonorLabels {
		t.Errorf("ServiceMonitor endpoint has no honorLabels: true: the signer's own pod label " +
			"would become exported_pod")
	}
	p := w.servicePort(sm.Spec.Endpoints[0].Port)
	if p == nil {
		return
	}
	got, err := w.resolvePort(w.serviceTarget(*p))
	if err != nil || got != w.portByName[internalPortName].ContainerPort {
		t.Errorf("ServiceMonitor port %q targets container port %d (%v), want the internal "+
			"listener %d", p.Name, got, err, w.portByName[internalPortName].ContainerPort)
	}
	// The NetworkPolicy must let the scraper (networkPolicy.metricsFrom) in on that port:
	// admitting only the release's own pods there would block every scrape.
	if len(w.m.NetworkPolicies) == 1 {
		admitted := w.peersByPort()[got]
		if !slices.ContainsFunc(admitted, func(p networkingv1.NetworkPolicyPeer) bool {
			return !w.isReleasePods(p)
		}) {
			t.Errorf("NetworkPolicy admits only the release's pods on the ServiceMonitor's port "+
				"%d: Prometheus cannot scrape (networkPolicy.metricsFrom)", got)
		}
		for _, peer := range w.ports.metricsFrom {
			if !containsPeer(admitted, peer) {
				t.Errorf("NetworkPolicy does not admit the scraper %+v on the ServiceMonitor's "+
					"port %d", peer, got)
			}
		}
	}
}

// selects reports whether every selector label is present with the same value in labels.
// An empty selector selects nothing here: the chart never means "everything".
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func findSecret(m *Manifests, name string) *corev1.Secret {
	for i := range m.Secrets {
		if m.Secrets[i].Name == name {
			return &m.Secrets[i]
		}
	}
	return nil
}
