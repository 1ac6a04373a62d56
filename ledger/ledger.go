package ledger

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
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
	// CheckpointInterval is the most time between two checkpoints of the
	// whole state; default 1h. A checkpoint is written sooner when the log
	// has grown larger than the last checkpoint.
	CheckpointInterval time.Duration

	fault faultFunc // tests: fault injection points of writes
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
	unsaved bool                // anything changed since the last cut
	// dirty holds, per kind, the ids added or updated since the last cut,
	// and pruned the latest cutoff ids were pruned by since then: what the
	// next delta frame writes.
	dirty  map[Kind]*idSet
	pruned map[Kind]uint32

	saveMu   sync.Mutex // one writer of the state files at a time; guards what follows
	saved    atomic.Pointer[collector.Snapshot]
	lastSave time.Time // of the last save attempt, by now
	// retryWait is the wait before SaveIfDue retries a failed save; zero
	// after a success.
	retryWait time.Duration
	// begun numbers the saves as they start (before their cut); durable
	// is the number of the last one that succeeded. See SaveMark.
	begun, durable atomic.Uint64
	// The files: the checkpoint at the state file's path, the log beside
	// it, open from Open to Close.
	logFile        *os.File
	logPath        string
	logSize        int64
	ckptSize       int64
	seq            uint64    // of the last frame or checkpoint written
	stateID        string    // written in every checkpoint and at the head of the log
	lastCheckpoint time.Time // by now; zero forces one
	needCheckpoint bool      // a write failed, or the state on disk is not a checkpoint yet
	written        int64     // bytes of frames and checkpoints written (benchmarks)

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
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Hour
	}
	cfg.Collector.Now = cfg.Now
	l := &Ledger{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Now,
		col:     collector.New(cfg.Collector),
		ids:     map[Kind]*idSet{},
		dirty:   map[Kind]*idSet{},
		pruned:  map[Kind]uint32{},
		metrics: newSaveMetrics(cfg.Registerer),
	}
	if err := l.restore(); err != nil {
		if l.logFile != nil {
			l.logFile.Close()
		}
		_ = l.lock.unlock()
		return nil, err
	}
	l.cut = l.col.Snapshot()
	l.saved.Store(l.cut) // what was restored was saved
	return l, nil
}

// Close closes the log and releases the state file's lock. Save no more
// after it.
func (l *Ledger) Close() error {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	if l.logFile != nil {
		l.logFile.Close()
		l.logFile = nil
	}
	return l.lock.unlock()
}

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
	st, err := readCheckpoint(path)
	if err != nil && !errors.Is(err, errCorruptState) {
		return fmt.Errorf("state file %s cannot be read (%w); fix its permissions or storage and start again, or move it away to start fresh", l.cfg.Path, err)
	}
	logPath := path + logSuffix
	if err == nil && st == nil {
		if err := checkOrphanLog(logPath, path); err != nil {
			return err
		}
	}
	if err == nil && st != nil && !st.legacy {
		err = readLog(logPath, st)
		if err != nil && !errors.Is(err, errCorruptState) {
			return fmt.Errorf("state log %s cannot be read (%w); fix its permissions or storage and start again, or move it away to start fresh", logPath, err)
		}
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
		if _, serr := os.Lstat(logPath); serr == nil {
			if rerr := os.Rename(logPath, aside+logSuffix); rerr != nil {
				return fmt.Errorf("state file %s is unusable (%v) and its log could not be set aside: %w", path, err, rerr)
			}
		}
		l.log.Error("state file unusable; set aside, starting fresh: call-quality counters restart from zero (Prometheus sees a counter reset) and records inside the look-back window are ingested again",
			"file", path, "set_aside_as", aside, "err", err)
		st = nil
	case st == nil:
		l.log.Info("no state file; starting fresh", "file", path)
	default:
		now := l.now()
		savedAt, future := st.savedAt, st.savedAt.After(now)
		if future {
			savedAt = time.Time{}
		}
		if l.pos.forgetFuture(now) || future {
			l.log.Warn("state file holds times in the future, saved by a clock that was ahead; they are treated as absent (a full scan runs now)",
				"file", path, "saved_at", st.savedAt, "now", now)
		}
		if !savedAt.IsZero() {
			l.metrics.lastSave.Set(float64(savedAt.UnixNano()) / 1e9)
		}
		if st.dropped != "" {
			l.log.Warn("state log ends with a frame that was never completely written (a crash while saving); it was not published and is dropped",
				"log", logPath, "kept_frames", st.frames, "dropped_bytes_from", st.logOff, "reason", st.dropped)
		}
		l.log.Info("state restored", "file", path, "ids", l.Len(CallRecords), "log_frames", st.frames, "saved_at", st.savedAt, "last_full_scan", l.pos.LastFullScan)
	}
	return l.openLog(logPath, st)
}

// readLog replays the log at logPath onto st; a missing log is empty.
func readLog(logPath string, st *loaded) error {
	f, err := openLogFile(logPath, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > maxLogBytes {
		return fmt.Errorf("%w: log of %d bytes, more than %d", errCorruptState, fi.Size(), int64(maxLogBytes))
	}
	return replayLog(f, fi.Size(), st)
}

// openLogFile opens the log at logPath. The log is the exporter's own: a
// symbolic link planted there would have the exporter cut whatever it
// points to, and a FIFO or device would block the start or never end.
// Opening does not follow a link nor wait, and what was opened must be a
// regular file.
func openLogFile(logPath string, flag int) (*os.File, error) {
	f, err := os.OpenFile(logPath, flag|noFollow|nonBlock, 0o600) // #nosec G304 -- beside the state file, from the operator's configuration
	if isSymlinkError(err) {
		return nil, errors.New("it is a symbolic link; the log must be a regular file beside the state file")
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("it is not a regular file (mode %s)", fi.Mode())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkOrphanLog refuses a log left without its checkpoint: the log is
// empty until the first checkpoint is written, so frames in it were
// published, and starting fresh would wipe them.
func checkOrphanLog(logPath, path string) error {
	fi, err := os.Lstat(logPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("state log %s: %w", logPath, err)
	case fi.Size() > 0:
		return fmt.Errorf("state log %s holds %d bytes but its checkpoint %s is missing; put the checkpoint back, or move the log away to start fresh", logPath, fi.Size(), path)
	}
	return nil
}

// openLog opens the log for appending after the frames restored (st; nil
// for a fresh state), cutting off a torn tail.
func (l *Ledger) openLog(logPath string, st *loaded) error {
	f, err := openLogFile(logPath, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("state log %s: %w", logPath, err)
	}
	l.logFile, l.logPath = f, logPath
	// A log just created must survive a crash as the checkpoint does.
	if err := syncDir(filepath.Dir(logPath)); err != nil {
		return fmt.Errorf("state log %s: %w", logPath, err)
	}
	var off int64
	if st != nil && !st.legacy {
		off, l.seq, l.ckptSize, l.stateID = st.logOff, st.lastSeq, st.ckptSize, st.stateID
		l.lastCheckpoint = l.now() // of the checkpoint read: not known, so count from now
	}
	if l.stateID == "" {
		// The first save writes the first checkpoint, with a new id
		// (a fresh state, one of format 1 or 2, or a checkpoint
		// written before ids); so does one after frames skipped, to
		// clear them from the log.
		id, err := newStateID()
		if err != nil {
			return err
		}
		l.stateID, l.needCheckpoint = id, true
	}
	if st != nil && st.skipped > 0 {
		l.needCheckpoint = true
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("state log %s: %w", logPath, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("state log %s: %w", logPath, err)
	}
	l.logSize = off
	if off == 0 && !l.needCheckpoint {
		// An empty log beside a checkpoint: start it with the state's id.
		if err := l.writeLogHeader(f); err != nil {
			return fmt.Errorf("state log %s: %w", logPath, err)
		}
	}
	return nil
}

// newStateID draws a state's id.
func newStateID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("draw a state id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// writeLogHeader writes the first frame of an empty log, the state's id,
// and syncs it.
func (l *Ledger) writeLogHeader(f *os.File) error {
	frame := appendFrame(nil, frameLogHeader, []byte(l.stateID))
	if _, err := f.Write(frame); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	l.logSize = int64(len(frame))
	return nil
}

// apply takes over the state read, all of it or nothing.
func (l *Ledger) apply(st *loaded) error {
	if err := l.col.Restore(&collector.Snapshot{Series: st.series}); err != nil {
		return fmt.Errorf("%w: series: %w", errCorruptState, err)
	}
	l.ids, l.pos = st.ids, st.pos
	st.series, st.index = nil, nil // the collector has them
	return nil
}

// dirtyOf returns the ids of kind changed since the last cut; l.mu must be
// held.
func (l *Ledger) dirtyOf(kind Kind) *idSet {
	s := l.dirty[kind]
	if s == nil {
		s = newIDSet()
		l.dirty[kind] = s
	}
	return s
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

// Every id ingested can be read back: ingest refuses ids over
// graph.MaxIDBytes, and a start refuses only those over maxOtherIDBytes.
var _ [maxOtherIDBytes - graph.MaxIDBytes]struct{}

// observe applies an item's observations to the store and marks its id, as
// one step, unless the id is marked already or is not one the state can
// hold (empty, or over graph.MaxIDBytes: a start would refuse the state
// that kept it); it reports whether it did. fn runs under the ledger's
// lock: it must only apply observations.
func (l *Ledger) observe(kind Kind, it Item, fn func(*collector.Collector)) bool {
	if !graph.ValidID(it.ID) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.idsOf(kind)
	if _, seen := ids.get(it.ID); seen {
		return false
	}
	if fn != nil {
		fn(l.col)
	}
	e := makeEntry(it.Start, it.Version)
	ids.put(it.ID, e)
	l.dirtyOf(kind).put(it.ID, e)
	l.changed, l.unsaved = true, true
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
			l.dirtyOf(kind).put(id, e)
			l.unsaved = true
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
	n := l.idsOf(kind).prune(cutoff)
	if n > 0 {
		// The next frame prunes by the cutoff, then adds the dirty ids
		// still kept: the dirty set is pruned alike.
		c := clampU32(cutoff.Unix())
		l.pruned[kind] = max(l.pruned[kind], c)
		l.dirtyOf(kind).pruneBefore(c)
		l.unsaved = true
	}
	return n
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
	l.unsaved = true
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
	if wait := max(l.cfg.SaveInterval, l.retryWait) - l.now().Sub(l.lastSave); wait > 0 {
		return wait
	}
	if err := l.saveLocked(); err != nil { // counted and logged there
		// Retried after SaveInterval, then twice as long after each
		// failure, up to CheckpointInterval: on a disk that stays full
		// every retry rewrites the whole state.
		l.retryWait = min(max(2*l.retryWait, l.cfg.SaveInterval), max(l.cfg.CheckpointInterval, l.cfg.SaveInterval))
		return l.retryWait
	}
	if l.pending() {
		return l.cfg.SaveInterval
	}
	return 0
}

// pending reports whether anything changed since the last cut, or a save
// failed (or none was made since a fresh start); saveMu must be held.
func (l *Ledger) pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unsaved || l.needCheckpoint
}

// saveLocked is Save; saveMu must be held.
func (l *Ledger) saveLocked() error {
	l.lastSave = l.now()
	n := l.begun.Add(1)
	c := l.cutState()
	if err := l.write(c); err != nil {
		// The cut's changes are not on disk, and a frame may be half
		// written: the next save writes the whole state instead.
		l.needCheckpoint = true
		l.metrics.saves.WithLabelValues("error").Inc()
		l.log.Error("save state failed; scrapes keep showing the last save until a save succeeds", "file", l.cfg.Path, "err", err)
		return err
	}
	l.retryWait = 0
	l.metrics.saves.WithLabelValues("success").Inc()
	l.metrics.lastSave.Set(float64(c.savedAt.UnixNano()) / 1e9)
	l.saved.Store(c.snap)
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
	if !l.unsaved && n > 0 && l.durable.Load() == n {
		return n - 1
	}
	return n
}

// SavedSince reports whether a save begun after mark has succeeded.
func (l *Ledger) SavedSince(mark uint64) bool { return l.durable.Load() > mark }

// stateCut is a consistent cut of the state: what changed since the last
// cut (for a delta frame) or all of it (for a checkpoint).
type stateCut struct {
	checkpoint bool
	savedAt    time.Time
	pos        Position
	snap       *collector.Snapshot // every series, to publish (and checkpoint)
	ids        []packedKind        // dirty ids, or every id for a checkpoint
	pruned     map[Kind]uint32
	series     []collector.SeriesSnapshot // touched series, for a delta
}

// maxDeltaIDs is the most changed ids a save writes as a delta frame; more
// (a first listing, say) make a checkpoint, which is cut into chunks.
const maxDeltaIDs = 1 << 20

// cutState cuts the state to save. The series are snapshot again only if
// they changed since the last cut, so an idle save publishes the very
// snapshot scrapes already have, and what they cached stays warm.
func (l *Ledger) cutState() *stateCut {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.changed {
		l.cut, l.changed = l.col.Snapshot(), false
	}
	l.unsaved = false
	c := &stateCut{savedAt: now, pos: l.pos, snap: l.cut}
	dirty := 0
	for _, s := range l.dirty {
		dirty += s.len()
	}
	touched := l.col.CutTouched()
	c.checkpoint = l.cfg.Path != "" && (l.needCheckpoint || dirty > maxDeltaIDs ||
		now.Sub(l.lastCheckpoint) >= l.cfg.CheckpointInterval || now.Before(l.lastCheckpoint) ||
		l.logSize > max(l.ckptSize, 64<<10))
	switch {
	case l.cfg.Path == "":
	case c.checkpoint:
		for _, kind := range slices.Sorted(maps.Keys(l.ids)) {
			c.ids = append(c.ids, packKind(kind, l.ids[kind]))
		}
	default:
		for _, kind := range slices.Sorted(maps.Keys(l.dirty)) {
			if s := l.dirty[kind]; s.len() > 0 {
				c.ids = append(c.ids, packKind(kind, s))
			}
		}
		c.pruned, c.series = l.pruned, touched
	}
	l.dirty, l.pruned = map[Kind]*idSet{}, map[Kind]uint32{}
	return c
}

// write writes the cut: a delta frame appended to the log and synced, or a
// checkpoint written atomically through the state file's symbolic links (a
// link stays a link, its target is replaced), after which the log is
// restarted.
func (l *Ledger) write(c *stateCut) error {
	if l.cfg.Path == "" {
		return nil
	}
	if l.logFile == nil {
		return errors.New("write state: the ledger is closed")
	}
	seq := l.seq + 1
	if !c.checkpoint {
		if err := l.appendDelta(seq, c); err != nil {
			return fmt.Errorf("append to state log: %w", err)
		}
		l.seq = seq
		return nil
	}
	path, err := resolveLinks(l.cfg.Path)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	hdr := &checkpointHeader{StateID: l.stateID, LastSeq: seq, SavedAt: c.savedAt, Position: c.pos}
	size, err := writeCheckpoint(path, hdr, c.ids, c.snap.Series, l.cfg.fault)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	l.seq, l.ckptSize, l.lastCheckpoint, l.needCheckpoint = seq, size, c.savedAt, false
	l.written += size
	// The checkpoint holds every frame of the log: restart it, beside the
	// checkpoint. Should this fail, the frames left are skipped at restore
	// (their sequence is at most the checkpoint's) and the next save
	// writes a checkpoint again.
	if err := l.restartLog(path + logSuffix); err != nil {
		l.needCheckpoint = true
		l.log.Warn("state log not restarted after a checkpoint; its frames are skipped at restore", "file", l.cfg.Path, "err", err)
		if errors.Is(err, errCrash) {
			return err
		}
	}
	return nil
}

// appendDelta appends the cut's delta frame to the log and syncs it. On
// failure it cuts the log back to its last whole frame, as far as it can.
func (l *Ledger) appendDelta(seq uint64, c *stateCut) error {
	frame, err := encodeDelta(seq, &deltaMeta{SavedAt: c.savedAt, Position: c.pos, Prune: c.pruned, Series: c.series}, c.ids)
	if err != nil {
		return err
	}
	if l.logSize+int64(len(frame)) > maxLogBytes {
		return fmt.Errorf("the log would exceed %d bytes", int64(maxLogBytes))
	}
	if err := l.checkLog(); err != nil {
		return err
	}
	err = l.cfg.fault.at("log.write")
	if errors.Is(err, errTornWrite) {
		_, _ = l.logFile.Write(frame[:len(frame)/2])
		return errCrash
	}
	if errors.Is(err, errTornNoSpace) {
		_, _ = l.logFile.Write(frame[:len(frame)/2])
		err = syscall.ENOSPC
	}
	if err == nil {
		_, err = l.logFile.Write(frame)
	}
	if err == nil {
		err = l.cfg.fault.at("log.sync")
	}
	if errors.Is(err, errCrash) {
		return err
	}
	if err == nil {
		err = l.logFile.Sync()
	}
	if err != nil {
		if terr := l.logFile.Truncate(l.logSize); terr == nil {
			_, _ = l.logFile.Seek(l.logSize, io.SeekStart)
		}
		return err
	}
	l.logSize += int64(len(frame))
	l.written += int64(len(frame))
	return nil
}

// checkLog makes sure the open log is still the file at its path: frames
// appended to a log removed, or moved away with its directory, would be
// lost to the next start.
func (l *Ledger) checkLog() error {
	at, err := os.Stat(l.logPath)
	if err != nil {
		return err
	}
	open, err := l.logFile.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(at, open) {
		return fmt.Errorf("%s is no longer the log the exporter writes", l.logPath)
	}
	return nil
}

// restartLog starts an empty log at logPath after a checkpoint.
func (l *Ledger) restartLog(logPath string) error {
	if err := l.cfg.fault.at("log.truncate"); err != nil {
		return err
	}
	f, err := openLogFile(logPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	l.logSize = 0
	if err := l.writeLogHeader(f); err != nil {
		f.Close()
		return err
	}
	l.logFile.Close()
	l.logFile, l.logPath = f, logPath
	return syncDir(filepath.Dir(logPath))
}
