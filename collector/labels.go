package collector

import "strings"

// A dim is one label dimension. Its values are small enums indexing
// dimValues; the last value of every list is the fallback for anything that
// is not recognised.
type dim uint8

const (
	dimMedia dim = iota
	dimDirection
	dimPlatform
	dimConnection
	dimQuality
	dimCallType
	dimRating
	numDims
)

// dimNames are the Prometheus label names, in dim order.
var dimNames = [numDims]string{
	dimMedia:      "media",
	dimDirection:  "direction",
	dimPlatform:   "platform",
	dimConnection: "connection_type",
	dimQuality:    "quality",
	dimCallType:   "type",
	dimRating:     "rating",
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

// dimValues holds SPEC's spelling of every label value, indexed by enum.
var dimValues = [numDims][]string{
	dimMedia:      {"audio", "video", "screen_sharing", "data", "other"},
	dimDirection:  {"inbound", "outbound"},
	dimPlatform:   {"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknown"},
	dimConnection: {"wired", "wifi", "mobile", "tunnel", "unknown"},
	dimQuality:    {"good", "poor", "unclassified"},
	dimCallType:   {"groupCall", "peerToPeer", "unknown"},
	dimRating:     {"notRated", "bad", "poor", "fair", "good", "excellent", "unknown"},
}

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
	return lookupFold(dimValues[dimPlatform][:platformUnknown], s, platformUnknown)
}

func connectionOf(s string) uint8 {
	return lookupFold(dimValues[dimConnection][:connUnknown], s, connUnknown)
}

func callTypeOf(s string) uint8 {
	return lookupFold(dimValues[dimCallType][:callUnknown], s, callUnknown)
}

func ratingOf(s string) uint8 {
	return lookupFold(dimValues[dimRating][:ratingUnknown], s, ratingUnknown)
}

// mediaOf maps a media label. Audio wins over sharing (SPEC: any *audio* is
// audio, "video not screen sharing" is video), then screen sharing, then
// video; "data" is exact.
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
