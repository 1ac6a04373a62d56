package graph

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ErrNotFound is matched (errors.Is) by an Error whose status is 404: Graph
// keeps call records for 30 days, after which they are gone.
var ErrNotFound = errors.New("not found")

// ErrMalformed is matched (errors.Is) by a successful answer whose body is
// not what Graph documents (broken JSON, a field of the wrong type): asking
// again gets the same body, so it is a problem of that record, not of Graph.
var ErrMalformed = errors.New("malformed answer")

// ErrBodyTooLarge is returned when a response exceeds the configured limit.
var ErrBodyTooLarge = errors.New("response body exceeds the size limit")

// Error is a non-success answer from Graph. Message is Graph's own error
// message, shortened; it never contains request headers or tokens.
type Error struct {
	Op      Operation
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("graph %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes errors.Is(err, ErrNotFound) true for a 404 and
// errors.Is(err, ErrForbidden) true for a 403.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound ||
		target == ErrForbidden && e.Status == http.StatusForbidden
}

// odataError is Graph's error body: {"error":{"code":..., "message":...}}.
type odataError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func newError(op Operation, status int, body *odataError) *Error {
	e := &Error{Op: op, Status: status}
	if body != nil && body.Error != nil {
		e.Code = shorten(body.Error.Code, 64)
		e.Message = shorten(body.Error.Message, 200)
	}
	return e
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// retryable reports whether a status is worth retrying: throttling and the
// server errors Graph documents as transient.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func statusCode(status int) string { return strconv.Itoa(status) }
