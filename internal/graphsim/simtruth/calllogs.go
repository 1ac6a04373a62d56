package simtruth

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// Buckets of the call-log families.
var (
	callLogDurationBuckets = []float64{10, 30, 60, 300, 600, 1800, 3600, 7200}
	setupBuckets           = []float64{.5, 1, 2, 3, 5, 10, 20, 30, 60}
)

// Bounds of the label values that come from the data.
const (
	maxTrunks     = 100
	maxCallTypes  = 20
	maxCurrencies = 10
)

var (
	callTypePattern = regexp.MustCompile(`^[A-Za-z_]{1,40}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	hostPattern     = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// firstN admits the first n distinct values that pass ok, in the order
// they are met, and maps every other value to "other".
type firstN struct {
	n    int
	ok   func(string) bool
	seen map[string]bool
}

func (f *firstN) label(v string) string {
	if !f.ok(v) {
		return "other"
	}
	if f.seen[v] {
		return v
	}
	if len(f.seen) >= f.n {
		return "other"
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	f.seen[v] = true
	return v
}

// CallLogs computes, from the product's metric definitions, the series
// the exporter must expose after ingesting the rows once, in the order
// given (the first trunks, call types and currencies met keep their names
// when a bound is reached; generated data stays under the bounds).
func CallLogs(dr []graphsim.DirectRoutingRow, pstn []graphsim.PSTNRow) Truth {
	b := newBuilder()
	trunk := &firstN{n: maxTrunks, ok: func(v string) bool { return len(v) <= 253 && hostPattern.MatchString(v) }}
	drType := &firstN{n: maxCallTypes, ok: callTypePattern.MatchString}
	for i := range dr {
		r := &dr[i]
		tr := trunk.label(strings.ToLower(r.TrunkFullyQualifiedDomainName))
		ct := drType.label(r.CallType)
		result := "failure"
		if r.SuccessfulCall {
			result = "success"
		}
		b.inc("teams_direct_routing_calls_total", newLabels(map[string]string{
			"trunk": tr, "call_type": ct, "result": result, "media_bypass": strconv.FormatBool(r.MediaBypassEnabled),
		}), 1)
		code := "other"
		if c := r.FinalSIPCode; c == 0 || c >= 100 && c <= 699 {
			code = strconv.Itoa(int(c))
		}
		b.inc("teams_direct_routing_final_sip_codes_total", newLabels(map[string]string{"trunk": tr, "code": code}), 1)
		if !r.SuccessfulCall {
			continue
		}
		if r.Duration >= 0 {
			b.observe("teams_direct_routing_call_duration_seconds", newLabels(map[string]string{"trunk": tr, "call_type": ct}),
				callLogDurationBuckets, float64(r.Duration))
		}
		if !r.InviteDateTime.IsZero() && !r.StartDateTime.Before(r.InviteDateTime) {
			b.observe("teams_direct_routing_setup_seconds", newLabels(map[string]string{"trunk": tr}),
				setupBuckets, r.StartDateTime.Sub(r.InviteDateTime).Seconds())
		}
	}
	pstnType := &firstN{n: maxCallTypes, ok: callTypePattern.MatchString}
	currency := &firstN{n: maxCurrencies, ok: currencyPattern.MatchString}
	for i := range pstn {
		r := &pstn[i]
		ct := pstnType.label(r.CallType)
		dest := "unknown"
		if r.DestinationContext != nil {
			switch strings.ToLower(*r.DestinationContext) {
			case "domestic", "international":
				dest = strings.ToLower(*r.DestinationContext)
			}
		}
		b.inc("teams_pstn_calls_total", newLabels(map[string]string{"call_type": ct, "destination_context": dest}), 1)
		if r.Duration >= 0 {
			b.observe("teams_pstn_call_duration_seconds", newLabels(map[string]string{"call_type": ct}), callLogDurationBuckets, float64(r.Duration))
		}
		if r.Charge >= 0 && r.Charge <= 1e6 {
			b.inc("teams_pstn_charge_total", newLabels(map[string]string{"currency": currency.label(r.Currency)}), r.Charge)
		}
	}
	return b.truth()
}
