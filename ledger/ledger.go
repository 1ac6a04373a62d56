package ledger

import (
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teams-exporter/teams-exporter/collector"
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
}

// Config configures a Ledger.
type Config struct {
	// Path is the state file; empty keeps the state in memory only (tests).
	Path string
	// Now is the clock of every time the ledger records; time.Now if nil.
	Now    func() time.Time
	Logger *slog.Logger
	// Collector configures the store of series. Its clock is Now.
	Collector collector.Options
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

	saveMu sync.Mutex // one writer of the state file at a time
	saved  atomic.Pointer[collector.Snapshot]
}

// Open returns a Ledger holding the state file's content, if there is one.
// A file that cannot be read is set aside under a new name and the ledger
// starts empty; the error only reports a failure to set it aside.
func Open(cfg Config) (*Ledger, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Collector.Now = cfg.Now
	l := &Ledger{
		cfg: cfg,
		log: cfg.Logger,
		now: cfg.Now,
		col: collector.New(cfg.Collector),
		ids: map[Kind]*idSet{},
	}
	if err := l.restore(); err != nil {
		return nil, err
	}
	l.cut = l.col.Snapshot()
	l.saved.Store(l.cut) // what was restored was saved
	return l, nil
}

func (l *Ledger) restore() error {
	path := l.cfg.Path
	if path == "" {
		return nil
	}
	if removed, err := removeTempFiles(path); err != nil {
		l.log.Warn("remove temporary state files left by an interrupted write", "file", path, "err", err)
	} else if removed > 0 {
		l.log.Info("removed temporary state files left by an interrupted write", "file", path, "count", removed)
	}
	st, err := readState(path)
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
		l.log.Info("state restored", "file", path, "ids", l.Len(CallRecords), "saved_at", st.SavedAt, "last_full_scan", st.LastFullScan)
	}
	return nil
}

// apply takes over a state file's content, all of it or nothing.
func (l *Ledger) apply(st *stateFile) error {
	ids := make(map[Kind]*idSet, len(st.IDs))
	for kind, p := range st.IDs {
		s, err := unpackIDs(p.UUIDs, p.Other)
		if err != nil {
			return fmt.Errorf("%s %w", kind, err)
		}
		ids[kind] = s
	}
	if st.Series == nil {
		st.Series = &collector.Snapshot{}
	}
	if err := l.col.Restore(st.Series); err != nil {
		return fmt.Errorf("series: %w", err)
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

// Observe applies an item's observations to the store and marks its id, as
// one step, unless the id is marked already; it reports whether it did.
// observe runs under the ledger's lock: it must only apply observations
// (collector.Collector.Ingest, or an Ingest of another kind of item).
func (l *Ledger) Observe(kind Kind, it Item, observe func(*collector.Collector)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.idsOf(kind)
	if _, seen := ids.get(it.ID); seen {
		return false
	}
	observe(l.col)
	ids.put(it.ID, makeEntry(it.Start, it.Version))
	l.changed = true
	return true
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

// Snapshot returns the series of the last successful save (or of the state
// restored): what scrapes serve. It is immutable and shared.
func (l *Ledger) Snapshot() *collector.Snapshot { return l.saved.Load() }

// Save writes the state file atomically from a consistent cut, then
// publishes the cut's series to scrapes. When the file cannot be written,
// nothing is published: scrapes keep showing the last saved series.
func (l *Ledger) Save() error {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	st := l.cutState()
	if l.cfg.Path != "" {
		data, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode state: %w", err)
		}
		if err := writeFileAtomic(l.cfg.Path, data); err != nil {
			return fmt.Errorf("write state: %w", err)
		}
	}
	l.saved.Store(st.Series)
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
