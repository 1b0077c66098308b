package k8s

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test, relative to this package's directory (where
// `go test` runs).
const chartDir = "../../deploy/helm/message-signer"

const (
	releaseName      = "signer"
	releaseNamespace = "signer"
)

// renderCase is one way of installing the chart, with the values the rendering must
// reflect.
type renderCase struct {
	name        string
	valuesFiles []string // relative to chartDir
	set         []string // --set arguments
	// Expected values: read from the values files, then overridden by `set`.
	keys                keySourcesCase
	internalTokenSecret string // "" when the chart generates it
	serviceMonitor      bool
	hpa                 bool
	sec                 securityCase
	ports               portsCase
	postgres            postgresCase // zero: the store is MongoDB
}

// postgresCase is what a rendering with store=postgresql must show.
type postgresCase struct {
	secret    string // the Secret holding url and password ("" with a plain url)
	urlKey    string
	pwdKey    string
	url       string // the plain url, when no Secret
	mountPath string
}

// portsCase is what a rendering must show of the two listeners, the per-client cap and
// the head deadline, and who the NetworkPolicy lets in on which port.
type portsCase struct {
	internalPort        int32                            // internalPort: container port "internal", --internal-port
	serviceInternalPort int32                            // service.internalPort: the peer URL's and ServiceMonitor's port
	maxConnsPerClient   int                              // maxConnectionsPerClient (0: no cap)
	headerTimeoutMs     int                              // headerTimeoutMs
	allowFrom           []networkingv1.NetworkPolicyPeer // networkPolicy.allowFrom: port http
	metricsFrom         []networkingv1.NetworkPolicyPeer // networkPolicy.metricsFrom: port internal
}

func portsFromValues(v chartValues) portsCase {
	return portsCase{
		internalPort:        v.InternalPort,
		serviceInternalPort: v.Service.InternalPort,
		maxConnsPerClient:   v.MaxConnectionsPerClient,
		headerTimeoutMs:     v.HeaderTimeoutMs,
		allowFrom:           v.NetworkPolicy.AllowFrom,
		metricsFrom:         v.NetworkPolicy.MetricsFrom,
	}
}

// securityCase is what a rendering must show of auth, TLS and metrics auth.
type securityCase struct {
	clientsSecret  string // "" with insecureNoAuth
	clientsKey     string
	insecure       bool
	allowedOrigins []string
	metricsAuth    bool
	tls            bool
	tlsSecret      string // the existing Secret; "" with cert-manager (read off the Certificate)
	certManager    bool
	issuer         string // issuerRef.name with cert-manager
	mtls           bool
	proxyCertNames []string // tls.proxyCertNames, each a --proxy-cert-name under mTLS
	tlsProfile     string   // tls.profile, --tls-profile
	retentionDays  int      // audit.retentionDays, --audit-retention-days when > 0
	bearerSecret   string   // serviceMonitor.bearerTokenSecret.name
	bearerKey      string
	promCertSecret string // serviceMonitor.clientCertSecret
}

func securityFromValues(v chartValues) securityCase {
	s := securityCase{
		clientsKey:     v.Auth.ClientsSecret.Key,
		insecure:       v.Auth.InsecureNoAuth,
		allowedOrigins: v.Auth.AllowedOrigins,
		metricsAuth:    v.Metrics.RequireAuth,
		tls:            v.TLS.Enabled,
		certManager:    v.TLS.Enabled && v.TLS.CertManager.Enabled,
		issuer:         v.TLS.CertManager.IssuerRef.Name,
		mtls:           v.TLS.Enabled && v.TLS.RequireClientCert,
		proxyCertNames: v.TLS.ProxyCertNames,
		tlsProfile:     v.TLS.Profile,
		retentionDays:  v.Audit.RetentionDays,
		bearerSecret:   v.ServiceMonitor.BearerTokenSecret.Name,
		bearerKey:      v.ServiceMonitor.BearerTokenSecret.Key,
		promCertSecret: v.ServiceMonitor.ClientCertSecret,
	}
	if !s.insecure {
		s.clientsSecret = v.Auth.ClientsSecret.Name
	}
	if s.tls && !s.certManager {
		s.tlsSecret = v.TLS.ExistingSecret
	}
	return s
}

func renderCases(t *testing.T) []renderCase {
	t.Helper()
	defaults := readValues(t, "values.yaml")
	production := readValues(t, "values.yaml", "values-production.yaml")
	return []renderCase{
		{
			name:                "default",
			keys:                csvKeys(defaults),
			internalTokenSecret: defaults.InternalToken.ExistingSecret,
			serviceMonitor:      defaults.ServiceMonitor.Enabled,
			hpa:                 defaults.Autoscaling.Enabled,
			sec:                 securityFromValues(defaults),
			ports:               portsFromValues(defaults),
		},
		{
			name:                "production",
			valuesFiles:         []string{"values-production.yaml"},
			keys:                csvKeys(production),
			internalTokenSecret: production.InternalToken.ExistingSecret,
			serviceMonitor:      production.ServiceMonitor.Enabled,
			hpa:                 production.Autoscaling.Enabled,
			sec:                 securityFromValues(production),
			ports:               portsFromValues(production),
		},
		{
			// Every wired value moved away from its default, so a check that passes only
			// because two defaults happen to agree fails here.
			name: "overrides",
			set: []string{
				"keys.existingSecret=rotated-keys-2",
				"keys.mountPath=/var/run/signer-keys",
				"containerPort=9000",
				"internalPort=9100",
				"service.port=9090",
				"service.internalPort=9191",
				"maxConnectionsPerClient=0",
				"headerTimeoutMs=2500",
				"networkPolicy.allowFrom[0].namespaceSelector.matchLabels.team=edge",
				"networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=obs",
				"networkPolicy.metricsFrom[0].podSelector.matchLabels.app=vmagent",
				"fullnameOverride=ms",
				"internalToken.existingSecret=shared-token",
				"internalToken.key=tok",
				"mongodb.existingSecret=",
				"mongodb.url=mongodb://mongo.db.svc.cluster.local:27017/?replicaSet=rs0",
				"terminationGracePeriodSeconds=60",
				"preStopSleepSeconds=10",
				"auth.clientsSecret.name=team-clients",
				"auth.clientsSecret.key=c.json",
				"auth.clientsSecret.mountPath=/var/run/signer-clients",
				"auth.allowedOrigins={https://console.example,http://localhost:3000}",
				"metrics.requireAuth=true",
				"tls.enabled=true",
				"tls.existingSecret=signer-certs",
				"tls.requireClientCert=true",
				"tls.proxyCertNames={signer-ingress,edge.example}",
				"tls.profile=modern",
				"audit.retentionDays=30",
				"tls.mountPath=/var/run/signer-tls",
				"serviceMonitor.enabled=true",
				"serviceMonitor.bearerTokenSecret.name=prom-token",
				"serviceMonitor.bearerTokenSecret.key=tok",
				"serviceMonitor.clientCertSecret=prom-client-cert",
			},
			keys:                keySourcesCase{csvSecret: "rotated-keys-2"},
			internalTokenSecret: "shared-token",
			serviceMonitor:      true,
			sec: securityCase{
				clientsSecret:  "team-clients",
				clientsKey:     "c.json",
				allowedOrigins: []string{"https://console.example", "http://localhost:3000"},
				metricsAuth:    true,
				tls:            true,
				tlsSecret:      "signer-certs",
				mtls:           true,
				proxyCertNames: []string{"signer-ingress", "edge.example"},
				tlsProfile:     "modern",
				retentionDays:  30,
				bearerSecret:   "prom-token",
				bearerKey:      "tok",
				promCertSecret: "prom-client-cert",
			},
			ports: portsCase{
				internalPort:        9100,
				serviceInternalPort: 9191,
				maxConnsPerClient:   0,
				headerTimeoutMs:     2500,
				allowFrom: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{
						MatchLabels: map[string]string{"team": "edge"}},
				}},
				metricsFrom: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{
						MatchLabels: map[string]string{"team": "obs"}},
					PodSelector: &metav1.LabelSelector{
						MatchLabels: map[string]string{"app": "vmagent"}},
				}},
			},
		},
		{
			// PostgreSQL as the shared store, URL and password from a Secret.
			name: "postgresql",
			set: []string{
				"store=postgresql",
				"postgresql.existingSecret=signer-pg",
				"postgresql.urlKey=dsn",
				"postgresql.passwordKey=pw",
				"postgresql.mountPath=/var/run/signer-pg",
			},
			keys:  csvKeys(defaults),
			sec:   securityFromValues(defaults),
			ports: portsFromValues(defaults),
			postgres: postgresCase{secret: "signer-pg", urlKey: "dsn", pwdKey: "pw",
				mountPath: "/var/run/signer-pg"},
		},
		{
			// PostgreSQL through a plain URL (client certificates or trust: no password file).
			name: "postgresql-url",
			set: []string{
				"store=postgresql",
				"postgresql.url=postgresql://signer@pg.db.svc.cluster.local:5432/signer?sslmode=verify-full",
			},
			keys:  csvKeys(defaults),
			sec:   securityFromValues(defaults),
			ports: portsFromValues(defaults),
			postgres: postgresCase{
				url: "postgresql://signer@pg.db.svc.cluster.local:5432/signer?sslmode=verify-full"},
		},
		{
			// PostgreSQL with a standby for failover (docs/K8S.md): a multi-host URL that only
			// accepts the primary, as a CloudNativePG or Patroni cluster gives. The comma is
			// escaped for --set.
			name: "postgresql-failover",
			set: []string{
				"store=postgresql",
				`postgresql.url=postgresql://signer@pg-1.db.svc.cluster.local:5432\,pg-2.db.svc.cluster.local:5432/signer?target_session_attrs=read-write`,
			},
			keys:  csvKeys(defaults),
			sec:   securityFromValues(defaults),
			ports: portsFromValues(defaults),
			postgres: postgresCase{
				url: "postgresql://signer@pg-1.db.svc.cluster.local:5432,pg-2.db.svc.cluster.local:5432/signer?target_session_attrs=read-write"},
		},
		{
			// No authentication, TLS from cert-manager without client certificates.
			name: "insecure-certmanager",
			set: []string{
				"auth.insecureNoAuth=true",
				"tls.enabled=true",
				"tls.certManager.enabled=true",
				"tls.certManager.issuerRef.name=lab-ca",
				"tls.certManager.issuerRef.kind=ClusterIssuer",
				"serviceMonitor.enabled=true",
				"networkPolicy.metricsFrom[0].ipBlock.cidr=10.8.0.0/16",
			},
			keys:           csvKeys(defaults),
			serviceMonitor: true,
			sec: securityCase{
				insecure:    true,
				tls:         true,
				certManager: true,
				issuer:      "lab-ca",
			},
			// Defaults, with a scraper admitted by IP block.
			ports: func() portsCase {
				p := portsFromValues(defaults)
				p.metricsFrom = []networkingv1.NetworkPolicyPeer{{
					IPBlock: &networkingv1.IPBlock{CIDR: "10.8.0.0/16"}}}
				return p
			}(),
		},
		{
			// Keys only from go-ethereum keystore files (no keys.csv), at moved mount paths.
			// PKCS#11's extras are set but PKCS#11 is off: they must not render.
			name: "keystores",
			set: []string{
				"keys.existingSecret=",
				"keys.configMountPath=/var/run/signer/key-config",
				"keys.keystores.existingSecret=signer-keystores",
				"keys.keystores.files={" + keystoreA + "," + keystoreB + "}",
				"keys.keystores.mountPath=/var/run/signer/keystores",
				"keys.keystores.passwordSecret=signer-keystore-password",
				"keys.keystores.passwordKey=pw",
				"keys.pkcs11.env[0].name=SOFTHSM2_CONF",
				"keys.pkcs11.env[0].value=/etc/softhsm/softhsm2.conf",
				"keys.pkcs11.volumes[0].name=softhsm-conf",
				"keys.pkcs11.volumes[0].configMap.name=softhsm2-conf",
				"keys.pkcs11.volumeMounts[0].name=softhsm-conf",
				"keys.pkcs11.volumeMounts[0].mountPath=/etc/softhsm",
			},
			keys: keySourcesCase{
				keystores: keystoresCase{secret: "signer-keystores",
					files:          []string{keystoreA, keystoreB},
					passwordSecret: "signer-keystore-password", passwordKey: "pw"},
				pkcs11: pkcs11Case{
					env:    map[string]string{"SOFTHSM2_CONF": "/etc/softhsm/softhsm2.conf"},
					mounts: map[string]string{"softhsm-conf": "/etc/softhsm"}},
			},
			sec:   securityFromValues(defaults),
			ports: portsFromValues(defaults),
		},
		{
			// All three sources: keys.csv, then three keystores, then two keys on a SoftHSM2
			// token brought in by the operator's volumes and env: its config from a ConfigMap,
			// its token directory from a volume claim (SoftHSM2 skips symlinked object files, so
			// a Secret or ConfigMap volume cannot hold a token).
			name: "csv-keystores-pkcs11",
			set: []string{
				"keys.keystores.existingSecret=signer-keystores",
				"keys.keystores.files={" + keystoreB + "," + keystoreA + "," + keystoreC + "}",
				"keys.keystores.passwordSecret=signer-keystore-password",
				"keys.pkcs11.enabled=true",
				"keys.pkcs11.module=/opt/hsm/lib/libsofthsm2.so",
				"keys.pkcs11.token=signer token",
				"keys.pkcs11.keyLabels={key-1,signer key: 2}",
				"keys.pkcs11.pinSecret=signer-hsm-pin",
				"keys.pkcs11.pinKey=user-pin",
				"keys.pkcs11.pinMountPath=/var/run/signer/pin",
				"keys.pkcs11.volumes[0].name=softhsm-conf",
				"keys.pkcs11.volumes[0].configMap.name=softhsm2-conf",
				"keys.pkcs11.volumes[1].name=softhsm-tokens",
				"keys.pkcs11.volumes[1].persistentVolumeClaim.claimName=softhsm2-tokens",
				"keys.pkcs11.volumes[1].persistentVolumeClaim.readOnly=true",
				"keys.pkcs11.volumeMounts[0].name=softhsm-conf",
				"keys.pkcs11.volumeMounts[0].mountPath=/etc/softhsm",
				"keys.pkcs11.volumeMounts[0].readOnly=true",
				"keys.pkcs11.volumeMounts[1].name=softhsm-tokens",
				"keys.pkcs11.volumeMounts[1].mountPath=/var/lib/softhsm/tokens",
				"keys.pkcs11.volumeMounts[1].readOnly=true",
				"keys.pkcs11.env[0].name=SOFTHSM2_CONF",
				"keys.pkcs11.env[0].value=/etc/softhsm/softhsm2.conf",
			},
			keys: keySourcesCase{
				csvSecret: defaults.Keys.ExistingSecret,
				keystores: keystoresCase{secret: "signer-keystores",
					files:          []string{keystoreB, keystoreA, keystoreC},
					passwordSecret: "signer-keystore-password", passwordKey: "password"},
				pkcs11: pkcs11Case{module: "/opt/hsm/lib/libsofthsm2.so", token: "signer token",
					labels:    []string{"key-1", "signer key: 2"},
					pinSecret: "signer-hsm-pin", pinKey: "user-pin",
					env: map[string]string{"SOFTHSM2_CONF": "/etc/softhsm/softhsm2.conf"},
					mounts: map[string]string{"softhsm-conf": "/etc/softhsm",
						"softhsm-tokens": "/var/lib/softhsm/tokens"}},
			},
			sec:   securityFromValues(defaults),
			ports: portsFromValues(defaults),
		},
		{
			// One key on a network HSM and nothing else: the vendor's module is in the image,
			// its client config comes from a ConfigMap and its client certificate from a Secret.
			name: "pkcs11",
			set: []string{
				"keys.existingSecret=",
				"keys.pkcs11.enabled=true",
				"keys.pkcs11.module=/usr/lib/x86_64-linux-gnu/pkcs11/vendor.so",
				"keys.pkcs11.token=prod",
				"keys.pkcs11.keyLabels={signer-1}",
				"keys.pkcs11.pinSecret=hsm-pin",
				"keys.pkcs11.volumes[0].name=hsm-client-config",
				"keys.pkcs11.volumes[0].configMap.name=hsm-client",
				"keys.pkcs11.volumes[1].name=hsm-client-cert",
				"keys.pkcs11.volumes[1].secret.secretName=hsm-client-cert",
				"keys.pkcs11.volumes[1].secret.defaultMode=256",
				"keys.pkcs11.volumeMounts[0].name=hsm-client-config",
				"keys.pkcs11.volumeMounts[0].mountPath=/etc/hsm-client",
				"keys.pkcs11.volumeMounts[0].readOnly=true",
				"keys.pkcs11.volumeMounts[1].name=hsm-client-cert",
				"keys.pkcs11.volumeMounts[1].mountPath=/etc/hsm-client-cert",
				"keys.pkcs11.volumeMounts[1].readOnly=true",
				"keys.pkcs11.env[0].name=HSM_CLIENT_CONFIG",
				"keys.pkcs11.env[0].value=/etc/hsm-client/client.conf",
			},
			keys: keySourcesCase{pkcs11: pkcs11Case{
				module: "/usr/lib/x86_64-linux-gnu/pkcs11/vendor.so", token: "prod",
				labels: []string{"signer-1"}, pinSecret: "hsm-pin", pinKey: "pin",
				env: map[string]string{"HSM_CLIENT_CONFIG": "/etc/hsm-client/client.conf"},
				mounts: map[string]string{"hsm-client-config": "/etc/hsm-client",
					"hsm-client-cert": "/etc/hsm-client-cert"},
				secretVolumes: 1}},
			sec:   securityFromValues(defaults),
			ports: portsFromValues(defaults),
		},
	}
}

// Keystore file names as `signer keygen --format keystore` and go-ethereum write them.
const (
	keystoreA = "UTC--2026-12-02T03-28-41.529318215Z--cc6f3ccc015277e8e517ea5f912a9ef3bd26be56"
	keystoreB = "UTC--2026-12-02T03-28-41.547818071Z--a2999ab3e3f5be5f7d75ed4d07ad82bf386a53d1"
	keystoreC = "UTC--2026-12-02T03-30-00.000000000Z--0000000000000000000000000000000000000001"
)

// csvKeys is a rendering whose only key source is the keys.csv Secret of v.
func csvKeys(v chartValues) keySourcesCase {
	return keySourcesCase{csvSecret: v.Keys.ExistingSecret}
}

// chartValues is the part of values.yaml the assertions compare against.
type chartValues struct {
	InternalPort            int32 `json:"internalPort"`
	MaxConnectionsPerClient int   `json:"maxConnectionsPerClient"`
	HeaderTimeoutMs         int   `json:"headerTimeoutMs"`
	Service                 struct {
		InternalPort int32 `json:"internalPort"`
	} `json:"service"`
	NetworkPolicy struct {
		AllowFrom   []networkingv1.NetworkPolicyPeer `json:"allowFrom"`
		MetricsFrom []networkingv1.NetworkPolicyPeer `json:"metricsFrom"`
	} `json:"networkPolicy"`
	Keys struct {
		ExistingSecret string `json:"existingSecret"`
	} `json:"keys"`
	InternalToken struct {
		ExistingSecret string `json:"existingSecret"`
	} `json:"internalToken"`
	ServiceMonitor struct {
		Enabled           bool `json:"enabled"`
		BearerTokenSecret struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"bearerTokenSecret"`
		ClientCertSecret string `json:"clientCertSecret"`
	} `json:"serviceMonitor"`
	Autoscaling struct {
		Enabled bool `json:"enabled"`
	} `json:"autoscaling"`
	Auth struct {
		ClientsSecret struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"clientsSecret"`
		InsecureNoAuth bool     `json:"insecureNoAuth"`
		AllowedOrigins []string `json:"allowedOrigins"`
	} `json:"auth"`
	Metrics struct {
		RequireAuth bool `json:"requireAuth"`
	} `json:"metrics"`
	TLS struct {
		Enabled        bool   `json:"enabled"`
		ExistingSecret string `json:"existingSecret"`
		CertManager    struct {
			Enabled   bool `json:"enabled"`
			IssuerRef struct {
				Name string `json:"name"`
			} `json:"issuerRef"`
		} `json:"certManager"`
		RequireClientCert bool     `json:"requireClientCert"`
		ProxyCertNames    []string `json:"proxyCertNames"`
		Profile           string   `json:"profile"`
	} `json:"tls"`
	Audit struct {
		RetentionDays int `json:"retentionDays"`
	} `json:"audit"`
}

// readValues merges the given values files the way helm does for these scalar fields:
// a later file's key replaces an earlier one's.
func readValues(t *testing.T, files ...string) chartValues {
	t.Helper()
	var v chartValues
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(chartDir, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		// Not strict: values files hold much more than this struct.
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
	}
	return v
}

// helmBin returns $HELM_BIN, else the repo's .tools/bin/helm.
func helmBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("HELM_BIN"); bin != "" {
		return bin
	}
	local, err := filepath.Abs("../../.tools/bin/helm")
	if err == nil {
		if _, err := os.Stat(local); err == nil {
			return local
		}
	}
	t.Fatalf("helm not found: set HELM_BIN, or run scripts/install-tools.sh to build %s", local)
	return ""
}

func runHelm(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err,
			stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

func valuesArgs(c renderCase) []string {
	var args []string
	for _, f := range c.valuesFiles {
		args = append(args, "--values", filepath.Join(chartDir, f))
	}
	for _, s := range c.set {
		args = append(args, "--set", s)
	}
	return args
}

func renderChart(t *testing.T, c renderCase) []byte {
	t.Helper()
	args := append([]string{"template", releaseName, chartDir, "--namespace", releaseNamespace},
		valuesArgs(c)...)
	return runHelm(t, args...)
}

// renderChartErr renders with extra --set arguments and returns helm's combined output and
// whether it failed.
func renderChartErr(t *testing.T, set ...string) (string, error) {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(helmBin(t), args...).CombinedOutput()
	return string(out), err
}
