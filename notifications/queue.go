package notifications

import (
	"sync"
	"time"
)

// Notified is a record id Graph notified, with when it was last notified:
// the record changed then, so settling counts from there.
type Notified struct {
	ID string
	At time.Time
}

// queue holds notified ids in arrival order, each once. It is bounded: an
// id that does not fit is dropped and the next re-list of the look-back
// finds the record instead, which is why a drop only sets spilled.
type queue struct {
	mu      sync.Mutex
	limit   int
	at      map[string]time.Time
	order   []string // FIFO from head; every entry is a key of at
	head    int
	spilled bool // an id was dropped since the last takeSpilled
}

func newQueue(limit int) *queue {
	return &queue{limit: limit, at: map[string]time.Time{}}
}

// push queues id, or for an id already queued moves its time to at when
// the record was updated (a repeated "created" is a redelivery and changes
// nothing). It reports whether the id was dropped for lack of room.
func (q *queue) push(id string, at time.Time, updated bool) (dropped bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if prev, ok := q.at[id]; ok {
		if updated && at.After(prev) {
			q.at[id] = at
		}
		return false
	}
	if len(q.at) >= q.limit {
		q.spilled = true
		return true
	}
	q.at[id] = at
	q.order = append(q.order, id)
	return false
}

// take removes and returns up to n ids, oldest first.
func (q *queue) take(n int) []Notified {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.order)-q.head)
	if n <= 0 {
		return nil
	}
	out := make([]Notified, n)
	for i := range out {
		id := q.order[q.head]
		q.order[q.head] = ""
		q.head++
		out[i] = Notified{ID: id, At: q.at[id]}
		delete(q.at, id)
	}
	if q.head == len(q.order) {
		q.order, q.head = q.order[:0], 0
	} else if q.head > len(q.order)/2 {
		// Compact so the backing array does not keep every id ever queued.
		q.order = append(q.order[:0], q.order[q.head:]...)
		q.head = 0
	}
	return out
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.at)
}

// takeSpilled reports whether an id was dropped since the last call.
func (q *queue) takeSpilled() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.spilled
	q.spilled = false
	return s
}
