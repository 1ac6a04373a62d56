package graphsim

import (
	"context"
	"time"
)

// RunLive keeps the tenant busy for the demo: every interval it adds
// perTick generated calls that have just ended (version 1, modified now),
// and now and then publishes a new version of an earlier one, as Graph does
// when late telemetry arrives. Records are drawn from seed, so a demo is
// repeatable. It returns when ctx is done.
func (t *Tenant) RunLive(ctx context.Context, every time.Duration, perTick int, seed int64) {
	if every <= 0 {
		every = time.Minute
	}
	g := newGen(seed)
	var recent []string
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		now := t.now().UTC()
		for range perTick {
			r := g.record(now.Add(-time.Duration(g.r.Int64N(int64(every)))), true)
			r.Version = 1
			r.LastModifiedDateTime = now
			t.Add(r)
			recent = append(recent, r.ID)
		}
		if len(recent) > 0 && g.chance(0.3) {
			t.Bump(recent[g.r.IntN(len(recent))])
		}
		if len(recent) > 1000 {
			recent = recent[len(recent)-1000:]
		}
		t.prune()
		t.pruneCallLogs()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// prune drops records past the retention window, so a long demo does not
// grow without bound.
func (t *Tenant) prune() {
	if t.opts.Retention <= 0 {
		return
	}
	cutoff := t.now().Add(-t.opts.Retention)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range t.order {
		if s.start.Before(cutoff) {
			delete(t.byID, s.id)
			continue
		}
		t.order[n] = s
		n++
	}
	clear(t.order[n:])
	t.order = t.order[:n]
}

// RunLiveCallLogs keeps the tenant's call logs busy for the demo: every
// interval it adds about perTick direct-routing and PSTN rows of calls that
// started during the last interval, and, as Graph's logs do, a few rows
// that appear late, for calls that started up to two hours ago. Rows are
// drawn from seed. It returns when ctx is done.
func (t *Tenant) RunLiveCallLogs(ctx context.Context, every time.Duration, perTick int, seed int64) {
	if every <= 0 {
		every = time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := int64(0); ; n++ {
		now := t.now().UTC()
		dr, pstn := GenerateCallLogs(CallLogOptions{Seed: seed + n, DirectRouting: perTick, PSTN: perTick, Start: now.Add(-every), End: now})
		late, latePSTN := GenerateCallLogs(CallLogOptions{Seed: -seed - n - 1, DirectRouting: max(1, perTick/10), PSTN: max(1, perTick/10),
			Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)})
		t.AddDirectRoutingRows(append(dr, late...)...)
		t.AddPSTNRows(append(pstn, latePSTN...)...)
		t.pruneCallLogs()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
