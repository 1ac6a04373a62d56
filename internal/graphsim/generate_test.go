package graphsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
)

var genStart = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func TestGenerateDeterministic(t *testing.T) {
	opts := graphsim.GenOptions{Seed: 42, Count: 50, Start: genStart, End: genStart.Add(24 * time.Hour)}
	a, ta := simtruth.Generate(opts)
	b, tb := simtruth.Generate(opts)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("the same seed gave different records")
	}
	if d := ta.Diff(tb); d != nil {
		t.Fatalf("the same seed gave different truths: %v", d[:min(5, len(d))])
	}
	opts.Seed = 43
	c := graphsim.Generate(opts)
	if jc, _ := json.Marshal(c); bytes.Equal(ja, jc) {
		t.Fatal("different seeds gave the same records")
	}
	for _, r := range a {
		if r.StartDateTime.Before(opts.Start) || !r.StartDateTime.Before(opts.End) || !r.EndDateTime.After(r.StartDateTime) {
			t.Errorf("record %s: start %v end %v outside [%v, %v)", r.ID, r.StartDateTime, r.EndDateTime, opts.Start, opts.End)
		}
		if len(r.ID) != 36 || r.ID[14] != '4' {
			t.Errorf("record id %q is not a v4 UUID", r.ID)
		}
	}
}

// labelValues collects the values a label takes in the truth's series of
// one family.
func labelValues(tr simtruth.Truth, family, label string) map[string]bool {
	out := map[string]bool{}
	for k := range tr {
		name, labels, _ := strings.Cut(k, "{")
		if name != family {
			continue
		}
		for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
			if n, v, ok := strings.Cut(kv, "="); ok && n == label {
				out[strings.Trim(v, `"`)] = true
			}
		}
	}
	return out
}

func TestGenerateVariety(t *testing.T) {
	recs, tr := simtruth.Generate(graphsim.GenOptions{Seed: 7, Count: 2000, Start: genStart, End: genStart.Add(7 * 24 * time.Hour)})
	want := map[string][]string{
		"platform":        {"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknown"},
		"connection_type": {"wired", "wifi", "mobile", "tunnel", "unknown"},
		"media":           {"audio", "video", "screen_sharing", "data", "other"},
		"direction":       {"inbound", "outbound"},
		"quality":         {"good", "poor", "unclassified"},
	}
	for label, values := range want {
		got := labelValues(tr, "teams_streams_total", label)
		for _, v := range values {
			if !got[v] {
				t.Errorf("teams_streams_total never has %s=%q (has %v)", label, v, got)
			}
		}
	}
	for _, media := range []string{"audio", "video", "screen_sharing"} {
		for _, q := range []string{"good", "poor", "unclassified"} {
			found := false
			for k := range tr {
				if strings.HasPrefix(k, "teams_streams_total{") && strings.Contains(k, `media="`+media+`"`) && strings.Contains(k, `quality="`+q+`"`) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("no %s stream is %s", media, q)
			}
		}
	}
	ratings := labelValues(tr, "teams_feedback_total", "rating")
	for _, r := range []string{"notRated", "bad", "poor", "fair", "good", "excellent", "unknown"} {
		if !ratings[r] {
			t.Errorf("no feedback rated %q", r)
		}
	}
	types := labelValues(tr, "teams_call_records_total", "type")
	for _, ty := range []string{"groupCall", "peerToPeer", "unknown"} {
		if !types[ty] {
			t.Errorf("no call of type %q", ty)
		}
	}
	if tr[`teams_exporter_skipped_total{reason="no_client_endpoint"}`] == 0 {
		t.Error("no segment without a client endpoint")
	}
	// Every call-quality family (docs/metrics.md) is observed.
	for _, name := range simtruth.HistogramFamilies() {
		if !hasFamily(tr, name+"_count") {
			t.Errorf("family %s never observed", name)
		}
	}
	for _, f := range []string{"teams_call_duration_seconds_count", "teams_sessions_total", "teams_call_records_total"} {
		if !hasFamily(tr, f) {
			t.Errorf("family %s missing", f)
		}
	}
	// The where and why families, every value of their labels.
	whyWant := map[[2]string][]string{
		{"teams_session_failures_total", "stage"}:          {"callSetup", "midcall", "unknown"},
		{"teams_transport_streams_total", "transport"}:     {"udp", "tcp", "unknown"},
		{"teams_wifi_streams_total", "band"}:               {"frequency24GHz", "frequency50GHz", "frequency60GHz", "unknown"},
		{"teams_wifi_streams_total", "radio_type"}:         {"wifi80211a", "wifi80211b", "wifi80211g", "wifi80211n", "wifi80211ac", "wifi80211ax", "unknown"},
		{"teams_wifi_signal_strength_ratio_count", "band"}: {"frequency24GHz", "frequency50GHz", "frequency60GHz", "unknown"},
		{"teams_device_event_ratio_count", "event"}: {"capture_not_functioning", "cpu_insufficient", "device_clipping", "device_glitch",
			"low_speech_level", "low_speech_to_noise", "render_not_functioning", "render_zero_volume", "render_mute"},
		{"teams_device_glitches_per_5m_count", "device"}:  {"microphone", "speaker"},
		{"teams_device_howling_events_total", "platform"}: {"windows"},
		{"teams_feedback_tokens_total", "token"}:          {"NoSound", "OtherNoSound", "Echo", "Noisy", "LowVolume", "StoppedSound", "DistortedSound", "Interruptions", "other"},
	}
	whyWant[[2]string{"teams_poor_stream_causes_total", "cause"}] = []string{"round_trip", "packet_loss", "jitter", "frame_loss", "frame_rate", "post_fec_packet_loss"}
	whyWant[[2]string{"teams_poor_stream_causes_total", "connection_type"}] = []string{"wired", "wifi", "mobile", "tunnel", "unknown"}
	whyWant[[2]string{"teams_codec_streams_total", "codec"}] = []string{"opus", "satin", "h264", "av1", "unknown", "other"}
	whyWant[[2]string{"teams_client_streams_total", "product"}] = []string{"teams", "skypeForBusiness", "lync", "azureCommunicationServices", "unknown"}
	whyWant[[2]string{"teams_client_streams_total", "client_version"}] = []string{graphsim.WorseAudioVersion, "1.7.00.33761", "unknown"}
	buildings, err := simtruth.ParseBuildings(graphsim.DemoBuildingFile)
	if err != nil {
		t.Fatal(err)
	}
	withSites := simtruth.With(buildings, recs...)
	whyWant[[2]string{"teams_site_streams_total", "site"}] = []string{"Seattle HQ", "Berlin Office", "Tokyo Office", "London Office", "VPN", "unmapped", "unknown"}
	whyWant[[2]string{"teams_site_audio_jitter_seconds_count", "site"}] = []string{"Seattle HQ", "Berlin Office", "unmapped"}
	for fl, values := range whyWant {
		got := labelValues(withSites, fl[0], fl[1])
		for _, v := range values {
			if !got[v] {
				t.Errorf("%s never has %s=%q (has %v)", fl[0], fl[1], v, got)
			}
		}
	}
	if got := tr[`teams_call_records_total{type="groupCall"}`] + tr[`teams_call_records_total{type="peerToPeer"}`] + tr[`teams_call_records_total{type="unknown"}`]; got != 2000 {
		t.Errorf("teams_call_records_total sums to %v", got)
	}

	// The raw records: big meetings, nulls, exact zeros, exact thresholds,
	// future enum members, poor audio at a plausible rate.
	var big, nullJitter, zeroLoss, edgeJitter, futurePlatform, futureFamily, futureConn, noSessions int
	for _, r := range recs {
		if len(r.Sessions) > 60 {
			big++
		}
		if len(r.Sessions) == 0 {
			noSessions++
		}
		for _, s := range r.Sessions {
			if s.Caller.UserAgent != nil && s.Caller.UserAgent.Platform == "quantumPhone" {
				futurePlatform++
			}
			if s.Caller.UserAgent != nil && s.Caller.UserAgent.ProductFamily == "azureCommunicationServices" {
				futureFamily++
			}
			for _, g := range s.Segments {
				for _, m := range g.Media {
					if m.CallerNetwork != nil && m.CallerNetwork.ConnectionType == "satellite" {
						futureConn++
					}
					for _, st := range m.Streams {
						switch {
						case st.AverageJitter == nil:
							nullJitter++
						case time.Duration(*st.AverageJitter) == 30*time.Millisecond:
							edgeJitter++
						}
						if st.AveragePacketLossRate != nil && *st.AveragePacketLossRate == 0 {
							zeroLoss++
						}
					}
				}
			}
		}
	}
	for name, n := range map[string]int{"records with >60 sessions": big, "null jitters": nullJitter, "zero losses": zeroLoss,
		"jitters of exactly 30 ms": edgeJitter, "quantumPhone callers": futurePlatform, "azureCommunicationServices callers": futureFamily,
		"satellite networks": futureConn, "records without sessions": noSessions} {
		if n == 0 {
			t.Errorf("no %s in 2000 records", name)
		}
	}
	var good, poor float64
	for k, v := range tr {
		if strings.HasPrefix(k, "teams_streams_total{") && strings.Contains(k, `media="audio"`) {
			switch {
			case strings.Contains(k, `quality="good"`):
				good += v
			case strings.Contains(k, `quality="poor"`):
				poor += v
			}
		}
	}
	if rate := poor / (good + poor); rate < 0.02 || rate > 0.3 {
		t.Errorf("poor audio rate %.3f is implausible", rate)
	}
	// The worse client version's audio is visibly worse: at least twice
	// the poor rate of every other version.
	rates := map[string][2]float64{} // version -> good, poor
	for k, v := range tr {
		if !strings.HasPrefix(k, "teams_client_streams_total{") || !strings.Contains(k, `media="audio"`) {
			continue
		}
		_, rest, _ := strings.Cut(k, `client_version="`)
		version, _, _ := strings.Cut(rest, `"`)
		gp := rates[version]
		switch {
		case strings.Contains(k, `quality="good"`):
			gp[0] += v
		case strings.Contains(k, `quality="poor"`):
			gp[1] += v
		}
		rates[version] = gp
	}
	rateOf := func(v string) float64 { return rates[v][1] / (rates[v][0] + rates[v][1]) }
	worse := rateOf(graphsim.WorseAudioVersion)
	for v := range rates {
		if v != graphsim.WorseAudioVersion && rates[v][0]+rates[v][1] > 200 && rateOf(v)*2 > worse {
			t.Errorf("version %s: poor audio rate %.3f, not half of the worse version's %.3f", v, rateOf(v), worse)
		}
	}
}

func hasFamily(tr simtruth.Truth, series string) bool {
	for k := range tr {
		if strings.HasPrefix(k, series+"{") || k == series {
			return true
		}
	}
	return false
}

func TestPersonalValues(t *testing.T) {
	recs, tr := simtruth.Generate(graphsim.GenOptions{Seed: 3, Count: 200, Start: genStart, End: genStart.Add(time.Hour)})
	pv := graphsim.PersonalValues(recs)
	all := strings.Join(pv, "\n")
	u := recs[0].Organizer.User
	for _, want := range []string{u.ID, *u.DisplayName, "'s AirPods Pro", "192.168.", "-", "Teams/", "+1425555", "meetup-join"} {
		if !strings.Contains(all, want) {
			t.Errorf("graphsim.PersonalValues lacks %q", want)
		}
	}
	for _, r := range recs[:5] {
		for _, v := range pv {
			if v == r.ID {
				t.Errorf("graphsim.PersonalValues lists record id %s", v)
			}
		}
	}
	// The truth itself carries none: its label values are bounded.
	values := map[string]bool{}
	for k := range tr {
		_, ls, _ := strings.Cut(k, "{")
		for _, kv := range strings.Split(strings.TrimSuffix(ls, "}"), ",") {
			if _, v, ok := strings.Cut(kv, "="); ok {
				values[strings.Trim(v, `"`)] = true
			}
		}
	}
	for lv := range values {
		for _, v := range pv {
			if strings.Contains(lv, v) {
				t.Errorf("personal value %q appears in label value %q", v, lv)
			}
		}
	}
}

// TestGeneratedRecordsOverHTTP serves generated records and reads them back
// the way a client does (list, get with sessions, session pages), then
// computes the truth from what came over the wire: the JSON form (ISO
// durations, nulls, numbers) must carry exactly what the truth used, with
// and without the newer enum members.
func TestGeneratedRecordsOverHTTP(t *testing.T) {
	recs, want := simtruth.Generate(graphsim.GenOptions{Seed: 11, Count: 60, Start: genStart, End: genStart.Add(6 * time.Hour)})
	// A big meeting, so that session paging is exercised too.
	more := graphsim.Generate(graphsim.GenOptions{Seed: 1, Count: 300, Start: genStart, End: genStart.Add(time.Hour)})
	for _, r := range more {
		if len(r.Sessions) > 60 {
			recs = append(recs, r)
			want.Merge(simtruth.Of(r))
			break
		}
	}
	if len(recs) != 61 {
		t.Fatal("no big meeting among 300 records of seed 1")
	}
	tenant, srv := graphsim.StartTenant(t, graphsim.Options{})
	tenant.Add(recs...)
	tok := graphsim.FetchToken(t, srv)
	for _, prefer := range []string{"", "include-unknown-enum-members"} {
		hdr := http.Header{}
		if prefer != "" {
			hdr.Set("Prefer", prefer)
		}
		ids, _ := graphsim.ListAll(t, srv, tok, "/v1.0/communications/callRecords", hdr)
		if len(ids) != len(recs) {
			t.Fatalf("listed %d of %d records", len(ids), len(recs))
		}
		var got []graphsim.Record
		for _, id := range ids {
			got = append(got, fetchRecord(t, srv, tok, id, hdr))
		}
		want := want
		if prefer == "" {
			want = productPastSentinel(want)
		}
		if d := want.Diff(simtruth.Of(got...)); d != nil {
			t.Errorf("Prefer %q: truth from the wire differs in %d series, first: %v", prefer, len(d), d[:min(5, len(d))])
		}
	}
}

// productPastSentinel is tr as seen without include-unknown-enum-members:
// azureCommunicationServices is past productFamily's sentinel, so Graph
// sends unknownFutureValue, and that is product other.
func productPastSentinel(tr simtruth.Truth) simtruth.Truth {
	out := simtruth.Truth{}
	for k, v := range tr {
		out[strings.Replace(k, `product="azureCommunicationServices"`, `product="other"`, 1)] += v
	}
	return out
}

// fetchRecord reads one record with all its sessions, following
// sessions@odata.nextLink.
func fetchRecord(t *testing.T, srv *graphsim.Server, tok, id string, hdr http.Header) graphsim.Record {
	t.Helper()
	raw := getRaw(t, srv, tok, "/v1.0/communications/callRecords/"+url.PathEscape(id)+"?$expand=sessions($expand=segments)", hdr)
	var page struct {
		graphsim.Record
		Next string `json:"sessions@odata.nextLink"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	rec := page.Record
	for next := page.Next; next != ""; {
		var sp struct {
			Value []graphsim.Session `json:"value"`
			Next  string             `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(getRaw(t, srv, tok, next, hdr), &sp); err != nil {
			t.Fatal(err)
		}
		rec.Sessions = append(rec.Sessions, sp.Value...)
		next = sp.Next
	}
	return rec
}

func getRaw(t *testing.T, srv *graphsim.Server, tok, path string, hdr http.Header) []byte {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = srv.URL + path
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, buf.Bytes())
	}
	return buf.Bytes()
}
