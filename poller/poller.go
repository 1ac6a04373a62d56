package poller

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/ledger"
)

// Source is the part of Graph the poller reads; *graph.Client implements it.
type Source interface {
	ListCallRecords(ctx context.Context, from, to time.Time, fn func(graph.CallRecord) error) (graph.CallStats, error)
	GetCallRecords(ctx context.Context, ids []string, fn func(id string, rec *graph.CallRecord, err error))
}

// Config configures a Poller; see the configuration table in docs/configuration.md.
type Config struct {
	Interval         time.Duration
	Lookback         time.Duration
	RecentWindow     time.Duration
	FullScanInterval time.Duration
	// ProgressInterval is how often, by Now, a poll still running logs what
	// it has listed, fetched and ingested so far; default 30s.
	ProgressInterval time.Duration
	Logger           *slog.Logger
	Registerer       prometheus.Registerer
	// Graph, if set, is the graph.Observer given to the Graph client: Ready
	// then also turns false while Graph requests fail, before a poll ends.
	Graph *GraphMetrics
	// Now is the clock of every time decision (windows, saves, readiness,
	// the last-success gauge); time.Now if nil. Give the ledger the same.
	Now func() time.Time
	// CallLogs are the PSTN and direct-routing call logs to read beside
	// the call records; none by default.
	CallLogs CallLogConfig
	// Notifications, if set, supplies the ids of records Graph notified:
	// they are fetched once settled, and while a subscription delivers them
	// the recent window is no longer listed at every poll.
	Notifications Notifications
	// SettleDelay is how long a record, listed or notified, must not have
	// changed before it is fetched and ingested, so that the late telemetry
	// Graph adds in later versions is counted (see settle.go); 0 ingests a
	// record at the first version seen.
	SettleDelay time.Duration
}

// Poller polls Graph and hands each record to the ledger, which observes it
// exactly once and decides when to save; the poller decides what to fetch
// and whether the exporter is ready.
type Poller struct {
	cfg     Config
	src     Source
	ledger  *ledger.Ledger
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time

	callLogs *callLogs

	// Only the polling goroutine uses these.
	settling     *settleQueue // records waiting to settle (settle.go)
	settleWarned bool         // checkSettleWindow logged
	relistSince  time.Time    // a re-list was asked for at this poll; zero if none is pending
	relistMore   bool         // a request came after the pending re-list's sweep began
	// relistCovered is when the last re-list's sweep began: a request made
	// before is answered by it.
	relistCovered time.Time
	model         listModel // what plans are made from (plan.go)
	stretched     bool      // the stretch was logged

	// progressCheck is how often a running poll looks at the clock to see
	// whether a progress line is due. progressTick, when set (tests only),
	// replaces the ticker, so that a test decides when the clock is read.
	progressCheck time.Duration
	progressTick  chan struct{}

	health *health // behind Ready
}

// New returns a Poller feeding l.
func New(cfg Config, src Source, l *ledger.Ledger) *Poller {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ProgressInterval == 0 {
		cfg.ProgressInterval = 30 * time.Second
	}
	p := &Poller{
		cfg:      cfg,
		src:      src,
		ledger:   l,
		log:      cfg.Logger,
		metrics:  newMetrics(cfg.Registerer),
		now:      cfg.Now,
		settling: newSettleQueue(),
		model: newListModel(listConfig{
			interval: cfg.Interval, lookback: cfg.Lookback,
			recentWindow: cfg.RecentWindow, fullScanInterval: cfg.FullScanInterval,
		}),

		progressCheck: time.Second,
	}
	if p.health = newHealth(cfg.Now); cfg.Graph != nil {
		// One tracker, told by the requests too, on the poller's clock: a
		// poll's start and a request's sending are compared.
		p.health = cfg.Graph.health
		p.health.setClock(cfg.Now)
	}
	p.callLogs = newCallLogs(cfg.CallLogs, cfg.Registerer, l, cfg.Logger, p.metrics.skipped)
	p.metrics.interval.Set(cfg.Interval.Seconds())
	p.checkSettleWindow()
	if last := l.Position().LastSuccess; !last.IsZero() {
		p.metrics.lastSuccess.Set(unixSeconds(last))
	}
	return p
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Run polls at once and then every interval (stretched if listing would
// exceed Graph's list limit) until ctx ends, fetching records as they
// settle in between, then saves the state a last time.
func (p *Poller) Run(ctx context.Context) {
	var notified <-chan struct{}
	if p.cfg.Notifications != nil {
		notified = p.cfg.Notifications.Notified()
	}
	for {
		_ = p.Poll(ctx)
		if !p.waitForPoll(ctx, notified) {
			_ = p.ledger.Save() // the last one; the ledger counts and logs a failure
			return
		}
	}
}

// waitForPoll waits for the next poll, fetching records (listed or
// notified) as they settle; false when ctx ended.
func (p *Poller) waitForPoll(ctx context.Context, notified <-chan struct{}) bool {
	next := time.NewTimer(p.model.interval)
	defer next.Stop()
	settle := time.NewTimer(time.Hour)
	defer settle.Stop()
	saveTimer := time.NewTimer(time.Hour)
	defer saveTimer.Stop()
	for {
		var settled, saveDue <-chan time.Time
		if p.cfg.Notifications != nil {
			p.takeNotified()
		}
		if wait, ok := p.nextSettled(); ok {
			settle.Reset(wait)
			settled = settle.C
		}
		if wait := p.ledger.SaveIfDue(); wait > 0 {
			saveTimer.Reset(wait)
			saveDue = saveTimer.C
		}
		select {
		case <-ctx.Done():
			return false
		case <-next.C:
			return true
		case <-saveDue:
		case <-notified:
		case <-settled:
			p.fetchSettled(ctx)
		}
	}
}

// Poll lists the windows due (the recent window, a slice of the look-back,
// or the whole look-back at once; see plan), ingests every record not
// ingested yet that has settled, and saves state.
func (p *Poller) Poll(ctx context.Context) error {
	start := p.now()
	if p.cfg.Notifications != nil {
		if at, ok := takeRelist(p.cfg.Notifications, start); ok {
			p.requestRelist(at, start)
		}
	}
	// The records ingested per grain of start times, listed or notified,
	// before a restart or after, size the slices.
	p.model.ingestedPerGrain = p.ledger.CountStarts(ledger.CallRecords, sliceGrain)
	recent := p.listsRecent()
	p.stretch(start, recent, 0)
	pl := plan(&p.model, start, p.ledger.Position(), !p.relistSince.IsZero(), recent)
	full := pl.full
	// The call logs are read over the recent window, and the whole
	// look-back every full-scan interval (their own, kept in the position),
	// beside the records; how they fare does not change the poll's outcome.
	lastLogScan := p.ledger.Position().CallLogsFullScan
	logWindow, logFull := p.cfg.RecentWindow, lastLogScan.IsZero() || start.Sub(lastLogScan) >= p.cfg.FullScanInterval
	if logFull {
		logWindow = p.cfg.Lookback
	}
	logsDone := make(chan bool, 1)
	go func() { logsDone <- p.callLogs.poll(ctx, start.Add(-logWindow), start, logFull) }()
	p.log.Debug("poll started", "full_scan", full, "recent", pl.recent, "windows", len(pl.windows), "slice", pl.slice)
	pr := &progress{}
	stopProgress := p.reportProgress(start, full, pr)
	res, err := p.poll(ctx, pl.windows, pr)
	stopProgress()
	if logsOK := <-logsDone; logsOK && logFull && p.callLogs.any() {
		p.ledger.UpdatePosition(func(pos *ledger.Position) { pos.CallLogsFullScan = start })
	}
	if err == nil {
		lists := res.listCost.Requests
		p.model.measureList(pl, res.perWindow, lists)
		measured := float64(lists)
		if pl.full {
			measured = 0
		} else {
			p.metrics.listPerPoll.Set(measured)
		}
		p.stretch(start, pl.recent, measured)
	}
	end := p.now()
	elapsed := end.Sub(start)
	p.metrics.pollDuration.Observe(elapsed.Seconds())

	if err == nil {
		if pl.done {
			p.relistEnded(pl.sweepStart, p.now())
		}
		p.ledger.UpdatePosition(func(pos *ledger.Position) {
			if pl.done {
				pos.LastFullScan = pl.sweepStart
			}
			pos.SweepStart, pos.SweepNext = pl.sweepStart, pl.sweepNext
			pos.LastSuccess = end
		})
	}
	pruned := p.ledger.Prune(ledger.CallRecords, start.Add(-p.cfg.Lookback))
	p.model.pruneGrains(start)
	p.updateSettling()
	p.callLogs.prune(start.Add(-p.cfg.Lookback))
	_ = p.ledger.Save() // the ledger counts and logs a failure, whatever the poll's outcome

	if ctx.Err() != nil {
		// Shutdown, not a Graph failure: what was ingested is saved, the
		// rest is fetched after the restart.
		p.log.Info("poll interrupted by shutdown", "full_scan", full, "duration", elapsed, "listed", res.listed, "ingested", res.ingested)
		return ctx.Err()
	}
	p.health.pollEnded(err == nil, start)
	if err != nil {
		p.metrics.polls.WithLabelValues("error").Inc()
		p.log.Error("poll failed", "full_scan", full, "duration", elapsed, "listed", res.listed, "ingested", res.ingested, "failed", res.failed, "err", err)
		return err
	}
	p.metrics.polls.WithLabelValues("success").Inc()
	p.metrics.lastSuccess.Set(unixSeconds(end))
	p.log.Info("poll finished", "full_scan", full, "duration", elapsed, "listed", res.listed,
		"new", res.fetched, "ingested", res.ingested, "failed", res.failed, "updated", res.updated,
		"settling", p.settling.len(), "pruned_ids", pruned)
	return nil
}

// listsRecent tells whether polls list the recent window: unless a
// notification subscription is delivering new records.
func (p *Poller) listsRecent() bool {
	return p.cfg.Notifications == nil || !p.cfg.Notifications.Subscribed()
}

// stretch sets the poll interval in force from what listing costs (see
// listModel.stretch), and says so in the metrics and, once, in the log.
func (p *Poller) stretch(now time.Time, recent bool, measured float64) {
	share, requests := p.model.stretch(now, recent, measured)
	p.metrics.listPlanned.Set(math.Round(share))
	if interval := p.model.interval; interval > p.cfg.Interval && !p.stretched {
		p.stretched = true
		p.log.Warn("listing at the configured poll interval would exceed 90% of Graph's list limit (40 requests per 20 s); polling less often",
			"list_requests_per_poll", math.Round(requests), "configured_interval", p.cfg.Interval, "interval", interval)
	}
	p.metrics.interval.Set(p.model.interval.Seconds())
	p.checkSettleWindow()
}

type pollResult struct {
	listed, fetched, ingested, failed, updated int
	perWindow                                  []int           // records listed in each window
	listCost                                   graph.CallStats // of the listings, as the Graph client counted
}

// progress is a poll's work so far, counted as it happens: the listing and
// the fetch callbacks write it, the progress reporter reads it.
type progress struct {
	listed, fetched, ingested atomic.Int64
}

// reportProgress logs pr whenever ProgressInterval has passed on the
// injected clock since the poll started or the last line, until the
// returned stop is called: a full scan of a large tenant takes many
// minutes, and without it the log says nothing between the start of a poll
// and "poll finished". A real ticker only wakes it to read the clock.
func (p *Poller) reportProgress(start time.Time, full bool, pr *progress) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(p.progressCheck)
		defer t.Stop()
		tick := t.C
		if p.progressTick != nil {
			tick = nil
		}
		last := start
		for {
			select {
			case <-done:
				return
			case <-p.progressTick: // nil, never ready, outside tests
			case <-tick:
			}
			now := p.now()
			if now.Sub(last) < p.cfg.ProgressInterval {
				continue
			}
			last = now
			p.log.Info("poll in progress", "full_scan", full, "elapsed", now.Sub(start).Round(time.Second),
				"listed", pr.listed.Load(), "fetched", pr.fetched.Load(), "ingested", pr.ingested.Load())
		}
	}()
	return func() { close(done); <-stopped }
}

func (p *Poller) poll(ctx context.Context, windows []timeWindow, pr *progress) (pollResult, error) {
	var res pollResult
	listed, perWindow, cost, err := p.list(ctx, windows, pr)
	res.listed, res.perWindow, res.listCost = len(listed), perWindow, cost
	if err != nil {
		return res, err
	}
	ids, updated := p.ledger.Select(ledger.CallRecords, func(yield func(string, int64) bool) {
		for id, r := range listed {
			if !yield(id, r.version) {
				return
			}
		}
	})
	p.metrics.skipped.WithLabelValues(ReasonUpdated).Add(float64(updated))
	// Records not ingested yet wait to settle; those due now (these or
	// earlier ones, listed or notified) are fetched.
	if p.cfg.Notifications != nil {
		p.takeNotified()
	}
	now := p.now()
	p.settling.listed(listed, ids, now, p.cfg.SettleDelay)
	due := p.takeSettled(now)
	res.updated = updated
	var fr fetchResult
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		fr = p.fetchAndIngest(ctx, due, now, pr)
	}()
	p.saveWhile(fetched) // saving stays on the polling goroutine
	res.fetched, res.ingested, res.failed = fr.fetched, fr.ingested, fr.failed
	if res.failed > 0 && res.ingested == 0 {
		return res, fmt.Errorf("all %d record fetches failed", res.failed)
	}
	return res, ctx.Err()
}

// saveWhile lets the ledger save whenever it is due until done is closed,
// so that a long poll does not leave much ingestion to repeat after a
// crash.
func (p *Poller) saveWhile(done <-chan struct{}) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			wait := p.ledger.SaveIfDue()
			if wait <= 0 {
				wait = time.Second // nothing waits: look again soon
			}
			t.Reset(wait)
		}
	}
}

// list returns the window's records, one per id, at the highest version
// listed, keeping only what selection needs of each (see listedRecord),
// the records listed in each window, and what the listings cost.
func (p *Poller) list(ctx context.Context, windows []timeWindow, pr *progress) (listing, []int, graph.CallStats, error) {
	listed := listing{}
	counts := make([]int, len(windows))
	var cost graph.CallStats
	for i, w := range windows {
		grains := map[int64]int{}
		st, err := p.src.ListCallRecords(ctx, w.from, w.to, func(r graph.CallRecord) error {
			counts[i]++
			grains[grainOf(r.StartDateTime)]++
			pr.listed.Add(1)
			listed.add(&r)
			return nil
		})
		cost.Add(st)
		p.metrics.skipped.WithLabelValues(ReasonMalformedRecord).Add(float64(st.Malformed))
		if err != nil {
			return listed, counts, cost, err
		}
		p.model.recordGrains(w, grains)
	}
	return listed, counts, cost, nil
}

// Ready reports whether a poll of this process has succeeded and Graph has
// not been failing for more than three poll intervals (see health).
func (p *Poller) Ready() bool {
	return p.health.ready(3 * p.cfg.Interval)
}
