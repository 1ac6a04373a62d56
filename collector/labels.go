package collector

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/teams-exporter/teams-exporter/sites"
)

// A dim is one label dimension. A fixed dim's values are small enums
// indexing its value list, the last value being the fallback for anything
// not recognised. A learned dim (see dimension) takes its values from data
// or configuration instead, bounded by a maximum.
type dim uint8

const (
	dimMedia dim = iota
	dimDirection
	dimPlatform
	dimConnection
	dimQuality
	dimCallType
	dimRating
	dimTrunk
	dimDRCallType
	dimResult
	dimMediaBypass
	dimSIPCode
	dimPSTNCallType
	dimDestination
	dimCurrency
	dimSite
	dimStage
	dimTransport
	dimBand
	dimRadioType
	dimEvent
	dimDevice
	dimToken
	dimCause
	dimCodec
	dimProduct
	dimClientVersion
	numDims
)

// dimension describes one label: its name and where its values come from.
type dimension struct {
	name string
	// values are a fixed dim's label values, indexed by enum; nil for a
	// learned dim.
	values []string
	// A learned dim is bounded by max distinct values, each accepted by
	// valid, kept in the order first seen (per store, and across restarts
	// through the state file); anything valid rejects, and every value
	// beyond the first max, becomes overflow. Its value id 0 is overflow,
	// learned values are 1..max.
	max      int
	valid    func(string) bool
	overflow string
	// reserved values are learned when a store begins, before any data,
	// so that they always have a value id of their own (1, 2, ...);
	// they count within max.
	reserved []string
	// about says, for docs/metrics.md, where a learned dim's values come
	// from and what valid accepts.
	about string
}

func (d *dimension) learned() bool { return d.values == nil }

// cardinality is the most values the dim can have.
func (d *dimension) cardinality() int {
	if d.learned() {
		return d.max + 1
	}
	return len(d.values)
}

// dims holds every dim's description, indexed by dim. Adding a label: add a
// dim constant, describe it here, and use it in a family's dims (see
// docs/design.md, "Adding a family").
var dims = [numDims]dimension{
	dimMedia:      {name: "media", values: []string{"audio", "video", "screen_sharing", "data", "other"}},
	dimDirection:  {name: "direction", values: []string{"inbound", "outbound"}},
	dimPlatform:   {name: "platform", values: []string{"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknown"}},
	dimConnection: {name: "connection_type", values: []string{"wired", "wifi", "mobile", "tunnel", "unknown"}},
	dimQuality:    {name: "quality", values: []string{"good", "poor", "unclassified"}},
	dimCallType:   {name: "type", values: []string{"groupCall", "peerToPeer", "unknown"}},
	dimRating:     {name: "rating", values: []string{"notRated", "bad", "poor", "fair", "good", "excellent", "unknown"}},
	// Direct routing and PSTN: see calllogs.go.
	dimTrunk: {name: "trunk", max: maxTrunks, valid: isHostName, overflow: "other",
		about: "the session border controller's host name (trunkFullyQualifiedDomainName), lower-cased; a value that is not a host name is `other`"},
	dimDRCallType: {name: "call_type", max: maxCallTypes, valid: isCallType, overflow: "other",
		about: "Graph's call type (`ByotIn`, `ByotOut`, `user_in`, `user_out`, `emergency_out`, ...): 1 to 40 letters or underscores; anything else is `other`"},
	dimResult:      {name: "result", values: []string{"success", "failure"}},
	dimMediaBypass: {name: "media_bypass", values: []string{"false", "true"}},
	dimSIPCode:     {name: "code", values: sipCodeValues()},
	dimPSTNCallType: {name: "call_type", max: maxCallTypes, valid: isCallType, overflow: "other",
		about: "Graph's call type (`ByotIn`, `ByotOut`, `user_in`, `user_out`, `emergency_out`, ...): 1 to 40 letters or underscores; anything else is `other`"},
	dimDestination: {name: "destination_context", values: []string{"domestic", "international", "unknown"}},
	dimCurrency: {name: "currency", max: maxCurrencies, valid: isCurrency, overflow: "other",
		about: "an ISO 4217 code: three capital letters; anything else is `other`"},
	// site is learned from the building file's buildings plus unmapped
	// and unknown, so its bound is the file's. Buildings that a reload
	// adds beyond it (since the state began) count as other.
	dimSite: {name: "site", max: sites.MaxSites + 2, valid: validSite, overflow: "other",
		about: "the BuildingName of the client's network in the building file; `unmapped`: in no network of the file; `unknown`: Graph gave no subnet or address"},
	dimStage:     {name: "stage", values: []string{"callSetup", "midcall", "unknown"}},
	dimTransport: {name: "transport", values: []string{"udp", "tcp", "unknown"}},
	dimBand:      {name: "band", values: []string{"frequency24GHz", "frequency50GHz", "frequency60GHz", "unknown"}},
	dimRadioType: {name: "radio_type", values: []string{"wifi80211a", "wifi80211b", "wifi80211g", "wifi80211n", "wifi80211ac", "wifi80211ax", "unknown"}},
	dimEvent: {name: "event", values: []string{"capture_not_functioning", "cpu_insufficient", "device_clipping", "device_glitch",
		"low_speech_level", "low_speech_to_noise", "render_not_functioning", "render_zero_volume", "render_mute"}},
	dimDevice: {name: "device", values: []string{"microphone", "speaker"}},
	dimToken:  {name: "token", values: []string{"NoSound", "OtherNoSound", "Echo", "Noisy", "LowVolume", "StoppedSound", "DistortedSound", "Interruptions", "other"}},
	// Why, one level deeper: see why.go.
	dimCause:   {name: "cause", values: causeValues[:]},
	dimCodec:   {name: "codec", values: codecValues()},
	dimProduct: {name: "product", values: []string{"teams", "skypeForBusiness", "lync", "azureCommunicationServices", "unknown", "other"}},
	dimClientVersion: {name: "client_version", max: maxClientVersions + 1, valid: isClientVersion, overflow: "other", reserved: []string{"unknown"},
		about: "the client's version as Graph reports it: 1 to 40 letters, digits and `._/+-`; anything else, or none, is `unknown`"},
}

// validSite accepts what the building file parser accepts as a building
// name, and the two values that are not buildings; it guards the state
// file's site values, since observed ones come from the parser.
func validSite(s string) bool {
	return s != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= sites.MaxNameRunes &&
		strings.IndexFunc(s, unicode.IsControl) < 0
}

// learnedValues is the value set a store has learned for one learned dim.
type learnedValues struct {
	d      *dimension
	ids    map[string]uint16
	values []string // values[0] is the overflow value
}

func newLearnedValues(d *dimension) *learnedValues {
	l := &learnedValues{d: d, ids: map[string]uint16{}, values: []string{d.overflow}}
	for _, v := range d.reserved {
		l.ids[v] = uint16(len(l.values))
		l.values = append(l.values, v)
	}
	return l
}

// id returns the value id of v, learning v if there is room. The caller
// holds the store's lock.
func (l *learnedValues) id(v string) uint16 {
	if id, ok := l.ids[v]; ok {
		return id
	}
	// A value spelled as the overflow value is the overflow series: learning
	// it would give two series the same labels.
	if v == l.d.overflow || len(l.values) > l.d.max || !l.d.valid(v) {
		return 0
	}
	v = strings.Clone(v) // v may point into a large decode buffer
	id := uint16(len(l.values))
	l.ids[v] = id
	l.values = append(l.values, v)
	return id
}

// restoreID is id for a value read from the state file: the overflow value
// or a valid value, within the bound; anything else is an error.
func (l *learnedValues) restoreID(v string) (uint16, bool) {
	if v == l.d.overflow {
		return 0, true
	}
	if _, ok := l.ids[v]; !ok && (len(l.values) > l.d.max || !l.d.valid(v)) {
		return 0, false
	}
	return l.id(v), true
}

// Enum values. Their order matches dimValues.
const (
	mediaAudio uint8 = iota
	mediaVideo
	mediaScreenSharing
	mediaData
	mediaOther
	numMedia
)

const (
	dirInbound uint8 = iota
	dirOutbound
	numDirections
)

const (
	platformWindows uint8 = iota
	platformMacOS
	platformIOS
	platformAndroid
	platformWeb
	platformIPPhone
	platformRoomSystem
	platformSurfaceHub
	platformHoloLens
	platformUnknown
	numPlatforms
)

const (
	connWired uint8 = iota
	connWifi
	connMobile
	connTunnel
	connUnknown
	numConnections
)

const (
	qualityGood uint8 = iota
	qualityPoor
	qualityUnclassified
	numQualities
)

const (
	callGroup uint8 = iota
	callPeerToPeer
	callUnknown
	numCallTypes
)

const (
	ratingNotRated uint8 = iota
	ratingBad
	ratingPoor
	ratingFair
	ratingGood
	ratingExcellent
	ratingUnknown
	numRatings
)

// lookupFold returns the index of s in values, compared case-insensitively,
// or fallback. The lists are short, so a scan beats a map and never allocates.
func lookupFold(values []string, s string, fallback uint8) uint8 {
	for i, v := range values {
		if len(v) == len(s) && strings.EqualFold(v, s) {
			return uint8(i)
		}
	}
	return fallback
}

// platformOf maps userAgent.platform; "unknownFutureValue" and anything new
// become unknown.
func platformOf(s string) uint8 {
	return lookupFold(dims[dimPlatform].values[:platformUnknown], s, platformUnknown)
}

func connectionOf(s string) uint8 {
	return lookupFold(dims[dimConnection].values[:connUnknown], s, connUnknown)
}

func callTypeOf(s string) uint8 {
	return lookupFold(dims[dimCallType].values[:callUnknown], s, callUnknown)
}

func ratingOf(s string) uint8 {
	return lookupFold(dims[dimRating].values[:ratingUnknown], s, ratingUnknown)
}

// Fallbacks of the fixed dims of the where and why families: the last
// value of each list.
var (
	stageUnknown     = uint8(len(dims[dimStage].values) - 1)
	transportUnknown = uint8(len(dims[dimTransport].values) - 1)
	bandUnknown      = uint8(len(dims[dimBand].values) - 1)
	radioUnknown     = uint8(len(dims[dimRadioType].values) - 1)
	tokenOther       = uint8(len(dims[dimToken].values) - 1)
)

func stageOf(s string) uint8 {
	return lookupFold(dims[dimStage].values[:stageUnknown], s, stageUnknown)
}

func transportOf(s string) uint8 {
	return lookupFold(dims[dimTransport].values[:transportUnknown], s, transportUnknown)
}

func bandOf(s string) uint8 { return lookupFold(dims[dimBand].values[:bandUnknown], s, bandUnknown) }

func radioTypeOf(s string) uint8 {
	return lookupFold(dims[dimRadioType].values[:radioUnknown], s, radioUnknown)
}

// tokenOf maps a feedback token's name exactly: token names are JSON
// property names, which are case-sensitive.
func tokenOf(s string) uint8 {
	for i, v := range dims[dimToken].values[:tokenOther] {
		if v == s {
			return uint8(i)
		}
	}
	return tokenOther
}

// mediaOf maps a media label. Audio wins over sharing (any label with
// "audio" is audio; "video" that is not screen sharing is video), then
// screen sharing, then video; "data" is exact.
func mediaOf(label string) uint8 {
	switch {
	case containsFold(label, "audio"):
		return mediaAudio
	case containsFold(label, "sharing"), containsFold(label, "vbss"):
		return mediaScreenSharing
	case containsFold(label, "video"):
		return mediaVideo
	case strings.EqualFold(label, "data"):
		return mediaData
	}
	return mediaOther
}

// containsFold reports whether s contains sub, ASCII case-insensitively; sub
// must be lower-case ASCII. It avoids strings.ToLower's allocation.
func containsFold(s, sub string) bool {
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}
