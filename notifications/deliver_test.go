package notifications

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func newTestReceiver(t testing.TB, cfg Config) (*Receiver, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if cfg.ClientState == "" {
		cfg.ClientState = testSecret
	}
	cfg.Registerer = reg
	r, err := NewReceiver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

// items is the items of a changeNotificationCollection, without the
// envelope, so that tests can join them.
func items(body string) string {
	return strings.TrimSuffix(strings.TrimPrefix(body, `{"value":[`), `]}`)
}

// TestForeignItemsAreRejectedAlone: Graph may put notifications of several
// subscriptions in one POST, so one item with another clientState must not
// refuse the rest.
func TestForeignItemsAreRejectedAlone(t *testing.T) {
	const idC = "c0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
	r, reg, base := startReceiver(t, Config{}, nil)
	body := `{"value":[` + items(changeBody(testSecret, "created", idA)) + `,` +
		items(changeBody("another subscription's", "created", idB)) + `,` +
		items(changeBody(testSecret, "exploded", idB)) + `,` +
		items(changeBody(testSecret, "updated", idC)) + `]}`
	if resp := post(t, base+NotificationPath, "application/json", body); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.StatusCode)
	}
	var got []string
	for _, n := range r.Take(10) {
		got = append(got, n.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{idA, idC}) {
		t.Errorf("queued %v, want %s and %s", got, idA, idC)
	}
	res := results(t, reg)
	if res["teams_exporter_notifications_total/accepted"] != 2 || res["teams_exporter_notifications_total/rejected"] != 2 {
		t.Errorf("accepted %v rejected %v, want 2 and 2 (the foreign item and the unknown change type)",
			res["teams_exporter_notifications_total/accepted"], res["teams_exporter_notifications_total/rejected"])
	}
}

// TestDeliverIsTheSamePathForEveryChannel drives Deliver as a channel
// without HTTP would (an event hub): both kinds of item in one body, the
// same checks, counting and errors.
func TestDeliverIsTheSamePathForEveryChannel(t *testing.T) {
	// The tenant as configured may differ in case from Graph's tenantId.
	r, reg := newTestReceiver(t, Config{TenantID: strings.ToUpper(testTenant)})
	ctx := context.Background()
	mixed := `{"value":[` + items(changeBody(testSecret, "created", idA)) + `,` + items(lifecycleBody(testSecret, "sub-1", EventMissed)) + `,` +
		items(changeBody("forged", "created", idB)) + `]}`
	// Graph may batch several subscriptions', even several tenants',
	// notifications in one body: another tenant's is refused alone.
	tenants := `{"value":[` + items(withTenant(changeBody(testSecret, "created", idA), otherTenant)) + `,` +
		items(changeBody(testSecret, "created", idB)) + `]}`
	cases := []struct {
		name  string
		body  string
		allow Items
		want  Result
		err   error
		// itemsRead is how many items of a refused body are read, each
		// counted as rejected.
		itemsRead float64
	}{
		{"both kinds on a channel carrying both", mixed, AnyItems, Result{Accepted: 1, Lifecycle: 1, Rejected: 1}, nil, 0},
		{"lifecycle items refused on a change channel", mixed, ChangeItems, Result{Accepted: 1, Rejected: 2}, nil, 0},
		{"nothing with the clientState", changeBody("forged", "created", idA, idB), AnyItems, Result{}, ErrForbidden, 2},
		{"truncated after a good item", mixed[:len(mixed)/2], AnyItems, Result{}, ErrMalformed, 1},
		{"longer than MaxBodyBytes, whatever it announced", `{"value":[{"pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}]}`, AnyItems, Result{}, ErrTooLarge, 0},
		{"nothing usable", changeBody(testSecret, "exploded", idA), AnyItems, Result{}, ErrMalformed, 1},
		{"another tenant's item refused alone", tenants, AnyItems, Result{Accepted: 1, Rejected: 1}, nil, 0},
		{"nothing of the tenant", withTenant(changeBody(testSecret, "created", idA, idB), otherTenant), AnyItems, Result{}, ErrForbidden, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := results(t, reg)
			queued := r.Queued()
			got, err := r.Deliver(ctx, strings.NewReader(c.body), c.allow)
			if len(got.IDs) != got.Accepted {
				t.Errorf("Deliver returned %d ids for %d accepted", len(got.IDs), got.Accepted)
			}
			if !errors.Is(err, c.err) || got.Accepted != c.want.Accepted || got.Lifecycle != c.want.Lifecycle || got.Rejected != c.want.Rejected {
				t.Fatalf("Deliver = %+v, %v; want %+v, %v", got, err, c.want, c.err)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("error shows the secret: %v", err)
			}
			after := results(t, reg)
			delta := func(k string) float64 {
				return after["teams_exporter_notifications_total/"+k] - before["teams_exporter_notifications_total/"+k]
			}
			wantRejected := float64(c.want.Rejected)
			if err != nil {
				wantRejected = max(1, c.itemsRead) // every item read, or the body
			}
			if delta("accepted") != float64(c.want.Accepted) || delta("lifecycle") != float64(c.want.Lifecycle) || delta("rejected") != wantRejected {
				t.Errorf("counted accepted %v lifecycle %v rejected %v", delta("accepted"), delta("lifecycle"), delta("rejected"))
			}
			if err != nil && r.Queued() != queued {
				t.Errorf("a refused body queued ids")
			}
			r.Take(10)
		})
	}
	if got := results(t, reg)["teams_exporter_notification_lifecycle_events_total/missed"]; got != 1 {
		t.Errorf("missed events counted %v, want 1", got)
	}
}

// TestBodiesReadAtOnceAreBounded holds every reading slot with a body that
// never ends: one more is refused after waiting for a slot, with ErrBusy
// (503 on the webhook), unread, and counted as shed; a slot freed serves
// again.
func TestBodiesReadAtOnceAreBounded(t *testing.T) {
	r, reg := newTestReceiver(t, Config{MaxBodiesInFlight: 2})
	var writers []*io.PipeWriter
	done := make(chan error, 2)
	for range 2 {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		go func() {
			_, err := r.Deliver(context.Background(), pr, ChangeItems)
			done <- err
		}()
		_, _ = io.WriteString(pw, `{"value":[`) // the slot is taken once reading began
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, NotificationPath, strings.NewReader(changeBody(testSecret, "created", idA)))
	req.Header.Set("Content-Type", "application/json")
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After while every slot is taken", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := results(t, reg); got["teams_exporter_notification_bodies_shed_total"] != 1 || got["teams_exporter_notifications_total/rejected"] != 0 {
		t.Errorf("shed %v rejected %v, want 1 and 0", got["teams_exporter_notification_bodies_shed_total"], got["teams_exporter_notifications_total/rejected"])
	}
	for _, pw := range writers {
		_, _ = io.WriteString(pw, items(changeBody(testSecret, "created", idA))+`]}`)
		_ = pw.Close()
	}
	for range writers {
		if err := <-done; err != nil {
			t.Errorf("held body: %v", err)
		}
	}
	if _, err := r.Deliver(context.Background(), strings.NewReader(changeBody(testSecret, "created", idB)), ChangeItems); err != nil {
		t.Errorf("after the slots were freed: %v", err)
	}
}

// TestHostileBodiesAreNeverHeldWhole measures the bytes allocated to
// answer 1 MiB bodies an anonymous client can send. Decoding such a body
// whole allocates its size many times over (the body, then a struct per
// item: "{}," is three bytes and a notification a hundred); read as a
// stream, it costs the decoder's buffer.
func TestHostileBodiesAreNeverHeldWhole(t *testing.T) {
	forged := items(changeBody("guess", "created", idA))
	manyForged := `{"value":[` + strings.Repeat(forged+",", min(MaxItems-1, MaxBodyBytes/(len(forged)+1)-1)) + forged + `]}`
	longString := `{"value":[{"clientState":"guess","pad":"` + strings.Repeat("x", MaxBodyBytes-100) + `"}]}`
	// The secret leaked, but the items are of another tenant.
	otherTenants := items(withTenant(changeBody(testSecret, "created", idA), otherTenant))
	manyOtherTenants := `{"value":[` + strings.Repeat(otherTenants+",", min(MaxItems-1, MaxBodyBytes/(len(otherTenants)+1)-1)) + otherTenants + `]}`
	cases := []struct {
		name string
		body string
		want int
	}{
		{"empty items", `{"value":[` + strings.Repeat(`{},`, MaxBodyBytes/3-10) + `{}]}`, http.StatusRequestEntityTooLarge},
		{"forged items", manyForged, http.StatusForbidden},
		{"items of another tenant", manyOtherTenants, http.StatusForbidden},
		{"deep nesting", `{"value":[{"a":` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `}]}`, http.StatusForbidden},
		{"one long string", longString, http.StatusForbidden},
	}
	r, _ := newTestReceiver(t, Config{TenantID: testTenant})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.body) > MaxBodyBytes {
				t.Fatalf("body of %d bytes, over the limit", len(c.body))
			}
			serve := func() int {
				req := httptest.NewRequest(http.MethodPost, NotificationPath, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, req)
				return rec.Code
			}
			serve() // warm up
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			code := serve()
			runtime.ReadMemStats(&after)
			if code != c.want {
				t.Errorf("status %d, want %d", code, c.want)
			}
			// A long string token is held by the decoder (up to the body's
			// size, once); nothing else may come near a body's size.
			limit := uint64(512 << 10)
			if c.name == "one long string" {
				limit = 3 * MaxBodyBytes
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte body: %d bytes allocated", len(c.body), alloc)
			if alloc > limit {
				t.Errorf("answering a %d-byte body allocated %d bytes, want at most %d", len(c.body), alloc, limit)
			}
		})
	}
}

// BenchmarkDeliver reads bodies as the webhook gets them: a genuine batch
// of 100 notifications, and 1 MiB bodies an anonymous client can send.
// B/op is what one body costs; MB/s how fast a flood is read.
func BenchmarkDeliver(b *testing.B) {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	forged := items(changeBody("guess", "created", idA))
	cases := []struct {
		name string
		body string
		err  error
	}{
		{"genuine-100", changeBody(testSecret, "created", ids...), nil},
		{"forged-1MiB", `{"value":[` + strings.Repeat(forged+",", MaxBodyBytes/(len(forged)+1)-1) + forged + `]}`, ErrForbidden},
		{"empty-items-1MiB", `{"value":[` + strings.Repeat(`{},`, MaxBodyBytes/3-10) + `{}]}`, ErrTooLarge},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r, _ := newTestReceiver(b, Config{QueueSize: 1000, TenantID: testTenant})
			ctx := context.Background()
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Deliver(ctx, strings.NewReader(c.body), ChangeItems); !errors.Is(err, c.err) {
					b.Fatal(err)
				}
				r.Take(1000)
			}
		})
	}
}
