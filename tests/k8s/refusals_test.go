package k8s

import (
	"strings"
	"testing"
)

// The chart must refuse values that would deploy a broken signer, at render time.
func TestChartRefusesValuesThatCannotWork(t *testing.T) {
	for _, c := range []struct {
		name string
		set  []string
		want string // substring of helm's error
	}{
		{"no keys secret", []string{"keys.existingSecret="}, "keys.existingSecret is required"},
		{"misspelt value", []string{"keys.existingSecert=x"}, "existingSecert"},
		{"no mongodb", []string{"mongodb.existingSecret="}, "mongodb.existingSecret"},
		{"not a mongodb url", []string{"mongodb.url=http://x"}, "/mongodb/url"},
		{"postgresql without a url", []string{"store=postgresql"}, "postgresql.existingSecret"},
		{"postgresql url with a password", []string{"store=postgresql",
			"postgresql.url=postgresql://signer:hunter2@pg/signer"}, "/postgresql/url"},
		{"unknown store", []string{"store=redis"}, "/store"},
		{"both pdb bounds", []string{"podDisruptionBudget.maxUnavailable=1"}, "exactly one"},
		{"grace too short for preStop", []string{"terminationGracePeriodSeconds=10",
			"preStopSleepSeconds=5"}, "must exceed"},
		{"no clients secret and auth required", []string{"auth.clientsSecret.name="},
			"auth.clientsSecret.name is required"},
		{"metrics auth without clients", []string{"auth.insecureNoAuth=true",
			"metrics.requireAuth=true"}, "metrics.requireAuth"},
		{"tls without a certificate", []string{"tls.enabled=true"}, "tls.existingSecret"},
		{"tls from both sources", []string{"tls.enabled=true", "tls.existingSecret=c",
			"tls.certManager.enabled=true", "tls.certManager.issuerRef.name=ca"}, "not both"},
		{"cert-manager without issuer", []string{"tls.enabled=true",
			"tls.certManager.enabled=true"}, "tls.certManager.issuerRef.name is required"},
		{"mTLS without TLS", []string{"tls.requireClientCert=true"}, "needs tls.enabled"},
		{"scraping /metrics without a token", []string{"serviceMonitor.enabled=true",
			"metrics.requireAuth=true"}, "serviceMonitor.bearerTokenSecret.name is required"},
		{"scraping under mTLS without a client certificate", []string{"serviceMonitor.enabled=true",
			"tls.enabled=true", "tls.existingSecret=c", "tls.requireClientCert=true"},
			"serviceMonitor.clientCertSecret is required"},
		{"origin with a path", []string{"auth.allowedOrigins={https://a.example/x}"},
			"allowedOrigins"},
		{"misspelt tls value", []string{"tls.existingSecert=x"}, "existingSecert"},
		{"internal port is the public port", []string{"internalPort=8080"},
			"internalPort (8080) must differ from containerPort"},
		{"service internal port is the public one", []string{"service.internalPort=8080"},
			"service.internalPort (8080) must differ from service.port"},
		{"negative per-client cap", []string{"maxConnectionsPerClient=-1"},
			"maxConnectionsPerClient"},
		{"head deadline below the signer's range", []string{"headerTimeoutMs=50"},
			"headerTimeoutMs"},
		// What `helm upgrade --reuse-values` from an older chart would render: no new defaults.
		{"head deadline missing", []string{"headerTimeoutMs=null"}, "headerTimeoutMs"},
		{"per-client cap missing", []string{"maxConnectionsPerClient=null"},
			"maxConnectionsPerClient"},
		{"service internal port missing", []string{"service.internalPort=null"}, "internalPort"},
		{"misspelt metricsFrom", []string{"networkPolicy.metricsFrm[0].podSelector.matchLabels.a=b"},
			"metricsFrm"},
		{"mTLS probe on an unknown port name", []string{"tls.enabled=true", "tls.existingSecret=c",
			"tls.requireClientCert=true", "livenessProbe.httpGet.port=metrics"}, "probe port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := renderChartErr(t, c.set...)
			if err == nil {
				t.Fatalf("helm template accepted %v", c.set)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("error does not mention %q:\n%s", c.want, out)
			}
		})
	}
}
