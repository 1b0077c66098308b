package k8s

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	keysSecret          string
	internalTokenSecret string // "" when the chart generates it
	serviceMonitor      bool
	hpa                 bool
}

func renderCases(t *testing.T) []renderCase {
	t.Helper()
	defaults := readValues(t, "values.yaml")
	production := readValues(t, "values.yaml", "values-production.yaml")
	return []renderCase{
		{
			name:                "default",
			keysSecret:          defaults.Keys.ExistingSecret,
			internalTokenSecret: defaults.InternalToken.ExistingSecret,
			serviceMonitor:      defaults.ServiceMonitor.Enabled,
			hpa:                 defaults.Autoscaling.Enabled,
		},
		{
			name:                "production",
			valuesFiles:         []string{"values-production.yaml"},
			keysSecret:          production.Keys.ExistingSecret,
			internalTokenSecret: production.InternalToken.ExistingSecret,
			serviceMonitor:      production.ServiceMonitor.Enabled,
			hpa:                 production.Autoscaling.Enabled,
		},
		{
			// Every wired value moved away from its default, so a check that passes only
			// because two defaults happen to agree fails here.
			name: "overrides",
			set: []string{
				"keys.existingSecret=rotated-keys-2",
				"keys.mountPath=/var/run/signer-keys",
				"containerPort=9000",
				"service.port=9090",
				"fullnameOverride=ms",
				"internalToken.existingSecret=shared-token",
				"internalToken.key=tok",
				"mongodb.existingSecret=",
				"mongodb.url=mongodb://mongo.db.svc.cluster.local:27017/?replicaSet=rs0",
				"terminationGracePeriodSeconds=60",
				"preStopSleepSeconds=10",
			},
			keysSecret:          "rotated-keys-2",
			internalTokenSecret: "shared-token",
		},
	}
}

// chartValues is the part of values.yaml the assertions compare against.
type chartValues struct {
	Keys struct {
		ExistingSecret string `json:"existingSecret"`
	} `json:"keys"`
	InternalToken struct {
		ExistingSecret string `json:"existingSecret"`
	} `json:"internalToken"`
	ServiceMonitor struct {
		Enabled bool `json:"enabled"`
	} `json:"serviceMonitor"`
	Autoscaling struct {
		Enabled bool `json:"enabled"`
	} `json:"autoscaling"`
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
