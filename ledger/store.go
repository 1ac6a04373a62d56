package ledger

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/teams-exporter/teams-exporter/collector"
)

// The state on disk is a checkpoint (the whole state, at the configured
// path) and a log beside it (<path>.log) of what changed since: each save
// appends one delta frame to the log and syncs it before its series are
// published; about once an hour, or when the log has outgrown the
// checkpoint, a save writes a new checkpoint atomically and restarts the
// log. Frames carry a sequence number and the checkpoint the last one it
// includes, so frames left in the log by a crash between the checkpoint's
// rename and the log's truncation are skipped. docs/design.md explains the
// format and why.

// checkpointFormat is the format of the checkpoint. Formats 1 and 2 were
// one JSON file rewritten at every save; they are read (readLegacy) and
// replaced by a checkpoint at the first save.
const checkpointFormat = 3

// checkpointMagic starts a checkpoint file.
var checkpointMagic = []byte("TXSTATE\x03")

// logSuffix names the log beside the checkpoint.
const logSuffix = ".log"

// Chunks of a checkpoint: well below maxFrameBytes.
const (
	checkpointIDChunk     = 1 << 20 // ids: 24 MiB
	checkpointSeriesChunk = 1024
)

// checkpointHeader is the first frame of a checkpoint: everything but the
// ids and series, and how many of each follow.
type checkpointHeader struct {
	Format int `json:"format"`
	// StateID is drawn at random when a state starts fresh and kept by
	// every checkpoint of it; the log's first frame repeats it, so a log
	// is never replayed onto the checkpoint of another state. Checkpoints
	// written before it have none.
	StateID  string       `json:"stateId,omitempty"`
	LastSeq  uint64       `json:"lastSeq"`
	SavedAt  time.Time    `json:"savedAt"`
	Position Position     `json:"position"`
	IDs      map[Kind]int `json:"ids"`
	Series   int          `json:"series"`
}

// deltaMeta is the JSON part of a delta frame; its ids follow it in binary.
type deltaMeta struct {
	SavedAt  time.Time `json:"savedAt"`
	Position Position  `json:"position"`
	// Prune holds, per kind, the latest cutoff ids were pruned by (Unix
	// seconds): replay prunes by it before adding the frame's ids, which
	// are those still kept at the cut.
	Prune  map[Kind]uint32            `json:"prune,omitempty"`
	Series []collector.SeriesSnapshot `json:"series,omitempty"`
}

// The JSON parts of frames (a delta's meta, a checkpoint's series) are
// compressed with zstd: series repeat their label names and bucket
// layouts, and come out about ten times smaller.
var (
	zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxDecodedBytes), zstd.WithDecoderConcurrency(1))
)

// maxDecodedBytes bounds what a compressed part of a frame may expand to.
const maxDecodedBytes = 4 * maxFrameBytes

// zstdChunkDecoder decodes a checkpoint's series chunks: 1,024 series
// take a few MiB, so a chunk expanding to more was not written by the
// exporter.
var zstdChunkDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxDecodedChunkBytes), zstd.WithDecoderConcurrency(1))

// maxDecodedChunkBytes bounds what a checkpoint's series chunk may expand
// to: 32 KiB a series.
const maxDecodedChunkBytes = checkpointSeriesChunk * 32 << 10

// errTooManySeries is decodeSeries' refusal of an array longer than
// allowed.
var errTooManySeries = errors.New("too many series")

// decodeSeries decodes the JSON array of series in raw, appending them to
// dst, one at a time: it stops as soon as the array holds more than limit,
// so a crafted array of millions of empty series never becomes one.
func decodeSeries(raw []byte, dst []collector.SeriesSnapshot, limit int) ([]collector.SeriesSnapshot, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return dst, fmt.Errorf("not an array of series (%v, %w)", tok, err)
	}
	for n := 0; dec.More(); n++ {
		if n >= limit {
			return dst, fmt.Errorf("%w: more than %d", errTooManySeries, limit)
		}
		var ss collector.SeriesSnapshot
		if err := dec.Decode(&ss); err != nil {
			return dst, err
		}
		dst = append(dst, ss)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return dst, fmt.Errorf("series array not closed (%v, %w)", tok, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return dst, errors.New("data after the series")
	}
	return dst, nil
}

// unmarshalCompressed decodes a compressed JSON part of a frame into v.
func unmarshalCompressed(b []byte, v any) error {
	raw, err := zstdDecoder.DecodeAll(b, nil)
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	return json.Unmarshal(raw, v)
}

// marshalCompressed encodes v as compressed JSON.
func marshalCompressed(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return zstdEncoder.EncodeAll(raw, nil), nil
}

// loaded is the state read from disk.
type loaded struct {
	legacy   bool   // format 1 or 2: no log, rewrite as a checkpoint
	stateID  string // of the checkpoint; empty if written before ids
	skipped  int    // frames of the log already in the checkpoint
	lastSeq  uint64 // of the checkpoint, then of the last frame replayed
	savedAt  time.Time
	pos      Position
	ids      map[Kind]*idSet
	series   []collector.SeriesSnapshot
	index    map[string]int // series by seriesKey, built at the first delta
	ckptSize int64
	logOff   int64  // end of the last good frame of the log
	frames   int    // frames replayed
	dropped  string // why the log's tail was dropped; empty if none was
}

// packedKind is one kind's ids packed for a checkpoint, cut under the
// ledger's lock.
type packedKind struct {
	kind   Kind
	uuids  []byte // 24 bytes each
	others []otherID
}

// packKind packs s.
func packKind(kind Kind, s *idSet) packedKind {
	p := packedKind{kind: kind, uuids: make([]byte, 0, len(s.uuids)*packedIDSize), others: make([]otherID, 0, len(s.other))}
	for u, e := range s.uuids {
		p.uuids = append(p.uuids, u[:]...)
		p.uuids = binary.LittleEndian.AppendUint32(p.uuids, e.start)
		p.uuids = binary.LittleEndian.AppendUint32(p.uuids, e.version)
	}
	for id, e := range s.other {
		p.others = append(p.others, otherID{ID: id, Start: e.start, Version: e.version})
	}
	return p
}

// appendPacked appends an id section (see appendIDs) of packed UUIDs and
// other ids.
func appendPacked(buf []byte, kind Kind, uuids []byte, others []otherID) []byte {
	buf = appendLenBytes(buf, []byte(kind))
	buf = binary.AppendUvarint(buf, uint64(len(uuids)/packedIDSize))
	buf = append(buf, uuids...)
	buf = binary.AppendUvarint(buf, uint64(len(others)))
	for _, o := range others {
		buf = appendLenBytes(buf, []byte(o.ID))
		buf = binary.LittleEndian.AppendUint32(buf, o.Start)
		buf = binary.LittleEndian.AppendUint32(buf, o.Version)
	}
	return buf
}

// faultFunc, when set (tests), is called at each point of a write where a
// crash or an I/O error matters; an error it returns is taken as the
// write's. errCrash makes the writer stop where it is, leaving the files as
// a kill -9 there would.
type faultFunc func(point string) error

// errCrash is what a test's faultFunc returns to stop a write as a crash
// would: no clean-up follows. errTornWrite, at "log.write", writes half
// the frame first.
// errTornNoSpace, at "log.write", writes half the frame and fails with
// ENOSPC, as a disk filling up in the middle of a write does.
var (
	errCrash       = errors.New("simulated crash")
	errTornWrite   = errors.New("simulated crash in the middle of a write")
	errTornNoSpace = errors.New("simulated full disk in the middle of a write")
)

func (f faultFunc) at(point string) error {
	if f == nil {
		return nil
	}
	return f(point)
}

// writeCheckpoint writes a checkpoint to path atomically (temporary file,
// sync, rename, sync of the directory) and returns its size.
func writeCheckpoint(path string, hdr *checkpointHeader, ids []packedKind, series []collector.SeriesSnapshot, fault faultFunc) (int64, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return 0, err
	}
	size, err := writeCheckpointTo(tmp, hdr, ids, series, fault)
	if errors.Is(err, errCrash) {
		return 0, err
	}
	if err == nil {
		err = fault.at("checkpoint.sync")
	}
	if errors.Is(err, errCrash) {
		return 0, err
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fault.at("checkpoint.rename")
	}
	if errors.Is(err, errCrash) {
		return 0, err
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, err
	}
	if err := fault.at("checkpoint.dirsync"); err != nil {
		return 0, err
	}
	return size, syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the state file's directory, from the operator's configuration
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeCheckpointTo(f io.Writer, hdr *checkpointHeader, ids []packedKind, series []collector.SeriesSnapshot, fault faultFunc) (int64, error) {
	cw := &countingWriter{w: f}
	w := bufio.NewWriterSize(cw, 1<<20)
	if err := fault.at("checkpoint.write"); err != nil {
		return 0, err
	}
	hdr.Format, hdr.Series, hdr.IDs = checkpointFormat, len(series), map[Kind]int{}
	for _, p := range ids {
		hdr.IDs[p.kind] = len(p.uuids)/packedIDSize + len(p.others)
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		return 0, fmt.Errorf("encode checkpoint header: %w", err)
	}
	buf := appendFrame(slices.Clone(checkpointMagic), frameHeader, h)
	if _, err := w.Write(buf); err != nil {
		return 0, err
	}
	for _, p := range ids {
		uuids, others := p.uuids, p.others
		for first := true; first || len(uuids) > 0 || len(others) > 0; first = false {
			nu := min(len(uuids), checkpointIDChunk*packedIDSize)
			no := min(len(others), checkpointIDChunk-nu/packedIDSize)
			buf = appendFrame(buf[:0], frameIDs, appendPacked(nil, p.kind, uuids[:nu], others[:no]))
			uuids, others = uuids[nu:], others[no:]
			if _, err := w.Write(buf); err != nil {
				return 0, err
			}
		}
	}
	for len(series) > 0 {
		n := min(len(series), checkpointSeriesChunk)
		b, err := marshalCompressed(series[:n])
		if err != nil {
			return 0, fmt.Errorf("encode series: %w", err)
		}
		series = series[n:]
		if _, err := w.Write(appendFrame(buf[:0], frameSeries, b)); err != nil {
			return 0, err
		}
	}
	if _, err := w.Write(appendFrame(buf[:0], frameEnd)); err != nil {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

// readCheckpoint reads the checkpoint at path, or a state file of format 1
// or 2. A missing file is (nil, nil). Only a file that was read and cannot
// be used (damaged, beyond a bound, inconsistent) is errCorruptState; any
// other error means it could not be read at all.
func readCheckpoint(path string) (*loaded, error) {
	// A FIFO or a device would block the read or never end it.
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		return nil, errors.New("it is a directory")
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("it is not a regular file (mode %s)", fi.Mode())
	}
	f, err := os.Open(path) // #nosec G304 -- the state file, from the operator's configuration
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	magic := make([]byte, len(checkpointMagic))
	n, err := io.ReadFull(f, magic)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if !bytes.Equal(magic[:n], checkpointMagic) {
		if fi.Size() > maxLegacyBytes {
			return nil, fmt.Errorf("%w: %d bytes, more than the %d a state file of format 1 or 2 may have", errCorruptState, fi.Size(), maxLegacyBytes)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return readLegacy(f)
	}
	if fi.Size() > maxCheckpointBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d a checkpoint may have", errCorruptState, fi.Size(), int64(maxCheckpointBytes))
	}
	st, err := decodeCheckpoint(newFrameReader(f, fi.Size()-int64(len(checkpointMagic))))
	if err != nil {
		var ioErr *os.PathError
		if errors.As(err, &ioErr) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errCorruptState, err)
	}
	st.ckptSize = fi.Size()
	return st, nil
}

func decodeCheckpoint(fr *frameReader) (*loaded, error) {
	typ, b, err := fr.next()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if typ != frameHeader {
		return nil, fmt.Errorf("first frame of type %q, want a header", typ)
	}
	var hdr checkpointHeader
	if err := json.Unmarshal(b, &hdr); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	switch {
	case hdr.Format != checkpointFormat:
		return nil, fmt.Errorf("format %d, this version reads 1 to %d", hdr.Format, checkpointFormat)
	case len(hdr.IDs) > maxKinds:
		return nil, fmt.Errorf("%d kinds of ids, at most %d", len(hdr.IDs), maxKinds)
	case hdr.Series < 0 || hdr.Series > maxSeries:
		return nil, fmt.Errorf("%d series, at most %d", hdr.Series, maxSeries)
	}
	if len(hdr.StateID) > maxStateIDBytes {
		return nil, fmt.Errorf("state id of %d bytes, at most %d", len(hdr.StateID), maxStateIDBytes)
	}
	st := &loaded{stateID: hdr.StateID, lastSeq: hdr.LastSeq, savedAt: hdr.SavedAt, pos: hdr.Position, ids: map[Kind]*idSet{}}
	// What the header announces is checked against the bytes that could
	// hold it before anything is sized by it: a few bytes announcing
	// millions of ids must not cost their memory.
	var announced int64
	for kind, n := range hdr.IDs {
		if n < 0 || n > maxIDsPerKind {
			return nil, fmt.Errorf("%s: %d ids, at most %d", kind, n, maxIDsPerKind)
		}
		announced += int64(n)
	}
	if left := fr.size - fr.off; announced*minPackedIDBytes > left {
		return nil, fmt.Errorf("%d ids announced in %d bytes, which hold at most %d", announced, left, left/minPackedIDBytes)
	}
	for kind, n := range hdr.IDs {
		st.ids[kind] = newIDSetSized(int(min(int64(n), (fr.size-fr.off)/packedIDSize)))
	}
	put := func(kind Kind, u *[16]byte, other string, e idEntry) bool {
		s := st.ids[kind]
		if s == nil || s.len() >= hdr.IDs[kind] {
			return false // a kind not announced, or more ids than announced
		}
		return s.putNew(u, other, e)
	}
	st.series = make([]collector.SeriesSnapshot, 0, min(hdr.Series, checkpointSeriesChunk))
	for {
		typ, b, err := fr.next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("ends before its end frame")
		}
		if err != nil {
			return nil, err
		}
		switch typ {
		case frameIDs:
			d := body{b: b}
			d.readIDs(put)
			if d.err == nil && len(d.b) > 0 {
				d.fail("%d bytes after the ids", len(d.b))
			}
			if d.err != nil {
				return nil, fmt.Errorf("ids: %w", d.err)
			}
		case frameSeries:
			raw, err := zstdChunkDecoder.DecodeAll(b, nil)
			if err != nil {
				return nil, fmt.Errorf("series: decompress: %w", err)
			}
			limit := min(checkpointSeriesChunk, hdr.Series-len(st.series))
			if st.series, err = decodeSeries(raw, st.series, limit); err != nil {
				return nil, fmt.Errorf("series: %w (more series than the %d announced, or than a chunk's %d)", err, hdr.Series, checkpointSeriesChunk)
			}
		case frameEnd:
			for kind, s := range st.ids {
				if s.len() != hdr.IDs[kind] {
					return nil, fmt.Errorf("%s: %d ids, %d announced", kind, s.len(), hdr.IDs[kind])
				}
			}
			if len(st.series) != hdr.Series {
				return nil, fmt.Errorf("%d series, %d announced", len(st.series), hdr.Series)
			}
			if _, _, err := fr.next(); !errors.Is(err, io.EOF) {
				return nil, errors.New("data after its end frame")
			}
			return st, nil
		default:
			return nil, fmt.Errorf("frame of type %q", typ)
		}
	}
}

// readLegacy reads a state file of format 1 or 2.
func readLegacy(r io.Reader) (*loaded, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptState, err)
	}
	switch sf.Format {
	case 1:
		sf.IDs = map[Kind]packedIDs{CallRecords: {UUIDs: sf.UUIDs, Other: sf.OtherIDs}}
	case 2:
	default:
		return nil, fmt.Errorf("%w: format %d, this version reads 1 to %d", errCorruptState, sf.Format, checkpointFormat)
	}
	if len(sf.IDs) > maxKinds {
		return nil, fmt.Errorf("%w: %d kinds of ids, at most %d", errCorruptState, len(sf.IDs), maxKinds)
	}
	st := &loaded{legacy: true, savedAt: sf.SavedAt, pos: sf.Position, ids: map[Kind]*idSet{}}
	for kind, p := range sf.IDs {
		s, err := unpackIDs(p.UUIDs, p.Other)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %w", errCorruptState, kind, err)
		}
		st.ids[kind] = s
	}
	if sf.Series != nil {
		if len(sf.Series.Series) > maxSeries {
			return nil, fmt.Errorf("%w: %d series, at most %d", errCorruptState, len(sf.Series.Series), maxSeries)
		}
		st.series = sf.Series.Series
	}
	return st, nil
}

// replayLog applies the log's frames that follow the checkpoint to st; r
// holds size bytes. Only a torn last frame (errTorn: it reaches the end of
// the file) is dropped: it was never published, as a save publishes only
// once its frame is synced. A frame damaged before the end of the file, or
// one that is whole but cannot be decoded or applied, makes the state
// inconsistent (errCorruptState): frames after it were published.
func replayLog(r io.Reader, size int64, st *loaded) error {
	fr := newFrameReader(r, size)
	for n := 0; ; n++ {
		typ, b, err := fr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, errTorn) {
			st.dropped = err.Error()
			return nil
		}
		if errors.Is(err, errDamaged) {
			return fmt.Errorf("%w: log at byte %d: %w", errCorruptState, fr.off, err)
		}
		if err != nil {
			return err
		}
		first := n == 0
		switch {
		case first && typ == frameLogHeader:
			if id := string(b); id != st.stateID {
				return fmt.Errorf("%w: the log belongs to another state (id %q, the checkpoint's %q)", errCorruptState, id, st.stateID)
			}
			st.logOff = fr.off
			continue
		case first && st.stateID != "":
			return fmt.Errorf("%w: the log does not start with the id of its state (the checkpoint's %q): it belongs to another state", errCorruptState, st.stateID)
		}
		if typ != frameDelta {
			return fmt.Errorf("%w: log frame of type %q", errCorruptState, typ)
		}
		d := body{b: b}
		seq := d.uint64()
		switch {
		case d.err != nil:
			return fmt.Errorf("%w: log frame: %w", errCorruptState, d.err)
		case seq <= st.lastSeq && st.frames == 0:
			// In the checkpoint already: a crash between its rename and
			// the log's restart left it.
			st.logOff = fr.off
			st.skipped++
			continue
		case seq != st.lastSeq+1:
			// A gap, or a frame going back after frames applied: the log
			// does not follow this checkpoint (an older one put back, say),
			// and its frames may have been published.
			return fmt.Errorf("%w: log frame %d follows frame %d: the log does not follow this checkpoint", errCorruptState, seq, st.lastSeq)
		}
		if err := st.applyDelta(&d); err != nil {
			return fmt.Errorf("%w: log frame %d: %w", errCorruptState, seq, err)
		}
		st.lastSeq, st.logOff = seq, fr.off
		st.frames++
	}
}

// idPut is one id of a delta, applied once the whole frame decoded.
type idPut struct {
	kind  Kind
	uuid  [16]byte
	other string
	e     idEntry
}

// applyDelta applies one delta frame's body (after its sequence number),
// all of it or, on error, nothing.
func (st *loaded) applyDelta(d *body) error {
	// The series are decoded one at a time, bounded: a frame of a few KiB
	// can expand to millions of empty series.
	var meta deltaMeta
	var wire struct {
		deltaMeta
		Series json.RawMessage `json:"series,omitempty"`
	}
	if m := d.lenBytes(); d.err == nil {
		if err := unmarshalCompressed(m, &wire); err != nil {
			return err
		}
		meta = wire.deltaMeta
		if len(wire.Series) > 0 && string(wire.Series) != "null" {
			series, err := decodeSeries(wire.Series, nil, maxSeries)
			if err != nil {
				return fmt.Errorf("series: %w", err)
			}
			meta.Series = series
		}
	}
	var puts []idPut
	for d.err == nil && len(d.b) > 0 {
		d.readIDs(func(kind Kind, u *[16]byte, other string, e idEntry) bool {
			p := idPut{kind: kind, other: other, e: e}
			if u != nil {
				p.uuid = *u
			}
			puts = append(puts, p)
			return true
		})
	}
	if d.err != nil {
		return d.err
	}
	for kind := range meta.Prune {
		if st.ids[kind] == nil && len(st.ids) >= maxKinds {
			return fmt.Errorf("more than %d kinds of ids", maxKinds)
		}
	}
	if st.index == nil {
		st.index = make(map[string]int, len(st.series))
		for i := range st.series {
			st.index[seriesKeyOf(&st.series[i])] = i
		}
	}
	newSeries := 0
	for i := range meta.Series {
		i0, ok := st.index[seriesKeyOf(&meta.Series[i])]
		if !ok {
			newSeries++
			continue
		}
		if err := notLower(&st.series[i0], &meta.Series[i]); err != nil {
			return fmt.Errorf("series %s: %w", meta.Series[i].Metric, err)
		}
	}
	if len(st.series)+newSeries > maxSeries {
		return fmt.Errorf("more than %d series", maxSeries)
	}
	// Checked; now apply.
	for kind, cutoff := range meta.Prune {
		st.idsOf(kind).pruneBefore(cutoff)
	}
	for _, p := range puts {
		s := st.idsOf(p.kind)
		if p.other == "" {
			s.uuids[p.uuid] = p.e
		} else {
			s.other[p.other] = p.e
		}
		if s.len() > maxIDsPerKind {
			return fmt.Errorf("%s: more than %d ids", p.kind, maxIDsPerKind)
		}
	}
	if len(st.ids) > maxKinds {
		return fmt.Errorf("more than %d kinds of ids", maxKinds)
	}
	for _, ss := range meta.Series {
		k := seriesKeyOf(&ss)
		if i, ok := st.index[k]; ok {
			st.series[i] = ss
			continue
		}
		st.index[k] = len(st.series)
		st.series = append(st.series, ss)
	}
	st.pos, st.savedAt = meta.Position, meta.SavedAt
	return nil
}

// notLower checks that next, a series' value in a later frame, is nowhere
// lower than prev: every family is a counter or a histogram of
// non-negative observations, so its count, sum, buckets and native buckets
// only go up. A frame taking one back was not written by the exporter.
func notLower(prev, next *collector.SeriesSnapshot) error {
	switch {
	case next.Count < prev.Count:
		return fmt.Errorf("count %d, lower than the %d before it", next.Count, prev.Count)
	case !(next.Sum >= prev.Sum):
		return fmt.Errorf("sum %g, lower than the %g before it", next.Sum, prev.Sum)
	case len(next.Buckets) != len(prev.Buckets):
		return fmt.Errorf("%d buckets, %d before", len(next.Buckets), len(prev.Buckets))
	}
	for i, n := range next.Buckets {
		if n < prev.Buckets[i] {
			return fmt.Errorf("bucket %d holds %d, lower than the %d before it", i, n, prev.Buckets[i])
		}
	}
	pn, nn := prev.Native, next.Native
	switch {
	case pn == nil:
		return nil
	case nn == nil:
		return errors.New("native buckets gone")
	case nn.ZeroCount < pn.ZeroCount:
		return fmt.Errorf("native zero bucket %d, lower than the %d before it", nn.ZeroCount, pn.ZeroCount)
	case nn.Schema != pn.Schema:
		return nil // buckets merged at a lower schema: the count above covers them
	}
	counts := make(map[int32]uint64, len(nn.Keys))
	for i, k := range nn.Keys {
		if i < len(nn.Counts) {
			counts[k] = nn.Counts[i]
		}
	}
	for i, k := range pn.Keys {
		if i < len(pn.Counts) && counts[k] < pn.Counts[i] {
			return fmt.Errorf("native bucket %d holds %d, lower than the %d before it", k, counts[k], pn.Counts[i])
		}
	}
	return nil
}

func (st *loaded) idsOf(kind Kind) *idSet {
	s := st.ids[kind]
	if s == nil {
		s = newIDSet()
		st.ids[kind] = s
	}
	return s
}

// seriesKeyOf identifies a series by its metric and labels.
func seriesKeyOf(ss *collector.SeriesSnapshot) string {
	names := make([]string, 0, len(ss.Labels))
	for n := range ss.Labels {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(ss.Metric)
	for _, n := range names {
		b.WriteByte(0xff)
		b.WriteString(n)
		b.WriteByte(0xfe)
		b.WriteString(ss.Labels[n])
	}
	return b.String()
}

// encodeDelta returns a delta frame.
func encodeDelta(seq uint64, meta *deltaMeta, ids []packedKind) ([]byte, error) {
	m, err := marshalCompressed(meta)
	if err != nil {
		return nil, fmt.Errorf("encode delta: %w", err)
	}
	b := binary.LittleEndian.AppendUint64(nil, seq)
	b = appendLenBytes(b, m)
	for _, p := range ids {
		b = appendPacked(b, p.kind, p.uuids, p.others)
	}
	if len(b)+1 > maxFrameBytes {
		return nil, fmt.Errorf("delta of %d bytes, more than a frame's %d", len(b), maxFrameBytes)
	}
	return appendFrame(nil, frameDelta, b), nil
}
