package graphsim

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// The store holds each record in a compact form, because a simulated day
// of a large tenant holds millions of them (two days of a million records
// a day took about 12 GiB as maps of members and slices of sessions):
//
//   - the head: the short top-level properties (those a list $selects:
//     id, version, type, the times), their names held once per set of
//     names (a headShape, which the records with the same names share),
//     their values as written; the list serves it without decoding
//     anything else;
//   - the body: the long top-level properties (organizer, participants,
//     ...) as a compact JSON object, followed by the sessions as a JSON
//     array when the record has them, deflated with a dictionary of
//     generated records: about an eighth of their size. It is inflated
//     only by a get (or a list without $select), once per fetch of a record.
//
// A record's data is replaced, never changed, once stored, so that a
// reader may use it after releasing the tenant's lock.

// headValueMax is the longest value kept in the head; longer ones go to
// the body.
const headValueMax = 64

// stored is one record in the form it is served.
type stored struct {
	id    string
	start time.Time
	shape *headShape
	// data holds the head's values, each after its uvarint length, in
	// the order of shape.keys, then the body: a uvarint length and the
	// deflated JSON (nothing when there is no long member and no sessions).
	data []byte
}

// headShape is the sorted names of a head, with each name's JSON.
type headShape struct {
	keys   []string
	quoted [][]byte
}

// headShapes interns the head shapes of a tenant's records: a handful for
// millions of records.
type headShapes struct {
	mu     sync.Mutex
	byKeys map[string]*headShape
}

func (hs *headShapes) intern(keys []string) *headShape {
	var name []byte
	for _, k := range keys {
		name = append(append(name, k...), 0)
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if sh, ok := hs.byKeys[string(name)]; ok {
		return sh
	}
	if hs.byKeys == nil {
		hs.byKeys = map[string]*headShape{}
	}
	sh := &headShape{keys: slices.Clone(keys)}
	for _, k := range keys {
		sh.quoted = append(sh.quoted, appendString(nil, k))
	}
	hs.byKeys[string(name)] = sh
	return sh
}

// member is a top-level property: its name, the name's JSON when the
// store wrote it (nil: to be written), and its compact JSON value.
type member struct {
	key    string
	quoted []byte
	val    json.RawMessage
}

// parseStored reads a compact record (the JSON of a Record, or a
// hand-written one compacted) into its stored form. Its @odata.context
// and sessions annotations are dropped; sessions are paged by the tenant.
func (t *Tenant) parseStored(data []byte) (*stored, error) {
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	// data is compact and valid (json.Marshal's or json.Compact's), so
	// it is split without decoding it; as json.Unmarshal does, the last
	// of members with the same name wins.
	all := objectMembers(data)
	slices.SortStableFunc(all, func(a, b member) int { return compareStrings(a.key, b.key) })
	members := all[:0]
	var id, start string
	var startErr = errors.New("missing or invalid startDateTime")
	var sessions json.RawMessage
	for i, m := range all {
		if i+1 < len(all) && all[i+1].key == m.key {
			continue
		}
		switch m.key {
		case "id":
			_ = json.Unmarshal(m.val, &id)
		case "startDateTime":
			if json.Unmarshal(m.val, &start) == nil {
				startErr = nil
			}
		case "sessions":
			sessions = m.val
			continue
		case "@odata.context", "sessions@odata.context", "sessions@odata.nextLink":
			continue
		}
		members = append(members, m)
	}
	if id == "" {
		return nil, errors.New("missing or invalid id")
	}
	if startErr != nil {
		return nil, startErr
	}
	st, err := time.Parse(time.RFC3339Nano, start)
	if err != nil {
		return nil, fmt.Errorf("startDateTime: %w", err)
	}
	switch {
	case string(sessions) == "null":
		sessions = nil
	case sessions != nil && sessions[0] != '[':
		return nil, errors.New("sessions: not an array")
	}
	var head, long []member
	for _, m := range members {
		if len(m.val) > headValueMax {
			long = append(long, m)
		} else {
			head = append(head, m)
		}
	}
	var body []byte
	if len(long) > 0 || sessions != nil {
		scratch := scratchBuffers.Get().(*[]byte)
		b := append((*scratch)[:0], '{')
		for _, m := range long {
			b = appendMember(b, m)
		}
		b = append(closeObject(b), sessions...)
		body = deflate(b)
		*scratch = b
		scratchBuffers.Put(scratch)
	}
	return t.newStored(id, st, head, body), nil
}

// scratchBuffers hold a record's JSON while it is deflated.
var scratchBuffers = sync.Pool{New: func() any { return new([]byte) }}

// newStored builds a stored record of its head members, sorted by name,
// and its body as deflate returned it (nil: none).
func (t *Tenant) newStored(id string, start time.Time, head []member, body []byte) *stored {
	keys := make([]string, len(head))
	size := len(body)
	for i, m := range head {
		keys[i] = m.key
		size += len(m.val) + binary.MaxVarintLen64
	}
	data := make([]byte, 0, size)
	for _, m := range head {
		data = binary.AppendUvarint(data, uint64(len(m.val)))
		data = append(data, m.val...)
	}
	data = append(data, body...)
	// Cloned: exactly its size, for millions of records.
	return &stored{id: id, start: start, shape: t.shapes.intern(keys), data: bytes.Clone(data)}
}

// headMembers returns the members of a head, in name order, and the body
// after it (nil: none).
func headMembers(shape *headShape, data []byte) ([]member, []byte) {
	ms := make([]member, len(shape.keys))
	for i, k := range shape.keys {
		n, w := binary.Uvarint(data)
		end := w + int(n)
		ms[i] = member{k, shape.quoted[i], data[w:end:end]}
		data = data[end:]
	}
	if len(data) == 0 {
		return ms, nil
	}
	return ms, data
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// appendMember appends "key":value, preceded by a comma unless it is
// the object's first member.
func appendMember(b []byte, m member) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	if m.quoted != nil {
		b = append(b, m.quoted...)
	} else {
		b = appendString(b, m.key)
	}
	b = append(b, ':')
	if m.val == nil {
		return append(b, "null"...)
	}
	return append(b, m.val...)
}

func closeObject(b []byte) []byte { return append(b, '}') }

// topMembers returns every top-level member, in name order: the head's
// and the body's (which a head member of the same name, written by Bump,
// overrides).
func topMembers(shape *headShape, data []byte) []member {
	hm, body := headMembers(shape, data)
	if body == nil {
		return hm
	}
	obj, _, _ := inflateBody(body)
	return mergeMembers(hm, objectMembers(obj))
}

// mergeMembers merges the members of a head and of a body, both in name
// order; the head's wins a name both have.
func mergeMembers(hm, bm []member) []member {
	out := make([]member, 0, len(hm)+len(bm))
	i, j := 0, 0
	for i < len(hm) || j < len(bm) {
		switch {
		case j == len(bm) || i < len(hm) && hm[i].key < bm[j].key:
			out = append(out, hm[i])
			i++
		case i == len(hm) || bm[j].key < hm[i].key:
			out = append(out, bm[j])
			j++
		default: // the same name: the head's
			out = append(out, hm[i])
			i++
			j++
		}
	}
	return out
}

// unpack returns a record as the get path uses it, inflating its body
// once: every top-level member, and the sessions (nil when the record has
// none, an empty slice for an empty array).
func unpack(shape *headShape, data []byte) (map[string]json.RawMessage, []json.RawMessage) {
	ms, body := headMembers(shape, data)
	var sessions []json.RawMessage
	if body != nil {
		obj, array, ok := inflateBody(body)
		ms = mergeMembers(ms, objectMembers(obj))
		if ok {
			sessions = splitArray(array)
		}
	}
	top := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		top[m.key] = m.val
	}
	return top, sessions
}

// splitArray returns the elements of a compact JSON array.
func splitArray(array []byte) []json.RawMessage {
	out := make([]json.RawMessage, 0, 8)
	for i := 1; i < len(array) && array[i] != ']'; {
		end := valueEnd(array, i)
		out = append(out, array[i:end:end])
		i = end
		if i < len(array) && array[i] == ',' {
			i++
		}
	}
	return out
}

// inflateBody returns the body's object of long members and its sessions
// array (ok false: the record has no sessions).
func inflateBody(body []byte) (obj, sessions []byte, ok bool) {
	raw := inflate(body)
	end := valueEnd(raw, 0)
	return raw[:end:end], raw[end:], end < len(raw)
}

// objectMembers splits a compact JSON object into its members.
func objectMembers(obj []byte) []member {
	var out []member
	for i := 1; i < len(obj) && obj[i] != '}'; {
		kEnd := valueEnd(obj, i)
		key := keyString(obj[i:kEnd])
		vEnd := valueEnd(obj, kEnd+1)
		out = append(out, member{key: key, val: obj[kEnd+1 : vEnd : vEnd]})
		i = vEnd
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
	return out
}

// commonKeys are the property names of records, so that splitting a head
// does not allocate its keys again for every record listed.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"id", "version", "type", "modalities", "lastModifiedDateTime",
		"startDateTime", "endDateTime", "joinWebUrl", "organizer", "participants"} {
		m[k] = k
	}
	return m
}()

// keyString returns the Go string of a JSON string token.
func keyString(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if k, ok := commonKeys[string(inner)]; ok {
		return k
	}
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var k string
	_ = json.Unmarshal(tok, &k) // valid: written by appendString
	return k
}

// valueEnd returns the index just past the JSON value starting at b[i].
// b is compact, valid JSON (the store writes nothing else).
func valueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		default:
			if depth == 0 { // number, true, false or null
				for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
					i++
				}
				return i
			}
		}
	}
	return i
}

// deflateLevel is the level bodies are compressed at: the fastest that
// uses the dictionary (flate.BestSpeed ignores it).
const deflateLevel = 2

// deflateDict primes the compression of every body with generated
// records (the last 16 KiB of their JSON), so that the property names,
// types and user agents of a record's first session compress too: bodies
// are about two thirds of what they are without it. A hand-written record
// compresses as well, only less.
var deflateDict = sync.OnceValue(func() []byte {
	var b []byte
	for i, r := range Generate(GenOptions{Seed: 1, Count: 12, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}) {
		if i%3 != 0 {
			for j := range r.Sessions {
				r.Sessions[j].Segments = nil
			}
		}
		j, _ := json.Marshal(r) // generated: no NaN
		b = append(b, j...)
	}
	return b[max(0, len(b)-16<<10):]
})

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriterDict(nil, deflateLevel, deflateDict()) // the level is valid
	return w
}}

var inflaters sync.Pool

// deflate returns the uvarint length of raw followed by raw deflated.
func deflate(raw []byte) []byte {
	buf := deflateBuffers.Get().(*bytes.Buffer)
	defer deflateBuffers.Put(buf)
	buf.Reset()
	buf.Write(binary.AppendUvarint(nil, uint64(len(raw))))
	w := deflaters.Get().(*flate.Writer)
	w.Reset(buf)
	_, _ = w.Write(raw) // a bytes.Buffer does not fail
	_ = w.Close()
	deflaters.Put(w)
	return bytes.Clone(buf.Bytes())
}

var deflateBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// inflate reverses deflate.
func inflate(b []byte) []byte {
	n, k := binary.Uvarint(b)
	src := bytes.NewReader(b[k:])
	var r io.ReadCloser
	if v := inflaters.Get(); v != nil {
		r = v.(io.ReadCloser)
		_ = r.(flate.Resetter).Reset(src, deflateDict())
	} else {
		r = flate.NewReaderDict(src, deflateDict())
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(r, raw); err != nil {
		panic(fmt.Sprintf("graphsim: inflate a stored record: %v", err)) // written by deflate: a bug
	}
	inflaters.Put(r)
	return raw
}
