package k8s

import (
	"strings"
	"testing"
)

// The decoder must be able to fail: these pin that a misspelt field, a wrongly typed
// value and an unknown kind are errors, not silently dropped.

const validService = `---
# Source: message-signer/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  selector:
    app: x
  ports:
    - name: http
      port: 8080
      targetPort: http
`

func TestDecodeStrictAcceptsValidDocumentsAndSkipsEmptyOnes(t *testing.T) {
	m, err := DecodeStrict([]byte("---\n# only a comment\n" + validService + "---\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Count() != 1 || len(m.Services) != 1 || m.Services[0].Spec.Ports[0].TargetPort.StrVal != "http" {
		t.Fatalf("decoded %+v", m)
	}
}

func TestDecodeStrictRejectsUnknownField(t *testing.T) {
	doc := strings.Replace(validService, "targetPort: http", "targetPort: http\n      targtPort: 1", 1)
	_, err := DecodeStrict([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "targtPort") {
		t.Fatalf("want an unknown-field error naming targtPort, got %v", err)
	}
	if !strings.Contains(err.Error(), "templates/service.yaml") {
		t.Errorf("error should name the template source: %v", err)
	}
}

func TestDecodeStrictRejectsWrongType(t *testing.T) {
	doc := strings.Replace(validService, "port: 8080", "port: eighty", 1)
	if _, err := DecodeStrict([]byte(doc)); err == nil {
		t.Fatal("want a type error for port: eighty")
	}
}

func TestDecodeStrictRejectsDuplicateField(t *testing.T) {
	doc := strings.Replace(validService, "  name: s\n", "  name: s\n  name: t\n", 1)
	if _, err := DecodeStrict([]byte(doc)); err == nil {
		t.Fatal("want a duplicate-field error")
	}
}

func TestDecodeStrictRejectsUnknownKind(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: c\n",
		"apiVersion: v1beta1\nkind: ConfigMap\nmetadata:\n  name: c\n",
		"apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: p\n",
		"apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h\n",
	} {
		if _, err := DecodeStrict([]byte(doc)); err == nil || !strings.Contains(err.Error(), "unexpected kind") {
			t.Errorf("want unexpected-kind error for\n%s\ngot %v", doc, err)
		}
	}
}

func TestDecodeStrictRejectsUnknownConfigMapField(t *testing.T) {
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\nbinaryData: {}\nimmutible: true\n"
	if _, err := DecodeStrict([]byte(doc)); err == nil || !strings.Contains(err.Error(), "immutible") {
		t.Fatalf("want an unknown-field error naming immutible, got %v", err)
	}
}

func TestDecodeStrictRejectsUnknownServiceMonitorField(t *testing.T) {
	doc := `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: m
spec:
  selector:
    matchLabels: {a: b}
  endpoints:
    - port: http
      pathh: /metrics
`
	if _, err := DecodeStrict([]byte(doc)); err == nil {
		t.Fatal("want an unknown-field error for pathh")
	}
}

const validCertificate = `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: c
spec:
  secretName: c-tls
  duration: 2160h
  dnsNames: [c.ns.svc]
  issuerRef:
    name: ca
    kind: Issuer
`

func TestDecodeStrictDecodesCertificate(t *testing.T) {
	m, err := DecodeStrict([]byte(validCertificate))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Certificates) != 1 || m.Certificates[0].Spec.SecretName != "c-tls" ||
		m.Certificates[0].Spec.Duration.Hours() != 2160 {
		t.Fatalf("decoded %+v", m.Certificates)
	}
}

func TestDecodeStrictRejectsBadCertificateFields(t *testing.T) {
	for _, c := range []struct{ name, old, new string }{
		{"unknown field", "secretName: c-tls", "secretName: c-tls\n  secretNam: x"},
		{"malformed duration", "duration: 2160h", "duration: 90 days"},
		{"wrong issuerRef type", "    name: ca\n    kind: Issuer", "    - ca"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(validCertificate, c.old, c.new, 1)
			if doc == validCertificate {
				t.Fatalf("test did not change the document")
			}
			if _, err := DecodeStrict([]byte(doc)); err == nil {
				t.Fatalf("want an error for\n%s", doc)
			}
		})
	}
}

func TestDecodeStrictRejectsUnknownServiceMonitorTLSField(t *testing.T) {
	doc := `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: m
spec:
  selector:
    matchLabels: {a: b}
  endpoints:
    - port: http
      tlsConfig:
        ca:
          secret: {name: s, key: ca.crt}
        serverNme: x
`
	if _, err := DecodeStrict([]byte(doc)); err == nil || !strings.Contains(err.Error(), "serverNme") {
		t.Fatalf("want an unknown-field error naming serverNme, got %v", err)
	}
}
