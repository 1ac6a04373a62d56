package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
)

// Kind names a kind of item the ledger ingests exactly once. Each kind has
// its own id set, saved under its name in the state file.
type Kind string

// The kinds of items.
const (
	// CallRecords are Graph call records (communications/callRecords).
	CallRecords Kind = "callRecords"
	// DirectRoutingCalls and PSTNCalls are rows of Graph's call logs
	// (getDirectRoutingCalls, getPstnCalls).
	DirectRoutingCalls Kind = "directRoutingCalls"
	PSTNCalls          Kind = "pstnCalls"
)

// Item identifies one item of a kind.
type Item struct {
	ID string
	// Start is when the call started: an id is forgotten (Prune) once its
	// start leaves the look-back window, since it is never listed again.
	Start time.Time
	// Version is Graph's version of the item, 0 where there is none.
	Version int64
}

// Position is where polling stands, saved with the ids and series so that
// a restart resumes there. Fields the poller (or anything scheduling Graph
// reads) must keep across restarts go here.
//
// Times of past events saved here are checked by forgetFuture: one in the
// future was saved by a clock that was ahead, and taken as it is it would
// hold back whatever waits for it (a full scan, say) until the clock
// catches up.
type Position struct {
	LastFullScan time.Time `json:"lastFullScan"`
	LastSuccess  time.Time `json:"lastSuccess"`
	// SweepStart and SweepNext are where the re-read of the look-back
	// window, a slice per poll, stands: the sweep that began at SweepStart
	// has listed its first SweepNext slices.
	SweepStart time.Time `json:"sweepStart,omitzero"`
	SweepNext  int       `json:"sweepNext,omitempty"`
	// CallLogsFullScan is when the call logs' whole look-back window was
	// last read: they are read by window, not swept.
	CallLogsFullScan time.Time `json:"callLogsFullScan,omitzero"`
	// Subscription is the change-notification subscription the exporter
	// created last, with a fingerprint of its client state (see
	// SetSubscription).
	Subscription Subscription `json:"subscription,omitzero"`
}

// Subscription identifies a change-notification subscription the exporter
// created and the client state it gave it: a salted, slow hash (never the
// secret), which tells a later start whether the client state was rotated
// since, as Graph never returns it.
type Subscription struct {
	ID                     string `json:"id"`
	ClientStateFingerprint string `json:"clientStateFingerprint"`
}

// forgetFuture zeroes the times after now, as if never set, and reports
// whether any was.
func (p *Position) forgetFuture(now time.Time) bool {
	future := false
	for _, t := range []*time.Time{&p.LastFullScan, &p.LastSuccess, &p.CallLogsFullScan} {
		if t.After(now) {
			*t, future = time.Time{}, true
		}
	}
	return future
}

// Config configures a Ledger.
type Config struct {
	// Path is the state file; empty keeps the state in memory only (tests).
	Path string
	// Now is the clock of every time the ledger records; time.Now if nil.
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer, if set, gets the state-save metrics.
	Registerer prometheus.Registerer
	// Collector configures the store of series. Its clock is Now.
	Collector collector.Options
	// SaveInterval is the least time between two saves that SaveIfDue
	// makes: it bounds how much ingestion a crash makes the exporter
	// repeat, and how long an ingested item waits to be scraped; default
	// 15s.
	SaveInterval time.Duration
}

// Ledger owns what has been ingested and what has been saved. Observing an
// item and marking its id are one step (Observe); a save writes a
// consistent cut of ids, position and series to the state file and, once
// the file is written, publishes that cut's series as the snapshot scrapes
// serve (Snapshot). So a scrape never shows a count that a crash could take
// back, and no counter goes down across a kill -9 and restart; a save that
// fails publishes nothing.
type Ledger struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	// mu makes "observe an item" and "mark its id" one step, and a cut a
	// consistent view of ids, position and series.
	mu      sync.Mutex
	col     *collector.Collector
	ids     map[Kind]*idSet
	pos     Position
	cut     *collector.Snapshot // the series at the last cut
	changed bool                // series changed since cut was made

	saveMu   sync.Mutex // one writer of the state file at a time
	saved    atomic.Pointer[collector.Snapshot]
	lastSave time.Time // of the last save attempt, by now; saveMu
	// begun numbers the saves as they start (before their cut); durable
	// is the number of the last one that succeeded. See SaveMark.
	begun, durable atomic.Uint64

	lock    *stateLock // of the state file, from Open to Close
	metrics saveMetrics
}

// saveMetrics make saves that fail visible: scrapes keep showing the last
// save, so without them a failing disk would only look like a quiet tenant.
type saveMetrics struct {
	saves    *prometheus.CounterVec
	lastSave prometheus.Gauge
}

func newSaveMetrics(reg prometheus.Registerer) saveMetrics {
	m := saveMetrics{
		saves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_exporter_state_saves_total",
			Help: "Saves of the state file, by result (success, error). Scrapes show what the last successful save wrote.",
		}, []string{"result"}),
		lastSave: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "teams_exporter_last_state_save_timestamp_seconds",
			Help: "Unix time of the last successful save of the state file (kept across restarts; 0 before the first).",
		}),
	}
	m.saves.WithLabelValues("success")
	m.saves.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(m.saves, m.lastSave)
	}
	return m
}

// Open returns a Ledger holding the state file's content, if there is one,
// and the state file's lock: a second exporter on the same state file
// fails to open it. A file that was read but cannot be decoded or
// validated is set aside under a new name and the ledger starts empty; a
// file that cannot be read at all (permissions, I/O error, a directory) is
// an error, since starting empty would reset every counter and ingest the
// look-back again over a file that may be fine once readable.
func Open(cfg Config) (*Ledger, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = 15 * time.Second
	}
	cfg.Collector.Now = cfg.Now
	l := &Ledger{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Now,
		col:     collector.New(cfg.Collector),
		ids:     map[Kind]*idSet{},
		metrics: newSaveMetrics(cfg.Registerer),
	}
	if err := l.restore(); err != nil {
		_ = l.lock.unlock()
		return nil, err
	}
	l.cut = l.col.Snapshot()
	l.saved.Store(l.cut) // what was restored was saved
	return l, nil
}

// Close releases the state file's lock. Save no more after it.
func (l *Ledger) Close() error { return l.lock.unlock() }

func (l *Ledger) restore() error {
	if l.cfg.Path == "" {
		return nil
	}
	path, err := resolveLinks(l.cfg.Path)
	if err != nil {
		return fmt.Errorf("state file %s: %w", l.cfg.Path, err)
	}
	lock, err := lockState(path)
	if errors.Is(err, errStateInUse) {
		return fmt.Errorf("state file %s is in use by another exporter (it holds %s); run one exporter per state file", l.cfg.Path, lockPath(path))
	}
	if err != nil {
		return fmt.Errorf("state file %s: %w", l.cfg.Path, err)
	}
	l.lock = lock
	if removed, err := removeTempFiles(path); err != nil {
		l.log.Warn("remove temporary state files left by an interrupted write", "file", path, "err", err)
	} else if removed > 0 {
		l.log.Info("removed temporary state files left by an interrupted write", "file", path, "count", removed)
	}
	st, err := readState(path)
	if err != nil && !errors.Is(err, errCorruptState) {
		return fmt.Errorf("state file %s cannot be read (%w); fix its permissions or storage and start again, or move it away to start fresh", l.cfg.Path, err)
	}
	if err == nil && st != nil {
		err = l.apply(st)
	}
	switch {
	case err != nil:
		aside, renameErr := setAside(path, l.now())
		if renameErr != nil {
			return fmt.Errorf("state file %s is unusable (%v) and could not be set aside: %w", path, err, renameErr)
		}
		l.log.Error("state file unusable; set aside, starting fresh: call-quality counters restart from zero (Prometheus sees a counter reset) and records inside the look-back window are ingested again",
			"file", path, "set_aside_as", aside, "err", err)
	case st == nil:
		l.log.Info("no state file; starting fresh", "file", path)
	default:
		now := l.now()
		savedAt, future := st.SavedAt, st.SavedAt.After(now)
		if future {
			savedAt = time.Time{}
		}
		if l.pos.forgetFuture(now) || future {
			l.log.Warn("state file holds times in the future, saved by a clock that was ahead; they are treated as absent (a full scan runs now)",
				"file", path, "saved_at", st.SavedAt, "now", now)
		}
		if !savedAt.IsZero() {
			l.metrics.lastSave.Set(float64(savedAt.UnixNano()) / 1e9)
		}
		l.log.Info("state restored", "file", path, "ids", l.Len(CallRecords), "saved_at", st.SavedAt, "last_full_scan", l.pos.LastFullScan)
	}
	return nil
}

// apply takes over a state file's content, all of it or nothing.
func (l *Ledger) apply(st *stateFile) error {
	ids := make(map[Kind]*idSet, len(st.IDs))
	for kind, p := range st.IDs {
		s, err := unpackIDs(p.UUIDs, p.Other)
		if err != nil {
			return fmt.Errorf("%w: %s %w", errCorruptState, kind, err)
		}
		ids[kind] = s
	}
	if st.Series == nil {
		st.Series = &collector.Snapshot{}
	}
	if err := l.col.Restore(st.Series); err != nil {
		return fmt.Errorf("%w: series: %w", errCorruptState, err)
	}
	l.ids, l.pos = ids, st.Position
	return nil
}

// idsOf returns the id set of kind; l.mu must be held.
func (l *Ledger) idsOf(kind Kind) *idSet {
	s := l.ids[kind]
	if s == nil {
		s = newIDSet()
		l.ids[kind] = s
	}
	return s
}

// observe applies an item's observations to the store and marks its id, as
// one step, unless the id is marked already; it reports whether it did.
// fn runs under the ledger's lock: it must only apply observations.
func (l *Ledger) observe(kind Kind, it Item, fn func(*collector.Collector)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.idsOf(kind)
	if _, seen := ids.get(it.ID); seen {
		return false
	}
	if fn != nil {
		fn(l.col)
	}
	ids.put(it.ID, makeEntry(it.Start, it.Version))
	l.changed = true
	return true
}

// RecordStats tells the caller of IngestCallRecord what one record gave
// beside its observations.
type RecordStats struct {
	// SegmentsWithoutClient counts segments with no client endpoint; they
	// add nothing to stream and network metrics.
	SegmentsWithoutClient int
}

// IngestCallRecord observes a call record and marks its id, unless it was
// ingested before (false). The id is kept with start, the start time the
// listing gave, by which the record is listed and pruned: a fetched body
// without one (or with another) would be pruned at once and ingested again
// on every poll.
func (l *Ledger) IngestCallRecord(rec *graph.CallRecord, start time.Time) (RecordStats, bool) {
	var st collector.Stats
	ok := l.observe(CallRecords, Item{ID: rec.ID, Start: start, Version: rec.Version}, func(c *collector.Collector) { st = c.Ingest(rec) })
	return RecordStats{SegmentsWithoutClient: st.SegmentsWithoutClient}, ok
}

// IngestDirectRoutingCall observes a direct-routing call-log row and marks
// its id, unless it was ingested before (false).
func (l *Ledger) IngestDirectRoutingCall(row *graph.DirectRoutingCall) bool {
	return l.observe(DirectRoutingCalls, Item{ID: row.ID, Start: row.Start}, func(c *collector.Collector) { c.IngestDirectRoutingCall(row) })
}

// IngestPSTNCall observes a PSTN call-log row and marks its id, unless it
// was ingested before (false).
func (l *Ledger) IngestPSTNCall(row *graph.PSTNCall) bool {
	return l.observe(PSTNCalls, Item{ID: row.ID, Start: row.Start}, func(c *collector.Collector) { c.IngestPSTNCall(row) })
}

// MarkMalformed marks the id of an item that cannot be read, without
// observing anything, so that it is counted and logged once rather than on
// every poll that lists it again; false if it was marked before. Its start
// is unknown: the caller gives the time to prune it by.
func (l *Ledger) MarkMalformed(kind Kind, it Item) bool {
	return l.observe(kind, it, nil)
}

// Select returns the listed ids (with the version listed) not ingested yet.
// An id ingested at an older version gets the newer version recorded and
// counts as updated, once per new version: its first version was observed,
// and observing it again would count its streams twice.
func (l *Ledger) Select(kind Kind, listed iter.Seq2[string, int64]) (unseen []string, updated int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.idsOf(kind)
	for id, version := range listed {
		e, seen := ids.get(id)
		if !seen {
			unseen = append(unseen, id)
			continue
		}
		if v := clampU32(version); v > e.version {
			e.version = v
			ids.put(id, e)
			updated++
		}
	}
	return unseen, updated
}

// Prune forgets the ids of kind whose call started before cutoff and
// returns how many.
func (l *Ledger) Prune(kind Kind, cutoff time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idsOf(kind).prune(cutoff)
}

// CountStarts counts the ids of kind kept by the span of start times each
// is in: spans of width (whole seconds) from the Unix epoch, keyed by
// start/width. It tells how many records of each span were ingested.
func (l *Ledger) CountStarts(kind Kind, width time.Duration) map[int64]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idsOf(kind).countStarts(max(1, int64(width/time.Second)))
}

// Len is the number of ids of kind kept.
func (l *Ledger) Len(kind Kind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idsOf(kind).len()
}

// Has reports whether the id of kind is marked ingested.
func (l *Ledger) Has(kind Kind, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.idsOf(kind).get(id)
	return ok
}

// Position returns the saved-with-the-state poll position.
func (l *Ledger) Position() Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pos
}

// UpdatePosition changes the position; the next save writes it.
func (l *Ledger) UpdatePosition(update func(*Position)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	update(&l.pos)
}

// Subscription returns the change-notification subscription last recorded
// by SetSubscription, empty if none.
func (l *Ledger) Subscription() (id, clientStateFingerprint string) {
	sub := l.Position().Subscription
	return sub.ID, sub.ClientStateFingerprint
}

// SetSubscription records the change-notification subscription the
// exporter created and its client state's fingerprint, and saves at once:
// until the record is on disk, a restart would not know the subscription
// as its own and would create another (the first save otherwise comes at
// the end of the first poll, hours into a large tenant's first listing).
// A failed save is counted and logged by Save; the next save writes it.
func (l *Ledger) SetSubscription(id, clientStateFingerprint string) {
	l.UpdatePosition(func(p *Position) {
		p.Subscription = Subscription{ID: id, ClientStateFingerprint: clientStateFingerprint}
	})
	_ = l.Save()
}

// Snapshot returns the series of the last successful save (or of the state
// restored): what scrapes serve. It is immutable and shared.
func (l *Ledger) Snapshot() *collector.Snapshot { return l.saved.Load() }

// Save writes the state file atomically from a consistent cut, then
// publishes the cut's series to scrapes. When the file cannot be written,
// nothing is published: scrapes keep showing the last saved series. Every
// save is counted, and every failure logged here, whoever asked for it.
func (l *Ledger) Save() error {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	return l.saveLocked()
}

// SaveIfDue saves when something changed since the last save and
// SaveInterval has passed since it, by the ledger's clock. It returns how
// long until a save is due, 0 when nothing waits to be saved. The ledger
// alone decides when to save: callers call it whenever they like (after
// ingesting, on a timer of the returned duration) and at the points they
// must be durable (Save).
func (l *Ledger) SaveIfDue() time.Duration {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	if !l.pending() {
		return 0
	}
	if wait := l.cfg.SaveInterval - l.now().Sub(l.lastSave); wait > 0 {
		return wait
	}
	_ = l.saveLocked() // counted and logged there
	if l.pending() {
		return l.cfg.SaveInterval // it failed: retried after the interval
	}
	return 0
}

// pending reports whether anything changed since the last cut.
func (l *Ledger) pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// saveLocked is Save; saveMu must be held.
func (l *Ledger) saveLocked() error {
	l.lastSave = l.now()
	n := l.begun.Add(1)
	st := l.cutState()
	if err := l.write(st); err != nil {
		l.metrics.saves.WithLabelValues("error").Inc()
		l.log.Error("save state failed; scrapes keep showing the last save until a save succeeds", "file", l.cfg.Path, "err", err)
		return err
	}
	l.metrics.saves.WithLabelValues("success").Inc()
	l.metrics.lastSave.Set(float64(st.SavedAt.UnixNano()) / 1e9)
	l.saved.Store(st.Series)
	l.durable.Store(n)
	return nil
}

// SaveMark returns a mark of the saves begun so far. What the ledger held
// before the mark was taken (an id Has reported, say) is on disk once
// SavedSince(mark) is true: a save begun after the mark, and so cut after
// it, has succeeded. A reader of a durable source (an event hub) takes a
// mark once what an event carried is ingested, and lets the source forget
// the event only when that holds: a crash before loses nothing. When
// nothing changed since the last save's cut and that save succeeded, the
// mark is one SavedSince already holds for: the ledger may not save again
// before something changes.
func (l *Ledger) SaveMark() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.begun.Load()
	if !l.changed && n > 0 && l.durable.Load() == n {
		return n - 1
	}
	return n
}

// SavedSince reports whether a save begun after mark has succeeded.
func (l *Ledger) SavedSince(mark uint64) bool { return l.durable.Load() > mark }

// write writes st to the state file, through its symbolic links: a link
// stays a link, its target is replaced.
func (l *Ledger) write(st *stateFile) error {
	if l.cfg.Path == "" {
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	path, err := resolveLinks(l.cfg.Path)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// cutState returns the state to save. The series are cut again only if
// they changed since the last cut, so an idle save publishes the very
// snapshot scrapes already have, and what they cached stays warm.
func (l *Ledger) cutState() *stateFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed {
		l.cut, l.changed = l.col.Snapshot(), false
	}
	st := &stateFile{
		Format:   stateFormat,
		SavedAt:  l.now(),
		Position: l.pos,
		IDs:      make(map[Kind]packedIDs, len(l.ids)),
		Series:   l.cut,
	}
	for kind, s := range l.ids {
		uuids, others := packIDs(s)
		st.IDs[kind] = packedIDs{UUIDs: uuids, Other: others}
	}
	return st
}
