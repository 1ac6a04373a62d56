package collector

import (
	"strconv"
	"strings"

	"github.com/teams-exporter/teams-exporter/graph"
)

// The direct-routing and PSTN families count rows of Graph's call logs, a
// second kind of item beside call records. Their trunk, call type and
// currency labels take their values from the data, bounded (see dimension):
// a tenant has a handful of session border controllers, call types and
// currencies, and a hostile or broken log cannot add more than the bound.

// Bounds of the learned call-log labels.
const (
	maxTrunks     = 100
	maxCallTypes  = 20
	maxCurrencies = 10
)

// sinceRowIngested ends the HELP text of the call-log families.
const sinceRowIngested = " Counts what has been ingested since the exporter's state began; observed when the call-log row is ingested, not when the call happened."

var (
	drCallsDims      = []dim{dimTrunk, dimDRCallType, dimResult, dimMediaBypass}
	drCodeDims       = []dim{dimTrunk, dimSIPCode}
	drDurationDims   = []dim{dimTrunk, dimDRCallType}
	drSetupDims      = []dim{dimTrunk}
	pstnCallsDims    = []dim{dimPSTNCallType, dimDestination}
	pstnDurationDims = []dim{dimPSTNCallType}
	pstnChargeDims   = []dim{dimCurrency}

	callLogDurationBuckets = []float64{10, 30, 60, 300, 600, 1800, 3600, 7200}
)

// isHostName accepts a lower-case DNS name: dot-separated labels of
// letters, digits and inner hyphens, each at most 63 bytes, 253 in all.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !isHostByte(label[i]) {
				return false
			}
		}
	}
	return true
}

// isCallType accepts Graph's call types: 1 to 40 letters or underscores.
func isCallType(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isCallTypeByte(s[i]) {
			return false
		}
	}
	return true
}

func isHostByte(c byte) bool     { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }
func isCallTypeByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

// isCurrency accepts an ISO 4217 code: three capital letters.
func isCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

// SIP codes: 0 (a normal hang-up), 100 to 699, and other.
const (
	sipLowest  = 100
	sipHighest = 699
	sipOther   = 1 + sipHighest - sipLowest + 1
)

func sipCodeValues() []string {
	v := make([]string, 0, sipOther+1)
	v = append(v, "0")
	for c := sipLowest; c <= sipHighest; c++ {
		v = append(v, strconv.Itoa(c))
	}
	return append(v, "other")
}

// sipCodeOf is the value id of a final SIP code.
func sipCodeOf(n graph.Number) uint16 {
	switch c := n.Value; {
	case !n.Valid:
		return sipOther
	case c == 0:
		return 0
	case c >= sipLowest && c <= sipHighest && c == float64(int(c)):
		return uint16(1 + int(c) - sipLowest)
	}
	return sipOther
}

func boolValue(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}

func destinationOf(s string) uint16 {
	return uint16(lookupFold(dims[dimDestination].values[:2], s, 2))
}

// IngestDirectRoutingCall applies the observations of one direct-routing
// log row under one lock. Values the row does not have (an absent duration,
// a setup time without an invite) are not observed; a failed call has no
// duration or setup time.
func (c *Collector) IngestDirectRoutingCall(row *graph.DirectRoutingCall) {
	if row == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	trunk := c.learned[dimTrunk].id(strings.ToLower(row.Trunk))
	ct := c.learned[dimDRCallType].id(row.CallType)
	result := uint16(1)
	if row.Successful {
		result = 0
	}
	c.apply(obs{famDRCalls, seriesKey{trunk, ct, result, boolValue(row.MediaBypass)}, 1}, exemplar{})
	c.apply(obs{famDRSIPCodes, seriesKey{trunk, sipCodeOf(row.FinalSIPCode)}, 1}, exemplar{})
	if !row.Successful {
		return
	}
	if row.Duration.Valid {
		c.apply(obs{famDRDuration, seriesKey{trunk, ct}, row.Duration.Value}, exemplar{})
	}
	if d, ok := row.SetupTime(); ok {
		c.apply(obs{famDRSetup, seriesKey{trunk}, d.Seconds()}, exemplar{})
	}
}

// IngestPSTNCall applies the observations of one PSTN log row under one
// lock; an absent duration or charge is not observed.
func (c *Collector) IngestPSTNCall(row *graph.PSTNCall) {
	if row == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.learned[dimPSTNCallType].id(row.CallType)
	c.apply(obs{famPSTNCalls, seriesKey{ct, destinationOf(row.DestinationContext)}, 1}, exemplar{})
	if row.Duration.Valid {
		c.apply(obs{famPSTNDuration, seriesKey{ct}, row.Duration.Value}, exemplar{})
	}
	if row.Charge.Valid {
		c.apply(obs{famPSTNCharge, seriesKey{c.learned[dimCurrency].id(row.Currency)}, row.Charge.Value}, exemplar{})
	}
}
