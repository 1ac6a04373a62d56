package graph_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

var updateDecoded = flag.Bool("update-decoded", false, "rewrite testdata/*.decoded.golden from UnmarshalCallRecord")

// TestUnmarshalCallRecordGolden pins the decoded form of the fixtures. The
// goldens were written by the encoding/json v1 decoder that
// UnmarshalCallRecord replaced, so they show the faster decoder changed
// nothing, field by field (including which numbers are "not measured").
func TestUnmarshalCallRecordGolden(t *testing.T) {
	for _, name := range []string{"callrecord-expanded", "callrecord-basic"} {
		t.Run(name, func(t *testing.T) {
			body := readDecodeFixture(t, name+".json")
			var rec graph.CallRecord
			if err := graph.UnmarshalCallRecord(body, &rec); err != nil {
				t.Fatal(err)
			}
			got := dumpDecoded(&rec)
			golden := "testdata/" + name + ".decoded.golden"
			if *updateDecoded {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("decoded record differs from %s:\n%s", golden, diffLines(string(want), got))
			}
		})
	}
}

// TestUnmarshalCallRecordMatchesEncodingJSON decodes the fixtures and
// graphsim's generated records (every platform, network, media kind, null,
// zero and feedback rating) with both decoders: the results must be
// identical.
func TestUnmarshalCallRecordMatchesEncodingJSON(t *testing.T) {
	bodies := map[string][]byte{
		"expanded": readDecodeFixture(t, "callrecord-expanded.json"),
		"basic":    readDecodeFixture(t, "callrecord-basic.json"),
	}
	start := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 7, Count: 60, Start: start, End: start.Add(time.Hour)})
	sessions := 0
	for i, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		bodies["generated"+strconv.Itoa(i)] = b
		sessions += len(r.Sessions)
	}
	if sessions < 100 {
		t.Fatalf("generated records hold %d sessions; want a varied set", sessions)
	}
	for name, body := range bodies {
		var v1, v2 graph.CallRecord
		if err := json.Unmarshal(body, &v1); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := graph.UnmarshalCallRecord(body, &v2); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(v1, v2) {
			t.Errorf("%s: decoders disagree:\n%s", name, diffLines(dumpDecoded(&v1), dumpDecoded(&v2)))
		}
	}
}

// TestUnmarshalCallRecordNulls: null and absent are "not measured", zero is
// a measurement.
func TestUnmarshalCallRecordNulls(t *testing.T) {
	body := `{"id":"r","sessions":[{"segments":[{"media":[{"label":"main-audio",
		"callerNetwork":{"connectionType":"wifi","linkSpeed":null,"delayEventRatio":0},
		"calleeNetwork":null,
		"streams":[{"streamDirection":"callerToCallee","averageJitter":null,"maxJitter":"PT0S",
			"averagePacketLossRate":0,"maxPacketLossRate":null,"averageRoundTripTime":"PT1M2.5S",
			"averageVideoFrameRate":1.5e1,"wasMediaBypassed":false}]}]}]}]}`
	var rec graph.CallRecord
	if err := graph.UnmarshalCallRecord([]byte(body), &rec); err != nil {
		t.Fatal(err)
	}
	m := rec.Sessions[0].Segments[0].Media[0]
	s := m.Streams[0]
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"averageJitter null", s.AverageJitter, graph.Duration{}},
		{"maxJitter PT0S", s.MaxJitter, graph.Duration{Valid: true}},
		{"averageRoundTripTime", s.AverageRoundTripTime, graph.Duration{Value: 62500 * time.Millisecond, Valid: true}},
		{"averageAudioNetworkJitter absent", s.AverageAudioNetworkJitter, graph.Duration{}},
		{"averagePacketLossRate 0", s.AveragePacketLossRate, graph.Number{Valid: true}},
		{"maxPacketLossRate null", s.MaxPacketLossRate, graph.Number{}},
		{"averageVideoFrameRate 1.5e1", s.AverageVideoFrameRate, graph.Number{Value: 15, Valid: true}},
		{"packetUtilization absent", s.PacketUtilization, graph.Number{}},
		{"linkSpeed null", m.CallerNetwork.LinkSpeed, graph.Number{}},
		{"delayEventRatio 0", m.CallerNetwork.DelayEventRatio, graph.Number{Valid: true}},
		{"calleeNetwork null", m.CalleeNetwork, (*graph.NetworkInfo)(nil)},
		{"wasMediaBypassed", *s.WasMediaBypassed, false},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, c.got, c.want)
		}
	}
}

// TestUnmarshalCallRecordWrongTypes: a wrongly typed member refuses the
// record, and the error says where without quoting the record.
func TestUnmarshalCallRecordWrongTypes(t *testing.T) {
	stream := func(member string) string {
		return `{"id":"r","sessions":[{"segments":[{"media":[{"streams":[{` + member + `}]}]}]}]}`
	}
	for _, c := range []struct {
		body, want string
	}{
		{stream(`"averageJitter":0.016`), `averageJitter": duration: want a JSON string, got "0.016"`},
		{stream(`"averageJitter":"0.016"`), `averageJitter": parse duration "0.016": not an ISO 8601 duration`},
		{stream(`"averageJitter":"P1M"`), `years and months have no fixed length`},
		{stream(`"packetUtilization":"5"`), `packetUtilization": number: want a JSON number, got "\"5\""`},
		{stream(`"packetUtilization":true`), `packetUtilization": number: want a JSON number, got "true"`},
		{stream(`"packetUtilization":1e400`), `packetUtilization": number: want a JSON number, got "1e400"`},
		{stream(`"averageJitter":{}`), `averageJitter": duration: want a JSON string, got "{}"`},
		{`{"id":5}`, `JSON number into Go string within "/id"`},
		{`{"version":"1"}`, `within "/version"`},
		{`{"startDateTime":"yesterday"}`, `within "/startDateTime"`},
		{`{"sessions":{}}`, `within "/sessions"`},
		{`{"id":"r"`, `unexpected EOF`},
		{`{"id":"r"} {}`, `after top-level value`},
	} {
		var rec graph.CallRecord
		err := graph.UnmarshalCallRecord([]byte(c.body), &rec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one containing %q", c.body, err, c.want)
		}
	}
}

// TestUnmarshalCallRecordLenient: what encoding/json accepted stays
// accepted, so a quirk in one member does not lose a whole record.
func TestUnmarshalCallRecordLenient(t *testing.T) {
	body := "{\"ID\":\"r\",\"type\":\"peerToPeer\",\"type\":\"groupCall\",\"Version\":3,\"start_date_time\":\"2020-01-01T00:00:00Z\",\"futureMember\":{\"x\":[1,{}]}," +
		"\"sessions\":[{\"caller\":{\"userAgent\":{\"platform\":\"win\xffdows\",\"headerValue\":\"\xfe\"}}}]}"
	var rec graph.CallRecord
	if err := graph.UnmarshalCallRecord([]byte(body), &rec); err != nil {
		t.Fatal(err)
	}
	var v1 graph.CallRecord
	if err := json.Unmarshal([]byte(body), &v1); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec, v1) {
		t.Errorf("decoders disagree:\n%s", diffLines(dumpDecoded(&v1), dumpDecoded(&rec)))
	}
	if rec.ID != "r" || rec.Version != 3 || !rec.StartDateTime.IsZero() {
		t.Errorf("names match as strings.EqualFold does: got id %q, version %d, start %v", rec.ID, rec.Version, rec.StartDateTime)
	}
	if rec.Type != "groupCall" {
		t.Errorf("repeated member: got type %q, want the last one, groupCall", rec.Type)
	}
	if got := rec.Sessions[0].Caller.UserAgent.Platform; got != "win\uFFFDdows" {
		t.Errorf("invalid UTF-8: got platform %q", got)
	}
}

// TestUnmarshalCallRecordKeepsNoPersonalData: names, ids of people, MAC
// addresses, device names and free-text feedback in the fixture never reach
// the decoded record; the clients' IP addresses and subnets do, for the
// building lookup, but never print or log.
func TestUnmarshalCallRecordKeepsNoPersonalData(t *testing.T) {
	body := readDecodeFixture(t, "callrecord-expanded.json")
	var rec graph.CallRecord
	if err := graph.UnmarshalCallRecord(body, &rec); err != nil {
		t.Fatal(err)
	}
	dump := dumpDecoded(&rec)
	for _, personal := range []string{
		"Abbie Wilkins", "Owen Franklin", "821809f5-0000-0000-0000-3b5136c0e777",
		"f69e2c00-0000-0000-0000-185e5f5f5d8a", "dc368399-474c-4d40-900c-6265431fd81f",
		"SM-G930U", "00-00-00-00-00-00", "Default input device",
	} {
		if !strings.Contains(string(body), personal) {
			t.Fatalf("fixture no longer contains %q; update the test", personal)
		}
		if strings.Contains(dump, personal) {
			t.Errorf("decoded record holds %q", personal)
		}
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("record", "rec", rec, "net", rec.Sessions[0].Segments[0].Media[0].CallerNetwork)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("record", "net", *rec.Sessions[0].Segments[0].Media[0].CallerNetwork,
		"ip", rec.Sessions[0].Segments[0].Media[0].CallerNetwork.IPAddress)
	printed := fmt.Sprintf("%v %+v %#v %s %q", rec, rec, rec, rec.Sessions[0].Segments[0].Media[0].CallerNetwork.Subnet,
		rec.Sessions[0].Segments[0].Media[0].CalleeNetwork.IPAddress)
	for _, addr := range []string{"10.139.0.12", "10.150.0.2", "10.150.0.0", "10.139.80.0"} {
		if !strings.Contains(dump, addr) {
			t.Errorf("decoded record lacks %q: the building lookup needs it", addr)
		}
		if strings.Contains(printed+logged.String(), addr) {
			t.Errorf("%q printed or logged", addr)
		}
	}
}

// FuzzUnmarshalCallRecordMatchesEncodingJSON: whatever both decoders
// accept, they decode alike, and what encoding/json accepted is accepted,
// except a record over the bounds a record may hold, and that escapes in timestamp strings, which encoding/json's time.Time
// refuses, are decoded.
func FuzzUnmarshalCallRecordMatchesEncodingJSON(f *testing.F) {
	for _, name := range []string{"callrecord-expanded.json", "callrecord-basic.json"} {
		f.Add(readDecodeFixture(f, name))
	}
	f.Add([]byte(`{"id":"x","ID":"y","Sessions":[{"segments":[{"media":[{"callerNetwork":null,"streams":[{"averageJitter":null,"packetUtilization":7e2}]}]}]}]}`))
	// Short strings: a member, one with an escape, one over the bound,
	// invalid UTF-8, null.
	f.Add([]byte("{\"sessions\":[{\"segments\":[{\"caller\":{\"userAgent\":{\"productFamily\":\"te\\u0061ms\",\"applicationVersion\":\"" +
		strings.Repeat("1.", 40) + "\"}},\"callee\":{\"userAgent\":{\"productFamily\":\"lync\",\"applicationVersion\":\"v\xff1\"}}," +
		"\"media\":[{\"streams\":[{\"audioCodec\":\"opus\",\"videoCodec\":null},{\"audioCodec\":\"\\u00e9" + strings.Repeat("x", 70) + "\"}]}]}]}]}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var v1, v2 graph.CallRecord
		err1 := json.Unmarshal(body, &v1)
		err2 := graph.UnmarshalCallRecord(body, &v2)
		if err1 != nil || err2 != nil {
			if err1 == nil && !errors.Is(err2, graph.ErrRecordBounds) {
				t.Fatalf("encoding/json accepted, UnmarshalCallRecord refused: %v", err2)
			}
			return
		}
		if !reflect.DeepEqual(v1, v2) {
			t.Fatalf("decoders disagree:\n%s", diffLines(dumpDecoded(&v1), dumpDecoded(&v2)))
		}
	})
}

func readDecodeFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// dumpDecoded writes every field of v, one "path = value" line each, with
// pointers followed and times in full (instant and zone), so two records
// with equal dumps are equal.
func dumpDecoded(v any) string {
	var b strings.Builder
	dumpValue(&b, "record", reflect.ValueOf(v))
	return b.String()
}

func dumpValue(b *strings.Builder, path string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			fmt.Fprintf(b, "%s = nil\n", path)
			return
		}
		dumpValue(b, path, v.Elem())
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			fmt.Fprintf(b, "%s = %s (%s)\n", path, t.Format(time.RFC3339Nano), t.Location())
			return
		}
		for i := range v.NumField() {
			dumpValue(b, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.IsNil() {
			fmt.Fprintf(b, "%s = nil\n", path)
			return
		}
		fmt.Fprintf(b, "%s = [%d]\n", path, v.Len())
		for i := range v.Len() {
			dumpValue(b, path+"["+strconv.Itoa(i)+"]", v.Index(i))
		}
	case reflect.Float64:
		fmt.Fprintf(b, "%s = %s\n", path, strconv.FormatFloat(v.Float(), 'g', -1, 64))
	case reflect.String:
		fmt.Fprintf(b, "%s = %q\n", path, v.String())
	default:
		fmt.Fprintf(b, "%s = %v\n", path, v.Interface())
	}
}

// diffLines lists the lines that differ between two dumps (at most 20).
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			out = append(out, "- "+wl, "+ "+gl)
		}
	}
	return strings.Join(out, "\n")
}

// TestUnmarshalShortStrings: codecs, product family and version arrive as
// given; null and absent are empty; a value longer than MaxShortString is
// cut to one byte more, so it stays "another value" without being kept
// whole; a member of another type refuses the record, as for every field.
func TestUnmarshalShortStrings(t *testing.T) {
	long := strings.Repeat("7", 10_000)
	body := `{"id":"r","sessions":[{"segments":[{
		"caller":{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"windows","productFamily":"azureCommunicationServices","applicationVersion":"1.2.3\n"}},
		"callee":{"userAgent":{"platform":"macOS","productFamily":null,"applicationVersion":"` + long + `"}},
		"media":[{"label":"main-video","streams":[
			{"streamDirection":"callerToCallee","audioCodec":null,"videoCodec":"h264"},
			{"streamDirection":"calleeToCaller","audioCodec":"unknownFutureValue","videoCodec":"` + long + `"}]}]}]}]}`
	for name, decode := range map[string]func([]byte, *graph.CallRecord) error{
		"v2": graph.UnmarshalCallRecord,
		"v1": func(b []byte, rec *graph.CallRecord) error { return json.Unmarshal(b, rec) },
	} {
		var rec graph.CallRecord
		if err := decode([]byte(body), &rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		seg := rec.Sessions[0].Segments[0]
		s := seg.Media[0].Streams
		cut := graph.ShortString(long[:graph.MaxShortString+1])
		for _, c := range []struct {
			what      string
			got, want graph.ShortString
		}{
			{"productFamily", seg.Caller.UserAgent.ProductFamily, "azureCommunicationServices"},
			{"applicationVersion with a newline", seg.Caller.UserAgent.ApplicationVersion, "1.2.3\n"},
			{"productFamily null", seg.Callee.UserAgent.ProductFamily, ""},
			{"applicationVersion of 10,000 bytes", seg.Callee.UserAgent.ApplicationVersion, cut},
			{"audioCodec null", s[0].AudioCodec, ""},
			{"videoCodec", s[0].VideoCodec, "h264"},
			{"audioCodec unknownFutureValue", s[1].AudioCodec, "unknownFutureValue"},
			{"videoCodec of 10,000 bytes", s[1].VideoCodec, cut},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s = %.80q, want %.80q", name, c.what, c.got, c.want)
			}
		}
	}
	for _, member := range []string{`"audioCodec":1`, `"videoCodec":{}`, `"audioCodec":["opus"]`} {
		body := `{"id":"r","sessions":[{"segments":[{"media":[{"streams":[{` + member + `}]}]}]}]}`
		var rec graph.CallRecord
		if err := graph.UnmarshalCallRecord([]byte(body), &rec); err == nil || !strings.Contains(err.Error(), "want a JSON string") {
			t.Errorf("%s: got error %v, want one saying a string was expected", member, err)
		}
	}
}
