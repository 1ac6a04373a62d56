package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/gendoc"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/ledger"
	"github.com/teams-exporter/teams-exporter/notifications"
	"github.com/teams-exporter/teams-exporter/notifications/eventhub"
	"github.com/teams-exporter/teams-exporter/poller"
)

var update = flag.Bool("update", false, "rewrite the generated sections of docs/metrics.md and docs/configuration.md")

// recordingRegistry is a registry that remembers what was registered, so
// that families without a series yet (a vector before its first label
// values) are documented from their descriptions.
type recordingRegistry struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recordingRegistry) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registry.Register(c)
}

func (r *recordingRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// documentedRegistry registers the exporter's own metrics as serve does,
// with every optional part on: demo mode, both call logs, change
// notifications (webhook and Event Hubs), a building file. A part that
// registers metrics must be added here, so that TestDocs writes them into
// docs/metrics.md; checkFamiliesDocumented (in TestDemoSaysItIsSimulated
// and TestDemoWithNotifications) fails otherwise.
func documentedRegistry(t *testing.T) *recordingRegistry {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	reg := &recordingRegistry{Registry: newRegistry(true)}
	graphMetrics := poller.NewGraphMetrics(reg, nil)

	receiver, err := notifications.NewReceiver(notifications.Config{ClientState: string(randomSecret()), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notifications.NewSubscriber(notifications.SubscriberConfig{
		NotificationURL: "https://teams-exporter.example.com/notifications", ClientState: string(randomSecret()),
		Receiver: receiver, Registerer: reg,
	}, nil); err != nil {
		t.Fatal(err)
	}

	buildings := filepath.Join(t.TempDir(), "buildings.csv")
	if err := os.WriteFile(buildings, graphsim.DemoBuildingFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openBuildings(ctx, &config{BuildingFile: buildings}, reg, log); err != nil {
		t.Fatal(err)
	}

	cred, err := azidentity.NewClientSecretCredential(demoTenantID, demoClientID, demoSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	client, err := graph.New(graph.Config{BaseURL: "https://graph.microsoft.com", Credential: cred, Observer: graphMetrics})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	poller.New(poller.Config{
		Registerer: reg, Graph: graphMetrics, Logger: log,
		CallLogs:      poller.CallLogConfig{Source: client, DirectRoutingCalls: true, PSTNCalls: true},
		Notifications: receiver,
	}, client, l)
	hub, err := notifications.ParseEventHub("teams-exporter.servicebus.windows.net/teams")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eventhub.New(eventhub.Config{
		Hub: hub, Credential: cred, Receiver: receiver, Ledger: ledgerRecords{l}, Registerer: reg, Logger: log,
	}); err != nil {
		t.Fatal(err)
	}
	newMetricsHandler(reg, l, log)
	web := newWebServer(http.NewServeMux())
	reg.MustRegister(connectionsShed("metrics", web.Limit.Shed))
	return reg
}

// standardPrefixes are the families of client_golang's Go and process
// collectors, which docs/metrics.md names by prefix: they depend on the Go
// version and the operating system.
var standardPrefixes = []string{"go_", "process_"}

func standardFamily(name string) bool {
	for _, p := range standardPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// familyDoc is what docs/metrics.md says of one of the exporter's own
// families.
type familyDoc struct {
	name, kind, help string
	labels           []string
}

// descPattern reads a Desc's String(), the only way client_golang gives
// a description's name, help and variable labels.
var descPattern = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), .*variableLabels: \{([^}]*)\}\}$`)

// exporterFamilies documents every family of reg but the standard ones:
// from a gather where the family has series, else from the registered
// collectors' descriptions.
func exporterFamilies(t *testing.T, reg *recordingRegistry) []familyDoc {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]familyDoc{}
	for _, mf := range mfs {
		if standardFamily(mf.GetName()) {
			continue
		}
		var labels []string
		if ms := mf.GetMetric(); len(ms) > 0 {
			for _, lp := range ms[0].GetLabel() {
				labels = append(labels, lp.GetName())
			}
		}
		docs[mf.GetName()] = familyDoc{name: mf.GetName(), kind: strings.ToLower(mf.GetType().String()), help: mf.GetHelp(), labels: labels}
	}
	for _, c := range reg.collectors {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descPattern.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the description %s", d)
			}
			name, _ := strconv.Unquote(m[1])
			help, _ := strconv.Unquote(m[2])
			if _, ok := docs[name]; ok || standardFamily(name) {
				continue
			}
			kind := vectorKind(c)
			if kind == "" {
				t.Fatalf("%s has no series and its collector %T is not a vector: cannot tell its type", name, c)
			}
			var labels []string
			if m[3] != "" {
				labels = strings.Split(m[3], ",")
			}
			docs[name] = familyDoc{name: name, kind: kind, help: help, labels: labels}
		}
	}
	out := make([]familyDoc, 0, len(docs))
	for _, d := range docs {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b familyDoc) int { return strings.Compare(a.name, b.name) })
	return out
}

func vectorKind(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.CounterVec:
		return strings.ToLower(dto.MetricType_COUNTER.String())
	case *prometheus.GaugeVec:
		return strings.ToLower(dto.MetricType_GAUGE.String())
	case *prometheus.HistogramVec:
		return strings.ToLower(dto.MetricType_HISTOGRAM.String())
	case *prometheus.SummaryVec:
		return strings.ToLower(dto.MetricType_SUMMARY.String())
	}
	return ""
}

func exporterFamiliesDoc(fams []familyDoc) []byte {
	var b bytes.Buffer
	b.WriteString("| family | type | labels | meaning |\n|---|---|---|---|\n")
	for _, f := range fams {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.name, f.kind, strings.Join(f.labels, ", "), gendoc.Cell(f.help))
	}
	return b.Bytes()
}

// configDoc is the table of every variable: from the configuration struct's
// tags (as exporter -h prints them), then azidentity's own.
func configDoc() []byte {
	var b bytes.Buffer
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, v := range variables() {
		def := "empty"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Key, def, gendoc.Cell(v.Desc))
	}
	return b.Bytes()
}

func credentialsDoc() []byte {
	var b bytes.Buffer
	b.WriteString("| variable | meaning |\n|---|---|\n")
	for _, v := range azureVariables {
		fmt.Fprintf(&b, "| `%s` | %s |\n", v.name, gendoc.Cell(v.desc))
	}
	return b.Bytes()
}

// TestDocs: docs/metrics.md lists the exporter's own families as the
// exporter registers them, and docs/configuration.md every variable of the
// configuration struct and of azidentity. -update rewrites those sections
// (go generate ./... does it for every generated section).
func TestDocs(t *testing.T) {
	fams := exporterFamilies(t, documentedRegistry(t))
	if len(fams) < 20 {
		t.Fatalf("only %d families documented", len(fams))
	}
	own := func(f familyDoc) bool {
		return strings.HasPrefix(f.name, exporterName+"_") || strings.HasPrefix(f.name, "promhttp_")
	}
	var self, other []familyDoc
	for _, f := range fams {
		if own(f) {
			self = append(self, f)
		} else {
			other = append(other, f)
		}
	}
	gendoc.Check(t, "docs/metrics.md", "exporter-families", exporterFamiliesDoc(self), *update)
	gendoc.Check(t, "docs/metrics.md", "building-families", exporterFamiliesDoc(other), *update)
	gendoc.Check(t, "docs/configuration.md", "variables", configDoc(), *update)
	gendoc.Check(t, "docs/configuration.md", "credentials", credentialsDoc(), *update)
}
