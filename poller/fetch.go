package poller

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
)

// dueRecord is a record to fetch now, with its listed start (0 if it was
// only notified).
type dueRecord struct {
	id    string
	start int64
}

// fetchResult is what fetching and ingesting the due records did.
type fetchResult struct {
	fetched, ingested int
	// failed counts the fetches Graph did not answer for (not a 404 or an
	// unreadable record, which are the record's problem): a poll whose
	// fetches all failed so has failed.
	failed int
}

// fetchAndIngest fetches the due records through the Graph client's $batch
// path and hands each to the ledger, which ingests it exactly once: the one
// path of every call record, listed, settled between polls or notified. now
// is when the records were taken as due. pr counts what it does as it
// happens, for the progress lines. It returns when every fetch is done;
// ingesting runs on the client's fetch goroutines, and saving is left to
// the caller's goroutine. A record that cannot be fetched is not retried
// here: a listed one is found again by a later listing; a notified one not
// listed yet waits for the listing that covers its start (the recent
// window, or the look-back's sweep within a full-scan interval), since
// its notification is not kept.
func (p *Poller) fetchAndIngest(ctx context.Context, due []dueRecord, now time.Time, pr *progress) fetchResult {
	if len(due) == 0 {
		return fetchResult{}
	}
	ids := make([]string, len(due))
	starts := make(map[string]int64, len(due))
	for i, d := range due {
		ids[i], starts[d.id] = d.id, d.start
	}
	cutoff := now.Add(-p.cfg.Lookback)
	var ingested, failed atomic.Int64
	p.src.GetCallRecords(ctx, ids, func(id string, rec *graph.CallRecord, err error) {
		pr.fetched.Add(1)
		if err != nil && ctx.Err() != nil {
			return // shutting down: not the record's fault, fetched again after the restart
		}
		if err != nil {
			if !graph.IsRecordProblem(err) { // a record Graph answered for does not fail the poll
				failed.Add(1)
			}
			p.fetchFailed(err)
			return
		}
		if p.ingestFetched(rec, starts[id], cutoff) {
			ingested.Add(1)
			pr.ingested.Add(1)
		}
	})
	return fetchResult{fetched: len(due), ingested: int(ingested.Load()), failed: int(failed.Load())}
}

// ingestFetched hands a fetched record to the ledger: false if it was not
// ingested (ingested before, or too old). The ledger's entry takes the
// start time the listing gave, by which the record is listed and pruned: a
// fetched body without one (or with another) would be pruned at once and
// ingested again on every poll. listedStart is 0 for a record only
// notified: the body's start time is then all there is, and a record
// starting before cutoff is an update of one that may have been pruned
// already (ingesting it again would count it twice); it counts as updated.
func (p *Poller) ingestFetched(rec *graph.CallRecord, listedStart int64, cutoff time.Time) bool {
	start := rec.StartDateTime
	if listedStart != 0 {
		start = time.Unix(0, listedStart).UTC()
	} else if start.Before(cutoff) { // a body without a start is left to the listing too
		p.metrics.skipped.WithLabelValues(ReasonUpdated).Inc()
		return false
	}
	stats, ok := p.ledger.IngestCallRecord(rec, start)
	if !ok {
		return false
	}
	p.metrics.ingested.Inc()
	if rec.ImplausibleValues > 0 {
		p.metrics.skipped.WithLabelValues(ReasonImplausible).Add(float64(rec.ImplausibleValues))
	}
	if stats.SegmentsWithoutClient > 0 {
		p.metrics.skipped.WithLabelValues(ReasonNoClientEndpoint).Add(float64(stats.SegmentsWithoutClient))
	}
	return true
}

// fetchFailed counts and logs a record that could not be fetched. The
// record id is not personal data, but it is not needed in the log either:
// a count per reason and the error are enough to diagnose.
func (p *Poller) fetchFailed(err error) {
	if errors.Is(err, graph.ErrNotFound) {
		p.metrics.skipped.WithLabelValues(ReasonNotFound).Inc()
		p.log.Debug("listed record not found; retried while listed", "err", err)
		return
	}
	p.metrics.skipped.WithLabelValues(ReasonFetchFailed).Inc()
	p.log.Warn("fetch call record failed; retried on a later poll", "err", err)
}
