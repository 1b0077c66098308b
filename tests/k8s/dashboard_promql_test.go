package k8s

// What a dashboard's PromQL names, read off the AST of Prometheus' own parser
// (github.com/prometheus/prometheus/promql/parser), never by pattern matching: the metrics its
// selectors read, and every label name it relies on, with the metrics that must carry it.

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// selectorUse is one series selector: the metric and the label names it matches on.
type selectorUse struct {
	metric string
	labels []string
}

// labelUse is a label name an expression relies on, and the metrics that must carry it.
// With anyOf, carrying it on every metric of one of the groups is enough (ignoring and
// group_left/right look at one side of a binary operation); else every metric of every group.
type labelUse struct {
	label  string
	where  string
	groups []map[string]bool
	anyOf  bool
}

type aggregation struct {
	metrics  map[string]bool
	grouping []string
	without  bool
}

type quantileUse struct {
	panel    int
	q        float64
	metrics  map[string]bool
	grouping []string // of the aggregation directly inside histogram_quantile
}

type ratioUse struct{ num, den map[string]bool }

type queryAnalysis struct {
	selectors    []selectorUse
	labels       []labelUse
	aggregations []aggregation
	quantiles    []quantileUse
	ratios       []ratioUse
	created      map[string]bool // labels made by label_replace/label_join
}

// grafanaBuiltins are Grafana's interval variables, replaced by a duration before parsing.
var grafanaBuiltins = regexp.MustCompile(
	`\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?|\[\[__(rate_interval|interval|range)\]\]`)

// substituteVariables makes a Grafana query plain PromQL: the interval variables become 1m,
// and the dashboard's own variables ($pod, ${pod}, ${pod:regex}, [[pod]]) become .*, which
// is valid only inside a regex matcher, where they belong. Anything else that looks like a
// variable is left, and the parser refuses it.
func substituteVariables(expr string, vars []string) string {
	expr = grafanaBuiltins.ReplaceAllString(expr, "1m")
	for _, v := range vars {
		re := regexp.MustCompile(`\$\{` + regexp.QuoteMeta(v) + `(:[a-z]+)?\}|\$` +
			regexp.QuoteMeta(v) + `\b|\[\[` + regexp.QuoteMeta(v) + `\]\]`)
		expr = re.ReplaceAllString(expr, ".*")
	}
	return expr
}

var promqlParser = parser.NewParser(parser.Options{})

// analyse parses one dashboard expression and collects what it names. Returns an error
// when it does not parse (after substituteVariables), or when it selects metric names by a
// regex, which no scrape can check.
func analyse(expr string, vars []string) (*queryAnalysis, error) {
	plain := substituteVariables(expr, vars)
	node, err := promqlParser.ParseExpr(plain)
	if err != nil {
		return nil, fmt.Errorf("%q (as %q) does not parse: %w", expr, plain, err)
	}
	q := &queryAnalysis{created: map[string]bool{}}
	var problem error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			// A MatrixSelector's VectorSelector is visited as its child.
			s := selectorUse{metric: n.Name}
			for _, m := range n.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					if m.Type != labels.MatchEqual {
						problem = fmt.Errorf("%q selects metric names by %s%q: name them "+
							"exactly", expr, m.Type, m.Value)
					}
					s.metric = m.Value
					continue
				}
				s.labels = append(s.labels, m.Name)
			}
			q.selectors = append(q.selectors, s)
		case *parser.AggregateExpr:
			ms := metricsIn(n.Expr)
			q.aggregations = append(q.aggregations,
				aggregation{metrics: ms, grouping: n.Grouping, without: n.Without})
			for _, l := range n.Grouping {
				q.labels = append(q.labels, labelUse{label: l, where: "by/without",
					groups: []map[string]bool{ms}})
			}
		case *parser.BinaryExpr:
			lhs, rhs := metricsIn(n.LHS), metricsIn(n.RHS)
			if n.Op == parser.DIV {
				q.ratios = append(q.ratios, ratioUse{num: lhs, den: rhs})
			}
			if vm := n.VectorMatching; vm != nil {
				for _, l := range vm.MatchingLabels {
					u := labelUse{label: l, where: "on", groups: []map[string]bool{lhs, rhs}}
					if !vm.On {
						u.where, u.anyOf = "ignoring", true
					}
					q.labels = append(q.labels, u)
				}
				for _, l := range vm.Include {
					q.labels = append(q.labels, labelUse{label: l, where: "group_left/right",
						groups: []map[string]bool{lhs, rhs}, anyOf: true})
				}
			}
		case *parser.Call:
			switch n.Func.Name {
			case "histogram_quantile":
				u := quantileUse{q: -1, metrics: metricsIn(n.Args[1])}
				if lit, ok := unwrapParens(n.Args[0]).(*parser.NumberLiteral); ok {
					u.q = lit.Val
				}
				if agg, ok := unwrapParens(n.Args[1]).(*parser.AggregateExpr); ok && !agg.Without {
					u.grouping = agg.Grouping
				}
				q.quantiles = append(q.quantiles, u)
			case "label_replace", "label_join":
				// label_replace(v, dst, replacement, src, regex); label_join(v, dst, sep, src…).
				ms := metricsIn(n.Args[0])
				q.created[stringArg(n.Args[1])] = true
				srcs := n.Args[3:]
				if n.Func.Name == "label_replace" {
					srcs = n.Args[3:4]
				}
				for _, a := range srcs {
					q.labels = append(q.labels, labelUse{label: stringArg(a),
						where: n.Func.Name + " source", groups: []map[string]bool{ms}})
				}
			}
		}
		return nil
	})
	if problem != nil {
		return nil, problem
	}
	return q, nil
}

func unwrapParens(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

func stringArg(e parser.Expr) string {
	if s, ok := unwrapParens(e).(*parser.StringLiteral); ok {
		return s.Val
	}
	return ""
}

// metricsIn returns the metric names selected anywhere under e.
func metricsIn(e parser.Expr) map[string]bool {
	ms := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			ms[name] = true
		}
		return nil
	})
	return ms
}

// TestPromQLAnalysisFindsEveryNameTheQueryUses pins the walker on the constructs the
// dashboard does not use today, so a future panel with them is checked as well.
func TestPromQLAnalysisFindsEveryNameTheQueryUses(t *testing.T) {
	cases := []struct {
		expr    string
		metrics []string // selectors' metrics, in order
		labels  []string // label uses (matchers excluded), in order
	}{
		{`{__name__="a_total", pod=~"$pod"}`, []string{"a_total"}, nil},
		{`sum without (x) (rate(a_total[$__rate_interval]))`, []string{"a_total"}, []string{"x"}},
		{`a * on (pod) group_left (version) b`, []string{"a", "b"}, []string{"pod", "version"}},
		{`a / ignoring (code) b`, []string{"a", "b"}, []string{"code"}},
		{`label_replace(a, "dst", "$1", "src", "(.*)")`, []string{"a"}, []string{"src"}},
		{`label_join(a, "dst", ",", "s1", "s2")`, []string{"a"}, []string{"s1", "s2"}},
		{`histogram_quantile(0.9, sum by (le) (rate(h_bucket[${__interval}])))`,
			[]string{"h_bucket"}, []string{"le"}},
	}
	for _, c := range cases {
		q, err := analyse(c.expr, []string{"pod"})
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		var metrics, labels []string
		for _, s := range q.selectors {
			metrics = append(metrics, s.metric)
		}
		for _, u := range q.labels {
			labels = append(labels, u.label)
		}
		if !slices.Equal(metrics, c.metrics) || !slices.Equal(labels, c.labels) {
			t.Errorf("%s: metrics %v labels %v, want %v %v", c.expr, metrics, labels,
				c.metrics, c.labels)
		}
	}
	for _, bad := range []string{`rate(a[$__unknown])`, `rate(a{pod=$pod}[1m])`,
		`{__name__=~"signer_.*"}`} {
		if _, err := analyse(bad, []string{"pod"}); err == nil {
			t.Errorf("%s: accepted, but it cannot be checked against a scrape", bad)
		}
	}
}
