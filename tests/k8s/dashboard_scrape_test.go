package k8s

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapedSeries maps each series name of a /metrics scrape to the label names it carries:
// a histogram family NAME gives NAME_bucket (with le), NAME_sum and NAME_count; a summary
// gives NAME (with quantile), NAME_sum and NAME_count.
func scrapedSeries(t *testing.T, text []byte) map[string]map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("scrape is not Prometheus text format: %v", err)
	}
	series := map[string]map[string]bool{}
	add := func(name string, m *dto.Metric, extra ...string) {
		if series[name] == nil {
			series[name] = map[string]bool{}
		}
		for _, lp := range m.GetLabel() {
			series[name][lp.GetName()] = true
		}
		for _, l := range extra {
			series[name][l] = true
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name+"_bucket", m, model.BucketLabel)
				add(name+"_sum", m)
				add(name+"_count", m)
			case dto.MetricType_SUMMARY:
				add(name, m, model.QuantileLabel)
				add(name+"_sum", m)
				add(name+"_count", m)
			default:
				add(name, m)
			}
		}
	}
	return series
}

// TestGrafanaDashboardQueriesMatchTheScrape checks every expression of the dashboard (panel
// targets and label_values variables) against a real signer's /metrics after a job: every
// metric must be a series the signer exports, and every label the expression matches on,
// groups by, joins on or copies must be a label that metric carries. A typo in a metric or
// label name, or a label the signer stops exporting, fails here instead of as an empty
// panel in production.
func TestGrafanaDashboardQueriesMatchTheScrape(t *testing.T) {
	path := os.Getenv("SIGNER_METRICS_SCRAPE")
	if path == "" {
		t.Skip("SIGNER_METRICS_SCRAPE not set (a /metrics scrape after a job, written by " +
			"tests/deploy/scrape_after_job.py; tests/deploy/run.sh always sets it)")
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	series := scrapedSeries(t, text)
	// A scrape of an idle signer would lack the series a job creates (and the check would
	// fail for the wrong reason): insist on the job.
	for _, name := range []string{"signer_records_signed_total",
		"signer_batch_duration_seconds_bucket", "signer_auth_refusals_total"} {
		if series[name] == nil {
			t.Fatalf("%s: no %s series: not a scrape taken after a signing job and a refused "+
				"request", path, name)
		}
	}

	_, d := renderDashboard(t, "grafanaDashboard.enabled=true")
	if d == nil {
		t.Fatal("no dashboard rendered")
	}
	vars := variableNames(d)
	var queries []struct{ where, expr string }
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			queries = append(queries, struct{ where, expr string }{
				fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		sel, label, ok := parseLabelValues(variableQuery(t, v))
		if !ok {
			t.Errorf("variable %s: query %q, want label_values(SELECTOR, LABEL)", v.Name,
				variableQuery(t, v))
			continue
		}
		// label_values(SELECTOR, LABEL) reads LABEL of the series SELECTOR names: check it
		// as the selector plus a grouping by LABEL.
		queries = append(queries, struct{ where, expr string }{
			"variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", label, sel)})
	}

	checked := 0
	for _, qe := range queries {
		q, err := analyse(qe.expr, vars)
		if err != nil {
			t.Errorf("%s: %v", qe.where, err)
			continue
		}
		checked++
		for _, s := range q.selectors {
			have, ok := series[s.metric]
			if !ok {
				t.Errorf("%s: %q reads %s, which the signer does not export (exported: %s)",
					qe.where, qe.expr, s.metric, strings.Join(sortedKeys(series), ", "))
				continue
			}
			for _, l := range s.labels {
				if !have[l] {
					t.Errorf("%s: %q matches on label %q, which %s does not carry (it has: %s)",
						qe.where, qe.expr, l, s.metric, strings.Join(sortedKeys(have), ", "))
				}
			}
		}
		for _, u := range q.labels {
			if q.created[u.label] {
				continue
			}
			if missing := missingLabel(series, u); missing != "" {
				t.Errorf("%s: %q uses label %q (%s), but %s", qe.where, qe.expr, u.label,
					u.where, missing)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no expression checked")
	}
	t.Logf("%d expressions checked against %d series names of %s", checked, len(series), path)
}

// missingLabel returns why u's label is not exported where u needs it, or "".
func missingLabel(series map[string]map[string]bool, u labelUse) string {
	var why []string
	for _, g := range u.groups {
		var lacking []string
		for m := range g {
			if !series[m][u.label] {
				lacking = append(lacking, m)
			}
		}
		if len(lacking) == 0 && u.anyOf {
			return ""
		}
		if len(lacking) > 0 {
			sort.Strings(lacking)
			why = append(why, strings.Join(lacking, ", ")+" do(es) not carry it")
		}
	}
	if len(why) == 0 {
		return ""
	}
	return strings.Join(why, "; ")
}

var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// parseLabelValues splits Grafana's label_values(SELECTOR, LABEL) (a Grafana function, not
// PromQL; the selector is then parsed as PromQL).
func parseLabelValues(q string) (selector, label string, ok bool) {
	m := labelValuesQuery.FindStringSubmatch(q)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
