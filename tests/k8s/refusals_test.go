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
		{"both pdb bounds", []string{"podDisruptionBudget.maxUnavailable=1"}, "exactly one"},
		{"grace too short for preStop", []string{"terminationGracePeriodSeconds=10",
			"preStopSleepSeconds=5"}, "must exceed"},
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
