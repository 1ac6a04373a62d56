package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
)

// Source is the part of Graph the poller reads; *graph.Client implements it.
type Source interface {
	ListCallRecords(ctx context.Context, from, to time.Time, fn func(graph.CallRecord) error) error
	GetCallRecords(ctx context.Context, ids []string, fn func(id string, rec *graph.CallRecord, err error))
}

// Config configures a Poller; see SPEC's configuration table.
type Config struct {
	Interval         time.Duration
	Lookback         time.Duration
	RecentWindow     time.Duration
	FullScanInterval time.Duration
	StateFile        string // empty: no persistence (tests)
	// SaveInterval bounds how much ingestion a crash can make the exporter
	// repeat during a long poll; default 15s.
	SaveInterval time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	// Graph, if set, is the graph.Observer given to the Graph client: Ready
	// then also turns false while Graph requests fail, before a poll ends.
	Graph *GraphMetrics
	Now   func() time.Time
	// Published, if set, is called after new series were published to
	// scrapes (for instance to render the exposition before it is asked
	// for), outside the poller's locks.
	Published func()
}

// Poller polls Graph and feeds the collector.
//
// It keeps two collectors: records are ingested into the working one, and
// what /metrics shows is the published one, refreshed from the very snapshot
// each save writes. A scrape therefore never shows a count that a crash could
// take back, and no counter goes down across a kill -9 and restart.
type Poller struct {
	cfg       Config
	src       Source
	col       *collector.Collector // working: ingest target, source of snapshots
	published *collector.Collector // registered: what scrapes see
	log       *slog.Logger
	metrics   *metrics
	now       func() time.Time

	// mu makes "observe a record" and "mark its id ingested" one step, and
	// a snapshot a consistent cut of both.
	mu           sync.Mutex
	ids          *idSet
	lastFullScan time.Time
	lastSuccess  time.Time

	saveMu           sync.Mutex // one writer of the state file at a time
	lastSave         atomic.Int64
	publishedOnce    bool   // under saveMu
	publishedVersion uint64 // of the working collector, under saveMu

	readyMu      sync.Mutex
	succeeded    bool      // a poll of this process succeeded
	failingSince time.Time // first failed poll since the last success
}

// New returns a Poller whose collectors use opts. Register Collector() with
// the registry, and call Restore before the first poll.
func New(cfg Config, src Source, opts collector.Options) *Poller {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SaveInterval == 0 {
		cfg.SaveInterval = 15 * time.Second
	}
	return &Poller{
		cfg:       cfg,
		src:       src,
		col:       collector.New(opts),
		published: collector.New(opts),
		log:       cfg.Logger,
		metrics:   newMetrics(cfg.Registerer),
		now:       cfg.Now,
		ids:       newIDSet(),
	}
}

// Collector is the call-quality collector to register: it shows what has
// been saved to the state file.
func (p *Poller) Collector() *collector.Collector { return p.published }

// Restore loads the state file, if any. A file that cannot be read is set
// aside under a new name and the exporter starts fresh; the returned error
// only reports a failure to set it aside.
func (p *Poller) Restore() error {
	if p.cfg.StateFile == "" {
		return nil
	}
	if removed, err := removeTempFiles(p.cfg.StateFile); err != nil {
		p.log.Warn("remove temporary state files left by an interrupted write", "file", p.cfg.StateFile, "err", err)
	} else if removed > 0 {
		p.log.Info("removed temporary state files left by an interrupted write", "file", p.cfg.StateFile, "count", removed)
	}
	st, err := readState(p.cfg.StateFile)
	if err == nil && st != nil {
		err = p.apply(st)
	}
	switch {
	case err != nil:
		aside, renameErr := setAside(p.cfg.StateFile, p.now())
		if renameErr != nil {
			return fmt.Errorf("state file %s is unusable (%v) and could not be set aside: %w", p.cfg.StateFile, err, renameErr)
		}
		p.log.Error("state file unusable; set aside, starting fresh: call-quality counters restart from zero (Prometheus sees a counter reset) and records inside the look-back window are ingested again",
			"file", p.cfg.StateFile, "set_aside_as", aside, "err", err)
	case st == nil:
		p.log.Info("no state file; starting fresh", "file", p.cfg.StateFile)
	default:
		p.log.Info("state restored", "file", p.cfg.StateFile, "ids", p.ids.len(), "saved_at", st.SavedAt, "last_full_scan", st.LastFullScan)
	}
	return nil
}

func (p *Poller) apply(st *stateFile) error {
	ids, err := unpackIDs(st.UUIDs, st.OtherIDs)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if err := p.col.Restore(st.Series); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("series: %w", err)
	}
	if err := p.published.Restore(st.Series); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("series: %w", err)
	}
	p.ids = ids
	p.lastFullScan = st.LastFullScan
	p.lastSuccess = st.LastSuccess
	if !st.LastSuccess.IsZero() {
		p.metrics.lastSuccess.Set(float64(st.LastSuccess.UnixNano()) / 1e9)
	}
	version := p.col.Version()
	p.mu.Unlock()

	// Scrapes show what was restored: the first save need not publish it again.
	p.saveMu.Lock()
	p.publishedOnce, p.publishedVersion = true, version
	p.saveMu.Unlock()
	return nil
}

// Run polls at once and then every interval until ctx ends, then saves the
// state a last time.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		_ = p.Poll(ctx)
		select {
		case <-ctx.Done():
			if err := p.Save(); err != nil {
				p.log.Error("save state on shutdown", "file", p.cfg.StateFile, "err", err)
			}
			return
		case <-t.C:
		}
	}
}

// Poll lists the window due (the recent part, or the whole look-back when a
// full scan is due), ingests every record not ingested yet, and saves state.
func (p *Poller) Poll(ctx context.Context) error {
	start := p.now()
	p.mu.Lock()
	full := p.lastFullScan.IsZero() || start.Sub(p.lastFullScan) >= p.cfg.FullScanInterval
	p.mu.Unlock()
	window := p.cfg.RecentWindow
	if full {
		window = p.cfg.Lookback
	}
	res, err := p.poll(ctx, start.Add(-window), start)
	elapsed := p.now().Sub(start)
	p.metrics.pollDuration.Observe(elapsed.Seconds())

	p.mu.Lock()
	if err == nil && full {
		p.lastFullScan = start
	}
	if err == nil {
		p.lastSuccess = p.now()
	}
	pruned := p.ids.prune(start.Add(-p.cfg.Lookback))
	p.mu.Unlock()
	saveErr := p.Save()

	if ctx.Err() != nil {
		// Shutdown, not a Graph failure: what was ingested is saved, the
		// rest is fetched after the restart.
		p.log.Info("poll interrupted by shutdown", "full_scan", full, "duration", elapsed, "listed", res.listed, "ingested", res.ingested)
		return ctx.Err()
	}
	p.setOutcome(err == nil, start)
	if err != nil {
		p.metrics.polls.WithLabelValues("error").Inc()
		p.log.Error("poll failed", "full_scan", full, "duration", elapsed, "listed", res.listed, "ingested", res.ingested, "failed", res.failed, "err", err)
		return err
	}
	p.metrics.polls.WithLabelValues("success").Inc()
	p.metrics.lastSuccess.SetToCurrentTime()
	p.log.Info("poll finished", "full_scan", full, "duration", elapsed, "listed", res.listed,
		"new", res.fetched, "ingested", res.ingested, "failed", res.failed, "updated", res.updated, "pruned_ids", pruned)
	if saveErr != nil {
		p.log.Error("save state", "file", p.cfg.StateFile, "err", saveErr)
	}
	return nil
}

type pollResult struct {
	listed, fetched, ingested, failed, updated int
}

func (p *Poller) poll(ctx context.Context, from, to time.Time) (pollResult, error) {
	var res pollResult
	listed, err := p.list(ctx, from, to)
	res.listed = len(listed)
	if err != nil {
		return res, err
	}
	ids, updated := p.selectNew(listed)
	res.updated, res.fetched = updated, len(ids)
	var ingested, failed atomic.Int64
	p.src.GetCallRecords(ctx, ids, func(id string, rec *graph.CallRecord, err error) {
		if err != nil && ctx.Err() != nil {
			return // shutting down: not the record's fault, fetched again after the restart
		}
		if err != nil {
			if !isRecordProblem(err) {
				failed.Add(1)
			}
			p.fetchFailed(id, err)
			return
		}
		if p.ingest(rec) {
			ingested.Add(1)
		}
		p.saveIfDue()
	})
	res.ingested, res.failed = int(ingested.Load()), int(failed.Load())
	if res.failed > 0 && res.ingested == 0 {
		return res, fmt.Errorf("all %d record fetches failed", res.failed)
	}
	return res, ctx.Err()
}

// list returns the window's records, one per id, at the highest version
// listed: Graph's paging is not a snapshot and may repeat a record.
func (p *Poller) list(ctx context.Context, from, to time.Time) (map[string]graph.CallRecord, error) {
	listed := map[string]graph.CallRecord{}
	err := p.src.ListCallRecords(ctx, from, to, func(r graph.CallRecord) error {
		if prev, ok := listed[r.ID]; !ok || r.Version > prev.Version {
			listed[r.ID] = r
		}
		return nil
	})
	return listed, err
}

// selectNew returns the listed ids not ingested yet. A record ingested at
// an older version is counted as updated once per new version and not
// fetched: its first version was observed, and observing it again would
// count its streams twice.
func (p *Poller) selectNew(listed map[string]graph.CallRecord) (ids []string, updated int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, r := range listed {
		e, seen := p.ids.get(id)
		if !seen {
			ids = append(ids, id)
			continue
		}
		if v := clampU32(r.Version); v > e.version {
			e.version = v
			p.ids.put(id, e)
			p.metrics.skipped.WithLabelValues(ReasonUpdated).Inc()
			updated++
		}
	}
	return ids, updated
}

// ingest observes rec and marks it ingested as one step; false if it was
// ingested meanwhile.
func (p *Poller) ingest(rec *graph.CallRecord) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, seen := p.ids.get(rec.ID); seen {
		return false
	}
	stats := p.col.Ingest(rec)
	p.ids.put(rec.ID, makeEntry(rec.StartDateTime, rec.Version))
	p.metrics.ingested.Inc()
	if stats.SegmentsWithoutClient > 0 {
		p.metrics.skipped.WithLabelValues(ReasonNoClientEndpoint).Add(float64(stats.SegmentsWithoutClient))
	}
	return true
}

// isRecordProblem tells a record Graph answered for from a failing Graph:
// an expired record (404) or one whose answer cannot be read (malformed,
// too large) is the same at every try, and must not hold the poll, and so
// /readyz, in failure; it is counted and logged as a skipped record.
func isRecordProblem(err error) bool {
	return errors.Is(err, graph.ErrNotFound) || errors.Is(err, graph.ErrMalformed) || errors.Is(err, graph.ErrBodyTooLarge)
}

func (p *Poller) fetchFailed(id string, err error) {
	// The record id is not personal data, but it is not needed in the log
	// either: a count per reason and the error are enough to diagnose.
	if errors.Is(err, graph.ErrNotFound) {
		p.metrics.skipped.WithLabelValues(ReasonNotFound).Inc()
		p.log.Debug("listed record not found; retried while listed", "err", err)
		return
	}
	p.metrics.skipped.WithLabelValues(ReasonFetchFailed).Inc()
	p.log.Warn("fetch call record failed; retried on a later poll", "err", err)
}

func (p *Poller) saveIfDue() {
	if time.Duration(time.Now().UnixNano()-p.lastSave.Load()) < p.cfg.SaveInterval {
		return
	}
	if err := p.Save(); err != nil {
		p.log.Error("save state", "file", p.cfg.StateFile, "err", err)
	}
}

// Save writes the state file atomically from a consistent snapshot, then
// publishes that snapshot to scrapes. When the file cannot be written the
// snapshot is published all the same: fresh metrics matter more than the
// no-decrease guarantee on a failing disk, and the error is reported.
func (p *Poller) Save() error {
	published, err := p.saveAndPublish()
	if published && p.cfg.Published != nil {
		p.cfg.Published()
	}
	return err
}

// saveAndPublish writes the state and publishes its series unless scrapes
// show them already: an unchanged collector keeps the scrape cache warm.
func (p *Poller) saveAndPublish() (published bool, err error) {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	p.lastSave.Store(time.Now().UnixNano())
	st, version := p.snapshot()
	err = p.write(st)
	if p.publishedOnce && version == p.publishedVersion {
		return false, err
	}
	if perr := p.published.Restore(st.Series); perr != nil {
		return false, fmt.Errorf("publish snapshot: %w", perr) // a bug: the snapshot is our own
	}
	p.publishedOnce, p.publishedVersion = true, version
	return true, err
}

func (p *Poller) write(st *stateFile) error {
	if p.cfg.StateFile == "" {
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeFileAtomic(p.cfg.StateFile, data); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// snapshot returns the state and the version of the working collector it
// holds.
func (p *Poller) snapshot() (*stateFile, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	uuids, others := packIDs(p.ids)
	return &stateFile{
		Format:       stateFormat,
		SavedAt:      p.now(),
		LastFullScan: p.lastFullScan,
		LastSuccess:  p.lastSuccess,
		UUIDs:        uuids,
		OtherIDs:     others,
		Series:       p.col.Snapshot(),
	}, p.col.Version()
}

func (p *Poller) setOutcome(ok bool, pollStart time.Time) {
	p.readyMu.Lock()
	defer p.readyMu.Unlock()
	if ok {
		p.succeeded = true
		p.failingSince = time.Time{}
	} else if p.failingSince.IsZero() {
		p.failingSince = pollStart // Graph has been failing since the poll began
	}
}

// Ready reports whether a poll of this process has succeeded and Graph has
// not been failing for more than three poll intervals.
func (p *Poller) Ready() bool {
	p.readyMu.Lock()
	defer p.readyMu.Unlock()
	if !p.succeeded {
		return false
	}
	limit := 3 * p.cfg.Interval
	if p.cfg.Graph != nil && p.cfg.Graph.failingLongerThan(limit) {
		return false
	}
	return p.failingSince.IsZero() || p.now().Sub(p.failingSince) <= limit
}
