package ledger

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// A frame is one unit of the state on disk, in the log and in the
// checkpoint alike: a 4-byte little-endian length of the payload, its
// CRC32-Castagnoli, then the payload, whose first byte is the frame's type.
// A frame that is short or whose checksum does not match was never
// completely written (or was damaged since): reading stops there.

// Frame types.
const (
	frameDelta       byte = 'D' // log: what changed since the previous frame
	frameLogHeader   byte = 'L' // log: first frame, the id of the state it belongs to
	frameHeader      byte = 'H' // checkpoint: sequence, time, position, counts
	frameIDs         byte = 'I' // checkpoint: a chunk of one kind's ids
	frameSeries      byte = 'S' // checkpoint: a chunk of series
	frameEnd         byte = 'Z' // checkpoint: nothing follows
	frameHeaderBytes      = 8
)

// Bounds of the state on disk. A state beyond them was not written by the
// exporter (or its tenant outgrew what the exporter is built for); it is
// refused rather than read into memory.
const (
	// maxFrameBytes bounds one frame's payload; the writer cuts
	// checkpoints into chunks well below it and writes a checkpoint
	// instead of a delta that could come near it.
	maxFrameBytes = 64 << 20
	// maxIDsPerKind is 50 M: a 30-day look-back of a tenant of a million
	// records a day (30 M) with room to spare.
	maxIDsPerKind = 50_000_000
	// maxKinds bounds the id sets.
	maxKinds = 16
	// maxSeries is far more series than the family table's label bounds
	// can make on any tenant.
	maxSeries = 1_000_000
	// maxCheckpointBytes and maxLogBytes bound the files: every id of
	// every kind at its bound would not fit, but every tenant the bounds
	// above allow does.
	maxCheckpointBytes = 4 << 30
	maxLogBytes        = 4 << 30
	// maxLegacyBytes bounds a state file of format 1 or 2 (JSON, one
	// piece): twice what a million ids make.
	maxLegacyBytes = 1 << 30
	// maxStateIDBytes bounds a state's id (32 hex digits).
	maxStateIDBytes = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a frame that was not completely written: it reaches the
// end of the file (short, or the last frame and failing its checksum). A
// crash while appending leaves one; it was never published.
var errTorn = errors.New("torn or corrupt frame")

// errDamaged marks a frame that fails its checksum, or has an impossible
// length, with whole frames after it: no crash leaves one, and the frames
// after it may have been published, so it cannot be dropped as a torn tail.
var errDamaged = errors.New("damaged frame before the end of the file")

// appendFrame appends a frame of typ holding body to buf.
func appendFrame(buf []byte, typ byte, body ...[]byte) []byte {
	n := 1
	for _, b := range body {
		n += len(b)
	}
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	buf = append(buf, typ)
	for _, b := range body {
		buf = append(buf, b...)
	}
	crc := crc32.Checksum(buf[start+frameHeaderBytes:], castagnoli)
	binary.LittleEndian.PutUint32(buf[start+4:], crc)
	return buf
}

// frameReader reads frames, keeping the offset of the end of the last
// whole frame read.
type frameReader struct {
	r    *bufio.Reader
	off  int64 // end of the last good frame
	size int64 // of what r reads
	buf  []byte
}

// newFrameReader reads frames from r, which holds size bytes.
func newFrameReader(r io.Reader, size int64) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 1<<20), size: size}
}

// next returns the next frame's type and body (valid until the next call).
// It returns io.EOF at a clean end, errTorn (wrapped) for a frame that
// reaches the end of the file (short, or failing its checksum and the last
// one), and errDamaged (wrapped) for one that fails its checksum or has an
// impossible length with bytes after it. A length is checked against the
// bytes left before anything is allocated for it.
func (fr *frameReader) next() (byte, []byte, error) {
	var hdr [frameHeaderBytes]byte
	n, err := io.ReadFull(fr.r, hdr[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return 0, nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return 0, nil, fmt.Errorf("%w: %d bytes of a frame header", errTorn, n)
	case err != nil:
		return 0, nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[:4])
	left := fr.size - fr.off - frameHeaderBytes
	switch {
	case int64(size) > left:
		return 0, nil, fmt.Errorf("%w: length %d, %d bytes left", errTorn, size, left)
	case size > maxFrameBytes:
		return 0, nil, fmt.Errorf("%w: length %d (at most %d)", errDamaged, size, maxFrameBytes)
	case size == 0:
		// A file system may leave zeros where a crash cut a write.
		if zeros, err := fr.zerosToEnd(); err != nil {
			return 0, nil, err
		} else if zeros {
			return 0, nil, fmt.Errorf("%w: zeros to the end", errTorn)
		}
		return 0, nil, fmt.Errorf("%w: length 0", errDamaged)
	}
	if cap(fr.buf) < int(size) {
		fr.buf = make([]byte, size)
	}
	p := fr.buf[:size]
	if n, err := io.ReadFull(fr.r, p); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return 0, nil, fmt.Errorf("%w: %d of %d bytes", errTorn, n, size)
		}
		return 0, nil, err
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		if int64(size) == left {
			return 0, nil, fmt.Errorf("%w: checksum mismatch in the last frame", errTorn)
		}
		return 0, nil, fmt.Errorf("%w: checksum mismatch, %d bytes after it", errDamaged, left-int64(size))
	}
	fr.off += frameHeaderBytes + int64(size)
	return p[0], p[1:], nil
}

// zerosToEnd reports whether only zeros are left to read.
func (fr *frameReader) zerosToEnd() (bool, error) {
	var p [4096]byte
	for {
		n, err := fr.r.Read(p[:])
		for _, c := range p[:n] {
			if c != 0 {
				return false, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// body decodes a frame's body. Errors are sticky: the first one is kept
// and every later read returns zero.
type body struct {
	b   []byte
	err error
}

func (d *body) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *body) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *body) uint32() uint32 {
	p := d.bytes(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

func (d *body) uint64() uint64 {
	p := d.bytes(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// bytes takes the next n bytes.
func (d *body) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) || n > math.MaxInt {
		d.fail("%d bytes wanted, %d left", n, len(d.b))
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// lenBytes takes a uvarint length and that many bytes.
func (d *body) lenBytes() []byte { return d.bytes(d.uvarint()) }

func appendLenBytes(buf []byte, p []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(p)))
	return append(buf, p...)
}

// The ids of one kind are written as the kind's name, the count of UUIDs,
// 24 bytes for each (16-byte UUID, start and version as little-endian
// uint32s), the count of other ids and, for each, its length, bytes, start
// and version (appendPacked).

// minPackedIDBytes is the fewest bytes an id takes in an id section: an
// other id of one byte (its length, the byte, start and version).
const minPackedIDBytes = 1 + 1 + 4 + 4

// maxOtherIDBytes bounds an id that is not a UUID: Graph's are UUIDs, and
// the call logs' a few dozen characters.
const maxOtherIDBytes = 1024

// readIDs reads one id section, handing each entry to put, which returns
// false to refuse it (a duplicate in a checkpoint, say).
func (d *body) readIDs(put func(kind Kind, uuid *[16]byte, other string, e idEntry) bool) {
	kind := Kind(d.lenBytes())
	if d.err == nil && (len(kind) == 0 || len(kind) > 64) {
		d.fail("kind name of %d bytes", len(kind))
	}
	n := d.uvarint()
	if n > maxIDsPerKind || n*packedIDSize > uint64(len(d.b)) {
		d.fail("%d ids in %d bytes", n, len(d.b))
		return
	}
	var u [16]byte
	for range n {
		p := d.bytes(packedIDSize)
		if p == nil {
			return
		}
		copy(u[:], p)
		e := idEntry{start: binary.LittleEndian.Uint32(p[16:]), version: binary.LittleEndian.Uint32(p[20:])}
		if !put(kind, &u, "", e) {
			d.fail("%s: an id twice, or more than %d ids", kind, maxIDsPerKind)
			return
		}
	}
	m := d.uvarint()
	if m > maxIDsPerKind {
		d.fail("%d other ids", m)
		return
	}
	for range m {
		id := d.lenBytes()
		if d.err == nil && (len(id) == 0 || len(id) > maxOtherIDBytes) {
			d.fail("%s: id of %d bytes", kind, len(id))
		}
		e := idEntry{start: d.uint32(), version: d.uint32()}
		if d.err != nil {
			return
		}
		if !put(kind, nil, string(id), e) {
			d.fail("%s: an id twice, or more than %d ids", kind, maxIDsPerKind)
			return
		}
	}
}
