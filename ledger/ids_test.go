package ledger

import (
	"encoding/hex"
	"maps"
	"testing"
	"time"
)

func TestUUIDRoundTrip(t *testing.T) {
	for _, s := range []string{"e523d2ed-2966-4b6b-925b-754a88034cc5", "00000000-0000-0000-0000-000000000000"} {
		u, ok := parseUUID(s)
		if !ok || formatUUID(u) != s {
			t.Errorf("%q: ok=%v back=%q", s, ok, formatUUID(u))
		}
	}
	for _, s := range []string{"", "x", "E523D2ED-2966-4B6B-925B-754A88034CC5", "e523d2ed-2966-4b6b-925b-754a88034cc", "e523d2ed+2966-4b6b-925b-754a88034cc5", "g523d2ed-2966-4b6b-925b-754a88034cc5"} {
		if _, ok := parseUUID(s); ok {
			t.Errorf("%q parsed as a canonical UUID", s)
		}
	}
}

func TestIDSet(t *testing.T) {
	s := newIDSet()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s.put("e523d2ed-2966-4b6b-925b-754a88034cc5", makeEntry(now.Add(-30*time.Hour), 1))
	s.put("0b5f4ee4-65ab-4b8b-bd7e-9ea0da7ef1d2", makeEntry(now.Add(-time.Hour), 3))
	s.put("NOT-A-UUID", makeEntry(now.Add(-time.Hour), 1))
	s.put("old-odd-id", makeEntry(now.Add(-48*time.Hour), 1))
	if s.len() != 4 {
		t.Fatalf("len = %d", s.len())
	}
	if e, ok := s.get("0b5f4ee4-65ab-4b8b-bd7e-9ea0da7ef1d2"); !ok || e.version != 3 {
		t.Errorf("get = %+v, %v", e, ok)
	}
	// Five-minute spans: the two at 11:00 share one, the other two theirs.
	counts := s.countStarts(300)
	span := func(t time.Time) int64 { return t.Unix() / 300 }
	want := map[int64]int{span(now.Add(-time.Hour)): 2, span(now.Add(-30 * time.Hour)): 1, span(now.Add(-48 * time.Hour)): 1}
	if !maps.Equal(counts, want) {
		t.Errorf("countStarts = %v, want %v", counts, want)
	}
	if n := s.prune(now.Add(-24 * time.Hour)); n != 2 {
		t.Errorf("pruned %d, want 2", n)
	}
	if _, ok := s.get("e523d2ed-2966-4b6b-925b-754a88034cc5"); ok {
		t.Errorf("an id older than the look-back survived pruning")
	}
	if _, ok := s.get("NOT-A-UUID"); !ok {
		t.Errorf("a recent odd id was pruned")
	}

	packed, others := packIDs(s)
	back, err := unpackIDs(packed, others)
	if err != nil {
		t.Fatal(err)
	}
	if back.len() != s.len() {
		t.Fatalf("unpacked %d ids, want %d", back.len(), s.len())
	}
	for _, id := range []string{"0b5f4ee4-65ab-4b8b-bd7e-9ea0da7ef1d2", "NOT-A-UUID"} {
		want, _ := s.get(id)
		if got, ok := back.get(id); !ok || got != want {
			t.Errorf("%s: %+v, want %+v", id, got, want)
		}
	}
	if _, err := unpackIDs("AAAA", nil); err == nil {
		t.Errorf("a packed length that is not a multiple of the entry size was accepted")
	}
	if _, err := unpackIDs("!!", nil); err == nil {
		t.Errorf("bad base64 was accepted")
	}
}

func TestMakeEntryClamps(t *testing.T) {
	if e := makeEntry(time.Unix(-5, 0), -1); e.start != 0 || e.version != 0 {
		t.Errorf("negative values: %+v", e)
	}
	if e := makeEntry(time.Unix(1<<40, 0), 1<<40); e.start != 1<<32-1 || e.version != 1<<32-1 {
		t.Errorf("large values: %+v", e)
	}
}

// formatUUID is the canonical form of u, the inverse of parseUUID.
func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
