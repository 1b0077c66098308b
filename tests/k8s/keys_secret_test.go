package k8s

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// keysLine is the keys.csv format of the compatibility contract:
// 0x04<128 hex public key>,0x<64 hex private key>.
var keysLine = regexp.MustCompile(`^0x04[0-9a-fA-F]{128},0x[0-9a-fA-F]{64}$`)

// TestKeysSecretManifestDecodesStrictly checks the Secret manifest that
// `signer keygen --k8s-secret NAME` writes, given by $KEYS_SECRET_MANIFEST: it must be a
// plain v1 Secret that the chart's keys volume can mount, holding only keys.csv. The key
// material is checked for shape only and never printed.
func TestKeysSecretManifestDecodesStrictly(t *testing.T) {
	path := os.Getenv("KEYS_SECRET_MANIFEST")
	if path == "" {
		t.Skip("KEYS_SECRET_MANIFEST not set (a file written by signer keygen --k8s-secret)")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := SplitDocuments(raw)
	if len(docs) != 1 {
		t.Fatalf("%s: want exactly 1 YAML document, got %d", path, len(docs))
	}
	var s corev1.Secret
	if err := yaml.UnmarshalStrict(docs[0], &s); err != nil {
		t.Fatalf("%s does not decode strictly into a v1 Secret: %v", path, err)
	}
	if s.APIVersion != "v1" || s.Kind != "Secret" {
		t.Errorf("apiVersion/kind = %s/%s, want v1/Secret", s.APIVersion, s.Kind)
	}
	if s.Name == "" {
		t.Errorf("metadata.name is empty")
	}
	if s.Type != "" && s.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", s.Type)
	}
	if len(s.StringData) != 0 {
		t.Errorf("stringData must be empty: the keys belong base64-encoded in data")
	}
	csv, ok := s.Data[keysFileName]
	if !ok {
		t.Fatalf("data has no %q key (keys: %d)", keysFileName, len(s.Data))
	}
	if len(s.Data) != 1 {
		t.Errorf("data should hold only %s, has %d keys", keysFileName, len(s.Data))
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(csv))
	for sc.Scan() {
		line := bytes.TrimRight(sc.Bytes(), "\r")
		if len(line) == 0 {
			continue
		}
		n++
		if !keysLine.Match(line) {
			t.Errorf("%s line %d is not 0x04<128 hex>,0x<64 hex> (content not shown)", keysFileName, n)
		}
	}
	if n == 0 {
		t.Errorf("%s is empty", keysFileName)
	}
	t.Logf("Secret %q: %s holds %d keys", s.Name, keysFileName, n)
}
