package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// interval is what a $filter on startDateTime can express: a conjunction
// of bounds. A nil bound is open.
type interval struct {
	Lo     *time.Time `json:"lo,omitempty"`
	LoIncl bool       `json:"lx,omitempty"`
	Hi     *time.Time `json:"hi,omitempty"`
	HiIncl bool       `json:"hx,omitempty"`
}

func (iv interval) contains(t time.Time) bool {
	if iv.Lo != nil && (t.Before(*iv.Lo) || !iv.LoIncl && t.Equal(*iv.Lo)) {
		return false
	}
	if iv.Hi != nil && (t.After(*iv.Hi) || !iv.HiIncl && t.Equal(*iv.Hi)) {
		return false
	}
	return true
}

// aboveHi reports whether t is past the upper bound, so a scan in start
// order can stop.
func (iv interval) aboveHi(t time.Time) bool {
	return iv.Hi != nil && (t.After(*iv.Hi) || !iv.HiIncl && t.Equal(*iv.Hi))
}

func (iv *interval) restrict(op string, v time.Time) {
	switch op {
	case "ge", "gt":
		incl := op == "ge"
		if iv.Lo == nil || v.After(*iv.Lo) || v.Equal(*iv.Lo) && !incl {
			iv.Lo, iv.LoIncl = &v, incl
		}
	case "le", "lt":
		incl := op == "le"
		if iv.Hi == nil || v.Before(*iv.Hi) || v.Equal(*iv.Hi) && !incl {
			iv.Hi, iv.HiIncl = &v, incl
		}
	}
}

// parseFilter parses the $filter the list supports here: comparisons of
// startDateTime with lt, le, gt or ge against an OData DateTimeOffset
// literal (unquoted, as OData v4 writes it), joined by "and", with optional
// parentheses. Anything else is an error, answered with 400 as Graph does.
func parseFilter(s string) (interval, error) {
	toks, err := lexFilter(s)
	if err != nil {
		return interval{}, err
	}
	p := &filterParser{toks: toks}
	var iv interval
	if err := p.conjunction(&iv); err != nil {
		return interval{}, err
	}
	if p.pos != len(p.toks) {
		return interval{}, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return iv, nil
}

func lexFilter(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated string literal")
			}
			toks = append(toks, s[i:i+j+2])
			i += j + 2
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '(' && s[j] != ')' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	if len(toks) == 0 {
		return nil, errors.New("empty filter")
	}
	return toks, nil
}

type filterParser struct {
	toks []string
	pos  int
}

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *filterParser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

// conjunction := term ("and" term)*
func (p *filterParser) conjunction(iv *interval) error {
	for {
		if err := p.term(iv); err != nil {
			return err
		}
		switch t := strings.ToLower(p.peek()); t {
		case "and":
			p.next()
		case "or", "not":
			return fmt.Errorf("operator %q is not supported on startDateTime", t)
		default:
			return nil
		}
	}
}

// term := "(" conjunction ")" | "startDateTime" op literal
func (p *filterParser) term(iv *interval) error {
	if p.peek() == "(" {
		p.next()
		if err := p.conjunction(iv); err != nil {
			return err
		}
		if p.next() != ")" {
			return errors.New("missing )")
		}
		return nil
	}
	prop := p.next()
	if !strings.EqualFold(prop, "startDateTime") {
		return fmt.Errorf("filtering on %q is not supported", clip(prop))
	}
	op := strings.ToLower(p.next())
	switch op {
	case "ge", "gt", "le", "lt":
	case "eq", "ne":
		return fmt.Errorf("operator %q is not supported on startDateTime", op)
	default:
		return fmt.Errorf("expected a comparison operator after startDateTime, got %q", clip(op))
	}
	lit := p.next()
	if lit == "" {
		return errors.New("missing value after " + op)
	}
	if strings.HasPrefix(lit, "'") {
		return fmt.Errorf("a string literal %s cannot be compared with DateTimeOffset", clip(lit))
	}
	v, err := parseDateTimeOffset(lit)
	if err != nil {
		return err
	}
	iv.restrict(op, v)
	return nil
}

// parseDateTimeOffset accepts the OData literal: RFC 3339 with a time zone
// (Z or an offset) and optional fractional seconds.
func parseDateTimeOffset(s string) (time.Time, error) {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a DateTimeOffset literal", clip(s))
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// listCursor is the state a list $skiptoken carries: the filter, the page
// size and $select of the first request, and the sort key of the last
// record returned. Records are served in (startDateTime, id) order, so the
// next page starts strictly after that key: no gaps and no repeats, even
// when records are added between pages.
type listCursor struct {
	Filter    interval  `json:"f"`
	Size      int       `json:"n,omitempty"`
	Select    []string  `json:"s,omitempty"`
	LastStart time.Time `json:"ls"`
	LastID    string    `json:"li"`
}

// sessionsCursor is the state of a sessions $skiptoken.
type sessionsCursor struct {
	ID     string `json:"id"`
	Offset int    `json:"o"`
}

func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errors.New("malformed $skiptoken")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("malformed $skiptoken")
	}
	return nil
}

// preferences are the Prefer header values the tenant understands.
type preferences struct {
	maxPageSize    int // 0: not asked
	includeUnknown bool
}

// parsePrefer reads every Prefer header, each a comma-separated list of
// preferences (RFC 7240). Unknown or malformed preferences are ignored, as
// a server may do.
func parsePrefer(h http.Header) preferences {
	var p preferences
	for _, line := range h.Values("Prefer") {
		for _, item := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(item), "=")
			name = strings.TrimSpace(name)
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch strings.ToLower(name) {
			case "odata.maxpagesize":
				if n, err := strconv.Atoi(val); err == nil && n > 0 {
					p.maxPageSize = n
				}
			case "include-unknown-enum-members":
				p.includeUnknown = true
			}
		}
	}
	return p
}

// parseSelect reads a $select list of top-level property names.
func parseSelect(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" || strings.IndexFunc(f, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
		}) >= 0 {
			return nil, fmt.Errorf("invalid $select item %q", clip(f))
		}
		out = append(out, f)
	}
	return out, nil
}

// checkQueryOptions refuses system query options ($...) an endpoint does
// not support, as Graph does; other parameters are ignored.
func checkQueryOptions(q map[string][]string, allowed ...string) error {
	for k, v := range q {
		if !strings.HasPrefix(k, "$") {
			continue
		}
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("query option '%s' is not supported on this resource", clip(k))
		}
		if len(v) > 1 {
			return fmt.Errorf("query option '%s' was specified more than once", k)
		}
	}
	return nil
}
