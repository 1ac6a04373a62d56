package notifications

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"time"
)

// ServeHTTP implements http.Handler for NotificationPath and LifecyclePath:
// the validation handshake, and POSTs of notifications, which Deliver reads.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	allow := ChangeItems
	switch req.URL.Path {
	case NotificationPath:
	case LifecyclePath:
		allow = LifecycleItems
	default:
		r.reject(w, http.StatusNotFound, "unknown path")
		return
	}
	if req.URL.Query().Has("validationToken") {
		r.validate(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.reject(w, http.StatusMethodNotAllowed, "method "+clip(req.Method)+" without a validation token")
		return
	}
	if !isJSON(req.Header.Get("Content-Type")) {
		r.reject(w, http.StatusUnsupportedMediaType, "content type is not application/json")
		return
	}
	if req.ContentLength > MaxBodyBytes {
		r.reject(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB")
		return
	}
	body := &pacedBody{body: req.Body, rc: http.NewResponseController(w)}
	_, err := r.Deliver(req.Context(), body, allow)
	switch {
	case body.slow:
		// Counted as rejected by Deliver. The rest of the body is not
		// read: the connection is closed.
		w.Header().Set("Connection", "close")
		http.Error(w, http.StatusText(http.StatusRequestTimeout), http.StatusRequestTimeout)
	case err == nil:
		w.WriteHeader(http.StatusAccepted)
	case errors.Is(err, ErrBusy):
		// Graph retries a 5xx with backoff; the body stays unread, and the
		// connection is closed so that its sender cannot push it anyway.
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Connection", "close")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
	case errors.Is(err, ErrForbidden):
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
	case errors.Is(err, ErrTooLarge):
		w.Header().Set("Connection", "close")
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
	default:
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
	}
}

// A body must arrive at minBodyRate once it holds a reading slot, after
// bodyGrace. Graph sends a body at once, over a fast link; a sender that
// trickles it would hold one of the few slots for the whole read timeout.
const (
	minBodyRate = 32 << 10 // bytes a second
	bodyGrace   = 250 * time.Millisecond
)

// pacedBody reads a request body, ending it with slow set when the body
// falls behind minBodyRate, counted from its first Read (Deliver reads
// only once it holds a slot). It bounds each Read with the connection's
// read deadline, at most readTimeout after the first.
type pacedBody struct {
	body  io.Reader
	rc    *http.ResponseController
	start time.Time
	read  int64
	slow  bool
	off   bool // the connection takes no deadline (not a real server)
}

func (p *pacedBody) Read(b []byte) (int, error) {
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	if !p.off {
		due := p.start.Add(bodyGrace + time.Duration(p.read)*time.Second/minBodyRate)
		if limit := p.start.Add(readTimeout); due.After(limit) {
			due = limit
		}
		if p.rc.SetReadDeadline(due) != nil {
			p.off = true
		}
	}
	n, err := p.body.Read(b)
	p.read += int64(n)
	switch {
	case p.off:
	case errors.Is(err, io.EOF):
		// Read whole: net/http's own read for the next request must not
		// meet this deadline.
		_ = p.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		p.slow = true
	}
	return n, err
}

// validate answers Graph's handshake for a new subscription: the token,
// URL-decoded, as text/plain with 200, within 10 seconds.
func (r *Receiver) validate(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodGet {
		w.Header().Set("Allow", "POST, GET")
		r.reject(w, http.StatusMethodNotAllowed, "validation with method "+clip(req.Method))
		return
	}
	token := req.URL.Query().Get("validationToken")
	if token == "" || len(token) > maxValidationToken {
		r.reject(w, http.StatusBadRequest, "validation token empty or too long")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	// The token is echoed verbatim, as Graph requires; a browser must not
	// take it for markup.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, token)
	r.metrics.notifications.WithLabelValues(ResultValidation).Inc()
	// Anyone can ask for a handshake: the log line is rate-limited, the
	// counter counts them all.
	r.logEvery(&r.lastValid, slog.LevelInfo, "answered Graph's validation of the notification URL", "path", req.URL.Path)
}

// reject answers status to a request refused before its body is read, and
// counts it as rejected.
func (r *Receiver) reject(w http.ResponseWriter, status int, why string) {
	r.metrics.notifications.WithLabelValues(ResultRejected).Inc()
	r.warn("notification request rejected", "status", status, "reason", why)
	http.Error(w, http.StatusText(status), status)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
