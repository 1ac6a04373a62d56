package simtruth

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// Buildings is a building file as the truth reads it: every network with
// its building, in file order, and each building's attributes. It is a
// plain reading of the format, separate from the exporter's, and looks
// networks up by scanning all of them.
type Buildings struct {
	nets  []buildingNet
	sites []buildingSite
}

type buildingNet struct {
	prefix netip.Prefix
	site   string
}

type buildingSite struct {
	name, city, country, region   string
	insideCorp, expressRoute, vpn bool
}

// ParseBuildings reads a building file the simple way: comma- or
// tab-separated without quotes, a first line not starting with an address
// skipped, 14 or 15 columns.
func ParseBuildings(data []byte) (*Buildings, error) {
	b := &Buildings{}
	seen := map[string]bool{}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	sep := ","
	if strings.Contains(strings.SplitN(text, "\n", 2)[0], "\t") {
		sep = "\t"
	}
	for i, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, sep)
		addr, err := netip.ParseAddr(f[0])
		if err != nil {
			if i == 0 {
				continue
			}
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if len(f) != 14 && len(f) != 15 {
			return nil, fmt.Errorf("line %d: %d columns", i+1, len(f))
		}
		bits, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		b.nets = append(b.nets, buildingNet{netip.PrefixFrom(addr, bits).Masked(), f[3]})
		if !seen[f[3]] {
			seen[f[3]] = true
			s := buildingSite{name: f[3], city: f[7], country: f[9], region: f[11], insideCorp: f[12] == "1", expressRoute: f[13] == "1"}
			s.vpn = len(f) == 15 && f[14] == "1"
			b.sites = append(b.sites, s)
		}
	}
	return b, nil
}

// site is the building of a client's network info by the longest network
// holding its subnet, else its address; "unmapped" when neither matches,
// "unknown" when it has neither.
func (b *Buildings) site(n *graphsim.NetworkInfo) string {
	if n == nil {
		return "unknown"
	}
	known := false
	for _, s := range []string{n.Subnet, n.IPAddress} {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		known = true
		best, bestBits := "", -1
		for _, bn := range b.nets {
			if bn.prefix.Contains(addr.Unmap()) && bn.prefix.Bits() > bestBits {
				best, bestBits = bn.site, bn.prefix.Bits()
			}
		}
		if bestBits >= 0 {
			return best
		}
	}
	if known {
		return "unmapped"
	}
	return "unknown"
}

// With is Of for an exporter configured with a building file:
// it adds the site families (nil buildings: none, as without a file).
func With(buildings *Buildings, recs ...graphsim.Record) Truth {
	b := newBuilder()
	for i := range recs {
		b.addRecord(&recs[i])
		b.addWhy(&recs[i], buildings)
		b.addDeeper(&recs[i])
	}
	t := b.truth()
	if buildings != nil {
		for _, s := range buildings.sites {
			t[SeriesKey("teams_site_info", map[string]string{
				"site": s.name, "city": s.city, "country": s.country, "region": s.region,
				"inside_corp": strconv.FormatBool(s.insideCorp), "express_route": strconv.FormatBool(s.expressRoute), "vpn": strconv.FormatBool(s.vpn),
			})] = 1
		}
	}
	return t
}

var (
	signalBuckets  = []float64{.2, .4, .5, .6, .7, .8, .9, 1}
	glitchBuckets  = []float64{1, 2, 5, 10, 20, 50, 100}
	rttBuckets     = []float64{.025, .05, .1, .2, .3, .5, 1, 2}
	feedbackTokens = []string{"NoSound", "OtherNoSound", "Echo", "Noisy", "LowVolume", "StoppedSound", "DistortedSound", "Interruptions"}
)

// deviceEvents maps deviceInfo fields to the event label.
var deviceEvents = []struct {
	event string
	value func(*graphsim.DeviceInfo) *float64
}{
	{"capture_not_functioning", func(d *graphsim.DeviceInfo) *float64 { return d.CaptureNotFunctioningEventRatio }},
	{"cpu_insufficient", func(d *graphsim.DeviceInfo) *float64 { return d.CPUInsufficientEventRatio }},
	{"device_clipping", func(d *graphsim.DeviceInfo) *float64 { return d.DeviceClippingEventRatio }},
	{"device_glitch", func(d *graphsim.DeviceInfo) *float64 { return d.DeviceGlitchEventRatio }},
	{"low_speech_level", func(d *graphsim.DeviceInfo) *float64 { return d.LowSpeechLevelEventRatio }},
	{"low_speech_to_noise", func(d *graphsim.DeviceInfo) *float64 { return d.LowSpeechToNoiseEventRatio }},
	{"render_not_functioning", func(d *graphsim.DeviceInfo) *float64 { return d.RenderNotFunctioningEventRatio }},
	{"render_zero_volume", func(d *graphsim.DeviceInfo) *float64 { return d.RenderZeroVolumeEventRatio }},
	{"render_mute", func(d *graphsim.DeviceInfo) *float64 { return d.RenderMuteEventRatio }},
}

// addWhy adds the families that say where and why: session failures,
// feedback tokens and, per client side, transport, Wi-Fi, devices and (with
// buildings) sites.
func (b *builder) addWhy(r *graphsim.Record, buildings *Buildings) {
	ct := normCallType(r.Type)
	for si := range r.Sessions {
		s := &r.Sessions[si]
		if s.FailureInfo != nil {
			b.inc("teams_session_failures_total", newLabels(map[string]string{"type": ct, "stage": oneOf(s.FailureInfo.Stage, "callSetup", "midcall")}), 1)
		}
		for _, e := range []graphsim.Endpoint{s.Caller, s.Callee} {
			if e.Feedback == nil {
				continue
			}
			for tok, set := range e.Feedback.Tokens {
				if !set {
					continue
				}
				name := "other"
				for _, known := range feedbackTokens {
					if tok == known {
						name = tok
					}
				}
				b.inc("teams_feedback_tokens_total", newLabels(map[string]string{"token": name, "platform": endpointPlatform(e)}), 1)
			}
		}
		for gi := range s.Segments {
			b.addWhySegment(&s.Segments[gi], buildings)
		}
	}
}

func (b *builder) addWhySegment(g *graphsim.Segment, buildings *Buildings) {
	type whySide struct {
		endpoint graphsim.Endpoint
		caller   bool
	}
	var sides []whySide
	if isClient(g.Caller) {
		sides = append(sides, whySide{g.Caller, true})
	}
	if isClient(g.Callee) {
		sides = append(sides, whySide{g.Callee, false})
	}
	for _, m := range g.Media {
		kind := graphsim.MediaKind(m.Label)
		for _, sd := range sides {
			platform := endpointPlatform(sd.endpoint)
			net, dev := m.CalleeNetwork, m.CalleeDevice
			if sd.caller {
				net, dev = m.CallerNetwork, m.CallerDevice
			}
			transport, wifi := "unknown", false
			var band, radio string
			if net != nil {
				transport = oneOf(net.NetworkTransportProtocol, "udp", "tcp")
				wifi = connectionTypeOf(net) == "wifi"
				band = oneOf(net.WifiBand, "frequency24GHz", "frequency50GHz", "frequency60GHz")
				radio = oneOf(net.WifiRadioType, "wifi80211a", "wifi80211b", "wifi80211g", "wifi80211n", "wifi80211ac", "wifi80211ax")
			}
			site := ""
			if buildings != nil {
				site = buildings.site(net)
			}
			for _, st := range m.Streams {
				dir, ok := direction(st.StreamDirection, sd.caller)
				if !ok {
					continue
				}
				quality := Classify(kind, st)
				b.inc("teams_transport_streams_total", newLabels(map[string]string{"media": kind, "transport": transport, "quality": quality}), 1)
				if wifi {
					b.inc("teams_wifi_streams_total", newLabels(map[string]string{"media": kind, "band": band, "radio_type": radio, "quality": quality}), 1)
				}
				if site == "" {
					continue
				}
				b.inc("teams_site_streams_total", newLabels(map[string]string{"site": site, "media": kind, "direction": dir,
					"connection_type": connectionTypeOf(net), "quality": quality}), 1)
				if kind != "audio" {
					continue
				}
				l := newLabels(map[string]string{"site": site, "direction": dir})
				if st.AverageJitter != nil {
					b.observe("teams_site_audio_jitter_seconds", l, jitterBuckets, st.AverageJitter.Seconds())
				}
				if st.AveragePacketLossRate != nil {
					b.observe("teams_site_audio_packet_loss_ratio", l, lossBuckets, *st.AveragePacketLossRate)
				}
				if st.AverageRoundTripTime != nil {
					b.observe("teams_site_audio_round_trip_time_seconds", l, rttBuckets, st.AverageRoundTripTime.Seconds())
				}
			}
			if wifi && net.WifiSignalStrength != nil {
				b.observe("teams_wifi_signal_strength_ratio", newLabels(map[string]string{"band": band}), signalBuckets, float64(*net.WifiSignalStrength)/100)
			}
			if kind != "audio" || dev == nil {
				continue
			}
			for _, ev := range deviceEvents {
				if v := ev.value(dev); v != nil {
					b.observe("teams_device_event_ratio", newLabels(map[string]string{"event": ev.event, "platform": platform}), eventRatioBuckets, *v)
				}
			}
			if dev.MicGlitchRate != nil {
				b.observe("teams_device_glitches_per_5m", newLabels(map[string]string{"device": "microphone", "platform": platform}), glitchBuckets, *dev.MicGlitchRate)
			}
			if dev.SpeakerGlitchRate != nil {
				b.observe("teams_device_glitches_per_5m", newLabels(map[string]string{"device": "speaker", "platform": platform}), glitchBuckets, *dev.SpeakerGlitchRate)
			}
			if dev.HowlingEventCount != nil {
				b.inc("teams_device_howling_events_total", newLabels(map[string]string{"platform": platform}), float64(*dev.HowlingEventCount))
			}
		}
	}
}

// whyPrefixes name the families added by addWhy, for CallQuality.
var whyPrefixes = []string{
	"teams_site_", "teams_session_failures_total", "teams_transport_streams_total", "teams_wifi_",
	"teams_device_", "teams_feedback_tokens_total",
}
