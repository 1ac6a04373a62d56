package graph_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
)

// FuzzDecodeCallRecord feeds arbitrary bodies through the record decoder
// (UnmarshalCallRecord, as the client decodes) and
// on into the collector: nothing may panic, and a body that decodes must be
// observable.
func FuzzDecodeCallRecord(f *testing.F) {
	for _, name := range []string{"callrecord-expanded.json", "callrecord-basic.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"x","sessions":[{"segments":[{"media":[{"label":"main-video","streams":[{"streamDirection":"callerToCallee","averageJitter":"PT-1S","averageVideoFrameRate":1e308}]}]}]}]}`))
	f.Add([]byte(`{"id":"x","sessions":[{"caller":{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"quantumPhone"}}}]}`))
	f.Add([]byte(`{"id":"x","sessions":[{"segments":[{"caller":{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"windows","productFamily":"teams","applicationVersion":"1.0.0.2024\n"}},"media":[{"label":"main-audio","callerNetwork":{"connectionType":"wifi"},"streams":[{"streamDirection":"callerToCallee","audioCodec":"satin","videoCodec":null,"packetUtilization":900,"averageJitter":"PT0.1S","averageRoundTripTime":"PT1S"}]},{"label":"main-video","streams":[{"streamDirection":"calleeToCaller","videoCodec":"unknownFutureValue","averageVideoFrameRate":3}]}]}]}]}`))
	col := collector.New(collector.Options{NativeHistograms: true})
	f.Fuzz(func(t *testing.T, body []byte) {
		var rec graph.CallRecord
		if err := graph.UnmarshalCallRecord(body, &rec); err != nil {
			return
		}
		col.Ingest(&rec)
	})
}

// FuzzParseDuration checks that the ISO 8601 parser never panics and that
// what it accepts formats back to the same duration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT0.016S", "PT1M2.5S", "P1DT2H", "-PT1S", "PT0,5S", "P1W", "PT99999999999S", "P1Y", "PT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := graph.ParseDuration(s)
		if err != nil {
			return
		}
		back, err := graph.ParseDuration(graph.FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, graph.FormatDuration(d), back, err)
		}
		var u graph.Duration
		if err := json.Unmarshal([]byte(`"`+graph.FormatDuration(d)+`"`), &u); err != nil || !u.Valid || u.Value != d {
			t.Fatalf("JSON round trip of %v: %+v, %v", d, u, err)
		}
	})
}

// FuzzDecodeCallLogRow feeds arbitrary rows through both call-log row
// decoders: nothing may panic, an error stays short (it names a member,
// never quotes the row), and a row that decodes holds only values inside
// the documented bounds.
func FuzzDecodeCallLogRow(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","startDateTime":"2026-11-01T00:00:25.105Z","inviteDateTime":"2026-11-01T00:00:21.949Z","failureDateTime":"0001-01-01T00:00:00Z","duration":5,"callType":"ByotIn","successfulCall":true,"finalSipCode":0,"trunkFullyQualifiedDomainName":"sbc1.example.org","mediaBypassEnabled":false}`,
		`{"id":"b","startDateTime":"2026-11-01T00:00:08.2589935Z","duration":219,"charge":0.25,"callType":"user_out","currency":"EUR","destinationContext":null}`,
		`{"id":"c","startDateTime":"2026-11-01T00:00:08Z","successfulCall":"+4420790001234","duration":-1,"charge":-2}`,
		`{"ID":"d","id":"e","startDateTime":"0001-01-01T00:00:00Z"}`,
		`[]`, `null`, `{"id":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return // rows come out of a page that decoded
		}
		dr, err := graph.UnmarshalDirectRoutingRow(body)
		checkRowError(t, err)
		if err == nil {
			checkRow(t, dr.ID, dr.Start, dr.Duration, []string{dr.CallType, dr.Trunk})
			if !dr.Duration.Valid && dr.Duration.Value != 0 {
				t.Fatalf("invalid duration carries %v", dr.Duration.Value)
			}
			if d, ok := dr.SetupTime(); ok && d < 0 {
				t.Fatalf("negative setup time %v", d)
			}
		}
		p, err := graph.UnmarshalPSTNRow(body)
		checkRowError(t, err)
		if err == nil {
			checkRow(t, p.ID, p.Start, p.Duration, []string{p.CallType, p.Currency, p.DestinationContext})
			if p.Charge.Valid && (p.Charge.Value < 0 || p.Charge.Value > graph.MaxCharge) {
				t.Fatalf("charge %v out of bounds", p.Charge.Value)
			}
		}
	})
}

func checkRowError(t *testing.T, err error) {
	if err != nil && (!errors.Is(err, graph.ErrMalformedRow) || len(err.Error()) > 120) {
		t.Fatalf("error %q", err)
	}
}

func checkRow(t *testing.T, id string, start time.Time, d graph.Number, strs []string) {
	if id == "" || len(id) > 128 || start.IsZero() {
		t.Fatalf("decoded row without identity: id %q start %v", id, start)
	}
	if d.Valid && (d.Value < 0 || d.Value > math.MaxInt32 || d.Value != math.Trunc(d.Value)) {
		t.Fatalf("duration %v out of bounds", d.Value)
	}
	for _, s := range strs {
		if len(s) > 256 {
			t.Fatalf("string of %d bytes kept", len(s))
		}
	}
}
