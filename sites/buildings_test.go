package sites

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// row renders one building-file row in CQD's column order.
func row(ip string, bits int, building, city string, insideCorp int) string {
	return fmt.Sprintf("%s,%s/net,%d,%s,Contoso,Office,Engineering,%s,98001,US,WA,MSUS,%d,0", ip, building, bits, building, city, insideCorp)
}

// addressRE matches an IPv4 or IPv6 address or network in a warning or an
// error: the log names lines of the building file, never its networks.
var addressRE = regexp.MustCompile(`\d+\.\d+\.\d+|[0-9a-fA-F]*:[0-9a-fA-F]*:`)

func mustParse(t *testing.T, text string) (*Map, []string) {
	t.Helper()
	m, warnings, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m, warnings
}

func TestSiteOf(t *testing.T) {
	file := strings.Join([]string{
		row("10.1.0.0", 16, "HQ", "Seattle", 1),      // supernet
		row("10.1.20.0", 24, "HQ-Lab", "Seattle", 1), // inside the supernet: wins
		row("10.2.0.0", 24, "Berlin", "Berlin", 1),
		row("172.16.18.7", 32, "VPN", "", 1),
		"2001:db8:10::,Dublin/net,48,Dublin,Contoso,,,Dublin,D02,IE,,EMEA,1,1,0",
	}, "\n")
	m, warnings := mustParse(t, file)
	if len(warnings) != 1 || warnings[0] != "line 2: its network lies inside the network of line 1; the longer prefix wins" {
		t.Errorf("warnings = %q, want one about the overlap", warnings)
	}
	for _, tc := range []struct {
		subnet, ip, want string
	}{
		{"10.1.5.0", "10.1.5.23", "HQ"},
		{"10.1.20.0", "10.1.20.9", "HQ-Lab"},
		{"10.1.20.0/24", "", "HQ-Lab"},
		{"", "10.2.0.77", "Berlin"},
		{"10.3.0.0", "10.2.0.5", "Berlin"}, // subnet in no row: the address decides
		{"172.16.18.0", "172.16.18.7", "VPN"},
		{"172.16.18.0", "172.16.18.8", Unmapped},
		{"2001:db8:10:4::", "2001:db8:10:4::99", "Dublin"},
		{"::ffff:10.2.0.0", "", "Berlin"}, // IPv4-mapped
		{"192.168.1.0", "192.168.1.5", Unmapped},
		{"", "", Unknown},
		{"not-an-ip", "also not", Unknown},
		{"fe80::1%eth0", "", Unknown},
	} {
		if got := m.SiteOf(tc.subnet, tc.ip); got != tc.want {
			t.Errorf("SiteOf(%q, %q) = %q, want %q", tc.subnet, tc.ip, got, tc.want)
		}
	}
	var nilMap *Map
	if got := nilMap.SiteOf("10.1.5.0", ""); got != Unmapped {
		t.Errorf("nil map: SiteOf = %q, want %q", got, Unmapped)
	}
	if m.Networks() != 5 || len(m.Sites()) != 5 {
		t.Errorf("networks %d, sites %d; want 5 and 5", m.Networks(), len(m.Sites()))
	}
	want := Site{Name: "Dublin", City: "Dublin", Country: "IE", Region: "EMEA", InsideCorp: true, ExpressRoute: true}
	if got := m.Sites()[4]; got != want {
		t.Errorf("site = %+v, want %+v", got, want)
	}
}

func TestParseForms(t *testing.T) {
	for _, tc := range []struct {
		name, text   string
		networks     int
		wantWarnings []string
		first        Site
	}{
		{
			name:     "sample row of Microsoft's documentation",
			text:     "192.168.1.0,USA/Seattle/SEATTLE-SEA-1,26,SEATTLE-SEA-1,Contoso,IT Termination,Engineering,Seattle,98001,US,WA,MSUS,1,0,0\n",
			networks: 1,
			first:    Site{Name: "SEATTLE-SEA-1", City: "Seattle", Country: "US", Region: "MSUS", InsideCorp: true},
		},
		{
			name:     "tsv with CRLF, BOM and a 14-column row",
			text:     "\xef\xbb\xbf10.0.0.0\tn\t8\tA\t\t\t\tOslo\t\tNO\t\tEU\t0\t1\r\n11.9.0.0\tn\t16\tB\t\t\t\t\t\t\t\t\t1\t0\t1\r\n",
			networks: 2,
			first:    Site{Name: "A", City: "Oslo", Country: "NO", Region: "EU", ExpressRoute: true},
		},
		{
			name:         "header line skipped",
			text:         "NetworkIP,NetworkName,NetworkRange,BuildingName,OwnershipType,BuildingType,BuildingOfficeType,City,ZipCode,Country,State,Region,InsideCorp,ExpressRoute,VPN\n" + row("10.0.0.0", 24, "A", "X", 1),
			networks:     1,
			wantWarnings: []string{"line 1: skipped as a header"},
			first:        Site{Name: "A", City: "X", Country: "US", Region: "MSUS", InsideCorp: true},
		},
		{
			name:         "quoted field with a comma, host bits, repeated row, booleans spelled out",
			text:         `10.0.0.9,"Seattle, HQ",24,A,,,,"Seattle, WA",,US,,,true,FALSE,` + "\n" + row("10.0.0.0", 24, "A", "Y", 0),
			networks:     1,
			wantWarnings: []string{"line 1: NetworkIP has host bits set", "line 2: its network repeats line 1"},
			first:        Site{Name: "A", City: "Seattle, WA", Country: "US", InsideCorp: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, warnings := mustParse(t, tc.text)
			if m.Networks() != tc.networks {
				t.Errorf("networks = %d, want %d", m.Networks(), tc.networks)
			}
			if len(warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings = %q, want %d", warnings, len(tc.wantWarnings))
			}
			for i, w := range tc.wantWarnings {
				if !strings.HasPrefix(warnings[i], w) {
					t.Errorf("warning %d = %q, want prefix %q", i, warnings[i], w)
				}
				if addressRE.MatchString(warnings[i]) {
					t.Errorf("warning %d = %q names a network; warnings reach the log, which carries no address", i, warnings[i])
				}
			}
			if got := m.Sites()[0]; got != tc.first {
				t.Errorf("first site = %+v, want %+v", got, tc.first)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	good := row("10.0.0.0", 24, "A", "X", 1)
	for _, tc := range []struct {
		name, text string
		line       int // 0: not a line error
		reason     string
	}{
		{"empty file", "", 0, "no networks"},
		{"only a header", "NetworkIP,x\n", 0, "no networks"},
		{"13 columns", good + "\n10.1.0.0,n,24,B,,,,,,,,,1", 2, "13 columns, want 14 or 15"},
		{"bad ip after the first line", good + "\n" + row("10.1.0.300", 24, "B", "X", 1), 2, `NetworkIP is not an IP address`},
		{"range too long", row("10.1.0.0", 33, "B", "X", 1), 1, `NetworkRange "33" is not a prefix length from 0 to 32`},
		{"range not a number", strings.Replace(good, ",24,", ",x,", 1), 1, "NetworkRange"},
		{"empty building", row("10.1.0.0", 24, "", "X", 1), 1, "BuildingName is empty"},
		{"reserved building", row("10.1.0.0", 24, "unmapped", "X", 1), 1, `BuildingName "unmapped" is reserved`},
		{"5,000-character building name", row("10.1.0.0", 24, strings.Repeat("b", 5000), "X", 1), 1, "column 2 is 5004 bytes long"},
		{"long name within the field bound", row("10.1.0.0", 24, strings.Repeat("é", 101), "X", 1), 1, "BuildingName is 101 characters long"},
		{"control character", row("10.1.0.0", 24, "A\x01", "X", 1), 1, "BuildingName contains a control character"},
		{"C1 control character", row("10.1.0.0", 24, "A\u0085B", "X", 1), 1, "BuildingName contains a control character"},
		{"nothing but invisible characters", row("10.1.0.0", 24, "\u202e\u200b", "X", 1), 1, "BuildingName is empty"},
		{"reserved once cleaned", row("10.1.0.0", 24, "unmapped\u200b", "X", 1), 1, `BuildingName "unmapped" is reserved`},
		{"boolean not 0 or 1", strings.Replace(good, ",1,0", ",yes,0", 1), 1, `InsideCorp "yes" is not 0 or 1`},
		{"same network, two buildings", good + "\n" + row("10.0.0.0", 24, "B", "X", 1), 2, `its network is already building "A" on line 1`},
		{"bad quote", good + "\n\"10.0.0.0,a\"b\"", 2, ""},
		{"not UTF-8", "10.0.0.0,\xff", 0, "not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(strings.NewReader(tc.text))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			var le *LineError
			if tc.line > 0 {
				if !errors.As(err, &le) || le.Line != tc.line {
					t.Fatalf("err = %v, want a LineError on line %d", err, tc.line)
				}
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %v, want it to say %q", err, tc.reason)
			}
			if addressRE.MatchString(err.Error()) {
				t.Errorf("err = %v names a network; errors reach the log, which carries no address", err)
			}
		})
	}
}

func TestParseBounds(t *testing.T) {
	var b strings.Builder
	for i := range MaxSites + 1 {
		b.WriteString(row(fmt.Sprintf("10.%d.%d.0", i/256, i%256), 24, fmt.Sprintf("B%d", i), "X", 1) + "\n")
	}
	_, _, err := Parse(strings.NewReader(b.String()))
	var le *LineError
	if !errors.As(err, &le) || le.Line != MaxSites+1 || !strings.Contains(le.Reason, "more than 500 buildings") {
		t.Errorf("err = %v, want line %d: more than %d buildings", err, MaxSites+1, MaxSites)
	}
	_, _, err = Parse(strings.NewReader(strings.Repeat("x", MaxFileBytes+1)))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: err = %v", err)
	}
}

// TestLookupLongestPrefix compares Lookup with a scan of every network on
// random addresses around nested networks.
func TestLookupLongestPrefix(t *testing.T) {
	var b strings.Builder
	var nets []netip.Prefix
	for i, p := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.128/25", "10.1.2.200/32", "0.0.0.0/0", "2001:db8::/32", "2001:db8:1::/48", "::/0"} {
		pf := netip.MustParsePrefix(p)
		nets = append(nets, pf)
		fmt.Fprintf(&b, "%s,n,%d,S%d,,,,,,,,,0,0\n", pf.Addr(), pf.Bits(), i)
	}
	m, _ := mustParse(t, b.String())
	for i := range 4096 {
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{10, 1, 2, byte(i / 2)})
			if i%8 == 0 {
				a = netip.AddrFrom4([4]byte{10, byte(i), byte(i >> 8), 1})
			}
		} else {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i % 3), 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i)})
		}
		want, bestBits := -1, -1
		for j, pf := range nets {
			if pf.Contains(a) && pf.Bits() > bestBits {
				want, bestBits = j, pf.Bits()
			}
		}
		got, ok := m.Lookup(a)
		if !ok || got != want {
			t.Fatalf("Lookup(%s) = %d, %v; want %d", a, got, ok, want)
		}
	}
}

func BenchmarkSiteOf(b *testing.B) {
	m := benchMap(b, 10_000)
	subnets := make([]string, 1024)
	for i := range subnets {
		subnets[i] = fmt.Sprintf("10.%d.%d.0", i%64, i/4)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = m.SiteOf(subnets[i%len(subnets)], "")
	}
}

// benchMap is a file of rows networks: /24s and /26s spread over 300
// buildings, as a large enterprise's file looks.
func benchMap(tb testing.TB, rows int) *Map {
	tb.Helper()
	var b strings.Builder
	for i := range rows {
		bits := 24
		ip := fmt.Sprintf("10.%d.%d.0", i/256%256, i%256)
		if i >= 256*64 {
			bits, ip = 26, fmt.Sprintf("172.%d.%d.64", 16+i/256%16, i%256)
		}
		b.WriteString(row(ip, bits, fmt.Sprintf("Building-%03d", i%300), "City", i%2) + "\n")
	}
	m, _, err := Parse(strings.NewReader(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func FuzzParse(f *testing.F) {
	f.Add(row("10.0.0.0", 24, "A", "X", 1) + "\n" + row("10.0.0.0", 16, "B", "Y", 0))
	f.Add("192.168.1.0,USA/Seattle/SEATTLE-SEA-1,26,SEATTLE-SEA-1,Contoso,IT Termination,Engineering,Seattle,98001,US,WA,MSUS,1,0,0")
	f.Add("2001:db8::\tn\t32\tA\t\t\t\t\t\t\t\t\t1\t0\r\n")
	f.Add("NetworkIP,NetworkName\n\"10.0.0.0\",\"a,b\",8,A,,,,,,,,,0,0,1")
	f.Fuzz(func(t *testing.T, text string) {
		m, _, err := Parse(strings.NewReader(text))
		if err != nil {
			return
		}
		if m.Networks() == 0 || len(m.Sites()) == 0 || len(m.Sites()) > MaxSites || m.Networks() > MaxRows {
			t.Fatalf("networks %d, sites %d", m.Networks(), len(m.Sites()))
		}
		for _, s := range m.Sites() {
			if s.Name == "" || s.Name == Unmapped || s.Name == Unknown || len([]rune(s.Name)) > MaxNameRunes {
				t.Fatalf("site name %q", s.Name)
			}
		}
		// Every network of the map finds a building.
		for _, l := range m.v4 {
			for a, i := range l.nets {
				addr := netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
				if got, ok := m.Lookup(addr); !ok || (l.bits == 32 && got != i) {
					t.Fatalf("Lookup(%s) = %d, %v; want %d", addr, got, ok, i)
				}
			}
		}
		for _, l := range m.v6 {
			for a, i := range l.nets {
				if got, ok := m.Lookup(a); !ok || (l.bits == 128 && got != i) {
					t.Fatalf("Lookup(%s) = %d, %v; want %d", a, got, ok, i)
				}
			}
		}
	})
}

// Characters that change how a name reads without being seen (a
// right-to-left override, a line separator, a zero-width space) would
// reach labels and dashboards: they are removed, with a warning naming the
// line, the column and the code points, never the text.
func TestInvisibleCharactersAreRemovedWithAWarning(t *testing.T) {
	for _, tc := range []struct {
		name, building, city string
		wantName, wantCity   string
		warning              string
	}{
		{"right-to-left override", "HQ\u202e-Lab", "Seattle", "HQ-Lab", "Seattle", "line 1: BuildingName held invisible formatting characters (U+202E); removed"},
		{"line and paragraph separators", "HQ", "Sea\u2028tt\u2029le", "HQ", "Seattle", "line 1: City held invisible formatting characters (U+2028, U+2029); removed"},
		{"zero-width space, twice", "H\u200bQ\u200b", "Seattle", "HQ", "Seattle", "line 1: BuildingName held invisible formatting characters (U+200B); removed"},
		{"left-to-right isolate", "\u2066HQ\u2069", "Seattle", "HQ", "Seattle", "line 1: BuildingName held invisible formatting characters (U+2066, U+2069); removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, warnings := mustParse(t, row("10.1.0.0", 16, tc.building, tc.city, 1))
			if len(warnings) != 1 || warnings[0] != tc.warning {
				t.Errorf("warnings = %q, want %q", warnings, tc.warning)
			}
			if got := m.Sites()[0]; got.Name != tc.wantName || got.City != tc.wantCity {
				t.Errorf("site %q in %q, want %q in %q", got.Name, got.City, tc.wantName, tc.wantCity)
			}
		})
	}
	// Two names that differ only by invisible characters are one site.
	m, _ := mustParse(t, row("10.1.0.0", 16, "HQ", "Seattle", 1)+"\n"+row("10.2.0.0", 16, "H\u200bQ", "Seattle", 1))
	if len(m.Sites()) != 1 {
		t.Errorf("%d sites, want HQ once", len(m.Sites()))
	}
}
