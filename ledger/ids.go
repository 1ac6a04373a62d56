package ledger

import (
	"encoding/hex"
	"math"
	"time"
)

// idSet holds the ids of ingested records with the start time and version
// they had. Graph's ids are UUIDs, kept as 16 bytes; anything else falls back
// to a string map so odd ids still de-duplicate.
type idSet struct {
	uuids map[[16]byte]idEntry
	other map[string]idEntry
}

// idEntry is 8 bytes: start time in Unix seconds (good until 2106) and the
// version ingested.
type idEntry struct {
	start   uint32
	version uint32
}

func newIDSet() *idSet {
	return &idSet{uuids: map[[16]byte]idEntry{}, other: map[string]idEntry{}}
}

// newIDSetSized returns an empty set with room for n UUIDs.
func newIDSetSized(n int) *idSet {
	return &idSet{uuids: make(map[[16]byte]idEntry, n), other: map[string]idEntry{}}
}

// putNew adds a UUID (u) or another id, unless it is there already (false).
// One map access each: the set grows unless the id was there. (A refused
// id's entry is overwritten, but a refusal rejects the whole set.)
func (s *idSet) putNew(u *[16]byte, other string, e idEntry) bool {
	if u != nil {
		n := len(s.uuids)
		s.uuids[*u] = e
		return len(s.uuids) > n
	}
	n := len(s.other)
	s.other[other] = e
	return len(s.other) > n
}

func makeEntry(start time.Time, version int64) idEntry {
	return idEntry{start: clampU32(start.Unix()), version: clampU32(version)}
}

func clampU32(v int64) uint32 {
	return uint32(min(max(v, 0), math.MaxUint32))
}

func (s *idSet) get(id string) (idEntry, bool) {
	if u, ok := parseUUID(id); ok {
		e, ok := s.uuids[u]
		return e, ok
	}
	e, ok := s.other[id]
	return e, ok
}

func (s *idSet) put(id string, e idEntry) {
	if u, ok := parseUUID(id); ok {
		s.uuids[u] = e
		return
	}
	s.other[id] = e
}

func (s *idSet) len() int { return len(s.uuids) + len(s.other) }

// prune forgets ids whose call started before cutoff: they are outside the
// look-back window and will never be listed again.
func (s *idSet) prune(cutoff time.Time) int {
	return s.pruneBefore(clampU32(cutoff.Unix()))
}

// pruneBefore forgets ids whose start is before c (Unix seconds).
func (s *idSet) pruneBefore(c uint32) int {
	n := 0
	for k, e := range s.uuids {
		if e.start < c {
			delete(s.uuids, k)
			n++
		}
	}
	for k, e := range s.other {
		if e.start < c {
			delete(s.other, k)
			n++
		}
	}
	return n
}

// countStarts counts the ids by start time, in spans of width seconds.
func (s *idSet) countStarts(width int64) map[int64]int {
	counts := map[int64]int{}
	for _, e := range s.uuids {
		counts[int64(e.start)/width]++
	}
	for _, e := range s.other {
		counts[int64(e.start)/width]++
	}
	return counts
}

// parseUUID reads the canonical 36-character form only, so that the string
// form can be restored exactly from the 16 bytes.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var hexDigits [32]byte
	j := 0
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return u, false // upper case would not round-trip
		}
		hexDigits[j] = c
		j++
	}
	if _, err := hex.Decode(u[:], hexDigits[:]); err != nil {
		return u, false
	}
	return u, true
}
