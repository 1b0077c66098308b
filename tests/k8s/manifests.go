// Package k8s validates the Helm chart in deploy/helm/message-signer offline: it renders
// the chart with `helm template`, decodes every object strictly into the Kubernetes API's
// own Go types (an unknown or misspelt field, a wrong type or an unknown kind is an
// error), and checks that the wiring between the objects matches what the signer
// expects at run time. No cluster is needed.
package k8s

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ServiceMonitor is the subset of the Prometheus Operator's monitoring.coreos.com/v1
// ServiceMonitor that the chart renders. Decoding is strict, so a field the chart adds
// must be added here too, which keeps this subset honest.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ServiceMonitorSpec `json:"spec"`
}

// ServiceMonitorSpec is the subset of ServiceMonitor.spec the chart uses.
type ServiceMonitorSpec struct {
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector struct {
		Any        bool     `json:"any,omitempty"`
		MatchNames []string `json:"matchNames,omitempty"`
	} `json:"namespaceSelector,omitempty"`
	Endpoints []ServiceMonitorEndpoint `json:"endpoints"`
}

// ServiceMonitorEndpoint is one scrape endpoint of a ServiceMonitor.
type ServiceMonitorEndpoint struct {
	Port          string             `json:"port,omitempty"`
	Path          string             `json:"path,omitempty"`
	Scheme        string             `json:"scheme,omitempty"`
	Interval      string             `json:"interval,omitempty"`
	ScrapeTimeout string             `json:"scrapeTimeout,omitempty"`
	HonorLabels   bool               `json:"honorLabels,omitempty"`
	TLSConfig     *SafeTLSConfig     `json:"tlsConfig,omitempty"`
	Authorization *SafeAuthorization `json:"authorization,omitempty"`
}

// SecretOrConfigMap names a key of a Secret or ConfigMap in the ServiceMonitor's namespace.
type SecretOrConfigMap struct {
	Secret    *corev1.SecretKeySelector    `json:"secret,omitempty"`
	ConfigMap *corev1.ConfigMapKeySelector `json:"configMap,omitempty"`
}

// SafeTLSConfig is the subset of the Prometheus Operator's SafeTLSConfig the chart uses.
type SafeTLSConfig struct {
	CA                 *SecretOrConfigMap        `json:"ca,omitempty"`
	Cert               *SecretOrConfigMap        `json:"cert,omitempty"`
	KeySecret          *corev1.SecretKeySelector `json:"keySecret,omitempty"`
	ServerName         string                    `json:"serverName,omitempty"`
	InsecureSkipVerify *bool                     `json:"insecureSkipVerify,omitempty"`
}

// SafeAuthorization is a ServiceMonitor endpoint's Authorization header source.
type SafeAuthorization struct {
	Type        string                    `json:"type,omitempty"`
	Credentials *corev1.SecretKeySelector `json:"credentials,omitempty"`
}

// Certificate is the subset of cert-manager's cert-manager.io/v1 Certificate that the chart
// renders. Decoding is strict, as for ServiceMonitor: a field the chart adds must be added
// here too. Durations decode through metav1.Duration, so a malformed one fails.
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              CertificateSpec `json:"spec"`
}

// CertificateSpec is the subset of Certificate.spec the chart uses.
type CertificateSpec struct {
	SecretName     string `json:"secretName"`
	SecretTemplate *struct {
		Annotations map[string]string `json:"annotations,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
	} `json:"secretTemplate,omitempty"`
	CommonName  string           `json:"commonName,omitempty"`
	Duration    *metav1.Duration `json:"duration,omitempty"`
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
	PrivateKey  *struct {
		Algorithm      string `json:"algorithm,omitempty"`
		Size           int    `json:"size,omitempty"`
		Encoding       string `json:"encoding,omitempty"`
		RotationPolicy string `json:"rotationPolicy,omitempty"`
	} `json:"privateKey,omitempty"`
	Usages      []string `json:"usages,omitempty"`
	DNSNames    []string `json:"dnsNames,omitempty"`
	IPAddresses []string `json:"ipAddresses,omitempty"`
	IssuerRef   struct {
		Name  string `json:"name"`
		Kind  string `json:"kind,omitempty"`
		Group string `json:"group,omitempty"`
	} `json:"issuerRef"`
}

// Manifests holds every object of one rendering, by kind, in rendering order.
type Manifests struct {
	Deployments     []appsv1.Deployment
	Services        []corev1.Service
	Secrets         []corev1.Secret
	ConfigMaps      []corev1.ConfigMap
	ServiceAccounts []corev1.ServiceAccount
	PDBs            []policyv1.PodDisruptionBudget
	HPAs            []autoscalingv2.HorizontalPodAutoscaler
	NetworkPolicies []networkingv1.NetworkPolicy
	ServiceMonitors []ServiceMonitor
	Certificates    []Certificate
}

// Count returns the number of objects decoded.
func (m *Manifests) Count() int {
	return len(m.Deployments) + len(m.Services) + len(m.Secrets) + len(m.ConfigMaps) +
		len(m.ServiceAccounts) +
		len(m.PDBs) + len(m.HPAs) + len(m.NetworkPolicies) + len(m.ServiceMonitors) +
		len(m.Certificates)
}

var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// SplitDocuments splits a multi-document YAML stream on `---` lines and drops documents
// that hold only comments and blank lines (helm emits those for disabled templates).
func SplitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	for _, part := range documentSeparator.Split(string(stream), -1) {
		if hasContent(part) {
			docs = append(docs, []byte(part))
		}
	}
	return docs
}

func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed != "" && !strings.HasPrefix(trimmed, "#") {
			return true
		}
	}
	return false
}

// DecodeStrict decodes a helm template stream. Each document is routed by apiVersion
// and kind to its typed struct and decoded with yaml.UnmarshalStrict, which rejects
// unknown and duplicate fields. Returns an error naming the document for the first
// document that fails, or whose apiVersion/kind is not one the chart is expected to
// produce.
func DecodeStrict(stream []byte) (*Manifests, error) {
	m := &Manifests{}
	for i, doc := range SplitDocuments(stream) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: not YAML: %w\n%s", i, err, doc)
		}
		if err := decodeOne(m, tm, doc); err != nil {
			return nil, fmt.Errorf("document %d (%s %s, %s): %w", i, tm.APIVersion, tm.Kind,
				source(doc), err)
		}
	}
	return m, nil
}

func decodeOne(m *Manifests, tm metav1.TypeMeta, doc []byte) error {
	switch tm.APIVersion + "/" + tm.Kind {
	case "apps/v1/Deployment":
		return decodeInto(doc, &m.Deployments)
	case "v1/Service":
		return decodeInto(doc, &m.Services)
	case "v1/Secret":
		return decodeInto(doc, &m.Secrets)
	case "v1/ConfigMap":
		return decodeInto(doc, &m.ConfigMaps)
	case "v1/ServiceAccount":
		return decodeInto(doc, &m.ServiceAccounts)
	case "policy/v1/PodDisruptionBudget":
		return decodeInto(doc, &m.PDBs)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return decodeInto(doc, &m.HPAs)
	case "networking.k8s.io/v1/NetworkPolicy":
		return decodeInto(doc, &m.NetworkPolicies)
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return decodeInto(doc, &m.ServiceMonitors)
	case "cert-manager.io/v1/Certificate":
		return decodeInto(doc, &m.Certificates)
	default:
		return fmt.Errorf("unexpected kind: the chart should not render it, or this test " +
			"must learn to decode it")
	}
}

func decodeInto[T any](doc []byte, into *[]T) error {
	var obj T
	if err := yaml.UnmarshalStrict(doc, &obj); err != nil {
		return err
	}
	*into = append(*into, obj)
	return nil
}

// source returns the "# Source: ..." comment helm puts at the top of each document.
func source(doc []byte) string {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "# Source: "); ok {
			return s
		}
	}
	return "no source comment"
}
