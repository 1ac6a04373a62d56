package notifications

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/graph"
)

const (
	testSecret = "s3cret-Client-State"
	// testTenant is the tenant of the notifications changeBody and
	// lifecycleBody make, Microsoft's example in "Receive change
	// notifications through webhooks".
	testTenant = "84bd8158-6d4d-4958-8b9f-9d6445542f95"
	// otherTenant is another tenant, whose Graph may post to the same URL.
	otherTenant = "0f5b3a1e-2c4d-4e6f-8a9b-1c2d3e4f5a6b"
)

// withTenant is body with its items' tenantId set to tenant, or removed
// when tenant is empty.
func withTenant(body, tenant string) string {
	if tenant == "" {
		return strings.ReplaceAll(body, `,"tenantId":"`+testTenant+`"`, "")
	}
	return strings.ReplaceAll(body, testTenant, tenant)
}

// startReceiver serves a Receiver on a loopback port through NewServer, the
// production listener, and returns its base URL; tune adjusts the server
// (shorter timeouts) before it starts.
func startReceiver(t *testing.T, cfg Config, tune func(*http.Server)) (*Receiver, *prometheus.Registry, string) {
	t.Helper()
	r, reg := newTestReceiver(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), r, discardLogger())
	if tune != nil {
		tune(srv.Server)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r, reg, "http://" + ln.Addr().String()
}

// changeBody is a changeNotificationCollection in Graph's documented shape
// (docs: "Get change notifications for Microsoft Teams call records").
func changeBody(secret, changeType string, ids ...string) string {
	var items []map[string]any
	for _, id := range ids {
		items = append(items, map[string]any{
			"subscriptionId":                 "9f0e3c6a-5b0a-4c38-9d8e-0d5f1e2a3b4c",
			"clientState":                    secret,
			"changeType":                     changeType,
			"resource":                       "communications/callRecords/" + id,
			"subscriptionExpirationDateTime": "2026-12-01T00:00:00.000+00:00",
			"resourceData": map[string]any{
				"@odata.type": "#Microsoft.Graph.callrecord",
				"@odata.id":   "communications/callRecords/" + id,
				"id":          id,
			},
			"tenantId": testTenant,
		})
	}
	b, _ := json.Marshal(map[string]any{"value": items})
	return string(b)
}

func lifecycleBody(secret, subscription string, events ...string) string {
	var items []map[string]any
	for _, e := range events {
		items = append(items, map[string]any{
			"subscriptionId":                 subscription,
			"subscriptionExpirationDateTime": "2026-12-01T00:00:00.000+00:00",
			"tenantId":                       testTenant,
			"clientState":                    secret,
			"lifecycleEvent":                 e,
		})
	}
	b, _ := json.Marshal(map[string]any{"value": items})
	return string(b)
}

const (
	idA = "2f1a1100-677c-4b2a-a1b3-a2e0b5b8cda2"
	idB = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
)

func post(t *testing.T, link, contentType, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(link, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func results(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestValidationHandshakeEchoesTheDecodedToken(t *testing.T) {
	var log bytes.Buffer
	_, reg, base := startReceiver(t, Config{Logger: slog.New(slog.NewTextHandler(&log, nil))}, nil)
	// Graph's tokens are opaque; this one has what URL decoding must undo.
	token := "Validation: Testing client application reachability for subscription Request-Id: 7f4a+b/c=="
	for _, path := range []string{NotificationPath, LifecyclePath} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			req, _ := http.NewRequest(method, base+path+"?validationToken="+url.QueryEscape(token), strings.NewReader(""))
			req.Header.Set("Content-Type", "text/plain; charset=utf-8") // as Graph sends it
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != token || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("%s %s: %d %q %q, want 200 text/plain with the token", method, path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
	}
	if got := results(t, reg); got["teams_exporter_notifications_total/rejected"] != 0 || got["teams_exporter_notifications_total/validation"] != 4 {
		t.Errorf("4 handshakes counted as %v rejected, %v validation", got["teams_exporter_notifications_total/rejected"], got["teams_exporter_notifications_total/validation"])
	}
	// Anyone can ask for handshakes: at most one a 10 s is logged at info.
	if n := strings.Count(log.String(), "answered Graph's validation"); n != 1 {
		t.Errorf("%d handshakes logged at info within 10 s, want 1:\n%s", n, log.String())
	}
}

func TestHostileRequestsAreRejectedAndChangeNothing(t *testing.T) {
	long := `{"value":[{"clientState":"` + testSecret + `","changeType":"created","resource":"communications/callRecords/` + idA + `","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}]}`
	cases := []struct {
		name, method, path, contentType, body string
		want                                  int
	}{
		{"wrong clientState", "POST", NotificationPath, "application/json", changeBody("guess", "created", idA), 403},
		{"empty clientState", "POST", NotificationPath, "application/json", changeBody("", "created", idA), 403},
		{"secret as a prefix", "POST", NotificationPath, "application/json", changeBody(testSecret+"x", "created", idA), 403},
		{"every item forged", "POST", NotificationPath, "application/json", changeBody("forged", "created", idA, idB), 403},
		{"more items than allowed", "POST", NotificationPath, "application/json", `{"value":[` + strings.Repeat(`{},`, MaxItems) + `{}]}`, 413},
		{"body longer than announced", "POST", NotificationPath, "application/json", `{"value":[{"pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}]}`, 413},
		{"value twice", "POST", NotificationPath, "application/json", `{"value":[],"value":[]}`, 400},
		{"duplicate clientState", "POST", NotificationPath, "application/json",
			strings.Replace(changeBody(testSecret, "created", idA), `"clientState"`, `"clientState":"guess","clientState"`, 1), 400},
		{"larger than 1 MiB", "POST", NotificationPath, "application/json", long, 413},
		{"malformed JSON", "POST", NotificationPath, "application/json", `{"value":[{"clientState":`, 400},
		{"not an object", "POST", NotificationPath, "application/json", `[1,2,3]`, 400},
		{"data after the object", "POST", NotificationPath, "application/json", changeBody(testSecret, "created", idA) + `{}`, 400},
		{"empty collection", "POST", NotificationPath, "application/json", `{"value":[]}`, 400},
		{"not JSON content", "POST", NotificationPath, "text/plain", changeBody(testSecret, "created", idA), 415},
		{"GET without a token", "GET", NotificationPath, "", "", 405},
		{"PUT", "PUT", NotificationPath, "application/json", changeBody(testSecret, "created", idA), 405},
		{"unknown path", "POST", "/metrics", "application/json", changeBody(testSecret, "created", idA), 404},
		{"path below", "POST", NotificationPath + "/x", "application/json", changeBody(testSecret, "created", idA), 404},
		{"not a call record", "POST", NotificationPath, "application/json",
			strings.ReplaceAll(changeBody(testSecret, "created", idA), "communications/callRecords/", "users/"), 400},
		{"id that is a path", "POST", NotificationPath, "application/json", changeBody(testSecret, "created", "../../v1.0/me"), 400},
		{"id too long", "POST", NotificationPath, "application/json", changeBody(testSecret, "created", strings.Repeat("a", graph.MaxIDBytes+1)), 400},
		{"resource and resourceData disagree", "POST", NotificationPath, "application/json",
			strings.Replace(changeBody(testSecret, "created", idA), `"id":"`+idA, `"id":"`+idB, 1), 400},
		{"unknown change type", "POST", NotificationPath, "application/json", changeBody(testSecret, "exploded", idA), 400},
		{"lifecycle event on the change path", "POST", NotificationPath, "application/json", lifecycleBody(testSecret, "s", EventMissed), 400},
		{"change on the lifecycle path", "POST", LifecyclePath, "application/json", changeBody(testSecret, "created", idA), 400},
		{"unknown lifecycle event", "POST", LifecyclePath, "application/json", lifecycleBody(testSecret, "s", "selfDestruct"), 400},
		{"forged lifecycle event", "POST", LifecyclePath, "application/json", lifecycleBody("guess", "s", EventSubscriptionRemoved), 403},
		// Graph posts another tenant's notifications with that tenant's
		// tenantId: the clientState alone does not make them ours.
		{"right clientState, another tenant", "POST", NotificationPath, "application/json",
			withTenant(changeBody(testSecret, "created", idA), otherTenant), 403},
		{"right clientState, every item of another tenant", "POST", NotificationPath, "application/json",
			withTenant(changeBody(testSecret, "created", idA, idB), otherTenant), 403},
		{"right clientState, tenant as a prefix", "POST", NotificationPath, "application/json",
			withTenant(changeBody(testSecret, "created", idA), testTenant+"0"), 403},
		{"right clientState, tenantId not a string", "POST", NotificationPath, "application/json",
			strings.Replace(changeBody(testSecret, "created", idA), `"`+testTenant+`"`, `["`+testTenant+`"]`, 1), 403},
		{"lifecycle event of another tenant", "POST", LifecyclePath, "application/json",
			withTenant(lifecycleBody(testSecret, "s", EventSubscriptionRemoved), otherTenant), 403},
		{"right clientState, tenantId longer than a field", "POST", NotificationPath, "application/json",
			withTenant(changeBody(testSecret, "created", idA), testTenant+strings.Repeat("0", maxFieldBytes)), 403},
	}
	// Rejected notifications are counted one per item read, one for a
	// request refused before its first item.
	counted := map[string]float64{"every item forged": 2, "more items than allowed": MaxItems, "right clientState, every item of another tenant": 2}
	r, reg, base := startReceiver(t, Config{TenantID: testTenant}, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := results(t, reg)["teams_exporter_notifications_total/rejected"]
			req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
			got := results(t, reg)
			want := counted[c.name]
			if want == 0 {
				want = 1
			}
			if delta := got["teams_exporter_notifications_total/rejected"] - before; delta != want {
				t.Errorf("rejected counted %v, want %v", delta, want)
			}
			if got["teams_exporter_notifications_total/accepted"] != 0 || got["teams_exporter_notifications_total/lifecycle"] != 0 {
				t.Errorf("counted as accepted: %v", got)
			}
		})
	}
	if n := r.Queued(); n != 0 {
		t.Errorf("%d ids queued by rejected requests", n)
	}
	if re, rm := r.TakeLifecycle(); len(re)+len(rm) != 0 || r.TakeRelist() {
		t.Errorf("rejected lifecycle events were recorded: %v %v", re, rm)
	}
}

func TestNotifiedIDsAreQueuedOnceInArrivalOrder(t *testing.T) {
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	r, reg, base := startReceiver(t, Config{Now: now}, nil)
	if resp := post(t, base+NotificationPath, "application/json; charset=utf-8", changeBody(testSecret, "created", idA, idB)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.StatusCode)
	}
	select {
	case <-r.Notified():
	default:
		t.Fatal("no signal after ids were queued")
	}
	clock = clock.Add(time.Minute)
	post(t, base+NotificationPath, "application/json", changeBody(testSecret, "created", idA)) // a redelivery
	clock = clock.Add(time.Minute)
	post(t, base+NotificationPath, "application/json", changeBody(testSecret, "updated", idB)) // a new version
	got := r.Take(10)
	want := []Notified{{idA, clock.Add(-2 * time.Minute)}, {idB, clock}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("queued %v, want %v", got, want)
	}
	if more := r.Take(10); len(more) != 0 {
		t.Errorf("taken twice: %v", more)
	}
	if got := results(t, reg)["teams_exporter_notifications_total/accepted"]; got != 4 {
		t.Errorf("accepted = %v, want 4 (one per notification)", got)
	}
}

func TestDuplicateFloodsAndOverflowStayBounded(t *testing.T) {
	r, reg, base := startReceiver(t, Config{QueueSize: 10}, nil)
	for range 200 {
		if resp := post(t, base+NotificationPath, "application/json", changeBody(testSecret, "created", idA, idA, idA)); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n := r.Queued(); n != 1 {
		t.Fatalf("a flood of one id queued %d entries, want 1", n)
	}
	if r.TakeRelist() {
		t.Fatal("a duplicate flood asked for a re-list")
	}
	var ids []string
	for i := range 25 {
		ids = append(ids, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	if resp := post(t, base+NotificationPath, "application/json", changeBody(testSecret, "created", ids...)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202 even when the queue is full", resp.StatusCode)
	}
	got := results(t, reg)
	if r.Queued() != 10 || got["teams_exporter_notification_ids_dropped_total"] != 16 || got["teams_exporter_notification_queue_ids"] != 10 {
		t.Errorf("queue %d, dropped %v, gauge %v; want 10, 16, 10", r.Queued(), got["teams_exporter_notification_ids_dropped_total"], got["teams_exporter_notification_queue_ids"])
	}
	if !r.TakeRelist() {
		t.Error("dropped ids did not ask for a re-list")
	}
	if r.TakeRelist() {
		t.Error("the re-list request was not forgotten once taken")
	}
	if first := r.Take(1); len(first) != 1 || first[0].ID != idA {
		t.Errorf("first out %v, want the oldest, %s", first, idA)
	}
}

func TestLifecycleEventsReachSubscriberAndPoller(t *testing.T) {
	r, reg, base := startReceiver(t, Config{}, nil)
	body := lifecycleBody(testSecret, "sub-1", EventReauthorizationRequired, EventMissed, EventSubscriptionRemoved)
	if resp := post(t, base+LifecyclePath, "application/json", body); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.StatusCode)
	}
	select {
	case <-r.Lifecycle():
	default:
		t.Fatal("no lifecycle signal")
	}
	re, rm := r.TakeLifecycle()
	if fmt.Sprint(re, rm) != "[sub-1] [sub-1]" {
		t.Errorf("reauthorize %v removed %v, want sub-1 in both", re, rm)
	}
	if !r.TakeRelist() {
		t.Error("missed did not ask for a re-list")
	}
	if got := results(t, reg)["teams_exporter_notifications_total/lifecycle"]; got != 3 {
		t.Errorf("lifecycle = %v, want 3", got)
	}
	// Events for many subscriptions (forged with a leaked secret, or old
	// ones) do not grow memory.
	for i := range 100 {
		post(t, base+LifecyclePath, "application/json", lifecycleBody(testSecret, fmt.Sprint("sub-", i), EventReauthorizationRequired))
	}
	if re, _ := r.TakeLifecycle(); len(re) != maxPendingSubscriptions {
		t.Errorf("%d subscriptions remembered, want the bound %d", len(re), maxPendingSubscriptions)
	}
}

// TestSlowSendersAreCutOffAndScrapesGoOn holds connections open with a
// body trickling in, as a slowloris would: the server's read timeout ends
// them, and a metrics listener in the same process answers throughout.
func TestSlowSendersAreCutOffAndScrapesGoOn(t *testing.T) {
	r, reg, base := startReceiver(t, Config{}, func(s *http.Server) {
		s.ReadTimeout, s.ReadHeaderTimeout = 300*time.Millisecond, 300*time.Millisecond
	})
	metrics := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: time.Second}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = metrics.Serve(mln) }()
	defer func() { _ = metrics.Close() }()

	addr := strings.TrimPrefix(base, "http://")
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"value\":[", NotificationPath)
	}
	// Scrapes are served while the slow senders hold their connections.
	resp, err := http.Get("http://" + mln.Addr().String())
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape during slow senders: %v", err)
	}
	resp.Body.Close()
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		status, err := bufio.NewReader(c).ReadString('\n')
		// The server answers 408 when the body falls behind, 400 when the
		// read times out, or just closes; senders beyond the bodies read at
		// once get 503.
		if err == nil && !strings.Contains(status, " 408 ") && !strings.Contains(status, " 400 ") && !strings.Contains(status, " 503 ") {
			t.Errorf("slow sender got %q, want 408, 400, 503 or a closed connection", status)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("slow sender still connected after 5s; the read timeout did not end it")
		}
		_ = c.Close()
	}
	if r.Queued() != 0 {
		t.Errorf("a slow sender's partial body queued ids")
	}
	rejected := testutil.ToFloat64(r.metrics.notifications.WithLabelValues(ResultRejected))
	shed := testutil.ToFloat64(r.metrics.busy)
	// Which senders get a reading slot depends on when their requests are
	// read; each is either read and cut off, or shed.
	if rejected < 1 || rejected+shed != 20 {
		t.Errorf("rejected = %v, shed = %v; want the 20 slow senders read and cut off or shed", rejected, shed)
	}
}

// TestSlowBodiesDoNotStarveGraph takes every reading slot with a body
// that stops after ten bytes. Each is cut off with 408 once it falls
// behind the minimum rate, and Graph's POSTs meanwhile are accepted: they
// wait for a slot instead of getting 503.
func TestSlowBodiesDoNotStarveGraph(t *testing.T) {
	r, reg, base := startReceiver(t, Config{}, nil)
	addr := strings.TrimPrefix(base, "http://")
	var slow []net.Conn
	for range DefaultMaxBodiesInFlight {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		slow = append(slow, c)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"value\":[", NotificationPath)
	}
	for deadline := time.Now().Add(20 * time.Second); len(r.reading) < cap(r.reading); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d slots taken by the slow bodies", len(r.reading), cap(r.reading))
		}
	}
	for i, id := range []string{idA, idB} {
		if resp := post(t, base+NotificationPath, "application/json", changeBody(testSecret, "created", id)); resp.StatusCode != http.StatusAccepted {
			t.Errorf("Graph's POST %d while slow bodies held every slot: %d, want 202", i, resp.StatusCode)
		}
	}
	for _, c := range slow {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("slow body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("slow body answered %d, want 408", resp.StatusCode)
		}
	}
	got := results(t, reg)
	if got["teams_exporter_notifications_total/accepted"] != 2 || got["teams_exporter_notification_bodies_shed_total"] != 0 {
		t.Errorf("accepted %v shed %v, want 2 and 0", got["teams_exporter_notifications_total/accepted"], got["teams_exporter_notification_bodies_shed_total"])
	}
}

func TestNewReceiverRefusesABadClientState(t *testing.T) {
	for _, s := range []string{"", strings.Repeat("é", MaxClientStateLen+1)} {
		_, err := NewReceiver(Config{ClientState: s})
		if err == nil {
			t.Errorf("client state of %d characters accepted", len([]rune(s)))
			continue
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	if _, err := NewReceiver(Config{ClientState: strings.Repeat("é", MaxClientStateLen)}); err != nil {
		t.Errorf("128 characters refused: %v", err)
	}
}

func TestLogsNeverShowTheSecret(t *testing.T) {
	var logs bytes.Buffer
	_, _, base := startReceiver(t, Config{Logger: newTextLogger(&logs)}, nil)
	post(t, base+NotificationPath, "application/json", changeBody(testSecret, "created", idA))
	post(t, base+NotificationPath, "application/json", changeBody(testSecret+"-wrong", "created", idA))
	post(t, base+LifecyclePath, "application/json", lifecycleBody(testSecret, "s", EventMissed))
	post(t, base+NotificationPath, "application/json", `{"value":[{"clientState":"`+testSecret+`",`)
	if strings.Contains(logs.String(), testSecret) {
		t.Errorf("the client state appears in the log:\n%s", logs.String())
	}
	if logs.Len() == 0 {
		t.Error("nothing logged; the test shows nothing")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lifecycleOrganizationBody is a reauthorizationRequired lifecycle
// notification as Graph has been reported to send it: an organizationId
// and no tenantId, null sequence and encryptedContent, the subscription as
// its resource.
func lifecycleOrganizationBody(secret, organization string) string {
	return `{"value":[{"lifecycleEvent":"reauthorizationRequired",` +
		`"subscriptionId":"9f0e3c6a-5b0a-4c38-9d8e-0d5f1e2a3b4c",` +
		`"resource":"Subscriptions/9f0e3c6a-5b0a-4c38-9d8e-0d5f1e2a3b4c",` +
		`"clientState":"` + secret + `","sequence":null,` +
		`"resourceData":{"@odata.type":"#microsoft.graph.subscription",` +
		`"@odata.id":"subscriptions/9f0e3c6a-5b0a-4c38-9d8e-0d5f1e2a3b4c",` +
		`"id":"9f0e3c6a-5b0a-4c38-9d8e-0d5f1e2a3b4c"},` +
		`"encryptedContent":null,"organizationId":"` + organization + `",` +
		`"subscriptionExpirationDateTime":"2026-12-08T04:18:58.0463343-08:00"}]}`
}

// escapedName quotes name with every character \u-escaped, as JSON allows:
// a sender may so spell a key the receiver must still recognise.
func escapedName(name string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range name {
		fmt.Fprintf(&b, `\u%04x`, c)
	}
	b.WriteByte('"')
	return b.String()
}

// TestTenantOfAnItem: an item names another tenant when its tenantId or
// organizationId differs from the exporter's, or either appears twice
// (whatever the order of the keys); an item that names none is taken on
// its clientState, as Graph sends some lifecycle notifications that way.
func TestTenantOfAnItem(t *testing.T) {
	ours, other := `"tenantId":"`+testTenant+`"`, `"tenantId":"`+otherTenant+`"`
	change := changeBody(testSecret, "created", idA)
	withOrganization := func(body, organization string) string {
		return strings.Replace(body, `"clientState"`, `"organizationId":"`+organization+`","clientState"`, 1)
	}
	cases := []struct {
		name, path, body string
		want             int
		// accepted and lifecycle are the items counted so; any other item
		// read is counted rejected.
		accepted, lifecycle, rejected float64
	}{
		{"tenantId of the tenant", NotificationPath, change, 202, 1, 0, 0},
		{"tenantId in another case", NotificationPath, withTenant(change, strings.ToUpper(testTenant)), 202, 1, 0, 0},
		{"no tenantId: the clientState vouches", NotificationPath, withTenant(change, ""), 202, 1, 0, 0},
		{"tenantId null: none", NotificationPath, strings.Replace(change, `"`+testTenant+`"`, "null", 1), 202, 1, 0, 0},
		{"lifecycle with an organizationId and no tenantId", LifecyclePath, lifecycleOrganizationBody(testSecret, testTenant), 202, 0, 1, 0},
		{"lifecycle with another tenant's organizationId", LifecyclePath, lifecycleOrganizationBody(testSecret, otherTenant), 403, 0, 0, 1},
		{"lifecycle with an organizationId, wrong clientState", LifecyclePath, lifecycleOrganizationBody("guess", testTenant), 403, 0, 0, 1},
		{"organizationId and tenantId of the tenant", NotificationPath, withOrganization(change, testTenant), 202, 1, 0, 0},
		{"organizationId of another tenant, tenantId ours", NotificationPath, withOrganization(change, otherTenant), 403, 0, 0, 1},
		{"organizationId ours, tenantId another's", NotificationPath, withOrganization(withTenant(change, otherTenant), testTenant), 403, 0, 0, 1},
		{"organizationId escaped, another tenant's", NotificationPath, strings.Replace(withOrganization(change, otherTenant), `"organizationId"`, escapedName("organizationId"), 1), 403, 0, 0, 1},
		{"tenantId escaped, another tenant's", NotificationPath, strings.Replace(withTenant(change, otherTenant), `"tenantId"`, escapedName("tenantId"), 1), 403, 0, 0, 1},
		{"organizationId empty", NotificationPath, withOrganization(withTenant(change, ""), ""), 403, 0, 0, 1},
		{"tenantId twice, ours last", NotificationPath, strings.Replace(change, ours, other+","+ours, 1), 403, 0, 0, 1},
		{"tenantId twice, ours first", NotificationPath, strings.Replace(change, ours, ours+","+other, 1), 403, 0, 0, 1},
		{"tenantId twice, both ours", NotificationPath, strings.Replace(change, ours, ours+","+ours, 1), 403, 0, 0, 1},
		{"organizationId twice, ours last", NotificationPath, withOrganization(withOrganization(change, testTenant), otherTenant), 403, 0, 0, 1},
		{"organizationId twice, ours first", NotificationPath, withOrganization(withOrganization(change, otherTenant), testTenant), 403, 0, 0, 1},
	}
	r, reg, base := startReceiver(t, Config{TenantID: testTenant}, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := results(t, reg)
			resp := post(t, base+c.path, "application/json", c.body)
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
			after := results(t, reg)
			for k, want := range map[string]float64{"accepted": c.accepted, "lifecycle": c.lifecycle, "rejected": c.rejected} {
				k = "teams_exporter_notifications_total/" + k
				if got := after[k] - before[k]; got != want {
					t.Errorf("%s rose by %v, want %v", k, got, want)
				}
			}
			r.Take(10)
			r.TakeLifecycle()
		})
	}
}
