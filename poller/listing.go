package poller

import (
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
)

// listedRecord is what selecting and ingesting need of a listed record,
// and no more. A full scan lists every record of the look-back at once (a
// million for a busy tenant over a day); kept whole, with its type,
// modalities and three time.Time, a listed record took 291 bytes, which is
// how a full scan outgrew a 256 MiB memory limit and, retried after the
// restart, crash-looped. BenchmarkListingMemory measures both.
//
// The start and last-modified times are kept for what decides by them (the
// id's entry, settling), as Unix nanoseconds: 8 bytes where a time.Time
// takes 24.
type listedRecord struct {
	version      int64
	start        int64 // Unix nanoseconds, 0 if absent
	lastModified int64 // Unix nanoseconds, 0 if absent
}

func makeListed(r *graph.CallRecord) listedRecord {
	return listedRecord{version: r.Version, start: unixNano(r.StartDateTime), lastModified: unixNano(r.LastModifiedDateTime)}
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// listing is one listing's records, one per id at the highest version
// listed: Graph's paging is not a snapshot and may repeat a record.
type listing map[string]listedRecord

func (l listing) add(r *graph.CallRecord) {
	if prev, ok := l[r.ID]; !ok || r.Version > prev.version {
		l[r.ID] = makeListed(r)
	}
}
