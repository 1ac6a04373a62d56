package graphsim

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Operations, as Operation reports them and RequestStats counts them. The
// Graph ones match the exporter's operation label.
const (
	OpToken     = "token"
	OpOpenID    = "openid"
	OpDiscovery = "discovery"
	OpList      = "list"
	OpGet       = "get"
	OpSessions  = "sessions"
	OpBatch     = "batch"
	OpMetadata  = "metadata" // the CSDL document; no client of this exporter asks for it
)

// Middleware wraps the handling of requests; see Tenant.Use.
type Middleware func(http.Handler) http.Handler

// Use adds middleware (for instance fault injection: 429s, 5xx, stalls,
// truncated bodies) around every request the tenant serves, including each
// request inside a $batch, which then sees IsBatchItem true and a
// ResponseWriter that records the answer instead of a connection (to reset
// a connection, panic(http.ErrAbortHandler), which aborts the whole batch).
// Middleware runs after the request is counted and before authentication,
// so that faults can hit every operation. The first one added is outermost.
func (t *Tenant) Use(mw ...Middleware) {
	t.mwMu.Lock()
	defer t.mwMu.Unlock()
	t.middlewares = append(t.middlewares, mw...)
}

// Rewrite is middleware that passes the tenant's answers to operation op
// (a $batch's items each on their own) through fn before they are sent:
// the way tests give the client answers Graph documents but the generator
// does not produce (a missing field, a fused next link, another origin).
func Rewrite(op string, fn func(r *http.Request, body []byte) []byte) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if Operation(r) != op {
				next.ServeHTTP(w, r)
				return
			}
			rec := &recorder{header: http.Header{}}
			next.ServeHTTP(rec, r)
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(cmp.Or(rec.status, http.StatusOK))
			_, _ = w.Write(fn(r, rec.body.Bytes()))
		})
	}
}

type ctxKey int

const (
	opKey ctxKey = iota
	batchItemKey
	tenantKey
)

// Operation returns the operation a request to the tenant is for (OpList,
// OpToken, ...), or "" when it matches no route.
func Operation(r *http.Request) string {
	if op, ok := r.Context().Value(opKey).(string); ok {
		return op
	}
	op, _ := route(r)
	return op
}

// IsBatchItem reports whether r is a request inside a $batch.
func IsBatchItem(r *http.Request) bool {
	v, _ := r.Context().Value(batchItemKey).(bool)
	return v
}

// Handler returns the tenant's HTTP handler, serving Entra ID under
// /{tenant}/... and /common/discovery/instance, and Graph under /v1.0.
func (t *Tenant) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.dispatch(w, r, false)
	})
}

// dispatch is the single place where requests are routed: direct ones and
// those inside a $batch go through the same counting, middleware and routes.
func (t *Tenant) dispatch(w http.ResponseWriter, r *http.Request, inBatch bool) {
	op, h := route(r)
	t.stats.count(op, inBatch)
	if op == OpList {
		t.listWindow.add(time.Now())
	}
	ctx := context.WithValue(context.WithValue(r.Context(), opKey, op), tenantKey, t)
	if inBatch {
		ctx = context.WithValue(ctx, batchItemKey, true)
	}
	r = r.WithContext(ctx)
	var next http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(t, w, r) })
	t.mwMu.RLock()
	mws := t.middlewares
	t.mwMu.RUnlock()
	for i := len(mws) - 1; i >= 0; i-- {
		next = mws[i](next)
	}
	next.ServeHTTP(w, r)
}

type handlerFunc func(t *Tenant, w http.ResponseWriter, r *http.Request)

// route maps a request to its operation and handler. Path parameters are
// read again by the handlers from the path, so route stays the only parser
// of the layout.
func route(r *http.Request) (string, handlerFunc) {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(p) == 3 && p[0] == "common" && p[1] == "discovery" && p[2] == "instance":
		return OpDiscovery, method(http.MethodGet, (*Tenant).serveDiscovery)
	case len(p) == 4 && p[1] == "v2.0" && p[2] == ".well-known" && p[3] == "openid-configuration":
		return OpOpenID, method(http.MethodGet, (*Tenant).serveOpenID)
	case len(p) == 4 && p[1] == "oauth2" && p[2] == "v2.0" && p[3] == "token":
		return OpToken, method(http.MethodPost, (*Tenant).serveToken)
	case len(p) == 0 || p[0] != "v1.0":
		return "", notFound
	case (len(p) == 2 || len(p) == 3 && p[2] != "") && p[1] == "subscriptions":
		return OpSubscription, authed((*Tenant).serveSubscriptions)
	case len(p) == 2 && p[1] == "$batch":
		return OpBatch, method(http.MethodPost, authed((*Tenant).serveBatch))
	case len(p) == 2 && p[1] == "$metadata":
		return OpMetadata, method(http.MethodGet, (*Tenant).serveMetadata)
	case len(p) < 3 || p[1] != "communications":
		return "", notFound
	case len(p) == 4 && p[2] == "callRecords":
		if op, _, ok := callLogFunction(p[3]); ok {
			return op, method(http.MethodGet, authed((*Tenant).serveCallLog))
		}
	}
	id, sub, ok := parseRecordPath(p[2:])
	switch {
	case !ok:
		return "", notFound
	case id == "":
		return OpList, method(http.MethodGet, authed((*Tenant).serveList))
	case sub == "":
		return OpGet, method(http.MethodGet, authed((*Tenant).serveGet))
	case sub == "sessions":
		return OpSessions, method(http.MethodGet, authed((*Tenant).serveSessions))
	}
	return "", notFound
}

// parseRecordPath reads the segments after /v1.0/communications/:
// callRecords, callRecords/{id}[/sub] or callRecords('{id}')[/sub], the two
// key syntaxes Graph accepts.
func parseRecordPath(rest []string) (id, sub string, ok bool) {
	head := rest[0]
	if head == "callRecords" {
		switch len(rest) {
		case 1:
			return "", "", true
		case 2:
			return rest[1], "", rest[1] != ""
		case 3:
			return rest[1], rest[2], rest[1] != ""
		}
		return "", "", false
	}
	inner, ok1 := strings.CutPrefix(head, "callRecords(")
	inner, ok2 := strings.CutSuffix(inner, ")")
	if !ok1 || !ok2 || len(rest) > 2 {
		return "", "", false
	}
	if len(inner) >= 2 && inner[0] == '\'' && inner[len(inner)-1] == '\'' {
		inner = inner[1 : len(inner)-1]
	}
	if inner == "" {
		return "", "", false
	}
	if len(rest) == 2 {
		return inner, rest[1], true
	}
	return inner, "", true
}

// pathRecordID returns the record id of a get or sessions request.
func pathRecordID(r *http.Request) string {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(p) < 3 {
		return ""
	}
	id, _, _ := parseRecordPath(p[2:])
	return id
}

func method(m string, h handlerFunc) handlerFunc {
	return func(t *Tenant, w http.ResponseWriter, r *http.Request) {
		if r.Method != m {
			w.Header().Set("Allow", m)
			graphError(w, r, http.StatusMethodNotAllowed, "BadRequest",
				fmt.Sprintf("The HTTP method '%s' is not allowed on this resource.", r.Method))
			return
		}
		h(t, w, r)
	}
}

// authed checks the bearer token as Graph does before anything else.
func authed(h func(*Tenant, http.ResponseWriter, *http.Request)) handlerFunc {
	return func(t *Tenant, w http.ResponseWriter, r *http.Request) {
		msg := ""
		switch t.checkToken(r) {
		case tokenValid:
			h(t, w, r)
			return
		case tokenMissing:
			msg = "Access token is empty."
		case tokenExpired:
			msg = "Lifetime validation failed, the token is expired."
		case tokenChallenged:
			_, tok, _ := cutSpace(r.Header.Get("Authorization"))
			writeChallenge(w, r, t.challengeOf(tok))
			return
		default:
			msg = "Access token validation failure. Invalid audience."
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	}
}

func notFound(t *Tenant, w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1.0/") {
		seg := strings.TrimPrefix(r.URL.Path, "/v1.0/")
		graphError(w, r, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Resource not found for the segment '%s'.", firstSegment(seg)))
		return
	}
	graphError(w, r, http.StatusNotFound, "NotFound", "The requested resource does not exist.")
}

func firstSegment(p string) string {
	seg, _, _ := strings.Cut(p, "/")
	if len(seg) > 64 {
		seg = seg[:64]
	}
	return seg
}

// graphJSONType is the Content-Type Graph answers JSON with.
const graphJSONType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// writeGraph sets Graph's response headers and writes a JSON body.
func writeGraph(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	reqID := newUUID()
	h.Set("Content-Type", graphJSONType)
	h.Set("request-id", reqID)
	if c := r.Header.Get("client-request-id"); c != "" {
		h.Set("client-request-id", c)
	} else {
		h.Set("client-request-id", reqID)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// graphError writes Graph's error shape:
// {"error":{"code":...,"message":...,"innerError":{...}}}.
func graphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	type inner struct {
		Date            string `json:"date"`
		RequestID       string `json:"request-id"`
		ClientRequestID string `json:"client-request-id"`
	}
	type body struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError inner  `json:"innerError"`
	}
	id := newUUID()
	b, _ := json.Marshal(map[string]body{"error": {Code: code, Message: message, InnerError: inner{
		Date: time.Now().UTC().Format("2006-01-02T15:04:05"), RequestID: id, ClientRequestID: id,
	}}})
	writeGraph(w, r, status, b)
}

// baseURL is the scheme and host the client used, for absolute links.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// newUUID returns a random version 4 UUID (request ids, trace ids).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func cutSpace(s string) (string, string, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), " ")
	return a, strings.TrimSpace(b), ok
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
