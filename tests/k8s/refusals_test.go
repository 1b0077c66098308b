package k8s

import (
	"slices"
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
		{"no key source at all", []string{"keys.existingSecret="}, "keys: no key source"},
		{"keystores secret without files", []string{"keys.keystores.existingSecret=ks",
			"keys.keystores.passwordSecret=pw"}, "keys.keystores.files is required"},
		{"keystore files without their secret", []string{keystoreRefusalBase[1],
			"keys.keystores.passwordSecret=pw"}, "keys.keystores.existingSecret is required"},
		{"keystore files without a password secret", keystoreRefusalBase[:2:2],
			"keys.keystores.passwordSecret is required"},
		{"keystore file with a slash", with(keystoreRefusalBase,
			"keys.keystores.files={a/UTC--x}"), "/keys/keystores/files/0"},
		{"keystore file kubelet reserves", with(keystoreRefusalBase,
			"keys.keystores.files={..data}"), "/keys/keystores/files/0"},
		{"keystore file listed twice", with(keystoreRefusalBase,
			"keys.keystores.files={UTC--x,UTC--x}"), "are equal"},
		{"misspelt keystores value", with(keystoreRefusalBase,
			"keys.keystores.passwordSecert=pw"), "passwordSecert"},
		{"pkcs11 without a module", pkcs11RefusalBase("module"),
			"keys.pkcs11.module is required"},
		{"pkcs11 without a token", pkcs11RefusalBase("token"), "keys.pkcs11.token is required"},
		{"pkcs11 without key labels", pkcs11RefusalBase("keyLabels"),
			"keys.pkcs11.keyLabels is required"},
		{"pkcs11 without a PIN secret", pkcs11RefusalBase("pinSecret"),
			"keys.pkcs11.pinSecret is required"},
		{"pkcs11 module not an absolute path", with(pkcs11RefusalBase(""),
			"keys.pkcs11.module=libsofthsm2.so"), "/keys/pkcs11/module"},
		{"pkcs11 env overriding the signer's", with(pkcs11RefusalBase(""),
			"keys.pkcs11.env[0].name=BS_KEY_CONFIG", "keys.pkcs11.env[0].value=/tmp/k.yaml"),
			"/keys/pkcs11/env/0/name"},
		{"pkcs11 volume named like the chart's", with(pkcs11RefusalBase(""),
			"keys.pkcs11.volumes[0].name=keystores", "keys.pkcs11.volumes[0].emptyDir.medium=Memory",
			"keys.pkcs11.volumeMounts[0].name=keystores",
			"keys.pkcs11.volumeMounts[0].mountPath=/hsm"), "the chart's own volume"},
		{"pkcs11 mount inside the PIN mount", with(pkcs11RefusalBase(""),
			"keys.pkcs11.volumes[0].name=hsm", "keys.pkcs11.volumes[0].emptyDir.medium=Memory",
			"keys.pkcs11.volumeMounts[0].name=hsm",
			"keys.pkcs11.volumeMounts[0].mountPath=/etc/message-signer/pkcs11-pin/hsm"),
			"mount paths overlap"},
		{"keystores mounted over keys.csv", with(keystoreRefusalBase,
			"keys.keystores.mountPath=/etc/message-signer/keys/"), "mount paths overlap"},
		// What `helm upgrade --reuse-values` from a chart before key sources would render.
		{"keystores block missing", []string{"keys.keystores=null"},
			"missing property 'keystores'"},
		{"pkcs11 block missing", []string{"keys.pkcs11=null"}, "missing property 'pkcs11'"},
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

// keystoreRefusalBase is a complete keystores block: secret, files, password secret.
var keystoreRefusalBase = []string{"keys.keystores.existingSecret=ks",
	"keys.keystores.files={UTC--a}", "keys.keystores.passwordSecret=pw"}

// pkcs11RefusalBase is a complete keys.pkcs11 block without `missing` ("": complete).
func pkcs11RefusalBase(missing string) []string {
	set := []string{"keys.pkcs11.enabled=true"}
	for field, value := range map[string]string{"module": "/usr/lib/softhsm/libsofthsm2.so",
		"token": "signer", "keyLabels": "{key-1}", "pinSecret": "hsm-pin"} {
		if field != missing {
			set = append(set, "keys.pkcs11."+field+"="+value)
		}
	}
	return set
}

// with returns base followed by extra, in a new slice (base is shared by several cases).
func with(base []string, extra ...string) []string {
	return append(slices.Clip(base), extra...)
}
