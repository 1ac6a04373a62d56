package graphsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// serveList answers GET /v1.0/communications/callRecords: records without
// sessions, in (startDateTime, id) order, paged with @odata.nextLink.
func (t *Tenant) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkQueryOptions(q, "$filter", "$skiptoken", "$select"); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	var cur listCursor
	if tok := q.Get("$skiptoken"); tok != "" {
		if err := decodeToken(tok, &cur); err != nil {
			graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
	} else {
		if f := q.Get("$filter"); f != "" {
			iv, err := parseFilter(f)
			if err != nil {
				graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
				return
			}
			cur.Filter = iv
		}
		sel, err := parseSelect(q.Get("$select"))
		if err != nil {
			graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		cur.Select = sel
	}
	prefs := parsePrefer(r.Header)
	size := defaultPageSize
	if cur.Size > 0 {
		size = cur.Size
	}
	if prefs.maxPageSize > 0 {
		size = min(prefs.maxPageSize, t.opts.MaxPageSize)
		if size == prefs.maxPageSize {
			w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(size))
		}
	}
	cur.Size = size

	page, more := t.listPage(&cur, size)
	// The page is written from the stored heads: what json.Marshal of
	// each record's selected members would give, without a map or a
	// validation of every value per record listed.
	b := appendString([]byte(`{"@odata.context":`), baseURL(r)+"/v1.0/$metadata#communications/callRecords")
	b = append(b, `,"value":[`...)
	for i, rec := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendListed(b, rec, cur.Select, prefs.includeUnknown)
	}
	b = append(b, ']')
	if more {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendString(b, baseURL(r)+"/v1.0/communications/callRecords?$skiptoken="+encodeToken(cur))
	}
	writeGraph(w, r, http.StatusOK, append(b, '}'))
}

// listPage returns up to size records after the cursor that match its
// filter, advances the cursor past them, and reports whether more remain.
func (t *Tenant) listPage(cur *listCursor, size int) ([]listed, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	i := 0
	if cur.LastID != "" {
		// First record strictly after the last one served.
		i = sort.Search(len(t.order), func(i int) bool {
			s := t.order[i]
			return s.start.After(cur.LastStart) || s.start.Equal(cur.LastStart) && s.id > cur.LastID
		})
	} else if lo := cur.Filter.Lo; lo != nil {
		i = sort.Search(len(t.order), func(i int) bool { return !t.order[i].start.Before(*lo) })
	}
	var page []listed
	for ; i < len(t.order); i++ {
		s := t.order[i]
		if cur.Filter.aboveHi(s.start) {
			break
		}
		if !cur.Filter.contains(s.start) || !t.retained(s) || len(t.unlisted) > 0 && t.unlisted[s.id] {
			continue
		}
		if len(page) == size {
			return page, true
		}
		page = append(page, listed{s.shape, s.data})
		cur.LastStart, cur.LastID = s.start, s.id
	}
	return page, false
}

// serveGet answers GET /v1.0/communications/callRecords/{id}, with
// $expand=sessions($expand=segments) the first page of sessions.
func (t *Tenant) serveGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkQueryOptions(q, "$expand", "$select"); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	expandSessions, withSegments := false, false
	switch e := strings.ReplaceAll(q.Get("$expand"), " ", ""); e {
	case "":
	case "sessions":
		expandSessions = true
	case "sessions($expand=segments)":
		expandSessions, withSegments = true, true
	default:
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Parsing OData Select and Expand failed: could not expand '"+clip(e)+"'.")
		return
	}
	sel, err := parseSelect(q.Get("$select"))
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	prefs := parsePrefer(r.Header)
	id := pathRecordID(r)
	recID, top, sessions, ok := t.lookup(id, prefs.includeUnknown)
	if !ok {
		recordNotFound(w, r)
		return
	}
	if !prefs.includeUnknown {
		top = downgradeTop(top)
	}
	out := selectProps(top, sel)
	base := baseURL(r)
	out["@odata.context"] = jsonString(base + "/v1.0/$metadata#communications/callRecords/$entity")
	if expandSessions {
		n := min(len(sessions), t.opts.SessionsPageSize)
		out["sessions@odata.context"] = jsonString(base + "/v1.0/$metadata#communications/callRecords('" + recID + "')/sessions")
		out["sessions"] = marshalSessions(sessionsView(sessions[:n], withSegments))
		if n < len(sessions) {
			out["sessions@odata.nextLink"] = jsonString(t.sessionsLink(base, recID, withSegments, n))
		}
	}
	writeGraph(w, r, http.StatusOK, marshalObject(out))
}

// serveSessions answers GET /v1.0/communications/callRecords/{id}/sessions.
func (t *Tenant) serveSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkQueryOptions(q, "$expand", "$skiptoken"); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	withSegments := false
	switch e := strings.TrimSpace(q.Get("$expand")); e {
	case "":
	case "segments":
		withSegments = true
	default:
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Parsing OData Select and Expand failed: could not expand '"+clip(e)+"'.")
		return
	}
	id := pathRecordID(r)
	var cur sessionsCursor
	if tok := q.Get("$skiptoken"); tok != "" {
		if err := decodeToken(tok, &cur); err != nil || cur.ID != id || cur.Offset < 0 {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "malformed $skiptoken")
			return
		}
	}
	prefs := parsePrefer(r.Header)
	recID, _, sessions, ok := t.lookup(id, prefs.includeUnknown)
	if !ok {
		recordNotFound(w, r)
		return
	}
	from := min(cur.Offset, len(sessions))
	to := min(from+t.opts.SessionsPageSize, len(sessions))
	base := baseURL(r)
	body := struct {
		Context  string            `json:"@odata.context"`
		Value    []json.RawMessage `json:"value"`
		NextLink string            `json:"@odata.nextLink,omitempty"`
	}{
		Context: base + "/v1.0/$metadata#communications/callRecords('" + recID + "')/sessions",
		Value:   sessionsView(sessions[from:to], withSegments),
	}
	if to < len(sessions) {
		body.NextLink = t.sessionsLink(base, recID, withSegments, to)
	}
	b, _ := json.Marshal(body)
	writeGraph(w, r, http.StatusOK, b)
}

// serveMetadata answers GET /v1.0/$metadata with the service's CSDL
// document, XML as Graph serves it (shortened here to the namespace this
// tenant serves): what a client gets when it follows a fused
// sessions@odata.nextLink as a URL.
func (t *Tenant) serveMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="microsoft.graph.callRecords" xmlns="http://docs.oasis-open.org/odata/ns/edm"/></edmx:DataServices></edmx:Edmx>`))
}

func recordNotFound(w http.ResponseWriter, r *http.Request) {
	graphError(w, r, http.StatusNotFound, "NotFound", "The requested call record was not found.")
}

// lookup returns a record's id, its current top-level properties and the
// sessions as this client sees them.
func (t *Tenant) lookup(id string, includeUnknown bool) (string, map[string]json.RawMessage, []json.RawMessage, bool) {
	t.mu.RLock()
	s, ok := t.byID[id]
	if !ok || !t.retained(s) {
		t.mu.RUnlock()
		return "", nil, nil, false
	}
	shape, data := s.shape, s.data
	t.mu.RUnlock()
	// Inflated outside the lock: data is replaced, never changed.
	top, sessions := unpack(shape, data)
	if !includeUnknown {
		sessions = legacySessions(sessions)
	}
	return s.id, top, sessions, true
}

func (t *Tenant) sessionsLink(base, id string, withSegments bool, offset int) string {
	link := base + "/v1.0/communications/callRecords/" + url.PathEscape(id) + "/sessions?"
	if t.opts.FusedSessionsLinks {
		link = base + "/v1.0/$metadata#communications/callRecords('" + url.PathEscape(id) + "')/sessions?"
	}
	if withSegments {
		link += "$expand=segments&"
	}
	return link + "$skiptoken=" + encodeToken(sessionsCursor{ID: id, Offset: offset})
}

// sessionsView returns the sessions, without their segments unless expanded.
func sessionsView(sessions []json.RawMessage, withSegments bool) []json.RawMessage {
	if withSegments {
		return sessions
	}
	out := make([]json.RawMessage, len(sessions))
	for i, raw := range sessions {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			out[i] = raw
			continue
		}
		delete(m, "segments")
		delete(m, "segments@odata.context")
		out[i] = marshalObject(m)
	}
	return out
}

// selectProps applies $select; id is always kept, as Graph does.
func selectProps(top map[string]json.RawMessage, sel []string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(top)+4)
	if len(sel) == 0 {
		for k, v := range top {
			out[k] = v
		}
		return out
	}
	out["id"] = top["id"]
	for _, k := range sel {
		if v, ok := top[k]; ok {
			out[k] = v
		}
	}
	return out
}

// listed is a record as a list page serves it: its data when the page
// was cut.
type listed struct {
	shape *headShape
	data  []byte
}

// appendListed appends a listed record as
// marshalObject(selectProps(downgradeTop(top), sel)) would, reading only
// the head when it has every member sel asks for.
func appendListed(b []byte, rec listed, sel []string, includeUnknown bool) []byte {
	ms, body := headMembers(rec.shape, rec.data)
	if body != nil && !hasMembers(ms, sel) {
		ms = topMembers(rec.shape, rec.data)
	}
	b = append(b, '{')
	for _, m := range ms {
		if len(sel) > 0 && m.key != "id" && !slices.Contains(sel, m.key) {
			continue
		}
		if !includeUnknown {
			m.val = downgradeTopMember(m.key, m.val)
		}
		b = appendMember(b, m)
	}
	return closeObject(b)
}

// hasMembers reports whether ms holds id and every member sel names; an
// empty sel names them all.
func hasMembers(ms []member, sel []string) bool {
	if len(sel) == 0 {
		return false
	}
	has := func(k string) bool {
		return slices.ContainsFunc(ms, func(m member) bool { return m.key == k })
	}
	if !has("id") {
		return false
	}
	for _, k := range sel {
		if !has(k) {
			return false
		}
	}
	return true
}

// marshalObject is json.Marshal of m, which the simulator calls for every
// record of every page it serves: the values are already compact JSON
// (they come from json.Marshal or from compact JSON split into members),
// so they are copied as they are instead of being validated and compacted
// again, which was most of a large simulated day's time in the simulator.
// The keys are sorted, as json.Marshal sorts them.
func marshalObject(m map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(m))
	size := 2
	for k, v := range m {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if v := m[k]; v == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, v...)
		}
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, escaped as json.Marshal does.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// marshalSessions is marshalArray of sessions, which are compact JSON
// (the store's, json.Marshal's or marshalObject's): each is written as
// json.Marshal writes it, escaped for HTML, without validating it again
// (a record's get did that three times over its sessions).
func marshalSessions(sessions []json.RawMessage) json.RawMessage {
	size := 2
	for _, s := range sessions {
		size += len(s) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	buf.WriteByte('[')
	for i, s := range sessions {
		if i > 0 {
			buf.WriteByte(',')
		}
		json.HTMLEscape(buf, s)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

func marshalArray(a []json.RawMessage) json.RawMessage {
	if a == nil {
		a = []json.RawMessage{}
	}
	b, _ := json.Marshal(a)
	return b
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
