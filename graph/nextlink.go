package graph

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// sessionsLink turns a record's sessions@odata.nextLink into the request to
// make for the next page of its sessions.
//
// Microsoft's own examples fuse the context URL with the next link:
//
//	https://graph.microsoft.com/v1.0/$metadata#communications/callRecords('{id}')/sessions?$expand=segments&$skiptoken=...
//
// where a URL parser sees a request for /v1.0/$metadata and drops
// everything after '#'. Whether production Graph sends that form is not
// documented, so both it and the plain form
// (.../communications/callRecords/{id}/sessions?...) are accepted. Either
// way the link is only read, never followed as given: it must be on the
// configured Graph origin (so the bearer token goes nowhere else) and name
// the record asked for, and the request is rebuilt on the configured Graph
// root and version with $expand=segments and the link's skip token.
func (c *Client) sessionsLink(id, link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("sessions next link: %w", err)
	}
	if err := c.sameOrigin(link); err != nil {
		return "", err
	}
	var resource, rawQuery string
	if frag := u.EscapedFragment(); frag != "" {
		if !strings.HasSuffix(u.Path, "/$metadata") {
			return "", fmt.Errorf("%w: sessions next link has a fragment but is not a $metadata context URL", ErrMalformed)
		}
		resource, rawQuery, _ = strings.Cut(frag, "?")
	} else {
		// The path after the version: /v1.0/communications/... or
		// /beta/communications/... under the configured root.
		rest := strings.TrimPrefix(u.EscapedPath(), c.base.EscapedPath())
		_, resource, _ = strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		rawQuery = u.RawQuery
	}
	linkID, err := sessionsResourceID(resource)
	if err != nil {
		return "", err
	}
	if linkID != id {
		return "", fmt.Errorf("%w: sessions next link is for another record", ErrMalformed)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("%w: sessions next link query: %w", ErrMalformed, err)
	}
	next := c.endpoint("/v1.0/communications/callRecords/"+url.PathEscape(id)+"/sessions") + "?$expand=segments"
	for _, k := range []string{"$skiptoken", "$skip"} {
		if v := q.Get(k); v != "" {
			next += "&" + k + "=" + queryEscape(v)
		}
	}
	if !strings.Contains(next, "&$skip") {
		return "", fmt.Errorf("%w: sessions next link has no skip token", ErrMalformed)
	}
	return next, nil
}

// sessionsResourceID reads the record id of an OData path to a record's
// sessions, in either key syntax: communications/callRecords/{id}/sessions
// or communications/callRecords('{id}')/sessions.
func sessionsResourceID(resource string) (string, error) {
	p := strings.Split(resource, "/")
	bad := fmt.Errorf("%w: sessions next link does not name a record's sessions", ErrMalformed)
	var key string
	switch {
	case len(p) == 4 && p[0] == "communications" && p[1] == "callRecords" && p[3] == "sessions":
		key = p[2]
	case len(p) == 3 && p[0] == "communications" && p[2] == "sessions" &&
		strings.HasPrefix(p[1], "callRecords(") && strings.HasSuffix(p[1], ")"):
		key = strings.TrimSuffix(strings.TrimPrefix(p[1], "callRecords("), ")")
		if len(key) >= 2 && key[0] == '\'' && key[len(key)-1] == '\'' {
			key = key[1 : len(key)-1]
		}
	default:
		return "", bad
	}
	id, err := url.PathUnescape(key)
	if err != nil || id == "" {
		return "", bad
	}
	return id, nil
}

// errOtherOrigin marks a link that leaves the configured Graph origin.
var errOtherOrigin = errors.New("link leaves the configured Graph origin; not followed")

// sameOrigin refuses links to other origins (scheme, host and port): the
// bearer token must only ever go to the configured Graph root.
func (c *Client) sameOrigin(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("next link: %w", err)
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return fmt.Errorf("next link: %w", errOtherOrigin)
	}
	return nil
}
