package poller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/ledger"
)

// Graph's PSTN and direct-routing call logs are read beside the call
// records, by call start time and with the same windows, and their rows go
// through the ledger as items of their own kinds, each once by id. They are
// an addition: a log that fails is retried on the next poll and never fails
// the poll of call records, nor readiness; a log Graph refuses (403, the
// permission is missing) is turned off until the exporter restarts.

// CallLogSource is the part of Graph that serves the call logs;
// *graph.Client implements it.
type CallLogSource interface {
	ListDirectRoutingCalls(ctx context.Context, from, to time.Time, fn func(graph.DirectRoutingCall, error) error) error
	ListPSTNCalls(ctx context.Context, from, to time.Time, fn func(graph.PSTNCall, error) error) error
}

// CallLogConfig says which call logs to read, and from where.
type CallLogConfig struct {
	Source             CallLogSource
	DirectRoutingCalls bool
	PSTNCalls          bool
}

// Sources, as the source label of teams_exporter_source_enabled names
// them: the operations of their requests.
const (
	SourceDirectRoutingCalls = string(graph.OpDirectRoutingCalls)
	SourcePSTNCalls          = string(graph.OpPSTNCalls)
)

// ReasonMalformedRow counts call-log rows that could not be read.
const ReasonMalformedRow = "malformed_row"

// PermissionCallLogs is the Graph application permission the call logs
// need (CallRecords.Read.All also grants them).
const PermissionCallLogs = "CallRecord-PstnCalls.Read.All"

// callLog is one call log being read.
type callLog struct {
	source  string
	kind    ledger.Kind
	what    string // for log lines
	list    func(ctx context.Context, from, to time.Time, row func(id string, err error, ingest func(*ledger.Ledger) bool) error) error
	enabled prometheus.Gauge

	mu  sync.Mutex
	off bool // Graph refused it
}

func (l *callLog) isOff() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.off
}

func (l *callLog) turnOff() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.off = true
	l.enabled.Set(0)
}

// callLogs reads the call logs cfg enables into the ledger, beside the
// call records: the poller says when and over which window, and nothing
// else of the poller's is its business.
type callLogs struct {
	logs      []*callLog
	ledger    *ledger.Ledger
	log       *slog.Logger
	malformed prometheus.Counter // teams_exporter_skipped_total{reason="malformed_row"}
}

// newCallLogs returns the reader of the call logs cfg enables, registering
// their teams_exporter_source_enabled series (1) with reg and counting
// unreadable rows in skipped; it reads nothing if none is enabled.
func newCallLogs(cfg CallLogConfig, reg prometheus.Registerer, l *ledger.Ledger, log *slog.Logger, skipped *prometheus.CounterVec) *callLogs {
	c := &callLogs{ledger: l, log: log}
	if c.logs = enabledCallLogs(cfg, reg); len(c.logs) > 0 {
		c.malformed = skipped.WithLabelValues(ReasonMalformedRow)
	}
	return c
}

// any tells whether a call log is enabled.
func (c *callLogs) any() bool { return len(c.logs) > 0 }

// enabledCallLogs returns the call logs cfg enables, registering their
// teams_exporter_source_enabled series (1) with reg.
func enabledCallLogs(cfg CallLogConfig, reg prometheus.Registerer) []*callLog {
	if cfg.Source == nil || !cfg.DirectRoutingCalls && !cfg.PSTNCalls {
		return nil
	}
	enabled := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "teams_exporter_source_enabled",
		Help: "1 while the exporter reads a call log it was configured to read, 0 once Graph refused it (403: the permission " + PermissionCallLogs + " is missing) until the exporter restarts.",
	}, []string{"source"})
	reg.MustRegister(enabled)
	src := cfg.Source
	var logs []*callLog
	if cfg.DirectRoutingCalls {
		logs = append(logs, &callLog{
			source: SourceDirectRoutingCalls, kind: ledger.DirectRoutingCalls, what: "direct-routing call log",
			list: func(ctx context.Context, from, to time.Time, fn func(string, error, func(*ledger.Ledger) bool) error) error {
				return src.ListDirectRoutingCalls(ctx, from, to, func(row graph.DirectRoutingCall, err error) error {
					return fn(row.ID, err, func(l *ledger.Ledger) bool { return l.IngestDirectRoutingCall(&row) })
				})
			},
		})
	}
	if cfg.PSTNCalls {
		logs = append(logs, &callLog{
			source: SourcePSTNCalls, kind: ledger.PSTNCalls, what: "PSTN call log",
			list: func(ctx context.Context, from, to time.Time, fn func(string, error, func(*ledger.Ledger) bool) error) error {
				return src.ListPSTNCalls(ctx, from, to, func(row graph.PSTNCall, err error) error {
					return fn(row.ID, err, func(l *ledger.Ledger) bool { return l.IngestPSTNCall(&row) })
				})
			},
		})
	}
	for _, l := range logs {
		l.enabled = enabled.WithLabelValues(l.source)
		l.enabled.Set(1)
	}
	return logs
}

// callLogResult is what reading one call log in one poll did.
type callLogResult struct {
	listed, ingested, malformed int
	firstMalformed              error
}

// poll reads every call log still on over [from, to), each in its own
// goroutine, and returns when all are done; false if one failed.
func (c *callLogs) poll(ctx context.Context, from, to time.Time, full bool) bool {
	var wg sync.WaitGroup
	var failed atomic.Bool
	for _, l := range c.logs {
		if l.isOff() {
			continue
		}
		wg.Go(func() {
			if !c.read(ctx, l, from, to, full) {
				failed.Store(true)
			}
		})
	}
	wg.Wait()
	return !failed.Load()
}

// read reads one call log; false if it could not be read (a log Graph
// refuses is off, and does not count as failing).
func (c *callLogs) read(ctx context.Context, l *callLog, from, to time.Time, full bool) bool {
	var res callLogResult
	err := l.list(ctx, from, to, func(id string, rowErr error, ingest func(*ledger.Ledger) bool) error {
		res.listed++
		if rowErr != nil {
			c.malformedRow(l, id, to, rowErr, &res)
			return nil
		}
		if ingest(c.ledger) {
			res.ingested++
		}
		return nil
	})
	log := c.log.With("call_log", l.source, "full_scan", full)
	switch {
	case err == nil:
		log.Debug("call log read", "listed", res.listed, "ingested", res.ingested, "malformed", res.malformed)
	case ctx.Err() != nil:
		// Shutdown: what was ingested is saved, the rest read after the restart.
	case errors.Is(err, graph.ErrForbidden):
		l.turnOff()
		log.Error("Graph refused the "+l.what+" (403): grant the application permission "+PermissionCallLogs+
			" and restart the exporter; the log is not read until then, call records are not affected", "err", err)
	default:
		log.Warn(l.what+" could not be read; retried on the next poll", "listed", res.listed, "ingested", res.ingested, "err", err)
	}
	if res.malformed > 0 {
		// One line per poll: the error names the member, never its value.
		log.Warn("skipped unreadable "+l.what+" rows", "count", res.malformed, "first_err", res.firstMalformed)
	}
	return err == nil || errors.Is(err, graph.ErrForbidden)
}

// malformedRow counts a row that cannot be read. One with an id is marked
// in the ledger without observations, so that it is counted and logged
// once, not on every poll that lists it again.
func (c *callLogs) malformedRow(l *callLog, id string, now time.Time, err error, res *callLogResult) {
	if id != "" && !c.ledger.MarkMalformed(l.kind, ledger.Item{ID: id, Start: now}) {
		return // skipped on an earlier poll
	}
	res.malformed++
	if res.firstMalformed == nil {
		res.firstMalformed = err
	}
	c.malformed.Inc()
}

// prune forgets the row ids whose call started before cutoff.
func (c *callLogs) prune(cutoff time.Time) {
	for _, l := range c.logs {
		c.ledger.Prune(l.kind, cutoff)
	}
}
