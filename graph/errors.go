package graph

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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

// ErrRecordBounds is matched (errors.Is) by a record that holds more than a
// record may (sessions, segments per session, media per segment, streams
// per media, or elements in all): it is also ErrMalformed, a problem of
// that record. See docs/design.md, "Reliability tests", for the bounds.
var ErrRecordBounds = fmt.Errorf("%w: record exceeds a bound", ErrMalformed)

// Error is a non-success answer from Graph. Message is Graph's own error
// message, shortened; it never contains request headers or tokens.
type Error struct {
	Op      Operation
	Status  int
	Code    string
	Message string
	// Claims holds the decoded claims of a continuous-access-evaluation
	// challenge (a 401 with WWW-Authenticate error="insufficient_claims").
	Claims string
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

// statusCode is the code label of a status: the number for an HTTP status
// (100-599), "other" for anything else, so that a crafted $batch item
// status cannot create series without bound.
func statusCode(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

// maxClaimsBytes bounds a claims challenge: real ones are a few hundred
// bytes, and the decoded value is sent to the identity provider.
const maxClaimsBytes = 4 << 10

// claimsChallenge returns the decoded claims of a Bearer challenge with
// error="insufficient_claims", or "" when there is none or it cannot be
// read. Entra's format:
//
//	Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZX19fQ=="
func claimsChallenge(headers []string) string {
	for _, h := range headers {
		params := authParams(h)
		if params["error"] != "insufficient_claims" || params["claims"] == "" || len(params["claims"]) > maxClaimsBytes {
			continue
		}
		raw := params["claims"]
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			b, err := enc.DecodeString(raw)
			if err == nil && json.Valid(b) && bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
				return string(b)
			}
		}
	}
	return ""
}

// authParams reads the auth-params of one Bearer challenge
// (name="quoted value" or name=token, comma-separated; RFC 9110 11.6.1).
// Names are lower-cased.
func authParams(h string) map[string]string {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	out := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(rest, " \t,") {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		var value string
		after = strings.TrimLeft(after, " \t")
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			value, rest = b.String(), after[min(i+1, len(after)):]
		} else {
			value, rest, _ = strings.Cut(after, ",")
			value = strings.TrimSpace(value)
		}
		out[name] = value
	}
	return out
}
