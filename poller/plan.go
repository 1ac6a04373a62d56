package poller

import (
	"time"

	"github.com/teams-exporter/teams-exporter/ledger"
)

// Graph's list limit for call records is 40 requests per 20 s. The poller
// plans to use at most 90 % of it, so that retries and a neighbour's
// listing still fit.
const (
	listLimitPerSecond = 40.0 / 20
	listBudgetShare    = 0.9
)

// timeWindow is a range of call start times to list, [from, to).
type timeWindow struct{ from, to time.Time }

// listPlan is what one poll lists, and where the sweep stands after it.
type listPlan struct {
	windows []timeWindow
	// full is a listing of the whole look-back at once: the first poll,
	// and the first after a downtime, which must find everything missed.
	full bool
	// recent tells whether the recent window is among the windows.
	recent bool
	// sweepStart and sweepNext are the position after a successful poll;
	// done tells whether the poll completes a sweep of the look-back.
	sweepStart time.Time
	sweepNext  int
	done       bool
	// slice is the span of start times of the look-back listed, if any.
	slice time.Duration
}

// sweepSlices is the number of polls a sweep of the look-back takes: one
// full-scan interval at the configured cadence.
func (p *Poller) sweepSlices() int {
	return max(1, int((p.cfg.FullScanInterval+p.cfg.Interval-1)/p.cfg.Interval))
}

// sweepPeriod is how long a sweep of the look-back takes: the full-scan
// interval, stretched with the poll cadence (a slice per poll, so that
// fewer polls mean fewer list requests).
func (p *Poller) sweepPeriod() time.Duration {
	if p.cfg.Interval <= 0 {
		return p.cfg.FullScanInterval
	}
	return time.Duration(float64(p.cfg.FullScanInterval) * float64(p.interval) / float64(p.cfg.Interval))
}

// plan decides what a poll at now lists.
//
// Graph lists call records only by start time, so finding records that
// appeared late means listing again windows already listed. Instead of the
// whole look-back at once every full-scan interval (a burst whose cost
// grows with the tenant and holds back the polls behind it), each poll
// re-reads one slice of it, oldest first, so that the look-back is swept
// once per full-scan interval and a poll's list cost is bounded. Slices are
// fixed in start time when the sweep begins, so each record of the
// look-back is in exactly one of them. The recent window, where new
// records appear, is listed at every poll, unless change notifications are
// delivering new records: then the sweep is the safety net for the ones
// lost, and the list cost no longer grows with the poll rate.
//
// The first poll, and the first after a downtime longer than the full-scan
// interval, lists the whole look-back at once: everything in it may be new.
// A re-list request (notifications were lost or dropped, or the
// subscription was removed) starts a new sweep at once.
func (p *Poller) plan(now time.Time, pos ledger.Position, relist bool) listPlan {
	k := p.sweepSlices()
	lookback := p.cfg.Lookback
	fullScan := p.sweepPeriod()
	if pos.LastSuccess.IsZero() || now.Sub(pos.LastSuccess) > fullScan || k == 1 {
		return listPlan{
			windows: []timeWindow{{now.Add(-lookback), now}},
			full:    true, recent: true, done: true,
			sweepStart: now, sweepNext: k,
		}
	}
	start, next := pos.SweepStart, pos.SweepNext
	if start.IsZero() || next >= k || relist || start.After(now) {
		start, next = now, 0
	}
	// The slices due are those whose time has come since the sweep began,
	// so a late poll lists several at once and a sweep takes one full-scan
	// interval whatever the cadence.
	due := min(k, int(float64(k)*float64(now.Sub(start))/float64(fullScan))+1)
	pl := listPlan{sweepStart: start, sweepNext: next}
	pl.recent = p.cfg.Notifications == nil || !p.cfg.Notifications.Subscribed()
	width := lookback / time.Duration(k)
	from := start.Add(-lookback + time.Duration(next)*width)
	to := start.Add(-lookback + time.Duration(due)*width)
	if due == k {
		to = start // the last slice ends where the sweep began, whatever the rounding
	}
	// With notifications, a slice expected to fill less than a page waits
	// for the next ones: listing it now would cost a request per poll for
	// a few records, and the sweep is only the safety net.
	wait := !pl.recent && due < k && p.density > 0 && p.expectedRecords(from, to) < float64(p.pageSize())
	if due > next && !wait {
		pl.sweepNext, pl.done = due, due == k
		// A slice never reaches back before the look-back of now.
		if from.Before(now.Add(-lookback)) {
			from = now.Add(-lookback)
		}
		recentFrom := now.Add(-p.cfg.RecentWindow)
		if pl.recent && to.After(recentFrom) {
			to = recentFrom // the recent window lists the rest
		}
		if to.After(from) {
			pl.windows = append(pl.windows, timeWindow{from, to})
			pl.slice = to.Sub(from)
		}
	}
	if pl.recent {
		pl.windows = append(pl.windows, timeWindow{now.Add(-p.cfg.RecentWindow), now})
	}
	return pl
}

// expectedRecords estimates the records listed in a window of start times
// from the slices listed before.
func (p *Poller) expectedRecords(from, to time.Time) float64 {
	return p.density * to.Sub(from).Hours()
}

// pageSize is the list page size Graph gives, as measured: the most records
// a list request has returned. Before a measure, Graph's documented
// default, 60.
func (p *Poller) pageSize() int {
	return max(p.pageRecords, 60)
}

// measureList updates the density of records in start time and the page
// size from a poll's slice listing.
func (p *Poller) measureList(pl listPlan, counts []int, requests int64) {
	total := 0
	for _, n := range counts {
		total += n
	}
	if pl.slice > 0 && len(counts) > 0 {
		// The busiest recent slice, decaying: a quiet night must not let
		// the slices of a busy day pile up into one large listing.
		p.density = max(float64(counts[0])/pl.slice.Hours(), 0.9*p.density)
	}
	if requests > int64(len(counts)) {
		// All pages but the last of each window are full: at least
		// records/requests each.
		p.pageRecords = max(p.pageRecords, total/int(requests))
	}
}

// stretch adapts the poll cadence to what listing costs: when the list
// requests of a poll would use more than 90 % of Graph's list limit at the
// configured interval, polls are spaced so that they do not, rather than
// running into the limiter (which would hold the next poll back) or
// Graph's 429s. It is measured, from the requests the last slice-sized
// poll made (a full look-back listing is a one-off and does not count).
func (p *Poller) stretch(listRequests int64, pl listPlan) {
	if pl.full {
		return
	}
	p.metrics.listPerPoll.Set(float64(listRequests))
	need := time.Duration(float64(listRequests) / (listLimitPerSecond * listBudgetShare) * float64(time.Second))
	interval := max(p.cfg.Interval, need.Round(time.Second))
	if interval > p.cfg.Interval && !p.stretched {
		p.stretched = true
		p.log.Warn("listing at the configured poll interval would exceed 90% of Graph's list limit (40 requests per 20 s); polling less often",
			"list_requests_per_poll", listRequests, "configured_interval", p.cfg.Interval, "interval", interval)
	}
	p.interval = interval
	p.metrics.interval.Set(interval.Seconds())
	p.checkSettleWindow()
}
