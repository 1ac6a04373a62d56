package notifications

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// A body is read as a stream of JSON tokens, one item of "value" at a
// time, never whole: a hostile body of a million empty items costs the
// decoder's buffer, not a million structs. Only the fields the exporter
// needs are kept, each in a small buffer reused from item to item, and
// each bounded; anything else is skipped unread.

// maxFieldBytes bounds the raw JSON of one field the receiver reads (a
// clientState of 128 characters is at most 512 bytes of UTF-8; ids and
// resource paths are far shorter). A longer one makes its item invalid.
const maxFieldBytes = 1024

// fieldsOfItem are the members of a notification the receiver reads.
const (
	fieldClientState = 1 << iota
	fieldSubscriptionID
	fieldChangeType
	fieldResource
	fieldResourceDataID
	fieldLifecycleEvent
	fieldTenantID
	fieldOrganizationID
)

// tenantFields are the members that name an item's tenant: tenantId, which
// Microsoft documents, and organizationId, which Graph has sent instead in
// lifecycle notifications.
const tenantFields = fieldTenantID | fieldOrganizationID

// item is one notification as read: raw fields, unquoted, and the first
// problem found with it apart from its clientState and tenant (which are
// checked first, so nothing else about a foreign item matters). present
// marks the fields given a value other than null, even one not kept (not
// a string, or longer than maxFieldBytes: left empty, so it matches no
// tenant); twice marks the fields that appear more than once.
type item struct {
	clientState    []byte
	subscriptionID []byte
	changeType     []byte
	resource       []byte
	resourceDataID []byte
	lifecycleEvent []byte
	tenantID       []byte
	organizationID []byte
	seen           int
	present        int
	twice          int
	problem        string
}

func (it *item) reset() {
	it.clientState = it.clientState[:0]
	it.subscriptionID = it.subscriptionID[:0]
	it.changeType = it.changeType[:0]
	it.resource = it.resource[:0]
	it.resourceDataID = it.resourceDataID[:0]
	it.lifecycleEvent = it.lifecycleEvent[:0]
	it.tenantID = it.tenantID[:0]
	it.organizationID = it.organizationID[:0]
	it.seen = 0
	it.present = 0
	it.twice = 0
	it.problem = ""
}

func (it *item) fail(problem string) {
	if it.problem == "" {
		it.problem = problem
	}
}

// Sentinel problems of a whole body; decodeBody wraps them with details.
var (
	errTooManyItems = fmt.Errorf("more than %d notifications", MaxItems)
	errBodyTooLarge = fmt.Errorf("body larger than %d bytes", MaxBodyBytes)
)

// boundedReader reads at most limit bytes of r, reporting errBodyTooLarge
// beyond, and stops when ctx ends.
type boundedReader struct {
	ctx   context.Context
	r     io.Reader
	left  int64
	over  bool
	ctxEr error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		b.ctxEr = err
		return 0, err
	}
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			b.over = true
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// decodeBody reads a changeNotificationCollection from r and calls each
// for every item of its "value", as soon as the item has been read. The
// item is valid only during the call. An error is about the body as a
// whole: not JSON, not a collection, too large or not read.
func decodeBody(ctx context.Context, r io.Reader, each func(*item)) error {
	br := &boundedReader{ctx: ctx, r: r, left: MaxBodyBytes}
	err := decodeCollection(jsontext.NewDecoder(br, jsontext.AllowDuplicateNames(true)), each)
	switch {
	case br.over:
		return errBodyTooLarge
	case br.ctxEr != nil:
		return fmt.Errorf("body not read: %w", br.ctxEr)
	}
	return err
}

func decodeCollection(dec *jsontext.Decoder, each func(*item)) error {
	if err := expect(dec, '{', "the body is not a JSON object"); err != nil {
		return err
	}
	var name []byte
	values := 0
	for {
		if dec.PeekKind() == '}' {
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			break
		}
		var err error
		if name, err = readName(dec, name); err != nil {
			return err
		}
		if string(name) != "value" {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		if values++; values > 1 {
			return errors.New(`"value" appears twice`)
		}
		if err := decodeItems(dec, each); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return errors.New("data after the object")
		}
		return err
	}
	if values == 0 {
		return errors.New(`no "value" array`)
	}
	return nil
}

func decodeItems(dec *jsontext.Decoder, each func(*item)) error {
	if err := expect(dec, '[', `"value" is not an array`); err != nil {
		return err
	}
	var it item
	var name []byte
	for n := 0; ; n++ {
		switch dec.PeekKind() {
		case ']':
			_, err := dec.ReadToken()
			return err
		case '{':
		default:
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			return errors.New("a notification is not an object")
		}
		if n >= MaxItems {
			return errTooManyItems
		}
		it.reset()
		var err error
		if name, err = decodeItem(dec, &it, name); err != nil {
			return err
		}
		each(&it)
	}
}

// decodeItem reads one notification object into it; name is scratch space.
func decodeItem(dec *jsontext.Decoder, it *item, name []byte) ([]byte, error) {
	if _, err := dec.ReadToken(); err != nil { // '{'
		return name, err
	}
	for dec.PeekKind() != '}' {
		var err error
		if name, err = readName(dec, name); err != nil {
			return name, err
		}
		var dst *[]byte
		field := 0
		switch string(name) {
		case "clientState":
			dst, field = &it.clientState, fieldClientState
		case "subscriptionId":
			dst, field = &it.subscriptionID, fieldSubscriptionID
		case "changeType":
			dst, field = &it.changeType, fieldChangeType
		case "resource":
			dst, field = &it.resource, fieldResource
		case "lifecycleEvent":
			dst, field = &it.lifecycleEvent, fieldLifecycleEvent
		case "tenantId":
			dst, field = &it.tenantID, fieldTenantID
		case "organizationId":
			dst, field = &it.organizationID, fieldOrganizationID
		case "resourceData":
			if name, err = decodeResourceData(dec, it, name); err != nil {
				return name, err
			}
			continue
		default:
			if err := dec.SkipValue(); err != nil {
				return name, err
			}
			continue
		}
		if err := readField(dec, it, field, dst); err != nil {
			return name, err
		}
	}
	_, err := dec.ReadToken() // '}'
	return name, err
}

// decodeResourceData reads resourceData.id, skipping the rest.
func decodeResourceData(dec *jsontext.Decoder, it *item, name []byte) ([]byte, error) {
	if dec.PeekKind() != '{' {
		it.fail("resourceData is not an object")
		return name, dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return name, err
	}
	for dec.PeekKind() != '}' {
		var err error
		if name, err = readName(dec, name); err != nil {
			return name, err
		}
		if string(name) != "id" {
			if err := dec.SkipValue(); err != nil {
				return name, err
			}
			continue
		}
		if err := readField(dec, it, fieldResourceDataID, &it.resourceDataID); err != nil {
			return name, err
		}
	}
	_, err := dec.ReadToken()
	return name, err
}

// readField reads a string (or null, taken as absent) into *dst.
func readField(dec *jsontext.Decoder, it *item, field int, dst *[]byte) error {
	if it.seen&field != 0 {
		it.fail("a field appears twice")
		it.twice |= field
	}
	it.seen |= field
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		return err
	}
	it.present |= field
	switch dec.PeekKind() {
	case '"':
	default:
		it.fail("a field is not a string")
		return dec.SkipValue()
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if len(raw) > maxFieldBytes {
		it.fail("a field is too long")
		return nil
	}
	*dst, err = jsontext.AppendUnquote((*dst)[:0], raw)
	return err
}

// maxNameBytes bounds a member name the receiver reads, unescaped: well
// above the longest it knows ("organizationId").
const maxNameBytes = 64

// readName reads an object member's name into buf, unquoted. Names longer
// than maxNameBytes once unescaped are left empty: they are skipped. The
// raw cap allows every character \u-escaped (6 bytes each, plus quotes),
// so that an escaped known name, such as a foreign tenantId, is still
// recognised rather than read as absent.
func readName(dec *jsontext.Decoder, buf []byte) ([]byte, error) {
	raw, err := dec.ReadValue()
	if err != nil {
		return buf[:0], err
	}
	if len(raw) > 6*maxNameBytes+2 {
		return buf[:0], nil
	}
	buf, err = jsontext.AppendUnquote(buf[:0], raw)
	if err != nil || len(buf) > maxNameBytes {
		return buf[:0], err
	}
	return buf, nil
}

// expect reads a token of kind k, or fails with msg.
func expect(dec *jsontext.Decoder, k jsontext.Kind, msg string) error {
	kind := dec.PeekKind()
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if kind != k {
		return errors.New(msg)
	}
	return nil
}

// equalFoldASCII reports whether b equals s ignoring ASCII case.
func equalFoldASCII(b []byte, s string) bool {
	return len(b) == len(s) && bytes.EqualFold(b, []byte(s))
}
