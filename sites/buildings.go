// Package sites maps client networks to the buildings of Microsoft's Call
// Quality Dashboard (CQD) building data file, so that call quality can be
// shown per site without exposing a subnet or an address.
//
// Administrators already keep this file for CQD, so it is read exactly as
// CQD takes it (see docs/configuration.md, "The building file"): comma- or tab-separated,
// no header, 14 or 15 columns in CQD's order. A network is a row's
// NetworkIP/NetworkRange; supernets are allowed and, where networks overlap,
// the longest prefix wins (CQD rejects overlaps; an exporter that refused a
// file CQD once took would only lose data, so it warns instead).
//
// Lookup runs for every stream observation, so it is not a scan of the
// rows: networks are kept in one hash map per prefix length, longest first,
// and a lookup masks the address once per length present in the file
// (a handful in practice, at most 33 for IPv4 and 129 for IPv6).
//
// Everything in the file is bounded (MaxFileBytes, MaxRows, MaxSites,
// MaxFieldBytes, MaxNameRunes) because building names become label values:
// a file beyond a bound is refused as a whole, with the line and the reason.
package sites

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a building file. A file beyond any of them is refused.
const (
	// MaxFileBytes bounds the file read into memory.
	MaxFileBytes = 64 << 20
	// MaxRows bounds the networks: CQD advises one /32 row per address of a
	// VPN pool, so large files are legitimate.
	MaxRows = 1_000_000
	// MaxSites bounds the distinct building names, which are the values of
	// the site label: each site costs up to SeriesPerSite series.
	MaxSites = 500
	// MaxFieldBytes bounds every field.
	MaxFieldBytes = 256
	// MaxNameRunes bounds the fields that become label values (BuildingName,
	// City, Country, Region).
	MaxNameRunes = 100
)

// Site label values that are not buildings. A building of either name is
// refused: it would merge with them.
const (
	// Unmapped is the site of a client whose subnet or address is known but
	// in no network of the file.
	Unmapped = "unmapped"
	// Unknown is the site of a client whose network info has neither.
	Unknown = "unknown"
)

// Columns of the building data file, in CQD's order.
const (
	colNetworkIP = iota
	colNetworkName
	colNetworkRange
	colBuildingName
	colOwnershipType
	colBuildingType
	colBuildingOfficeType
	colCity
	colZipCode
	colCountry
	colState
	colRegion
	colInsideCorp
	colExpressRoute
	colVPN
	numColumns
)

// Site is one building: the attributes of its first row.
type Site struct {
	Name         string
	City         string
	Country      string
	Region       string
	InsideCorp   bool
	ExpressRoute bool
	VPN          bool
}

// Map is a parsed building file. It is immutable and safe for concurrent
// use.
type Map struct {
	sites    []Site // in order of first appearance
	v4       []level4
	v6       []level
	networks int
}

// level holds the networks of one prefix length, keyed by their masked
// address, with their site index.
type level struct {
	bits int
	nets map[netip.Addr]int
}

// level4 is a level of IPv4 networks keyed by their masked address as an
// integer: hashing four bytes instead of netip.Addr's 24 makes a lookup
// several times faster, and most files are IPv4 only.
type level4 struct {
	bits int
	mask uint32
	nets map[uint32]int
}

// Sites returns the buildings in the order the file first names them. The
// slice is shared: callers must not modify it.
func (m *Map) Sites() []Site { return m.sites }

// Networks is the number of networks (rows) in the map.
func (m *Map) Networks() int { return m.networks }

// Lookup returns the index in Sites of the building whose network holds
// addr most specifically.
func (m *Map) Lookup(addr netip.Addr) (int, bool) {
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		a := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		for _, l := range m.v4 {
			if i, ok := l.nets[a&l.mask]; ok {
				return i, true
			}
		}
		return 0, false
	}
	for _, l := range m.v6 {
		p, err := addr.Prefix(l.bits)
		if err != nil {
			continue
		}
		if i, ok := l.nets[p.Addr()]; ok {
			return i, true
		}
	}
	return 0, false
}

// SiteOf maps a client's network info to a site label value: its subnet's
// building, else its address's building, else Unmapped when either is an
// address, else Unknown. A subnet may be given as an address or in CIDR
// form; Graph sends the address.
func (m *Map) SiteOf(subnet, ip string) string {
	sub, subOK := parseAddr(subnet)
	addr, addrOK := parseAddr(ip)
	if m != nil {
		if subOK {
			if i, ok := m.Lookup(sub); ok {
				return m.sites[i].Name
			}
		}
		if addrOK {
			if i, ok := m.Lookup(addr); ok {
				return m.sites[i].Name
			}
		}
	}
	if subOK || addrOK {
		return Unmapped
	}
	return Unknown
}

// parseAddr reads an address, or the address of a prefix. Zones are refused:
// they never name a network of the file.
func parseAddr(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// LineError is a row that makes the file unusable.
type LineError struct {
	Line   int
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Parse reads a building file. Warnings are things the file means but CQD
// would frown on (a header line, overlapping or repeated networks, host
// bits in NetworkIP); they do not stop it. The error names the first line
// at fault, or the bound that was crossed.
func Parse(r io.Reader) (*Map, []string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxFileBytes {
		return nil, nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	return parse(data)
}

// parser accumulates one file.
type parser struct {
	m        *Map
	byName   map[string]int
	v4, v6   map[int]map[netip.Addr]int
	lineOf   map[netip.Prefix]int
	warnings []string
	dropped  int // warnings beyond maxWarnings
}

// maxWarnings keeps a file with thousands of overlaps from flooding the log:
// the rest are counted.
const maxWarnings = 20

func (p *parser) warn(line int, format string, args ...any) {
	if len(p.warnings) >= maxWarnings {
		p.dropped++
		return
	}
	p.warnings = append(p.warnings, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
}

func parse(data []byte) (*Map, []string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // Excel writes a BOM
	if !utf8.Valid(data) {
		return nil, nil, errors.New("not UTF-8 text")
	}
	comma := ','
	if first, _, _ := bytes.Cut(data, []byte("\n")); bytes.ContainsRune(first, '\t') {
		comma = '\t'
	}
	cr := csv.NewReader(bufio.NewReader(bytes.NewReader(data)))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	p := &parser{
		m:      &Map{},
		byName: map[string]int{},
		v4:     map[int]map[netip.Addr]int{},
		v6:     map[int]map[netip.Addr]int{},
		lineOf: map[netip.Prefix]int{},
	}
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, &LineError{Line: pe.Line, Reason: pe.Err.Error()}
			}
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		if row == 0 && len(rec) > 0 {
			if _, err := netip.ParseAddr(strings.TrimSpace(rec[0])); err != nil {
				p.warn(line, "skipped as a header: its first field is not an IP address")
				continue
			}
		}
		if p.m.networks >= MaxRows {
			return nil, nil, &LineError{Line: line, Reason: fmt.Sprintf("more than %d networks", MaxRows)}
		}
		if err := p.row(rec, line); err != nil {
			return nil, nil, &LineError{Line: line, Reason: err.Error()}
		}
	}
	if p.m.networks == 0 {
		return nil, nil, errors.New("no networks")
	}
	p.m.v4, p.m.v6 = levels4(levels(p.v4)), levels(p.v6)
	p.overlaps()
	if p.dropped > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("%d more warnings", p.dropped))
	}
	return p.m, p.warnings, nil
}

// levels orders the per-length maps longest prefix first.
func levels(byBits map[int]map[netip.Addr]int) []level {
	out := make([]level, 0, len(byBits))
	for bits, nets := range byBits {
		out = append(out, level{bits: bits, nets: nets})
	}
	slices.SortFunc(out, func(a, b level) int { return b.bits - a.bits })
	return out
}

func levels4(ls []level) []level4 {
	out := make([]level4, len(ls))
	for i, l := range ls {
		out[i] = level4{bits: l.bits, mask: ^uint32(0) << (32 - l.bits), nets: make(map[uint32]int, len(l.nets))}
		if l.bits == 0 {
			out[i].mask = 0
		}
		for a, site := range l.nets {
			b := a.As4()
			out[i].nets[uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])] = site
		}
	}
	return out
}

func (p *parser) row(rec []string, line int) error {
	if len(rec) != numColumns && len(rec) != numColumns-1 {
		return fmt.Errorf("%d columns, want 14 or 15 (NetworkIP, NetworkName, NetworkRange, BuildingName, OwnershipType, BuildingType, BuildingOfficeType, City, ZipCode, Country, State, Region, InsideCorp, ExpressRoute[, VPN])", len(rec))
	}
	for i, f := range rec {
		if len(f) > MaxFieldBytes {
			return fmt.Errorf("column %d is %d bytes long, more than %d", i+1, len(f), MaxFieldBytes)
		}
		rec[i] = strings.TrimSpace(f)
	}
	prefix, err := p.prefix(rec[colNetworkIP], rec[colNetworkRange], line)
	if err != nil {
		return err
	}
	site, cleaned, err := siteOf(rec)
	if err != nil {
		return err
	}
	for _, c := range cleaned {
		p.warn(line, "%s", c)
	}
	idx, ok := p.byName[site.Name]
	if !ok {
		if len(p.m.sites) >= MaxSites {
			return fmt.Errorf("more than %d buildings", MaxSites)
		}
		idx = len(p.m.sites)
		p.byName[site.Name] = idx
		p.m.sites = append(p.m.sites, site)
	}
	byBits := p.v4
	if prefix.Addr().Is6() {
		byBits = p.v6
	}
	nets := byBits[prefix.Bits()]
	if nets == nil {
		nets = map[netip.Addr]int{}
		byBits[prefix.Bits()] = nets
	}
	if prev, dup := nets[prefix.Addr()]; dup {
		if prev != idx {
			return fmt.Errorf("its network is already building %q on line %d", p.m.sites[prev].Name, p.lineOf[prefix])
		}
		p.warn(line, "its network repeats line %d", p.lineOf[prefix])
		return nil
	}
	nets[prefix.Addr()] = idx
	p.lineOf[prefix] = line
	p.m.networks++
	return nil
}

func (p *parser) prefix(ipField, rangeField string, line int) (netip.Prefix, error) {
	addr, err := netip.ParseAddr(ipField)
	if err != nil || addr.Zone() != "" {
		return netip.Prefix{}, errors.New("NetworkIP is not an IP address")
	}
	addr = addr.Unmap()
	bits, err := strconv.Atoi(rangeField)
	if err != nil || bits < 0 || bits > addr.BitLen() {
		return netip.Prefix{}, fmt.Errorf("NetworkRange %q is not a prefix length from 0 to %d", rangeField, addr.BitLen())
	}
	prefix := netip.PrefixFrom(addr, bits)
	if masked := prefix.Masked(); masked.Addr() != addr {
		p.warn(line, "NetworkIP has host bits set for range %d; they are ignored", bits)
		prefix = masked
	}
	return prefix, nil
}

// siteOf reads a row's building and its attributes, and says what it
// cleaned from them.
func siteOf(rec []string) (s Site, cleaned []string, err error) {
	s = Site{Name: rec[colBuildingName], City: rec[colCity], Country: rec[colCountry], Region: rec[colRegion]}
	for _, f := range []struct {
		col string
		v   *string
	}{{"BuildingName", &s.Name}, {"City", &s.City}, {"Country", &s.Country}, {"Region", &s.Region}} {
		if strings.IndexFunc(*f.v, unicode.IsControl) >= 0 {
			return Site{}, nil, fmt.Errorf("%s contains a control character", f.col)
		}
		if v, removed := withoutInvisible(*f.v); removed != "" {
			cleaned = append(cleaned, fmt.Sprintf("%s held invisible formatting characters (%s); removed", f.col, removed))
			*f.v = v
		}
		if n := utf8.RuneCountInString(*f.v); n > MaxNameRunes {
			return Site{}, nil, fmt.Errorf("%s is %d characters long, more than %d", f.col, n, MaxNameRunes)
		}
	}
	if s.Name == "" {
		return Site{}, nil, errors.New("BuildingName is empty")
	}
	if s.Name == Unmapped || s.Name == Unknown {
		return Site{}, nil, fmt.Errorf("BuildingName %q is reserved for clients in no building", s.Name)
	}
	if s.InsideCorp, err = boolField("InsideCorp", rec[colInsideCorp], false); err != nil {
		return Site{}, nil, err
	}
	if s.ExpressRoute, err = boolField("ExpressRoute", rec[colExpressRoute], false); err != nil {
		return Site{}, nil, err
	}
	if len(rec) > colVPN {
		if s.VPN, err = boolField("VPN", rec[colVPN], true); err != nil {
			return Site{}, nil, err
		}
	}
	return s, cleaned, nil
}

// withoutInvisible removes from v the characters that change how text
// around them reads without being seen: format characters (Unicode Cf: the
// bidirectional overrides such as U+202E, zero-width spaces and joiners)
// and line and paragraph separators (Zl, Zp: U+2028, U+2029). In a label
// value they reorder or split what a dashboard shows, and two names that
// look alike would be two sites. It also returns the code points removed,
// as U+XXXX, for the warning.
func withoutInvisible(v string) (string, string) {
	invisible := func(r rune) bool { return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) }
	if strings.IndexFunc(v, invisible) < 0 {
		return v, ""
	}
	var kept strings.Builder
	var removed []string
	for _, r := range v {
		if !invisible(r) {
			kept.WriteRune(r)
			continue
		}
		if code := fmt.Sprintf("U+%04X", r); !slices.Contains(removed, code) {
			removed = append(removed, code)
		}
	}
	return strings.TrimSpace(kept.String()), strings.Join(removed, ", ")
}

// boolField reads CQD's booleans: 0 or 1 (true and false are taken too).
// An optional column may be empty, meaning false.
func boolField(col, v string, optional bool) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	case "":
		if optional {
			return false, nil
		}
	}
	return false, fmt.Errorf("%s %q is not 0 or 1", col, v)
}

// overlaps warns about networks inside a shorter one of the file: legal
// here (the longest prefix wins), refused by CQD.
func (p *parser) overlaps() {
	for _, levels := range [][]level{levels(p.v4), p.m.v6} {
		for i, l := range levels {
			for addr := range l.nets {
				inner := netip.PrefixFrom(addr, l.bits)
				for _, outer := range levels[i+1:] {
					op, _ := addr.Prefix(outer.bits)
					if _, ok := outer.nets[op.Addr()]; ok {
						p.warn(p.lineOf[inner], "its network lies inside the network of line %d; the longer prefix wins", p.lineOf[op])
						break
					}
				}
			}
		}
	}
}
