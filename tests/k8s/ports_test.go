package k8s

import (
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Wiring of the two listeners: port http (the public API, with the per-client cap) and port
// internal (/healthz, /readyz, /metrics, /batch, own threads, no cap). The probes, the peer
// URL and the ServiceMonitor use port internal; the NetworkPolicy opens it only to the
// release's pods and networkPolicy.metricsFrom.

// checkInternalListener pins the container port named internal to --internal-port and to
// the internalPort value, distinct from port http.
func (w *wiring) checkInternalListener() {
	t := w.t
	internal, ok := w.portByName[internalPortName]
	if !ok {
		t.Fatalf("container has no port named %q: %+v", internalPortName, w.container.Ports)
	}
	if internal.Protocol != "TCP" {
		t.Errorf("port internal protocol = %q, want TCP", internal.Protocol)
	}
	if internal.ContainerPort != w.ports.internalPort {
		t.Errorf("container port internal = %d, want internalPort %d", internal.ContainerPort,
			w.ports.internalPort)
	}
	if internal.ContainerPort == w.portByName[httpPortName].ContainerPort {
		t.Errorf("ports http and internal are both %d", internal.ContainerPort)
	}
	f := w.flags()
	if got := f["--internal-port"]; len(got) != 1 ||
		got[0] != strconv.Itoa(int(internal.ContainerPort)) {
		t.Errorf("--internal-port = %q, want the container port named internal (%d)", got,
			internal.ContainerPort)
	}
	if _, ok := w.envByName["BS_INTERNAL_PORT"]; ok {
		t.Errorf("env BS_INTERNAL_PORT is set besides --internal-port: one source of truth, please")
	}
}

// checkConnectionLimits pins --max-connections-per-client and --header-timeout-ms to
// maxConnectionsPerClient and headerTimeoutMs. Both are passed even at 0 / the default, so
// the pod's args show what the server enforces.
func (w *wiring) checkConnectionLimits() {
	t := w.t
	f := w.flags()
	for _, c := range []struct {
		flag, value, env string
		want             int
	}{
		{"--max-connections-per-client", "maxConnectionsPerClient",
			"BS_MAX_CONNECTIONS_PER_CLIENT", w.ports.maxConnsPerClient},
		{"--header-timeout-ms", "headerTimeoutMs", "", w.ports.headerTimeoutMs},
	} {
		if got := f[c.flag]; len(got) != 1 || got[0] != strconv.Itoa(c.want) {
			t.Errorf("%s = %q, want exactly one %d (%s)", c.flag, got, c.want, c.value)
		}
		if _, ok := w.envByName[c.env]; c.env != "" && ok {
			t.Errorf("env %s is set besides %s: one source of truth, please", c.env, c.flag)
		}
	}
}

// peersByPort maps each container port the NetworkPolicy opens to the peers it admits there.
// A rule without ports or without peers fails the test: it would open a port to everyone.
func (w *wiring) peersByPort() map[int32][]networkingv1.NetworkPolicyPeer {
	t := w.t
	t.Helper()
	out := map[int32][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range w.m.NetworkPolicies[0].Spec.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("NetworkPolicy ingress rule %+v has no peers: it admits everyone", rule)
		}
		for _, p := range rule.Ports {
			if p.Port == nil {
				continue // checkNetworkPolicy reports it
			}
			n, err := w.resolvePort(*p.Port)
			if err != nil {
				continue // checkNetworkPolicy reports it
			}
			out[n] = append(out[n], rule.From...)
		}
	}
	return out
}

func containsPeer(peers []networkingv1.NetworkPolicyPeer, want networkingv1.NetworkPolicyPeer) bool {
	for _, p := range peers {
		if equality.Semantic.DeepEqual(p, want) {
			return true
		}
	}
	return false
}

// isReleasePods reports whether a peer is exactly "the pods of this release" (same
// namespace, a podSelector matching the signer pods).
func (w *wiring) isReleasePods(p networkingv1.NetworkPolicyPeer) bool {
	return p.NamespaceSelector == nil && p.IPBlock == nil && p.PodSelector != nil &&
		len(p.PodSelector.MatchExpressions) == 0 && selects(p.PodSelector.MatchLabels, w.podLabels)
}

// checkNetworkPolicyPorts pins who reaches which port: internal only from the release's pods
// (/batch) and networkPolicy.metricsFrom (Prometheus); http from the release's pods and
// networkPolicy.allowFrom, which never reach internal.
func (w *wiring) checkNetworkPolicyPorts() {
	t := w.t
	if len(w.m.NetworkPolicies) != 1 {
		return // checkNetworkPolicy reports it
	}
	httpPort := w.portByName[httpPortName].ContainerPort
	internalPort := w.portByName[internalPortName].ContainerPort
	byPort := w.peersByPort()
	for port := range byPort {
		if port != httpPort && port != internalPort {
			t.Errorf("NetworkPolicy opens container port %d, which is neither http nor internal", port)
		}
	}
	for _, c := range []struct {
		name    string
		port    int32
		allowed []networkingv1.NetworkPolicyPeer
	}{
		{httpPortName, httpPort, w.ports.allowFrom},
		{internalPortName, internalPort, w.ports.metricsFrom},
	} {
		peers := byPort[c.port]
		release := false
		for _, p := range peers {
			if w.isReleasePods(p) {
				release = true
				continue
			}
			if !containsPeer(c.allowed, p) {
				t.Errorf("NetworkPolicy admits %+v on port %s (%d), which is neither this "+
					"release's pods nor in the values for that port %+v", p, c.name, c.port, c.allowed)
			}
		}
		if !release {
			t.Errorf("NetworkPolicy does not let the release's pods reach port %s (%d)", c.name,
				c.port)
		}
		for _, want := range c.allowed {
			if !containsPeer(peers, want) {
				t.Errorf("NetworkPolicy does not admit %+v on port %s (%d)", want, c.name, c.port)
			}
		}
	}
}
