package collector

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/teams-exporter/teams-exporter/internal/gendoc"
)

var update = flag.Bool("update", false, "rewrite the generated sections of docs/metrics.md")

const metricsDoc = "docs/metrics.md"

// TestMetricsDoc: docs/metrics.md lists every call-quality family of the
// family table, with its type, labels, buckets and HELP, and every label
// with its values or bound. -update rewrites those sections.
func TestMetricsDoc(t *testing.T) {
	for i := range dims {
		if d := &dims[i]; d.learned() && d.about == "" {
			t.Errorf("label %s takes its values from the data: say where they come from in its about, for docs/metrics.md", d.name)
		}
	}
	gendoc.Check(t, metricsDoc, "call-quality-families", familiesDoc(), *update)
	gendoc.Check(t, metricsDoc, "call-quality-labels", labelsDoc(), *update)
}

// familiesDoc is the table of the call-quality families, in name order.
// The ending every HELP text shares (what is counted since when, and the
// point of view of stream families) is said once, above the table.
func familiesDoc() []byte {
	var b bytes.Buffer
	b.WriteString("| family | type | labels | meaning |\n|---|---|---|---|\n")
	for _, id := range familiesByName {
		f := families[id]
		help := strings.TrimSuffix(f.help, cmp.Or(f.eventOf, sinceStateBegan))
		help = strings.TrimSuffix(help, streamHelpSuffix)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.name, familyType(f), labelNames(f.dims), gendoc.Cell(help))
	}
	return b.Bytes()
}

func familyType(f *family) string {
	if f.counter {
		return "counter"
	}
	bounds := make([]string, len(f.bounds))
	for i, v := range f.bounds {
		bounds[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return "histogram (" + strings.Join(bounds, " ") + ")"
}

func labelNames(ds []dim) string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = dims[d].name
	}
	return strings.Join(names, ", ")
}

// labelsDoc is the table of the labels: a fixed label's values, or where a
// learned label's come from and its bound. Two dims of one name (call_type
// of direct routing and of PSTN) are one row when they are alike.
func labelsDoc() []byte {
	rows := map[string]string{}
	for i := range dims {
		d := &dims[i]
		row := valuesOf(d)
		if prev, ok := rows[d.name]; ok && prev != row {
			row = prev + "; " + row
		}
		rows[d.name] = row
	}
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	slices.Sort(names)
	var b bytes.Buffer
	b.WriteString("| label | values |\n|---|---|\n")
	for _, n := range names {
		fmt.Fprintf(&b, "| `%s` | %s |\n", n, rows[n])
	}
	return b.Bytes()
}

func valuesOf(d *dimension) string {
	if d.learned() {
		return fmt.Sprintf("%s. At most %d distinct values, the first seen, then `%s`.", d.about, d.max-len(d.reserved), d.overflow)
	}
	quoted := func(vs []string) string {
		q := make([]string, len(vs))
		for i, v := range vs {
			q[i] = "`" + v + "`"
		}
		return strings.Join(q, ", ")
	}
	if n := len(d.values); n > 100 { // SIP codes: 0, 100 to 699, other
		return fmt.Sprintf("%s, ..., %s (%d values)", quoted(d.values[:2]), quoted(d.values[n-2:]), n)
	}
	return quoted(d.values)
}
