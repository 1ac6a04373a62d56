package graph

import (
	"errors"
	"strings"
)

// Whose problem a failure is decides readiness: a record Graph answered for
// but that cannot be ingested (gone after its 30 days, 404; an answer that
// cannot be read: malformed, too large, beyond the record bounds) is the
// same at every try and says nothing about Graph, so it must hold neither
// a poll nor /readyz in failure; a 5xx, a 429, a 401 or no answer at all is
// Graph (or the way to it) failing. The rule lives here, once.

// IsRecordProblem reports whether err, from fetching one record, is a
// problem of that record rather than of Graph.
func IsRecordProblem(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrBodyTooLarge)
}

// Answered reports whether a request outcome, as an Observer sees it
// (op and code), shows Graph working: a 2xx answer, or a 404 (an expired
// record). A token request is Entra ID, not Graph: it shows nothing about
// Graph, and Answered is false for it.
func Answered(op Operation, code string) bool {
	if op == OpToken {
		return false
	}
	return strings.HasPrefix(code, "2") || code == "404"
}
