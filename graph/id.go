package graph

import "fmt"

// MaxIDBytes bounds the id of a call record or a call-log row, wherever it
// comes from: listed, fetched or notified. Graph's are 36-character UUIDs.
// The ledger keeps every id it ingests and refuses at start a state holding
// a longer one, so an id over this bound is malformed everywhere: refused
// where it is read, never written to the state.
const MaxIDBytes = 128

// ValidID reports whether id is within MaxIDBytes and not empty.
func ValidID(id string) bool { return id != "" && len(id) <= MaxIDBytes }

// idForLog returns what may be logged of a hostile id: at most its first
// 16 bytes, and its length. The log handler escapes what it holds.
func idForLog(id string) string {
	if len(id) <= 16 {
		return id
	}
	return fmt.Sprintf("%s... (%d bytes)", id[:16], len(id))
}

// checkID refuses an id that is not ValidID, as ErrMalformed, naming only
// its length.
func checkID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: an id of %d bytes (at most %d)", ErrMalformed, len(id), MaxIDBytes)
	}
	return nil
}
