package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

var (
	crashKills   = flag.Int("crash.kills", 20, "TestCrashLoop: how many times the exporter is killed with SIGKILL")
	crashSeed    = flag.Uint64("crash.seed", 0, "TestCrashLoop: seed of the kill schedule and the records; 0 picks one from the clock")
	crashRecords = flag.Int("crash.records", 300, "TestCrashLoop: how many call records the tenant holds")
)

// crashMode is when a life of the exporter is killed.
type crashMode int

const (
	crashEarly     crashMode = iota // 0-300ms after start: restore, token, first list
	crashShort                      // 0.3-1.5s: the first batches
	crashLong                       // 1.5-5s: deep in ingestion, or around a poll-end save
	crashNearWrite                  // the moment a state write shows: temporary file or replaced file
	crashModes
)

func (m crashMode) String() string {
	if m > crashModes {
		return fmt.Sprintf("write-%d", m-crashModes)
	}
	return [...]string{"early", "short", "long", "near-write"}[m]
}

// TestCrashLoop kills the real exporter with SIGKILL at random moments,
// many times, each time restarting it on the same state file, while
// scraping it as often as it can. docs/design.md: "Restarts lose nothing and reset
// nothing ... This must hold for a kill -9 at any moment." So no
// call-quality sample may ever go down between two scrapes, across
// restarts included, and once a last life runs to completion the
// call-quality series must equal the truth: no record lost, none counted
// twice.
//
// Records reach the tenant in waves, one before each life, so that every
// life has ingestion to do and saves to write. Replay a failure with the
// logged -crash.seed.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop takes about a minute")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("crash loop seed %d (replay: go test -race -run TestCrashLoop -crash.seed=%d ./cmd/exporter)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x7eadbeef))
	kills := *crashKills

	batches := &crashBatchWatch{}
	ts := startTenant(t, batches.wrap)
	now := time.Now()
	recs, truth := simtruth.Generate(graphsim.GenOptions{Seed: int64(seed >> 1), Count: *crashRecords, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	waves := crashWaves(recs, kills)

	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	// Every poll re-reads the whole look-back, so a record of a late wave is
	// found whatever its start time. Records settle: each wave is published
	// as just changed (crashPublish), so lives are killed while records
	// wait, and a record is ingested crashSettle after its wave arrived.
	env := []string{"TEAMS_EXPORTER_RECENT_WINDOW=24h", "TEAMS_EXPORTER_SETTLE_DELAY=" + crashSettle.String()}

	mon := newCrashMonitor()
	stopScraping := mon.run()
	defer stopScraping()

	modes := crashSchedule(rng, kills)
	var st crashStats
	for life, mode := range modes {
		published := crashPublish(ts.tenant, waves[life])
		before := crashStatState(state)
		tmpBefore := crashTempFiles(state)
		started := time.Now()
		e := startExporter(t, ts, state, env...)
		mon.setProc(e)

		nearWrite := false
		switch mode {
		case crashEarly:
			crashSleep(e, time.Duration(rng.Int64N(int64(300*time.Millisecond))))
		case crashShort:
			crashSleep(e, 300*time.Millisecond+time.Duration(rng.Int64N(int64(1200*time.Millisecond))))
		case crashLong:
			crashSleep(e, 1500*time.Millisecond+time.Duration(rng.Int64N(int64(3500*time.Millisecond))))
		case crashNearWrite:
			nth := 1 + rng.IntN(3)
			nearWrite = crashWaitForWrite(e, state, nth, before, tmpBefore, 15*time.Second)
			mode = crashMode(int(crashModes) + nth) // logged as write-<nth>
		}
		select {
		case <-e.done:
			t.Fatalf("life %d: exporter exited by itself before the kill:\n%s", life, testrun.LastLines(e.logs(), 40))
		default:
		}
		midIngest := batches.busy(250 * time.Millisecond)
		if time.Since(published) < crashSettle {
			st.settling++ // the wave was still settling: nothing of it may be lost
		}
		e.kill(syscall.SIGKILL)
		mon.setProc(nil)

		st.kills++
		if nearWrite {
			st.nearWrite++
		}
		if midIngest {
			st.midIngest++
		}
		if crashStateChanged(before, crashStatState(state)) {
			st.livesThatSaved++
		}
		if len(crashTempFiles(state)) > len(tmpBefore) {
			st.inWrite++ // killed between creating the temporary file and renaming it
		}
		if strings.Contains(e.logs(), "state restored") {
			st.restores++
		}

		crashCheckLog(t, life, e.logs())
		t.Logf("life %2d: mode=%-10s wave=%3d lived=%v near_write=%v mid_ingest=%v", life, mode, len(waves[life]), time.Since(started).Round(time.Millisecond), nearWrite, midIngest)
	}

	// The last life runs to completion: two successful polls, the first of
	// which lists the whole look-back and ingests whatever is left.
	published := crashPublish(ts.tenant, waves[kills])
	e := startExporter(t, ts, state, env...)
	mon.setProc(e)
	// Generous: on an idle machine the first poll takes seconds, on a
	// loaded CI runner under -race it can take a minute. Then a poll that
	// began after the last wave settled must end: what is left is ingested
	// by then, if not between polls already.
	crashWaitPolls(t, e, 2, 3*time.Minute)
	crashSleep(e, time.Until(published.Add(crashSettle)))
	crashWaitPolls(t, e, crashPolls(e)+2, 3*time.Minute)
	stopScraping()
	mon.scrapeOnce() // a last check of the final values
	crashCheckLog(t, kills, e.logs())

	raw, err := e.scrapeText()
	if err != nil {
		t.Fatal(err)
	}
	lost, double := crashRecordBalance(t, raw, truth)
	crashCheckLineScan(t, raw)
	e.assertTruth(t, truth.CallQuality())

	mon.mu.Lock()
	defer mon.mu.Unlock()
	for i, d := range mon.decreases {
		if i == 20 {
			t.Errorf("... and %d more decreases", len(mon.decreases)-20)
			break
		}
		t.Error(d)
	}
	if mon.scrapes < kills {
		t.Errorf("only %d successful scrapes over %d lives; the monotonicity check saw too little", mon.scrapes, kills+1)
	}
	if len(mon.crossLife) < 100 {
		t.Errorf("only %d call-quality series watched across restarts", len(mon.crossLife))
	}
	if st.livesThatSaved == 0 || st.restores == 0 {
		t.Errorf("no life wrote the state file before its kill (%d) or restored it (%d): the loop proves nothing", st.livesThatSaved, st.restores)
	}
	if kills >= int(crashModes) && st.nearWrite == 0 {
		t.Errorf("no kill landed near a state write")
	}
	if left := crashTempFiles(state); len(left) > 0 {
		t.Errorf("%d temporary state files of interrupted writes left after the last start (each as large as the state)", len(left))
	}
	t.Logf("crash loop: records=%d kills=%d kills_near_write=%d scrapes=%d lost=%d double=%d",
		len(recs), st.kills, st.nearWrite, mon.scrapes, lost, double)
	t.Logf("crash loop detail: kills_in_write=%d kills_mid_ingest=%d lives_that_saved=%d restores=%d kills_while_settling=%d series_watched=%d leftover_temp_files=%d",
		st.inWrite, st.midIngest, st.livesThatSaved, st.restores, st.settling, len(mon.crossLife), len(crashTempFiles(state)))
}

// crashSettle is the settle delay of the crash loop's exporter: most
// lives are killed within it (early, short, and many long ones), while
// their wave waits to settle.
const crashSettle = 3 * time.Second

// crashPublish adds a wave of records as just changed, so that each waits
// crashSettle before it is ingested, and returns when.
func crashPublish(tenant *graphsim.Tenant, wave []graphsim.Record) time.Time {
	now := time.Now().UTC()
	for i := range wave {
		wave[i].LastModifiedDateTime = now
	}
	tenant.Add(wave...)
	return now
}

type crashStats struct {
	kills, nearWrite, inWrite, midIngest, livesThatSaved, restores, settling int
}

// crashSchedule gives each life a mode: the modes in equal shares (so a
// short run still has every kind), in a seeded random order.
func crashSchedule(rng *rand.Rand, kills int) []crashMode {
	modes := make([]crashMode, kills)
	for i := range modes {
		modes[i] = crashMode(i % int(crashModes))
	}
	rng.Shuffle(len(modes), func(i, j int) { modes[i], modes[j] = modes[j], modes[i] })
	return modes
}

// crashWaves splits the records into kills+1 waves: more than half before
// the first life, so it has seconds of ingestion to be killed in, and the
// rest spread over the later lives.
func crashWaves(recs []graphsim.Record, kills int) [][]graphsim.Record {
	waves := make([][]graphsim.Record, kills+1)
	first := len(recs) * 3 / 5
	waves[0] = recs[:first]
	rest := recs[first:]
	for i := 1; i <= kills; i++ {
		n := len(rest) / (kills + 1 - i)
		waves[i], rest = rest[:n], rest[n:]
	}
	return waves
}

// crashSleep waits d, or less if the exporter exits.
func crashSleep(e *exporterProc, d time.Duration) {
	select {
	case <-e.done:
	case <-time.After(d):
	}
}

// stateStat is what stat says of the state: the checkpoint at the state
// file's path and the log beside it.
type stateStat struct{ checkpoint, log os.FileInfo }

// crashStatState stats the state's files; nil for one that is not there.
func crashStatState(path string) stateStat {
	stat := func(p string) os.FileInfo {
		fi, err := os.Stat(p)
		if err != nil {
			return nil
		}
		return fi
	}
	return stateStat{stat(path), stat(path + ".log")}
}

// crashStateChanged reports whether the state was written between two
// stats: a checkpoint replaces its file, so a new inode shows it even
// within the file system's mtime granularity; a save appends to the log.
func crashStateChanged(before, now stateStat) bool {
	return crashFileChanged(before.checkpoint, now.checkpoint) || crashFileChanged(before.log, now.log)
}

func crashFileChanged(before, now os.FileInfo) bool {
	switch {
	case now == nil:
		return false
	case before == nil:
		return true
	}
	return !os.SameFile(before, now) || !before.ModTime().Equal(now.ModTime()) || before.Size() != now.Size()
}

// crashTempFiles lists the temporary files the state writer creates beside
// the state file.
func crashTempFiles(state string) map[string]bool {
	entries, _ := os.ReadDir(filepath.Dir(state))
	out := map[string]bool{}
	prefix := filepath.Base(state) + ".tmp-"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out[e.Name()] = true
		}
	}
	return out
}

// crashWaitForWrite polls, in a tight loop, for the n-th state write of
// this life and returns at its first sign: a new temporary file (a
// checkpoint is under way), a replaced checkpoint or a longer log (a save
// just ended). The first write
// of a life follows its first ingested record, the next ones end polls. It
// reports whether the write showed up before the timeout.
func crashWaitForWrite(e *exporterProc, state string, n int, before stateStat, tmpBefore map[string]bool, timeout time.Duration) bool {
	dir := filepath.Dir(state)
	prefix := filepath.Base(state) + ".tmp-"
	seenTmp := map[string]bool{}
	ended := 0
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			return false
		default:
		}
		if now := crashStatState(state); crashStateChanged(before, now) {
			before = now
			ended++
		}
		if d, err := os.Open(dir); err == nil {
			names, _ := d.Readdirnames(-1)
			d.Close()
			for _, name := range names {
				if strings.HasPrefix(name, prefix) && !tmpBefore[name] {
					seenTmp[name] = true
				}
			}
		}
		if max(ended, len(seenTmp)) >= n {
			return true
		}
		time.Sleep(50 * time.Microsecond)
	}
	return false
}

// crashCheckLog fails on what a kill must never cause: an unreadable state
// file, a data race or a panic.
func crashCheckLog(t *testing.T, life int, logs string) {
	t.Helper()
	for _, bad := range []string{"state file unusable", "WARNING: DATA RACE", "panic:"} {
		if strings.Contains(logs, bad) {
			t.Errorf("life %d: log shows %q:\n%s", life, bad, testrun.LastLines(logs, 40))
		}
	}
}

// crashRecordBalance compares teams_call_records_total with the truth,
// series by series: records missing (lost) and records beyond it (counted
// twice).
func crashRecordBalance(t *testing.T, raw []byte, truth simtruth.Truth) (lost, double int) {
	t.Helper()
	got, err := simtruth.ParseExposition(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, tr := range []simtruth.Truth{truth, got} {
		for k := range tr {
			if strings.HasPrefix(k, "teams_call_records_total") {
				keys[k] = true
			}
		}
	}
	if len(keys) == 0 {
		t.Fatal("no teams_call_records_total series in the truth or the scrape")
	}
	for k := range keys {
		d := int(got[k] - truth[k])
		if d < 0 {
			lost -= d
		} else {
			double += d
		}
	}
	if lost != 0 || double != 0 {
		t.Errorf("call records: %d lost, %d counted twice", lost, double)
	}
	return lost, double
}

// crashCheckLineScan makes sure the monitor's line scan sees every
// call-quality sample expfmt sees.
func crashCheckLineScan(t *testing.T, raw []byte) {
	t.Helper()
	full, err := simtruth.ParseExposition(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	scanned, err := crashCounterSamples(raw)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := len(scanned.CallQuality()), len(full.CallQuality()); a != b || a == 0 {
		t.Errorf("line scan found %d call-quality samples, expfmt %d", a, b)
	}
}

// crashBatchWatch tells whether the exporter was fetching records: it
// tracks $batch requests in flight and when the last one ended.
type crashBatchWatch struct {
	inFlight atomic.Int64
	lastEnd  atomic.Int64 // unix nanoseconds
}

func (b *crashBatchWatch) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/$batch") {
			b.inFlight.Add(1)
			defer func() {
				b.lastEnd.Store(time.Now().UnixNano())
				b.inFlight.Add(-1)
			}()
		}
		next.ServeHTTP(w, r)
	})
}

// busy reports a $batch in flight or ended less than within ago.
func (b *crashBatchWatch) busy(within time.Duration) bool {
	return b.inFlight.Load() > 0 || time.Since(time.Unix(0, b.lastEnd.Load())) < within
}

// crashMonitor scrapes the current life every ~150ms and checks that no
// sample goes down: call-quality samples (restored from the state file)
// across all lives, every other counter and histogram sample within one
// life (the exporter's own metrics count what one process did).
type crashMonitor struct {
	mu        sync.Mutex
	proc      *exporterProc
	life      int // bumped by setProc
	seenLife  int // the life lifeLast belongs to
	crossLife map[string]float64
	lifeLast  map[string]float64
	scrapes   int
	decreases []string
}

func newCrashMonitor() *crashMonitor {
	return &crashMonitor{crossLife: map[string]float64{}, lifeLast: map[string]float64{}}
}

func (m *crashMonitor) setProc(e *exporterProc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.proc = e
	m.life++
}

// run scrapes until the returned stop is called; stop waits for the last
// scrape and may be called more than once.
func (m *crashMonitor) run() (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				m.scrapeOnce()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

func (m *crashMonitor) scrapeOnce() {
	m.mu.Lock()
	e, life := m.proc, m.life
	m.mu.Unlock()
	if e == nil {
		return
	}
	raw, err := crashScrape(e)
	if err != nil {
		return // not listening yet, or killed
	}
	samples, err := crashCounterSamples(raw)
	if err != nil {
		m.mu.Lock()
		m.decreases = append(m.decreases, fmt.Sprintf("life %d: unparsable scrape: %v", life, err))
		m.mu.Unlock()
		return
	}
	callQuality := samples.CallQuality()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.scrapes++
	if life != m.seenLife {
		m.seenLife, m.lifeLast = life, map[string]float64{}
	}
	for k, v := range samples {
		if prev, ok := m.lifeLast[k]; ok && v < prev {
			m.decreases = append(m.decreases, fmt.Sprintf("life %d: %s went down within the process: %v -> %v", life, k, prev, v))
		}
		m.lifeLast[k] = v
	}
	for k, prev := range m.crossLife {
		v, ok := callQuality[k]
		switch {
		case !ok:
			m.decreases = append(m.decreases, fmt.Sprintf("life %d: %s vanished (was %v)", life, k, prev))
		case v < prev:
			m.decreases = append(m.decreases, fmt.Sprintf("life %d: %s went down: %v -> %v", life, k, prev, v))
		}
	}
	for k, v := range callQuality {
		m.crossLife[k] = max(m.crossLife[k], v)
	}
}

// crashScrape fetches /metrics uncompressed: gzip of tens of thousands of
// series at every scrape would cost the race-built exporter more CPU than
// the crashes it is being tested for.
func crashScrape(e *exporterProc) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+e.addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// crashCounterSamples reads the counter and histogram samples of a text
// scrape (gauges and summaries left out: they may go down), keyed by the
// series as the exposition writes it, which is stable across scrapes and
// processes and starts with the family name, so Truth.CallQuality picks
// the call-quality ones. A line scan rather than expfmt: the race-built
// test parses a scrape every 150ms, and the final comparison with the
// truth goes through expfmt anyway.
func crashCounterSamples(raw []byte) (simtruth.Truth, error) {
	types := map[string]string{}
	out := simtruth.Truth{}
	for line := range bytes.Lines(raw) {
		line = bytes.TrimRight(line, "\n")
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			if f := strings.Fields(string(line)); len(f) == 4 && f[1] == "TYPE" {
				types[f[2]] = f[3]
			}
			continue
		}
		sp := bytes.LastIndexByte(line, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("malformed sample line %q", line)
		}
		key := string(line[:sp])
		name, _, _ := strings.Cut(key, "{")
		if !crashMonotonic(types, name) {
			continue
		}
		v, err := strconv.ParseFloat(string(line[sp+1:]), 64)
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", key, err)
		}
		out[key] = v
	}
	return out, nil
}

// crashMonotonic reports whether a sample name belongs to a counter or to a
// histogram's _bucket, _sum or _count.
func crashMonotonic(types map[string]string, name string) bool {
	if types[name] == "counter" {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && types[base] == "histogram" {
			return true
		}
	}
	return false
}

// crashWaitPolls waits, with cheap scrapes, for n successful polls of e.
// crashPolls returns the successful polls the exporter has made, 0 if it
// cannot tell.
func crashPolls(e *exporterProc) int {
	raw, err := crashScrape(e)
	if err != nil {
		return 0
	}
	s, err := crashCounterSamples(raw)
	if err != nil {
		return 0
	}
	return int(s[`teams_exporter_polls_total{result="success"}`])
}

func crashWaitPolls(t *testing.T, e *exporterProc, n int, timeout time.Duration) {
	t.Helper()
	key := `teams_exporter_polls_total{result="success"}`
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			t.Fatalf("last life: exporter exited:\n%s", testrun.LastLines(e.logs(), 40))
		default:
		}
		if raw, err := crashScrape(e); err == nil {
			if s, err := crashCounterSamples(raw); err == nil && s[key] >= float64(n) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("last life: no %d successful polls after %v", n, timeout)
}
