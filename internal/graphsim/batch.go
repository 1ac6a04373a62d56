package graphsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// maxBatchRequests is Graph's limit of requests in one JSON batch.
const maxBatchRequests = 20

type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// serveBatch answers POST /v1.0/$batch. Each inner request is dispatched
// through the same routes (and middleware) as a direct one, with the
// batch's Authorization header and its own headers; a client that wants
// newer enum members asks for them per request, in the item's headers.
func (t *Tenant) serveBatch(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: the Content-Type must be application/json.")
		return
	}
	var payload struct {
		Requests []batchRequest `json:"requests"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20))
	if err := dec.Decode(&payload); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if msg := validateBatch(payload.Requests); msg != "" {
		graphError(w, r, http.StatusBadRequest, "BadRequest", msg)
		return
	}
	out := struct {
		Responses []batchResponse `json:"responses"`
	}{Responses: make([]batchResponse, 0, len(payload.Requests))}
	for _, br := range payload.Requests {
		out.Responses = append(out.Responses, t.batchItem(r, br))
	}
	b, _ := json.Marshal(out)
	writeGraph(w, r, http.StatusOK, b)
}

func validateBatch(reqs []batchRequest) string {
	switch {
	case len(reqs) == 0:
		return "Invalid batch payload format: no requests."
	case len(reqs) > maxBatchRequests:
		return fmt.Sprintf("Number of requests in the batch (%d) exceeds the limit of %d.", len(reqs), maxBatchRequests)
	}
	seen := map[string]bool{}
	for _, br := range reqs {
		switch {
		case br.ID == "":
			return "Invalid batch payload format: a request has no id."
		case seen[br.ID]:
			return fmt.Sprintf("Invalid batch payload format: duplicate request id %q.", clip(br.ID))
		case br.Method == "" || br.URL == "":
			return fmt.Sprintf("Invalid batch payload format: request %q needs a method and a url.", clip(br.ID))
		}
		seen[br.ID] = true
	}
	return ""
}

// batchItem builds the inner request, dispatches it and records the answer.
func (t *Tenant) batchItem(outer *http.Request, br batchRequest) batchResponse {
	rel := br.URL
	if !strings.HasPrefix(rel, "/") {
		rel = "/" + rel
	}
	if strings.Contains(br.URL, "://") || strings.HasPrefix(rel, "/$batch") {
		return itemError(br.ID, http.StatusBadRequest, "BadRequest", "Invalid request URL: a batch item's url is relative to the version, such as /communications/callRecords.")
	}
	inner, err := http.NewRequestWithContext(outer.Context(), strings.ToUpper(br.Method), "/v1.0"+rel, bytes.NewReader(br.Body))
	if err != nil {
		return itemError(br.ID, http.StatusBadRequest, "BadRequest", "Invalid request URL.")
	}
	inner.Host, inner.TLS, inner.RemoteAddr = outer.Host, outer.TLS, outer.RemoteAddr
	inner.RequestURI = inner.URL.RequestURI()
	for k, v := range br.Headers {
		inner.Header.Set(k, v)
	}
	if a := outer.Header.Get("Authorization"); a != "" {
		inner.Header.Set("Authorization", a)
	}
	rec := &recorder{header: http.Header{}}
	t.dispatch(rec, inner, true)
	return rec.response(br.ID)
}

func itemError(id string, status int, code, msg string) batchResponse {
	rec := &recorder{header: http.Header{}}
	graphError(rec, &http.Request{Header: http.Header{}}, status, code, msg)
	return rec.response(id)
}

// recorder is the ResponseWriter of a batch item.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// response embeds a JSON body as is and any other body base64-encoded, as
// Graph does.
func (r *recorder) response(id string) batchResponse {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := batchResponse{ID: id, Status: status, Headers: map[string]string{}}
	for k, v := range r.header {
		if len(v) > 0 && k != "Content-Length" && k != "Date" {
			resp.Headers[k] = strings.Join(v, ", ")
		}
	}
	if r.body.Len() == 0 {
		return resp
	}
	if json.Valid(r.body.Bytes()) && strings.Contains(r.header.Get("Content-Type"), "json") {
		resp.Body = append(json.RawMessage(nil), r.body.Bytes()...)
	} else {
		resp.Body = jsonString(base64.StdEncoding.EncodeToString(r.body.Bytes()))
	}
	return resp
}
