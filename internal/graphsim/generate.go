package graphsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// GenOptions controls Generate.
type GenOptions struct {
	Seed  int64
	Count int
	// Start times are spread uniformly over [Start, End); with End not after
	// Start, every record starts at Start.
	Start, End time.Time
}

// Generate builds Count realistic, varied call records, deterministically
// from the seed; what the exporter must show after ingesting them once is
// computed by package simtruth, which only tests import. The mix: group
// calls (client <-> conferencing server sessions,
// some with more than 60 sessions), peer-to-peer calls (client <-> client,
// observed from both sides), PSTN calls (client <-> mediation server <->
// gateway, the last segment without a client), call-queue calls of type
// unknown, and a few records without sessions; every platform and
// connection type the exporter knows plus future enum members; audio, video,
// screen sharing, data and an unmapped label; nulls, exact zeros, exact
// CQD thresholds and poor streams; feedback with every rating.
func Generate(opts GenOptions) []Record {
	g := newGen(opts.Seed)
	span := opts.End.Sub(opts.Start)
	recs := make([]Record, 0, max(opts.Count, 0))
	for range opts.Count {
		start := opts.Start
		if span > 0 {
			start = start.Add(time.Duration(g.r.Int64N(int64(span))))
		}
		recs = append(recs, g.record(start.Truncate(100*time.Nanosecond), false))
	}
	return recs
}

// gen draws everything from one seeded source, in a fixed order, so the
// same seed gives the same records.
type gen struct {
	r        *rand.Rand
	tenantID string
	users    []person
	streamID uint32
}

type person struct {
	id, first, last string
	platform        string // the device this person uses most
}

func (p person) name() string { return p.first + " " + p.last }

func newGen(seed int64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x7ea5c0de))}
	g.tenantID = g.uuid()
	g.streamID = g.r.Uint32()
	for range 400 {
		g.users = append(g.users, person{
			id: g.uuid(), first: pick(g, firstNames), last: pick(g, lastNames), platform: g.platform(),
		})
	}
	return g
}

var firstNames = []string{"Abbie", "Owen", "Maria", "Jonas", "Priya", "Chen", "Fatima", "Lukas", "Sofia", "Mateo",
	"Aiko", "Noah", "Zara", "Elif", "Kwame", "Ingrid", "Rafael", "Leila", "Tomasz", "Hana", "Diego", "Anya", "Samir", "Greta"}
var lastNames = []string{"Wilkins", "Franklin", "Garcia", "Schmidt", "Patel", "Wang", "Haddad", "Novak", "Rossi", "Silva",
	"Tanaka", "Okafor", "Larsen", "Yilmaz", "Dubois", "Kowalski", "Nakamura", "Moreau", "Jensen", "Ibrahim", "Costa", "Fischer"}

func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }

// weighted picks an item by weight.
func weighted[T any](g *gen, items []T, weights []float64) T {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := g.r.Float64() * total
	for i, w := range weights {
		if x < w {
			return items[i]
		}
		x -= w
	}
	return items[len(items)-1]
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// logn draws from a log-normal distribution with the given median.
func (g *gen) logn(median, sigma float64) float64 {
	return median * math.Exp(sigma*g.r.NormFloat64())
}

func (g *gen) uniform(lo, hi float64) float64 { return lo + g.r.Float64()*(hi-lo) }

func (g *gen) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return formatUUID(b)
}

func (g *gen) nextStreamID() string {
	g.streamID += 1 + g.r.Uint32N(1000)
	return fmt.Sprint(g.streamID)
}

// Helpers for nullable values; round keeps Graph's 8 decimals.
func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }
func round(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}
func ms(v float64) *Duration { return Dur(time.Duration(math.Round(v)) * time.Millisecond) }

// Platforms the exporter knows (docs/metrics.md), and a member past clientPlatform's sentinel.
var (
	platforms       = []string{"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknown", "quantumPhone"}
	platformWeights = []float64{34, 14, 10, 10, 10, 4, 7, 3, 1.5, 2, 1}
)

func (g *gen) platform() string { return weighted(g, platforms, platformWeights) }

// condition is the state of a client's network in a segment.
type condition int

const (
	good condition = iota
	degraded
	bad
)

func (g *gen) condition() condition {
	return weighted(g, []condition{good, degraded, bad}, []float64{82, 13, 5})
}

// conditionAt is the network's condition at a client's location: the
// Berlin office and home networks are worse, so that sites differ.
func (g *gen) conditionAt(location string) condition {
	switch location {
	case "berlin":
		return weighted(g, []condition{good, degraded, bad}, []float64{55, 25, 20})
	case "home":
		return weighted(g, []condition{good, degraded, bad}, []float64{72, 18, 10})
	}
	return g.condition()
}

// client is one user's device in one call.
type client struct {
	user     person
	platform string
	family   string
	header   string
	version  string
	conn     string // "" : no network info
	ip       string
	subnet   string
	location string // where the client is: an entry of locations
	mac      string
	bssid    string
	capture  string
	render   string
}

func (g *gen) client(u person) client {
	p := u.platform
	if g.chance(0.3) {
		p = g.platform()
	}
	c := client{user: u, platform: p, version: g.clientVersion()}
	c.family = weighted(g, []string{"teams", "skypeForBusiness", "lync", "unknown", "azureCommunicationServices", ""}, []float64{90, 3, 1, 1, 5, 0.5})
	c.header = g.headerValue(p, c.version)
	c.conn = g.connectionType(p)
	c.location, c.ip, c.subnet = g.address(c.conn)
	c.mac = g.mac(p)
	if c.conn == "wifi" {
		c.bssid = strings.ToLower(strings.ReplaceAll(g.mac(""), "-", ":"))
	}
	c.capture, c.render = g.audioDevices(p, u.first)
	return c
}

// Client versions a tenant runs at once: a few builds of the new Teams as
// they roll out, the classic client, none (some devices send no version)
// and one that is not a version string. WorseAudioVersion is the build
// that rolled out last and made audio worse: its clients' audio streams
// see a network one condition worse than the others.
var (
	clientVersions = []string{"24215.1007.3082.1590", "24243.1309.3132.617", "24277.3502.3161.3003", "24295.605.3225.8804",
		WorseAudioVersion, "1.7.00.33761", "1.6.00.4472", "", "Teams (preview)"}
	clientVersionWeights = []float64{8, 15, 20, 30, 15, 6, 2, 3, 1}
)

// WorseAudioVersion is the client version whose audio is worse.
const WorseAudioVersion = "25010.1104.3368.4271"

// clientVersion draws a version. It takes three draws, as it always did,
// so the records of a seed change only in their versions.
func (g *gen) clientVersion() string {
	x := (float64(g.r.IntN(900))*800*9000 + float64(g.r.IntN(800))*9000 + float64(g.r.IntN(9000))) / (900 * 800 * 9000)
	total := 0.0
	for _, w := range clientVersionWeights {
		total += w
	}
	x *= total
	for i, w := range clientVersionWeights {
		if x < w {
			return clientVersions[i]
		}
		x -= w
	}
	return clientVersions[len(clientVersions)-1]
}

var deviceModels = map[string][]string{
	"windows":      {"DESKTOP-%s", "LAPTOP-%s", "WKS-%s"},
	"macOS":        {"MacBookPro18,%d", "Mac14,%d"},
	"iOS":          {"iPhone15,%d", "iPad13,%d"},
	"android":      {"SM-G99%dB", "Pixel %d Pro"},
	"web":          {"Edge/12%d.0", "Chrome/12%d.0"},
	"ipPhone":      {"Poly CCX %d00", "Yealink MP5%d"},
	"roomSystem":   {"MTR-ROOM-%s", "Logitech Rally Bar %d"},
	"surfaceHub":   {"SurfaceHub2S-%s"},
	"holoLens":     {"HoloLens %d"},
	"unknown":      {"device-%s"},
	"quantumPhone": {"QPhone Q%d"},
}

// headerValue is a user-agent header; many name the device, which is why
// it counts as personal data.
func (g *gen) headerValue(platform, version string) string {
	tmpl := pick(g, deviceModels[platform])
	var device string
	if strings.Contains(tmpl, "%s") {
		device = fmt.Sprintf(tmpl, g.hostSuffix())
	} else {
		device = fmt.Sprintf(tmpl, 1+g.r.IntN(9))
	}
	return fmt.Sprintf("Teams/%s (%s; %s)", version, platform, device)
}

func (g *gen) hostSuffix() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 7)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

var connTypes = []string{"wired", "wifi", "mobile", "tunnel", "unknown", "satellite", ""}

// connectionType draws a connection type likely for the platform; ""
// means the media carries no network info, "satellite" is a member past
// networkConnectionType's sentinel.
func (g *gen) connectionType(platform string) string {
	var w []float64
	switch platform {
	case "windows", "macOS":
		w = []float64{40, 43, 2, 8, 4, 0.5, 2.5}
	case "iOS", "android", "quantumPhone":
		w = []float64{0, 55, 38, 1, 3, 0.5, 2.5}
	case "web":
		w = []float64{30, 52, 2, 5, 8, 0.5, 2.5}
	case "ipPhone", "roomSystem", "surfaceHub":
		w = []float64{84, 10, 0, 0, 3, 0.5, 2.5}
	case "holoLens":
		w = []float64{0, 92, 0, 0, 5, 0, 3}
	default:
		w = []float64{20, 20, 20, 20, 15, 2, 3}
	}
	return weighted(g, connTypes, w)
}

// locations are where clients sit, relative to the demo building file
// (DemoBuildingFile): its offices (one a supernet, one reached over IPv6),
// its VPN pool (whose clients report no subnet), home networks and an
// office missing from the file (both unmapped), and clients whose network
// info carries no address (site unknown).
var (
	locations       = []string{"seattle", "berlin", "tokyo", "tokyo6", "london", "vpn", "home", "unlisted", "none"}
	locationWeights = []float64{30, 15, 10, 4, 10, 6, 20, 3, 2}
)

// address draws a client's location, address and subnet (the network
// address of its /24, or /64 for IPv6). Mobile clients are on the
// carrier's network, which no building file holds.
func (g *gen) address(conn string) (location, ip, subnet string) {
	if conn == "mobile" {
		ip = fmt.Sprintf("100.%d.%d.%d", 64+g.r.IntN(64), g.r.IntN(256), 1+g.r.IntN(254))
		return "mobile", ip, subnetOf(ip)
	}
	location = weighted(g, locations, locationWeights)
	if conn == "tunnel" && g.chance(0.7) {
		location = "vpn"
	}
	host := 2 + g.r.IntN(250)
	switch location {
	case "seattle":
		ip = fmt.Sprintf("10.10.%d.%d", g.r.IntN(256), host)
	case "berlin":
		ip = fmt.Sprintf("10.20.%d.%d", 1+g.r.IntN(2), host)
	case "tokyo":
		ip = fmt.Sprintf("10.30.0.%d", host)
	case "tokyo6":
		net := fmt.Sprintf("2001:db8:30:%x::", g.r.IntN(256))
		return location, net + fmt.Sprintf("%x", host), net
	case "london":
		ip = fmt.Sprintf("10.40.%d.%d", g.r.IntN(2), host)
	case "vpn":
		return location, fmt.Sprintf("10.99.0.%d", host), ""
	case "home":
		ip = fmt.Sprintf("192.168.1.%d", host)
	case "unlisted":
		ip = fmt.Sprintf("10.77.%d.%d", g.r.IntN(256), host)
	default:
		return location, "", ""
	}
	return location, ip, subnetOf(ip)
}

func (g *gen) mac(platform string) string {
	if platform == "iOS" && g.chance(0.5) {
		return "02-00-00-00-00-00" // what iOS reports for privacy
	}
	parts := make([]string, 6)
	for i := range parts {
		parts[i] = fmt.Sprintf("%02X", g.r.IntN(256))
	}
	return strings.Join(parts, "-")
}

func (g *gen) audioDevices(platform, first string) (string, string) {
	switch platform {
	case "macOS":
		if g.chance(0.4) {
			d := first + "'s AirPods Pro"
			return d, d
		}
		return "MacBook Pro Microphone", "MacBook Pro Speakers"
	case "iOS", "quantumPhone":
		return "iPhone Microphone", "Receiver"
	case "android":
		return "Built-in microphone", "Earpiece"
	case "ipPhone", "roomSystem", "surfaceHub", "holoLens":
		return "Echo Cancelling Speakerphone (" + pick(g, []string{"Poly Sync 40", "Jabra Speak 750", "Logitech Rally"}) + ")", "Room speakers"
	}
	if g.chance(0.3) {
		d := fmt.Sprintf("Headset (%s's Jabra Evolve2 65)", first)
		return "Microphone " + d, "Earphone " + d
	}
	return "Microphone Array (Realtek(R) Audio)", "Speakers (Realtek(R) Audio)"
}

// record builds one call record starting at anchor, or ending at it when
// anchorIsEnd (live mode: calls that just ended).
func (g *gen) record(anchor time.Time, anchorIsEnd bool) Record {
	kind := weighted(g, []string{"meeting", "p2p", "pstn", "queue", "empty"}, []float64{62, 25, 9, 3.5, 0.5})
	var dur time.Duration
	switch kind {
	case "meeting":
		dur = g.duration(30*60, 0.8, 5, 9*3600)
	case "p2p", "queue":
		dur = g.duration(5*60, 1.1, 3, 4*3600)
	default:
		dur = g.duration(4*60, 1.0, 2, 3*3600)
	}
	start := anchor
	if anchorIsEnd {
		start = anchor.Add(-dur).Truncate(100)
	}
	r := Record{
		ID: g.uuid(), StartDateTime: start.UTC(), EndDateTime: start.Add(dur).UTC(),
		Version: weighted(g, []int64{1, 2, 3}, []float64{80, 15, 5}),
	}
	delay := time.Duration(math.Min(g.r.ExpFloat64()*30, 150) * float64(time.Minute))
	r.LastModifiedDateTime = r.EndDateTime.Add(delay + time.Duration(r.Version-1)*20*time.Minute).Truncate(time.Microsecond)
	switch kind {
	case "meeting":
		g.meeting(&r)
	case "p2p":
		g.peerToPeer(&r)
	case "pstn":
		g.pstn(&r)
	case "queue":
		g.callQueue(&r)
	default:
		r.Type = "groupCall"
		u := pick(g, g.users)
		r.Organizer = g.userIdentity(u)
		r.Participants = []IdentitySet{*g.userIdentity(u)}
	}
	r.Modalities = modalitiesOf(r.Sessions)
	for i := range r.Sessions {
		r.Sessions[i].Modalities = modalitiesOf(r.Sessions[i : i+1])
	}
	return r
}

func (g *gen) duration(medianSec, sigma, minSec, maxSec float64) time.Duration {
	s := math.Max(minSec, math.Min(maxSec, g.logn(medianSec, sigma)))
	return time.Duration(s*1e7) * 100 // 100 ns, Graph's precision
}

func modalitiesOf(sessions []Session) []string {
	seen := map[string]bool{}
	var out []string
	add := func(m string) {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	for _, s := range sessions {
		for _, seg := range s.Segments {
			for _, m := range seg.Media {
				switch MediaKind(m.Label) {
				case "audio":
					add("audio")
				case "video":
					add("video")
				case "screen_sharing":
					if strings.Contains(m.Label, "vbss") {
						add("videoBasedScreenSharing")
					} else {
						add("screenSharing")
					}
				case "data":
					add("data")
				}
			}
		}
	}
	if out == nil {
		out = []string{"audio"}
	}
	return out
}

func (g *gen) userIdentity(u person) *IdentitySet {
	name := u.name()
	return &IdentitySet{User: &Identity{ID: u.id, DisplayName: &name, TenantID: &g.tenantID}}
}

func (g *gen) phoneIdentity() *IdentitySet {
	return &IdentitySet{Phone: &Identity{ID: fmt.Sprintf("+1425555%04d", g.r.IntN(10000))}}
}

// meetingSize: most meetings are small, a few exceed one page of sessions.
func (g *gen) meetingSize() int {
	switch x := g.r.Float64(); {
	case x < 0.70:
		return 2 + g.r.IntN(5)
	case x < 0.92:
		return 7 + g.r.IntN(14)
	case x < 0.988:
		return 21 + g.r.IntN(40)
	default:
		return 61 + g.r.IntN(80)
	}
}

func (g *gen) meeting(r *Record) {
	r.Type = "groupCall"
	url := fmt.Sprintf("https://teams.microsoft.com/l/meetup-join/19%%3ameeting_%s%%40thread.v2/0", strings.ReplaceAll(g.uuid(), "-", ""))
	r.JoinWebURL = &url
	n := g.meetingSize()
	start, dur := r.StartDateTime, r.EndDateTime.Sub(r.StartDateTime)
	for i := range n {
		u := pick(g, g.users)
		if i == 0 {
			r.Organizer = g.userIdentity(u)
		}
		if len(r.Participants) < 130 {
			r.Participants = append(r.Participants, *g.userIdentity(u))
		}
		c := g.client(u)
		joins := 1
		if g.chance(0.08) {
			joins = 2 // left and rejoined: a second session
		}
		for range joins {
			sStart, sEnd := start, start.Add(dur)
			if i > 0 {
				sStart = start.Add(time.Duration(g.r.Float64() * 0.3 * float64(dur)))
				sEnd = sStart.Add(time.Duration((0.4 + 0.6*g.r.Float64()) * float64(start.Add(dur).Sub(sStart))))
			}
			server := g.conferencingServer()
			clientCalls := g.chance(0.85) // joined; otherwise the meeting dialled out
			r.Sessions = append(r.Sessions, g.session(sStart.Truncate(100), sEnd.Truncate(100), &c, nil, server, clientCalls, g.meetingMedia))
		}
	}
}

// conferencingServer is the server side of a meeting session, in the
// shapes Graph uses: a service endpoint, or a participant endpoint with a
// service user agent.
func (g *gen) conferencingServer() Endpoint {
	ua := &UserAgent{ODataType: TypeServiceUserAgent, Role: "skypeForBusinessConferencingService",
		HeaderValue: "Microsoft.Skype.Conferencing/" + fmt.Sprint(2024+g.r.IntN(2)), ApplicationVersion: "1.0"}
	if g.chance(0.35) {
		return Endpoint{ODataType: TypeParticipantEndpoint, UserAgent: ua}
	}
	return Endpoint{ODataType: TypeServiceEndpoint, UserAgent: ua}
}

func service(role string) Endpoint {
	return Endpoint{ODataType: TypeServiceEndpoint, UserAgent: &UserAgent{
		ODataType: TypeServiceUserAgent, Role: role, HeaderValue: "Microsoft.Teams.Media/" + role, ApplicationVersion: "2024.1"}}
}

func (g *gen) peerToPeer(r *Record) {
	r.Type = "peerToPeer"
	a, b := pick(g, g.users), pick(g, g.users)
	r.Organizer = g.userIdentity(a)
	r.Participants = []IdentitySet{*g.userIdentity(a), *g.userIdentity(b)}
	ca, cb := g.client(a), g.client(b)
	r.Sessions = []Session{g.session(r.StartDateTime, r.EndDateTime, &ca, &cb, Endpoint{}, true, g.p2pMedia)}
}

// pstn: a client and a phone through a mediation server and a gateway. The
// media path is two segments, the second between servers only; with media
// bypass it is one segment from the client to the gateway.
func (g *gen) pstn(r *Record) {
	r.Type = weighted(g, []string{"peerToPeer", "unknown"}, []float64{70, 30})
	u := pick(g, g.users)
	c := g.client(u)
	phone := g.phoneIdentity()
	r.Organizer = g.userIdentity(u)
	r.Participants = []IdentitySet{*g.userIdentity(u), *phone}
	outbound := g.chance(0.6)
	s := g.session(r.StartDateTime, r.EndDateTime, &c, nil, service("mediationServer"), outbound, g.audioOnly)
	pstnParty := Endpoint{ODataType: TypeParticipantEndpoint, Identity: phone,
		UserAgent: &UserAgent{ODataType: TypeServiceUserAgent, Role: "gateway", HeaderValue: "SBC-" + g.hostSuffix(), ApplicationVersion: "7.40"}}
	if outbound {
		s.Callee = pstnParty
	} else {
		s.Caller = pstnParty
	}
	if g.chance(0.2) { // media bypass: the client talks to the gateway directly
		seg := &s.Segments[0]
		if outbound {
			seg.Callee = service("gateway")
		} else {
			seg.Caller = service("gateway")
		}
		for mi := range seg.Media {
			for si := range seg.Media[mi].Streams {
				seg.Media[mi].Streams[si].WasMediaBypassed = f64b(true)
			}
		}
	} else {
		first := s.Segments[0]
		hop := Segment{ID: g.uuid(), StartDateTime: first.StartDateTime, EndDateTime: first.EndDateTime,
			Caller: service("mediationServer"), Callee: service("gateway")}
		hop.Media = []Media{g.serverMedia("main-audio")}
		s.Segments = append(s.Segments, hop)
	}
	r.Sessions = []Session{s}
}

func f64b(v bool) *bool { return &v }

// callQueue: a caller reaches a call queue (a service), then often an agent.
func (g *gen) callQueue(r *Record) {
	r.Type = "unknown"
	u, agent := pick(g, g.users), pick(g, g.users)
	c, ca := g.client(u), g.client(agent)
	r.Organizer = g.userIdentity(u)
	r.Participants = []IdentitySet{*g.userIdentity(u)}
	mid := r.StartDateTime.Add(r.EndDateTime.Sub(r.StartDateTime) / 4).Truncate(100)
	role := weighted(g, []string{"skypeForBusinessCallQueues", "skypeForBusinessAutoAttendant"}, []float64{70, 30})
	r.Sessions = []Session{g.session(r.StartDateTime, mid, &c, nil, service(role), true, g.audioOnly)}
	if g.chance(0.6) {
		r.Participants = append(r.Participants, *g.userIdentity(agent))
		r.Sessions = append(r.Sessions, g.session(mid, r.EndDateTime, &c, &ca, Endpoint{}, true, g.p2pMedia))
	}
}

// mediaPlan lists the media labels of a segment and, per label, which
// directions carry a stream.
type mediaPlan func() []plannedMedia

type plannedMedia struct {
	label              string
	callerToCallee, ce bool
}

func (g *gen) meetingMedia() []plannedMedia {
	var out []plannedMedia
	if g.chance(0.97) {
		out = append(out, plannedMedia{"main-audio", !g.chance(0.03), !g.chance(0.03)})
	}
	if g.chance(0.45) {
		out = append(out, plannedMedia{"main-video", g.chance(0.6), true})
	}
	if g.chance(0.2) {
		label := "applicationsharing-video"
		if g.chance(0.1) {
			label = "main-vbss"
		}
		up := g.chance(0.3)
		out = append(out, plannedMedia{label, up, !up})
	}
	if g.chance(0.05) {
		out = append(out, plannedMedia{"data", true, true})
	}
	if g.chance(0.004) {
		out = append(out, plannedMedia{"transfer", true, false}) // a label the exporter maps to other
	}
	if out == nil {
		out = append(out, plannedMedia{"main-audio", true, true})
	}
	return out
}

func (g *gen) p2pMedia() []plannedMedia {
	out := []plannedMedia{{"main-audio", true, true}}
	if g.chance(0.35) {
		out = append(out, plannedMedia{"main-video", g.chance(0.8), g.chance(0.8)})
	}
	if g.chance(0.15) {
		up := g.chance(0.5)
		out = append(out, plannedMedia{"applicationsharing-video", up, !up})
	}
	if g.chance(0.03) {
		out = append(out, plannedMedia{"data", true, true})
	}
	return out
}

func (g *gen) audioOnly() []plannedMedia { return []plannedMedia{{"main-audio", true, true}} }

// session builds a session between a client a and either a second client b
// or a server. aCalls says whether a is the caller. Feedback may be left
// on the session's client endpoints, where Graph reports it.
func (g *gen) session(start, end time.Time, a, b *client, server Endpoint, aCalls bool, plan mediaPlan) Session {
	s := Session{ID: g.uuid(), StartDateTime: start, EndDateTime: end}
	epA := g.clientEndpoint(a)
	var epB Endpoint
	if b != nil {
		epB = g.clientEndpoint(b)
	} else {
		epB = server
	}
	caller, callee, callerC, calleeC := epA, epB, a, b
	if !aCalls {
		caller, callee, callerC, calleeC = epB, epA, b, a
	}
	nseg := 1
	if g.chance(0.12) {
		nseg = 2 // a reconnection: a second segment over the same endpoints
	}
	segStart := start
	for i := range nseg {
		segEnd := end
		if i < nseg-1 {
			segEnd = segStart.Add(end.Sub(segStart) / 3).Truncate(100)
		}
		seg := Segment{ID: g.uuid(), StartDateTime: segStart, EndDateTime: segEnd, Caller: stripFeedback(caller), Callee: stripFeedback(callee)}
		for _, pm := range plan() {
			seg.Media = append(seg.Media, g.media(pm, callerC, calleeC))
		}
		if g.chance(0.01) {
			seg.FailureInfo = &FailureInfo{Stage: "midcall", Reason: "MediaConnectivityFailure"}
		}
		s.Segments = append(s.Segments, seg)
		segStart = segEnd
	}
	s.Caller, s.Callee = g.withFeedback(caller), g.withFeedback(callee)
	s.FailureInfo = g.failure()
	return s
}

var failureReasons = []string{"MediaConnectivityFailure", "CallSetupTimeout", "RemoteEndpointRejected", "NetworkDropped"}

// failure is a session's failureInfo: a few sessions fail to set up or
// drop, now and then at a stage Graph added later ("teardown" is past the
// sentinel).
func (g *gen) failure() *FailureInfo {
	var stage string
	switch x := g.r.Float64(); {
	case x < 0.025:
		stage = "callSetup"
	case x < 0.04:
		stage = "midcall"
	case x < 0.042:
		stage = "unknown"
	case x < 0.043:
		stage = "teardown"
	default:
		return nil
	}
	return &FailureInfo{Stage: stage, Reason: pick(g, failureReasons)}
}

func stripFeedback(e Endpoint) Endpoint {
	e.Feedback = nil
	return e
}

func (g *gen) clientEndpoint(c *client) Endpoint {
	return Endpoint{
		ODataType: TypeParticipantEndpoint,
		UserAgent: &UserAgent{ODataType: TypeClientUserAgent, Platform: c.platform, ProductFamily: c.family,
			HeaderValue: c.header, ApplicationVersion: c.version},
		Identity: g.userIdentity(c.user),
	}
}

var (
	ratings       = []string{"notRated", "bad", "poor", "fair", "good", "excellent", "mixed"} // "mixed": past the sentinel
	ratingWeights = []float64{25, 6, 10, 16, 28, 14, 1}
	feedbackTexts = []string{"Audio kept cutting out near the end", "Could not hear the presenter", "Video froze twice", "Great call"}
)

func (g *gen) withFeedback(e Endpoint) Endpoint {
	if e.UserAgent == nil || e.UserAgent.ODataType != TypeClientUserAgent || !g.chance(0.12) {
		return e
	}
	fb := &UserFeedback{Rating: weighted(g, ratings, ratingWeights), Tokens: map[string]bool{}}
	// "Stopped" is the spelling of Microsoft's example; Graph's token set
	// is open, so any name may come.
	for _, tok := range []string{"NoSound", "OtherNoSound", "Echo", "Noisy", "LowVolume", "StoppedSound", "Stopped", "DistortedSound", "Interruptions", "Robotic"} {
		fb.Tokens[tok] = g.chance(0.15)
	}
	if g.chance(0.2) {
		text := pick(g, feedbackTexts) + " (" + g.hostSuffix() + ")"
		fb.Text = &text
	}
	e.Feedback = fb
	return e
}

// media builds one media of a segment. A nil client is a server side.
func (g *gen) media(pm plannedMedia, caller, callee *client) Media {
	m := Media{Label: pm.label}
	var condCaller, condCallee condition
	m.CallerNetwork, condCaller = g.networkFor(caller)
	m.CalleeNetwork, condCallee = g.networkFor(callee)
	if MediaKind(pm.label) == "audio" {
		m.CallerDevice, m.CalleeDevice = g.device(caller), g.device(callee)
	}
	cond := max(condCaller, condCallee)
	if MediaKind(pm.label) == "audio" && (worseAudio(caller) || worseAudio(callee)) {
		cond = min(bad, cond+1)
	}
	if pm.callerToCallee {
		m.Streams = append(m.Streams, g.stream(pm.label, CallerToCallee, cond))
	}
	if pm.ce {
		m.Streams = append(m.Streams, g.stream(pm.label, CalleeToCaller, cond))
	}
	if len(m.Streams) > 1 && g.chance(0.5) {
		m.Streams[0], m.Streams[1] = m.Streams[1], m.Streams[0]
	}
	return m
}

// worseAudio reports whether c runs the client version whose audio is
// worse.
func worseAudio(c *client) bool { return c != nil && c.version == WorseAudioVersion }

// serverMedia is a media between two servers (a PSTN hop).
func (g *gen) serverMedia(label string) Media {
	m := Media{Label: label, CallerNetwork: g.serverNetwork(), CalleeNetwork: g.serverNetwork()}
	m.Streams = []MediaStream{g.stream(label, CallerToCallee, good), g.stream(label, CalleeToCaller, good)}
	return m
}

func (g *gen) networkFor(c *client) (*NetworkInfo, condition) {
	if c == nil {
		return g.serverNetwork(), good
	}
	cond := g.conditionAt(c.location)
	if c.conn == "" {
		return nil, cond
	}
	n := &NetworkInfo{
		ConnectionType: c.conn, IPAddress: c.ip, Subnet: c.subnet,
		ReflexiveIPAddress: fmt.Sprintf("203.0.%d.%d", 113+g.r.IntN(2), 1+g.r.IntN(254)),
		RelayIPAddress:     fmt.Sprintf("52.112.%d.%d", g.r.IntN(256), 1+g.r.IntN(254)),
		RelayPort:          i64(int64(3478 + g.r.IntN(4))), Port: i64(int64(50000 + g.r.IntN(60))),
		MACAddress:               c.mac,
		NetworkTransportProtocol: weighted(g, []string{"udp", "tcp", "unknown", "quic"}, []float64{90, 8, 1.5, 0.5}), // quic: past the sentinel
		LinkSpeed:                g.linkSpeed(c.conn),
		TraceRouteHops:           []any{},
	}
	if g.chance(0.5) && c.conn != "mobile" {
		n.DNSSuffix = ptr("corp.contoso.example")
	}
	n.SentQualityEventRatio = g.eventRatio(cond)
	n.ReceivedQualityEventRatio = g.eventRatio(cond)
	n.DelayEventRatio = g.eventRatio(cond)
	n.BandwidthLowEventRatio = g.eventRatio(cond)
	if c.conn == "wifi" {
		n.BasicServiceSetIdentifier = c.bssid
		n.WifiBand = weighted(g, []string{"frequency24GHz", "frequency50GHz", "frequency60GHz", "unknown", "frequency6GHz"}, []float64{30, 64, 2, 3, 1})
		n.WifiRadioType = weighted(g, []string{"wifi80211a", "wifi80211b", "wifi80211g", "wifi80211n", "wifi80211ac", "wifi80211ax", "unknown", "wifi80211be"},
			[]float64{2, 1, 4, 25, 35, 30, 2, 1})
		n.WifiChannel = i64(int64(pick(g, []int{1, 6, 11, 36, 44, 149})))
		switch {
		case g.chance(0.05):
		case g.chance(0.02):
			n.WifiSignalStrength = i64(100)
		default:
			n.WifiSignalStrength = i64(int64(g.edge(float64(30+g.r.IntN(70)), 50, 80)))
		}
		n.WifiVendorDriver = "Intel(R) Wi-Fi 6E AX211 160MHz"
	}
	return n, cond
}

func ptr[T any](v T) *T { return &v }

// subnetOf is the network address of an IPv4 address's /24.
func subnetOf(ip string) string {
	i := strings.LastIndexByte(ip, '.')
	return ip[:i] + ".0"
}

func (g *gen) serverNetwork() *NetworkInfo {
	ip := fmt.Sprintf("52.113.%d.%d", g.r.IntN(256), 1+g.r.IntN(254))
	return &NetworkInfo{ConnectionType: "wired", IPAddress: ip, Subnet: subnetOf(ip),
		Port: i64(int64(49152 + g.r.IntN(16000))), NetworkTransportProtocol: "udp", TraceRouteHops: []any{}}
}

func (g *gen) linkSpeed(conn string) *int64 {
	if g.chance(0.08) {
		return nil
	}
	switch conn {
	case "wired":
		return i64(weighted(g, []int64{1_000_000_000, 100_000_000, 4294967295, 10_000_000_000, 2_500_000_000}, []float64{55, 20, 10, 5, 10}))
	case "wifi":
		return i64(pick(g, []int64{54_000_000, 72_000_000, 144_400_000, 300_000_000, 433_300_000, 866_700_000, 1_201_000_000}))
	case "mobile":
		if g.chance(0.5) {
			return nil
		}
		return i64(int64(g.uniform(5e6, 150e6)))
	case "tunnel":
		return i64(1_000_000_000)
	}
	return i64(pick(g, []int64{10_000_000, 100_000_000, 1_000_000_000}))
}

// eventRatio: mostly an exact 0, larger and more often when the network is
// worse, sometimes not measured.
func (g *gen) eventRatio(c condition) *float64 {
	if g.chance(0.08) {
		return nil
	}
	if g.chance([]float64{0.8, 0.4, 0.1}[c]) {
		return f64(0)
	}
	if c == bad && g.chance(0.1) {
		return f64(1)
	}
	return f64(round(g.uniform(0.01, []float64{0.12, 0.45, 1}[c]), 2))
}

func (g *gen) device(c *client) *DeviceInfo {
	if c == nil {
		return nil
	}
	return &DeviceInfo{
		CaptureDeviceName: c.capture, RenderDeviceName: c.render,
		CaptureDeviceDriver: "Microsoft: 10.0.22621.1", RenderDeviceDriver: "Microsoft: 10.0.22621.1",
		ReceivedSignalLevel: i64(int64(-30 + g.r.IntN(25))), ReceivedNoiseLevel: i64(int64(-90 + g.r.IntN(30))),
		SentSignalLevel: i64(int64(-30 + g.r.IntN(25))), SentNoiseLevel: i64(int64(-90 + g.r.IntN(30))),
		InitialSignalLevelRMS:           f64(round(g.uniform(20, 300), 5)),
		RenderZeroVolumeEventRatio:      f64(weighted(g, []float64{0, 1, round(g.r.Float64(), 2)}, []float64{90, 3, 7})),
		RenderMuteEventRatio:            f64(weighted(g, []float64{0, 1, round(g.r.Float64(), 2)}, []float64{90, 3, 7})),
		CaptureNotFunctioningEventRatio: g.deviceRatio(0.02),
		CPUInsufficientEventRatio:       g.deviceRatio(0.05),
		DeviceClippingEventRatio:        g.deviceRatio(0.08),
		DeviceGlitchEventRatio:          g.deviceRatio(0.1),
		LowSpeechLevelEventRatio:        g.deviceRatio(0.12),
		LowSpeechToNoiseEventRatio:      g.deviceRatio(0.1),
		RenderNotFunctioningEventRatio:  g.deviceRatio(0.02),
		MicGlitchRate:                   g.glitchRate(200), SpeakerGlitchRate: g.glitchRate(400),
		HowlingEventCount: i64(int64(weighted(g, []int{0, 1, 3}, []float64{95, 4, 1}))),
	}
}

// deviceRatio: an exact 0 mostly, a fraction with probability p, now and
// then not measured.
func (g *gen) deviceRatio(p float64) *float64 {
	switch {
	case g.chance(0.05):
		return nil
	case g.chance(p):
		return f64(g.edge(round(g.uniform(0.005, 1), 3), 0.05, 0.1, 1))
	}
	return f64(0)
}

// glitchRate is glitches per 5 minutes: mostly few, sometimes many, now and
// then not measured.
func (g *gen) glitchRate(limit int) *float64 {
	if g.chance(0.05) {
		return nil
	}
	return f64(g.edge(float64(g.r.IntN(limit)), 1, 10, 100))
}

// stream draws one stream's quality; kind decides which fields Graph fills.
func (g *gen) stream(label, dir string, c condition) MediaStream {
	s := MediaStream{StreamID: g.nextStreamID(), StreamDirection: dir}
	switch MediaKind(label) {
	case "audio":
		g.audioStream(&s, c)
	case "video":
		g.videoStream(&s, c, false)
	case "screen_sharing":
		g.videoStream(&s, c, true)
	default: // data, other: little is measured
		if g.chance(0.3) {
			s.AverageBandwidthEstimate = i64(int64(g.logn(1e6, 1)))
		}
		if g.chance(0.2) {
			s.AverageJitter = ms(g.logn(8, 0.6))
			s.AverageRoundTripTime = ms(g.logn(50, 0.5))
		}
	}
	return s
}

// pickEdge returns an exact threshold or bucket bound now and then, so
// that "<=" versus "<" mistakes show.
func (g *gen) edge(v float64, edges ...float64) float64 {
	if g.chance(0.015) {
		return pick(g, edges)
	}
	return v
}

func (g *gen) jitterMS(c condition, medians [3]float64) *Duration {
	if g.chance(0.04) {
		return nil
	}
	if g.chance(0.005) {
		return ms(0)
	}
	return ms(g.edge(math.Min(400, g.logn(medians[c], 0.6)), 30, 20, 50))
}

func (g *gen) lossRate(c condition) *float64 {
	if g.chance(0.04) {
		return nil
	}
	if g.chance([]float64{0.45, 0.15, 0.02}[c]) {
		return f64(0)
	}
	return f64(g.edge(round(math.Min(0.9, g.logn([]float64{0.002, 0.02, 0.14}[c], 0.9)), 8), 0.1, 0.01, 0.05))
}

func (g *gen) rttMS(c condition) *Duration {
	if g.chance(0.08) {
		return nil
	}
	return ms(g.edge(math.Min(3000, g.logn([]float64{45, 120, 460}[c], 0.5)), 500, 100, 200))
}

func (g *gen) audioStream(s *MediaStream, c condition) {
	// unknown: Graph's own; lyra: a member newer than the exporter.
	s.AudioCodec = weighted(g, []string{"opus", "satin", "silk", "g722", "pcmu", "satinFullband", "silkWide", "g7221c", "unknown", "lyra"},
		[]float64{40, 30, 10, 8, 7, 5, 2, 1, 1, 0.5})
	s.AverageJitter = g.jitterMS(c, [3]float64{6, 15, 45})
	if s.AverageJitter != nil {
		s.MaxJitter = ms(float64(time.Duration(*s.AverageJitter)/time.Millisecond) * g.uniform(1.2, 3))
	}
	s.AveragePacketLossRate = g.lossRate(c)
	if s.AveragePacketLossRate != nil {
		s.MaxPacketLossRate = f64(round(math.Min(1, *s.AveragePacketLossRate*g.uniform(1, 4)), 8))
	}
	s.AverageRoundTripTime = g.rttMS(c)
	if s.AverageRoundTripTime != nil {
		s.MaxRoundTripTime = ms(float64(time.Duration(*s.AverageRoundTripTime)/time.Millisecond) * g.uniform(1.1, 2.5))
	}
	switch {
	case g.chance(0.03):
	case g.chance(0.09):
		s.PacketUtilization = i64(int64(g.edge(float64(g.r.IntN(500)), 500)))
	default:
		s.PacketUtilization = i64(int64(g.edge(501+g.logn(4000, 1), 501)))
	}
	if !g.chance(0.35) {
		if g.chance(0.08) {
			s.AverageAudioDegradation = f64(0)
		} else {
			s.AverageAudioDegradation = f64(round(math.Min(4.5, g.logn([]float64{0.15, 0.8, 2}[c], 0.6)), 6))
		}
	}
	if !g.chance(0.15) {
		if g.chance(0.1) {
			s.AverageRatioOfConcealedSamples = f64(0)
		} else {
			s.AverageRatioOfConcealedSamples = f64(round(math.Min(1, g.logn([]float64{0.01, 0.05, 0.15}[c], 0.7)), 8))
		}
		s.MaxRatioOfConcealedSamples = f64(round(math.Min(1, *s.AverageRatioOfConcealedSamples*g.uniform(1, 2)), 8))
	}
	if !g.chance(0.12) {
		s.AverageAudioNetworkJitter = ms(g.logn([]float64{12, 30, 80}[c], 0.5))
		s.MaxAudioNetworkJitter = ms(float64(time.Duration(*s.AverageAudioNetworkJitter)/time.Millisecond) * g.uniform(1.1, 2))
	}
	s.AverageBandwidthEstimate = g.bandwidth(c, [3]float64{8e6, 2e6, 3e5})
	s.WasMediaBypassed = f64b(false)
	s.IsAudioForwardErrorCorrectionUsed = f64b(g.chance(0.3))
}

func (g *gen) bandwidth(c condition, medians [3]float64) *int64 {
	switch {
	case g.chance(0.08):
		return nil
	case g.chance(0.01):
		return i64(0)
	}
	return i64(int64(g.edge(math.Min(1e9, g.logn(medians[c], 1)), 64000, 1e7)))
}

func (g *gen) videoStream(s *MediaStream, c condition, sharing bool) {
	// vp9: a member newer than the exporter.
	s.VideoCodec = weighted(g, []string{"h264", "h264s", "av1", "h265", "rtVideo", "xrtvc1", "h264uc", "unknown", "vp9"},
		[]float64{45, 15, 15, 10, 10, 5, 2, 1, 0.5})
	if !g.chance(0.3) {
		s.AverageJitter = g.jitterMS(c, [3]float64{8, 20, 55})
		s.AveragePacketLossRate = g.lossRate(c)
		s.AverageRoundTripTime = g.rttMS(c)
	}
	s.PacketUtilization = i64(int64(g.logn(20000, 1)))
	s.AverageBandwidthEstimate = g.bandwidth(c, [3]float64{2.5e6, 8e5, 2e5})
	// Frame rate: the CQD threshold is 7 fps for video and 2 for sharing.
	if !g.chance(0.12) {
		var fps float64
		switch {
		case sharing:
			fps = []float64{math.Max(2, math.Min(30, 12+5*g.r.NormFloat64())), g.uniform(2, 6), g.uniform(0.2, 2.2)}[c]
			fps = g.edge(fps, 2, 5, 10)
		default:
			fps = []float64{math.Max(7.5, math.Min(60, 28+4*g.r.NormFloat64())), g.uniform(8, 20), g.uniform(0, 8)}[c]
			fps = g.edge(fps, 7, 15, 30)
		}
		s.AverageVideoFrameRate = f64(round(fps, 4))
	}
	if !g.chance(0.25) {
		switch {
		case c == good && g.chance(0.25), g.chance(0.05):
			s.AverageVideoFrameLossPercentage = f64(0)
		case c == bad:
			s.AverageVideoFrameLossPercentage = f64(round(g.edge(g.uniform(35, 95), 50), 4))
		default:
			s.AverageVideoFrameLossPercentage = f64(round(g.edge(math.Min(100, g.logn([]float64{1.5, 12, 0}[c], 0.8)), 50, 10), 4))
		}
	}
	if !g.chance(0.2) {
		s.AverageVideoPacketLossRate = g.lossRate(c)
	}
	if !g.chance(0.35) {
		if g.chance(0.15) {
			s.AverageFreezeDuration = ms(0)
		} else {
			s.AverageFreezeDuration = ms(g.edge(math.Min(30000, g.logn([]float64{200, 800, 3000}[c], 0.7)), 1000, 250))
		}
	}
	if !g.chance(0.3) {
		if g.chance(0.3) {
			s.PostForwardErrorCorrectionPacketLossRate = f64(0)
		} else {
			s.PostForwardErrorCorrectionPacketLossRate = f64(round(g.edge(math.Min(0.9, g.logn([]float64{0.002, 0.03, 0.2}[c], 0.8)), 0.15, 0.05), 8))
		}
	}
	if !g.chance(0.2) {
		switch {
		case g.chance(0.35):
			s.LowFrameRateRatio = f64(0)
		case c == bad && g.chance(0.2):
			s.LowFrameRateRatio = f64(1)
		default:
			lo, hi := []float64{0, 0.1, 0.5}[c], []float64{0.1, 0.5, 1}[c]
			s.LowFrameRateRatio = f64(round(g.uniform(lo, hi), 4))
		}
	}
}

// MediaKind maps a Graph media label to the exporter's media label value
// (docs/design.md); the generator and the test oracle share it so both
// read a label the same way.
func MediaKind(label string) string {
	l := strings.ToLower(label)
	switch {
	case strings.Contains(l, "audio"):
		return "audio"
	case l == "applicationsharing-video" || strings.Contains(l, "vbss") || strings.Contains(l, "sharing"):
		return "screen_sharing"
	case strings.Contains(l, "video"):
		return "video"
	case l == "data":
		return "data"
	}
	return "other"
}
