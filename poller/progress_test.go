package poller

import (
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// TestProgressLines: a poll that lasts longer than the progress interval on
// the injected clock logs what it has listed, fetched and ingested so far,
// once per interval, and starts with a debug line. Every Graph request
// moves the poller's clock 7 s on and then lets the reporter read it, while
// the poll takes a few seconds of real time at most: progress lines prove
// the interval is read from the injected clock, not from a real timer.
func TestProgressLines(t *testing.T) {
	const step = 7 * time.Second
	tenant := newTenant()
	recs, truth := faultsRecords(t, 41, 30, 3*time.Hour, time.Minute)
	tenant.Add(recs...)
	logs := &testrun.Output{}
	rig := newFaultsRig(t, tenant, nil, func(gc *graph.Config, pc *Config) {
		// One record per request, one request at a time: the poll is a
		// sequence of clock steps.
		gc.Concurrency, gc.BatchSize = 1, 1
		pc.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	rig.tenant.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rig.offset.Add(int64(step))
			// The reporter reads the clock after every step, however
			// slow the machine: the request waits until it has. Outside
			// a poll (the token request) nobody reads: go on.
			select {
			case rig.p.progressTick <- struct{}{}:
			case <-time.After(time.Second):
			}
			next.ServeHTTP(w, r)
		})
	})
	rig.p.progressTick = make(chan struct{})
	began := time.Now()
	rig.mustPoll(t)
	wall := time.Since(began)
	rig.checkTruth(t, truth)

	out := logs.String()
	if !regexp.MustCompile(`level=DEBUG msg="poll started" full_scan=true recent=true windows=1 `).MatchString(out) {
		t.Errorf("no debug line at the start of the poll:\n%s", out)
	}
	lines := regexp.MustCompile(`level=INFO msg="poll in progress" full_scan=true elapsed=(\S+) listed=(\d+) fetched=(\d+) ingested=(\d+)`).FindAllStringSubmatch(out, -1)
	if len(lines) < 3 {
		t.Fatalf("%d progress lines in a poll of %v real time, want several:\n%s", len(lines), wall, out)
	}
	var prevElapsed time.Duration
	prev := [3]int{}
	for _, l := range lines {
		elapsed, err := time.ParseDuration(l[1])
		if err != nil {
			t.Fatalf("elapsed %q: %v", l[1], err)
		}
		// Each line comes at least an interval (30 s by default) after the
		// previous one, by the injected clock.
		if d := elapsed - prevElapsed; d < 30*time.Second {
			t.Errorf("progress lines %v apart on the clock (at %v then %v), want at least 30s", d, prevElapsed, elapsed)
		}
		prevElapsed = elapsed
		var cur [3]int
		for i := range cur {
			cur[i], _ = strconv.Atoi(l[i+2])
			if cur[i] < prev[i] {
				t.Errorf("progress went back: %v after %v", cur, prev)
			}
		}
		if cur[1] > cur[0] || cur[2] > cur[1] {
			t.Errorf("fetched %d of %d listed, ingested %d: counts out of order", cur[1], cur[0], cur[2])
		}
		prev = cur
	}
	if prevElapsed <= wall {
		t.Errorf("last progress line at %v elapsed, the poll took %v of real time: not the injected clock", prevElapsed, wall)
	}
	if n, _ := strconv.Atoi(lines[len(lines)-1][4]); n == 0 || n > len(recs) {
		t.Errorf("last progress line ingested %d of %d", n, len(recs))
	}
	if first, _ := strconv.Atoi(lines[0][4]); first >= len(recs) {
		t.Errorf("the first progress line already has all %d records: the poll was too quick to show progress", len(recs))
	}
	// Nothing after the poll ended.
	if i := regexp.MustCompile(`msg="poll finished"`).FindStringIndex(out); i == nil || regexp.MustCompile(`poll in progress`).MatchString(out[i[0]:]) {
		t.Error("no poll finished line, or a progress line after it")
	}
}
