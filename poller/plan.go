package poller

import (
	"math"
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

// sliceGrain is the widest slice of start times a sweep is cut in. A poll
// lists the slices due, oldest first, and stops at a slice's end when the
// next would take it over its budget of list requests: slices one poll
// wide (two hours of start times with the defaults) hold ten times the
// records of the night in a working day's peak, and listed whole they
// took a peak poll to several times its budget.
const sliceGrain = 5 * time.Minute

// listConfig is the configuration planning reads.
type listConfig struct {
	interval, lookback, recentWindow, fullScanInterval time.Duration
}

// listModel is the state a plan is made from, beside the sweep's position
// in the ledger: the poll interval in force and what listings and the
// ledger told of the records' density in start time. The polling goroutine
// owns it and updates it after each listing (recordGrains, measure, prune,
// stretch); plan only reads it. Nothing in it reads a clock, logs, or
// touches a metric, so planning is tested as plain functions.
type listModel struct {
	cfg      listConfig
	interval time.Duration // the poll interval in force (stretch)
	density  float64       // records per hour of start time in the last slice listed
	// pageRecords is the most records Graph returned per list request.
	pageRecords int
	// listedPerGrain is what the last listing of each grain of start
	// times returned, and ingestedPerGrain the records of each ingested
	// (from the ledger, at each poll), by which a poll sizes its slices of
	// the sweep.
	listedPerGrain   map[int64]int
	ingestedPerGrain map[int64]int
}

func newListModel(cfg listConfig) listModel {
	return listModel{cfg: cfg, interval: cfg.interval, listedPerGrain: map[int64]int{}}
}

// pollsPerSweep is the number of polls a sweep of the look-back takes at the
// configured cadence: one full-scan interval.
func (m *listModel) pollsPerSweep() int {
	return max(1, int((m.cfg.fullScanInterval+m.cfg.interval-1)/m.cfg.interval))
}

// sweepSlices is the number of slices a sweep cuts the look-back in: one
// per poll at least, and none wider than sliceGrain.
func (m *listModel) sweepSlices() int {
	return max(m.pollsPerSweep(), int((m.cfg.lookback+sliceGrain-1)/sliceGrain))
}

// sweepPeriod is how long a sweep of the look-back takes: the full-scan
// interval, stretched with the poll cadence (as many polls, further apart,
// so that fewer polls mean fewer list requests).
func (m *listModel) sweepPeriod() time.Duration {
	if m.cfg.interval <= 0 {
		return m.cfg.fullScanInterval
	}
	return time.Duration(float64(m.cfg.fullScanInterval) * float64(m.interval) / float64(m.cfg.interval))
}

// plan decides what a poll at now lists, from the model, the sweep's
// position and whether a re-list is pending and the recent window listed
// (unless notifications deliver new records). It is a pure function: the
// same state gives the same plan.
//
// Graph lists call records only by start time, so finding records that
// appeared late means listing again windows already listed. Instead of the
// whole look-back at once every full-scan interval (a burst whose cost
// grows with the tenant and holds back the polls behind it), each poll
// re-reads its share of it, oldest first, so that the look-back is swept
// once per full-scan interval, and never more than its budget of list
// requests, so that a poll's list cost is bounded. Slices are fixed in
// start time when the sweep begins, so each record of the look-back is in
// exactly one of them. The recent window, where new
// records appear, is listed at every poll, unless change notifications are
// delivering new records: then the sweep is the safety net for the ones
// lost, and the list cost no longer grows with the poll rate.
//
// The first poll, and the first after a downtime longer than the full-scan
// interval, lists the whole look-back at once: everything in it may be new.
// While a re-list is asked for (notifications were lost or dropped, or the
// subscription was removed), every slice left is due at once: the sweep
// runs at its budget, and the next starts when it ends, until a sweep
// begun after the request has ended (see Poll). Restarting the sweep
// instead would, with a request at every poll, list only the oldest
// slices, never the rest.
func plan(m *listModel, now time.Time, pos ledger.Position, relist, recent bool) listPlan {
	k := m.sweepSlices()
	lookback := m.cfg.lookback
	fullScan := m.sweepPeriod()
	if pos.LastSuccess.IsZero() || now.Sub(pos.LastSuccess) > fullScan || m.pollsPerSweep() == 1 {
		return listPlan{
			windows: []timeWindow{{now.Add(-lookback), now}},
			full:    true, recent: true, done: true,
			sweepStart: now, sweepNext: k,
		}
	}
	start, next := pos.SweepStart, pos.SweepNext
	if start.IsZero() || next >= k || start.After(now) {
		start, next = now, 0
	}
	// The slices due are those whose time has come since the sweep began
	// (a poll's share of them, and those of the polls since), so a late
	// poll lists several polls' worth and a sweep takes one full-scan
	// interval whatever the cadence.
	polls := float64(m.pollsPerSweep())
	elapsed := float64(now.Sub(start)) / float64(fullScan)
	due := min(k, int(math.Ceil(float64(k)*(elapsed+1/polls)-1e-9)))
	if relist {
		due = k // the rest of the sweep at once, within the budget
	}
	pl := listPlan{sweepStart: start, sweepNext: next, recent: recent}
	sw := sweep{start: start, lookback: lookback, slices: k, now: now}
	if pl.recent {
		sw.recentFrom = now.Add(-m.cfg.recentWindow)
	}
	// With notifications, slices expected to fill less than a page wait
	// for the next ones: listing them now would cost a request per poll
	// for a few records, and the sweep is only the safety net.
	wait := !pl.recent && due < k && m.density > 0 && m.expectedRecords(sw.window(next, due)) < float64(m.pageSize())
	if due <= next || wait {
		pl.windows = m.appendRecent(pl.windows, pl.recent, now)
		return pl
	}
	// A poll lists no more slices than its budget allows beside the recent
	// window, and leaves the rest to the next: the stretch spaces the polls
	// so that a sweep's slices fit in the budgets of its polls, but they
	// are not all alike (a working day's peak holds ten times the records
	// of its night).
	recentPages := 0.0
	if pl.recent {
		recentPages = m.expectedPages(timeWindow{sw.recentFrom, now})
	}
	end := m.slicesWithin(sw, next, due, m.listBudget()-recentPages)
	pl.sweepNext, pl.done = end, end == k
	if w := sw.window(next, end); w.to.After(w.from) {
		pl.windows = append(pl.windows, w)
		pl.slice = w.to.Sub(w.from)
	}
	pl.windows = m.appendRecent(pl.windows, pl.recent, now)
	return pl
}

// appendRecent appends the recent window to windows if it is listed.
func (m *listModel) appendRecent(windows []timeWindow, recent bool, now time.Time) []timeWindow {
	if !recent {
		return windows
	}
	return append(windows, timeWindow{now.Add(-m.cfg.recentWindow), now})
}

// sweep is a sweep of the look-back as a poll at now sees it: the look-back
// as it was when the sweep began, cut in slices.
type sweep struct {
	start, now time.Time
	lookback   time.Duration
	slices     int
	recentFrom time.Time // where the recent window listed beside begins; zero if none is
}

// window is the span of start times of slices [i, j), clipped to the
// look-back of now and, when the recent window is listed, to before it.
func (s sweep) window(i, j int) timeWindow {
	width := s.lookback / time.Duration(s.slices)
	from := s.start.Add(-s.lookback + time.Duration(i)*width)
	to := s.start.Add(-s.lookback + time.Duration(j)*width)
	if j == s.slices {
		to = s.start // the last slice ends where the sweep began, whatever the rounding
	}
	if edge := s.now.Add(-s.lookback); from.Before(edge) {
		from = edge // a slice never reaches back before the look-back of now
	}
	if !s.recentFrom.IsZero() && to.After(s.recentFrom) {
		to = s.recentFrom // the recent window lists the rest
	}
	if to.Before(from) {
		to = from
	}
	return timeWindow{from, to}
}

// slicesWithin is the end of the slices from next that a poll lists: all
// those due if their expected pages fit in budget, else as many as fit,
// and at least one, so that the sweep always moves on. A slice's records
// add to the ones before it, so each is estimated once.
func (m *listModel) slicesWithin(s sweep, next, due int, budget float64) int {
	w := s.window(next, next+1)
	records := m.expectedRecords(w)
	end := next + 1
	for ; end < due; end++ {
		more := s.window(next, end+1)
		r := records + m.expectedRecords(timeWindow{w.to, more.to})
		if more.to.After(more.from) && math.Floor(r/float64(m.pageSize()))+1 > budget {
			break
		}
		w, records = more, r
	}
	return end
}

// listBudget is how many list requests a poll may make: 90 % of Graph's
// list limit over the poll interval in force.
func (m *listModel) listBudget() float64 {
	return listLimitPerSecond * listBudgetShare * m.interval.Seconds()
}

// expectedPages estimates the list requests a window takes: its expected
// records in full pages, and a last partial page.
func (m *listModel) expectedPages(w timeWindow) float64 {
	if !w.to.After(w.from) {
		return 0
	}
	return math.Floor(m.expectedRecords(w)/float64(m.pageSize())) + 1
}

// expectedRecords estimates the records a listing of w returns: for each
// grain of start times in it, what its last listing returned or the
// records of it ingested since (records keep appearing after their call
// ends, and with notifications a grain is listed only once a sweep), and,
// for a grain neither listed nor ingested, the density of the busiest
// recent slice.
func (m *listModel) expectedRecords(w timeWindow) float64 {
	n := 0.0
	for from := w.from; from.Before(w.to); {
		b := grainOf(from)
		end := grainStart(b + 1)
		if end.After(w.to) {
			end = w.to
		}
		listed, okListed := m.listedPerGrain[b]
		ingested, okIngested := m.ingestedPerGrain[b]
		if okListed || okIngested {
			n += float64(max(listed, ingested)) * float64(end.Sub(from)) / float64(sliceGrain)
		} else {
			n += m.density * end.Sub(from).Hours()
		}
		from = end
	}
	return n
}

// grainOf is the grain of start times t is in. sliceGrain is whole seconds,
// so that it is also the ledger's span of start times in CountStarts.
func grainOf(t time.Time) int64 { return t.UnixNano() / int64(sliceGrain) }

func grainStart(g int64) time.Time { return time.Unix(0, g*int64(sliceGrain)) }

// recordGrains keeps what a listing of w returned per grain of start times:
// for a grain w covers whole, its count replaces the one before (records
// are listed again with the ones that appeared since); for one it covers
// in part, the count is the larger of the two.
func (m *listModel) recordGrains(w timeWindow, counts map[int64]int) {
	for g := grainOf(w.from); g <= grainOf(w.to.Add(-1)); g++ {
		if whole := !grainStart(g).Before(w.from) && !grainStart(g+1).After(w.to); whole {
			m.listedPerGrain[g] = counts[g]
		} else {
			m.listedPerGrain[g] = max(m.listedPerGrain[g], counts[g])
		}
	}
}

// pruneGrains forgets the grains that started before the look-back of now.
func (m *listModel) pruneGrains(now time.Time) {
	edge := grainOf(now.Add(-m.cfg.lookback))
	for g := range m.listedPerGrain {
		if g < edge {
			delete(m.listedPerGrain, g)
		}
	}
}

// pageSize is the list page size Graph gives, as measured: the most records
// a list request has returned. Before a measure, Graph's documented
// default, 60.
func (m *listModel) pageSize() int {
	return max(m.pageRecords, 60)
}

// measureList updates the density of records in start time and the page
// size from a poll's slice listing.
func (m *listModel) measureList(pl listPlan, counts []int, requests int) {
	total := 0
	for _, n := range counts {
		total += n
	}
	if pl.slice > 0 && len(counts) > 0 {
		// The busiest recent slice, decaying: a quiet night must not let
		// the slices of a busy day pile up into one large listing.
		m.density = max(float64(counts[0])/pl.slice.Hours(), 0.9*m.density)
	}
	if requests > len(counts) {
		// All pages but the last of each window are full: at least
		// records/requests each.
		m.pageRecords = max(m.pageRecords, total/requests)
	}
}

// stretch adapts the poll cadence to what listing costs: when a poll's
// share of the list requests (see pollShare), or what the last poll made
// (measured, 0 if not to count), would use more than 90 % of Graph's list
// limit at the configured interval, polls are spaced so that they do not,
// rather than running into the limiter (which would hold the next poll
// back) or Graph's 429s. It runs before each poll's plan, with what the
// listings and the ledger tell so far (after a restart too), and after
// the poll with its own count; a full look-back listing is a one-off and
// its count does not. It sets the interval in force and returns the
// poll's planned share and the requests it sized the interval for.
func (m *listModel) stretch(now time.Time, recent bool, measured float64) (share, requests float64) {
	share = m.pollShare(now, recent)
	requests = max(measured, share)
	need := time.Duration(requests / (listLimitPerSecond * listBudgetShare) * float64(time.Second))
	m.interval = max(m.cfg.interval, need.Round(time.Second))
	return share, requests
}

// pollShare estimates the list requests of a poll on the sweep's schedule:
// its share of the look-back's pages (the sweep's polls are as many at any
// cadence, so stretching does not change it), a partial page for its
// slice, and the recent window when it is listed.
func (m *listModel) pollShare(now time.Time, recent bool) float64 {
	swept := timeWindow{now.Add(-m.cfg.lookback), now}
	share := 0.0
	if recent {
		swept.to = now.Add(-m.cfg.recentWindow)
		share = m.expectedPages(timeWindow{swept.to, now})
	}
	if swept.to.After(swept.from) {
		share += m.expectedRecords(swept)/float64(m.pageSize())/float64(m.pollsPerSweep()) + 1
	}
	return share
}
