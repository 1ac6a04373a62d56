package graphsim

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"
)

// The stored form must serve what the record's JSON holds: every
// top-level member as written (but the annotations), the sessions as
// written, and list entries as json.Marshal of the selected members.
func TestStoredServesTheRecordAsWritten(t *testing.T) {
	var docs [][]byte
	for _, r := range Generate(GenOptions{Seed: 5, Count: 40, Start: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	for _, raw := range []string{
		`{"id":"no-sessions","startDateTime":"2026-02-28T10:00:00Z","type":"newCallType","modalities":["audio","hologram"]}`,
		`{"id":"empty","startDateTime":"2026-02-28T10:00:00Z","sessions":[],"joinWebUrl":"https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjkxNTA4ZjQtMjBiNi00YjMyLTg2NDctYWY2ZjMxMjc3NWM1%40thread.v2/0"}`,
		`{"@odata.context":"x","id":"a-long-id-a-long-id-a-long-id-a-long-id-a-long-id-a-long-id-a-long-id","startDateTime":"2026-02-28T12:00:00+01:00","sessions@odata.nextLink":"y","sessions":[1,"t\"w]o",{"th}ree":[3]}],"k\u003cey":"<\\\">"}`,
		`{"id":"dup","startDateTime":"2026-02-28T12:00:00Z","version":1,"version":2,"sessions":null}`,
	} {
		var c bytes.Buffer
		if err := json.Compact(&c, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, c.Bytes())
	}
	sels := [][]string{nil, {"id", "version", "type", "startDateTime", "endDateTime", "lastModifiedDateTime"}, {"organizer", "type"}, {"joinWebUrl"}, {"absent"}}
	for _, doc := range docs {
		var want map[string]json.RawMessage
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		var wantSessions []json.RawMessage
		if err := json.Unmarshal(want["sessions"], &wantSessions); err != nil && want["sessions"] != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"@odata.context", "sessions", "sessions@odata.context", "sessions@odata.nextLink"} {
			delete(want, k)
		}
		s, err := New(Options{}).parseStored(doc)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		top, sessions := unpack(s.shape, s.data)
		if !maps.EqualFunc(top, want, rawEqual) {
			t.Errorf("%s: top-level members\n got %s\nwant %s", s.id, marshalObject(top), marshalObject(want))
		}
		if (sessions == nil) != (wantSessions == nil) || !slices.EqualFunc(sessions, wantSessions, rawEqual) {
			t.Errorf("%s: sessions\n got %q\nwant %q", s.id, sessions, wantSessions)
		}
		for _, sel := range sels {
			for _, includeUnknown := range []bool{false, true} {
				top := want
				if !includeUnknown {
					top = downgradeTop(top)
				}
				wantListed := marshalObject(selectProps(top, sel))
				if got := appendListed(nil, listed{s.shape, s.data}, sel, includeUnknown); !bytes.Equal(got, wantListed) {
					t.Errorf("%s listed with $select=%v, unknown members %v:\n got %s\nwant %s", s.id, sel, includeUnknown, got, wantListed)
				}
			}
		}
	}
}

// Bump's new version and time override a long version kept in the body.
func TestBumpOverridesTheBody(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tenant := New(Options{Now: func() time.Time { return now }})
	long := `{"id":"r","startDateTime":"2026-02-28T10:00:00Z","version":1.0000000000000000000000000000000000000000000000000000000000000000000001}`
	if err := tenant.AddRaw([]byte(long)); err != nil {
		t.Fatal(err)
	}
	tenant.Bump("r")
	tenant.Bump("r")
	_, top, _, ok := tenant.lookup("r", true)
	if !ok || string(top["version"]) != "2" || string(top["lastModifiedDateTime"]) != `"2026-03-01T00:00:00Z"` {
		t.Errorf("after two bumps: version %s, lastModifiedDateTime %s", top["version"], top["lastModifiedDateTime"])
	}
}

func rawEqual(a, b json.RawMessage) bool { return bytes.Equal(a, b) }
