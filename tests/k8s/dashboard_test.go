package k8s

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The Grafana dashboard of the chart (dashboards/message-signer.json, rendered into a
// ConfigMap by grafanaDashboard.enabled) is checked here in three ways:
//   - the ConfigMap: rendered only when enabled, with the sidecar's label and folder
//     annotation from the values, decoded strictly into a v1 ConfigMap;
//   - the dashboard's structure: what Grafana (schemaVersion 39+) needs and what the
//     issue asks for (a datasource variable, panels with ids, positions and targets, and
//     the required panels);
//   - every PromQL expression, parsed with Prometheus' own parser, against a scrape of a
//     real signer after a job ($SIGNER_METRICS_SCRAPE, written by
//     tests/deploy/scrape_after_job.py): each metric and label it names must be exported.

const (
	dashboardDataKey   = "message-signer.json"
	dashboardVariable  = "${datasource}"
	minSchemaVersion   = 39
	grafanaGridColumns = 24
)

// grafanaDashboard is the part of Grafana's dashboard JSON model that the checks read.
// Decoding is not strict: the model has many more fields, all optional.
type grafanaDashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	Tags          []string
	SchemaVersion int `json:"schemaVersion"`
	Time          struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Refresh    string `json:"refresh"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaVariable struct {
	Name       string                `json:"name"`
	Type       string                `json:"type"`
	Datasource *grafanaDatasourceRef `json:"datasource"`
	// A string, or for a Prometheus query variable an object {"query": …, "qryType": …}.
	Query json.RawMessage `json:"query"`
}

type grafanaPanel struct {
	ID         int                   `json:"id"`
	Type       string                `json:"type"`
	Title      string                `json:"title"`
	Datasource *grafanaDatasourceRef `json:"datasource"`
	GridPos    *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string                `json:"refId"`
		Expr       string                `json:"expr"`
		Datasource *grafanaDatasourceRef `json:"datasource"`
	} `json:"targets"`
}

// renderDashboard renders the chart with `set` and returns the one ConfigMap that holds the
// dashboard (nil when none) and the decoded dashboard.
func renderDashboard(t *testing.T, set ...string) (*corev1.ConfigMap, *grafanaDashboard) {
	t.Helper()
	m, err := DecodeStrict(renderChart(t, renderCase{set: set}))
	if err != nil {
		t.Fatal(err)
	}
	var found []corev1.ConfigMap
	for _, cm := range m.ConfigMaps {
		if _, ok := cm.Data[dashboardDataKey]; ok {
			found = append(found, cm)
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	if len(found) != 1 {
		t.Fatalf("want 1 dashboard ConfigMap, got %d", len(found))
	}
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(found[0].Data[dashboardDataKey]))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s of ConfigMap %s is not dashboard JSON: %v", dashboardDataKey,
			found[0].Name, err)
	}
	if dec.More() {
		t.Fatalf("%s holds more than one JSON value", dashboardDataKey)
	}
	return &found[0], &d
}

func TestGrafanaDashboardConfigMapFollowsTheValues(t *testing.T) {
	if cm, _ := renderDashboard(t); cm != nil {
		t.Errorf("dashboard ConfigMap %s rendered although grafanaDashboard.enabled is false",
			cm.Name)
	}

	// Enabled with the defaults: the kube-prometheus-stack sidecar's label, no folder.
	defaults := []string{"grafanaDashboard.enabled=true"}
	runHelm(t, append([]string{"lint", "--strict", chartDir}, setArgs(defaults)...)...)
	cm, _ := renderDashboard(t, defaults...)
	if cm == nil {
		t.Fatal("no dashboard ConfigMap although grafanaDashboard.enabled is true")
	}
	if got := cm.Labels["grafana_dashboard"]; got != "1" {
		t.Errorf("label grafana_dashboard = %q, want \"1\" (the sidecar's default)", got)
	}
	if cm.Namespace != releaseNamespace {
		t.Errorf("namespace %q, want the release's %q", cm.Namespace, releaseNamespace)
	}
	if len(cm.Annotations) != 0 {
		t.Errorf("annotations %v without grafanaDashboard.folder", cm.Annotations)
	}
	if cm.Labels["app.kubernetes.io/instance"] != releaseName {
		t.Errorf("labels %v lack the release's common labels", cm.Labels)
	}

	// Every value moved.
	moved := []string{
		"grafanaDashboard.enabled=true",
		"grafanaDashboard.label=dashboards",
		"grafanaDashboard.labelValue=signer",
		"grafanaDashboard.folder=Signing services",
		"grafanaDashboard.folderAnnotation=k8s-sidecar-target-directory",
		"grafanaDashboard.namespace=monitoring",
		"grafanaDashboard.additionalLabels.team=payments",
	}
	runHelm(t, append([]string{"lint", "--strict", chartDir}, setArgs(moved)...)...)
	cm, _ = renderDashboard(t, moved...)
	if cm == nil {
		t.Fatal("no dashboard ConfigMap with moved values")
	}
	if got, ok := cm.Labels["grafana_dashboard"]; ok {
		t.Errorf("label grafana_dashboard=%q although grafanaDashboard.label is dashboards", got)
	}
	want := map[string]string{"dashboards": "signer", "team": "payments"}
	for k, v := range want {
		if cm.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, cm.Labels[k], v, cm.Labels)
		}
	}
	if got := cm.Annotations["k8s-sidecar-target-directory"]; got != "Signing services" {
		t.Errorf("folder annotation = %q, want \"Signing services\" (annotations %v)", got,
			cm.Annotations)
	}
	if cm.Namespace != "monitoring" {
		t.Errorf("namespace %q, want grafanaDashboard.namespace monitoring", cm.Namespace)
	}
}

func setArgs(set []string) []string {
	var args []string
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

func TestGrafanaDashboardIsWellFormed(t *testing.T) {
	_, d := renderDashboard(t, "grafanaDashboard.enabled=true")
	if d == nil {
		t.Fatal("no dashboard rendered")
	}
	if d.SchemaVersion < minSchemaVersion {
		t.Errorf("schemaVersion %d, want >= %d", d.SchemaVersion, minSchemaVersion)
	}
	if d.UID == "" || d.Title == "" || len(d.Tags) == 0 || d.Time.From == "" ||
		d.Time.To == "" || d.Refresh == "" {
		t.Errorf("uid %q, title %q, tags %v, time %+v, refresh %q: all must be set", d.UID,
			d.Title, d.Tags, d.Time, d.Refresh)
	}

	// The data source is a variable, so the dashboard works with any Prometheus.
	i := slices.IndexFunc(d.Templating.List, func(v grafanaVariable) bool {
		return v.Name == "datasource"
	})
	if i < 0 {
		t.Fatal("no templating variable named datasource")
	}
	if v := d.Templating.List[i]; v.Type != "datasource" || variableQuery(t, v) != "prometheus" {
		t.Errorf("variable datasource is type %q query %q, want datasource/prometheus", v.Type,
			variableQuery(t, v))
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" && !usesDatasourceVariable(v.Datasource) {
			t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource,
				dashboardVariable)
		}
	}

	if len(d.Panels) == 0 {
		t.Fatal("dashboard has no panels")
	}
	ids := map[int]string{}
	for _, p := range d.Panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if !slices.Contains([]string{"timeseries", "stat", "gauge"}, p.Type) {
			t.Errorf("%s: type %q, want timeseries, stat or gauge", name, p.Type)
		}
		if p.ID <= 0 {
			t.Errorf("%s: id must be positive", name)
		} else if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id also used by %q", name, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("%s: no title", name)
		}
		if g := p.GridPos; g == nil || g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 ||
			g.X+g.W > grafanaGridColumns {
			t.Errorf("%s: gridPos %+v, want inside the %d-column grid", name, p.GridPos,
				grafanaGridColumns)
		}
		if !usesDatasourceVariable(p.Datasource) {
			t.Errorf("%s: datasource %+v, want uid %s", name, p.Datasource, dashboardVariable)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", name)
		}
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || refIDs[tg.RefID] {
				t.Errorf("%s: target %q has an empty expr, or a missing or repeated refId",
					name, tg.RefID)
			}
			refIDs[tg.RefID] = true
			if tg.Datasource != nil && !usesDatasourceVariable(tg.Datasource) {
				t.Errorf("%s: target %s datasource %+v, want uid %s", name, tg.RefID,
					tg.Datasource, dashboardVariable)
			}
		}
	}
	checkRequiredPanels(t, d)
}

func usesDatasourceVariable(ref *grafanaDatasourceRef) bool {
	return ref != nil && ref.Type == "prometheus" && ref.UID == dashboardVariable
}

// variableQuery returns a templating variable's query, a plain string or the "query" of a
// Prometheus query variable's object.
func variableQuery(t *testing.T, v grafanaVariable) string {
	t.Helper()
	if len(v.Query) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &obj); err != nil {
		t.Fatalf("variable %s: query %s is neither a string nor {\"query\": …}", v.Name, v.Query)
	}
	return obj.Query
}

// checkRequiredPanels asserts that the dashboard shows what the issue asks for, by what
// the parsed expressions do rather than by panel titles.
func checkRequiredPanels(t *testing.T, d *grafanaDashboard) {
	t.Helper()
	var aggs []aggregation
	var quantiles []quantileUse
	var ratios []ratioUse
	metricsUsed := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q, err := analyse(tg.Expr, variableNames(d))
			if err != nil {
				t.Errorf("panel %d %q target %s: %v", p.ID, p.Title, tg.RefID, err)
				continue
			}
			aggs = append(aggs, q.aggregations...)
			for _, u := range q.quantiles {
				u.panel = p.ID
				quantiles = append(quantiles, u)
			}
			ratios = append(ratios, q.ratios...)
			for _, s := range q.selectors {
				metricsUsed[s.metric] = true
			}
		}
	}

	groupedBy := []struct{ what, metric, labels string }{
		{"records signed per second per key", "signer_records_signed_total", "key_index"},
		{"records signed per second per pod", "signer_records_signed_total", "pod"},
		{"store operation latency by op", "signer_store_operation_seconds_bucket", "op,le"},
		{"HTTP rejections by route and reason", "signer_http_rejected_total", "route,reason"},
		{"auth refusals by route and reason", "signer_auth_refusals_total", "route,reason"},
		{"keys loaded by source", "signer_keys_loaded", "source"},
	}
	for _, r := range groupedBy {
		want := strings.Split(r.labels, ",")
		if !slices.ContainsFunc(aggs, func(a aggregation) bool {
			return !a.without && a.metrics[r.metric] && containsAll(a.grouping, want)
		}) {
			t.Errorf("no panel shows %s: want an aggregation of %s by (%s)", r.what, r.metric,
				r.labels)
		}
	}
	for _, m := range []string{"signer_job_running", "signer_job_records_signed",
		"signer_job_batches_done", "signer_job_batches", "signer_key_set_version"} {
		if !metricsUsed[m] {
			t.Errorf("no panel reads %s", m)
		}
	}
	if !slices.ContainsFunc(ratios, func(r ratioUse) bool {
		return r.num["signer_job_batches_done"] && r.den["signer_job_batches"]
	}) {
		t.Errorf("no panel shows job progress: want signer_job_batches_done / signer_job_batches")
	}
	// p50, p90 and p99 of the batch duration in one panel, each from buckets summed by le.
	byPanel := map[int]map[float64]bool{}
	for _, u := range quantiles {
		if u.metrics["signer_batch_duration_seconds_bucket"] && slices.Contains(u.grouping, "le") {
			if byPanel[u.panel] == nil {
				byPanel[u.panel] = map[float64]bool{}
			}
			byPanel[u.panel][u.q] = true
		}
	}
	ok := false
	for _, qs := range byPanel {
		ok = ok || (qs[0.5] && qs[0.9] && qs[0.99])
	}
	if !ok {
		t.Errorf("no panel shows the batch duration's p50, p90 and p99: want " +
			"histogram_quantile(q, sum by (le) (rate(signer_batch_duration_seconds_bucket[…]))) " +
			"for q = 0.5, 0.9, 0.99")
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func variableNames(d *grafanaDashboard) []string {
	var names []string
	for _, v := range d.Templating.List {
		names = append(names, v.Name)
	}
	return names
}
