package notifications

import (
	"errors"
	"io"
	"mime"
	"net/http"
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
	_, err := r.Deliver(req.Context(), req.Body, allow)
	switch {
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
	r.log.Info("answered Graph's validation of the notification URL", "path", req.URL.Path)
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
