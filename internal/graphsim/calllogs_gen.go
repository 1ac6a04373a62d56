package graphsim

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// CallLogOptions controls GenerateCallLogs.
type CallLogOptions struct {
	Seed int64
	// DirectRouting and PSTN are the numbers of rows of each log.
	DirectRouting, PSTN int
	// Start times are spread uniformly over [Start, End).
	Start, End time.Time
}

// FailingTrunk is the session border controller of generated tenants that
// fails most calls (503, 408, 500, 504); their other trunks connect most.
// One of those is spelled in mixed case, as an administrator may have typed
// it: the exporter lower-cases trunk names.
const FailingTrunk = "sbc-fra.contoso-voice.example"

var (
	trunks       = []string{"sbc1.contoso-voice.example", "sbc2.contoso-voice.example", "SBC-LON.Contoso-Voice.example", FailingTrunk}
	trunkWeights = []float64{40, 25, 20, 15}
	trunkBypass  = map[string]bool{"sbc1.contoso-voice.example": true}
)

// GenerateCallLogs builds realistic direct-routing and PSTN log rows,
// deterministically from the seed: inbound and outbound calls on four
// trunks, one of them failing; successful calls with setup times and
// durations, failed ones with their SIP codes and no end time; PSTN calls
// of users in three countries (and so three currencies), domestic and
// international, conference and bot (ucap) calls without a user. Rows are
// in start-time order, as Graph lists them.
func GenerateCallLogs(opts CallLogOptions) ([]DirectRoutingRow, []PSTNRow) {
	g := newGen(opts.Seed)
	span := opts.End.Sub(opts.Start)
	at := func() time.Time {
		if span <= 0 {
			return opts.Start.UTC()
		}
		return opts.Start.Add(time.Duration(g.r.Int64N(int64(span)))).UTC().Truncate(time.Millisecond)
	}
	dr := make([]DirectRoutingRow, 0, max(opts.DirectRouting, 0))
	for range opts.DirectRouting {
		dr = append(dr, g.directRoutingRow(at()))
	}
	pstn := make([]PSTNRow, 0, max(opts.PSTN, 0))
	for range opts.PSTN {
		pstn = append(pstn, g.pstnRow(at()))
	}
	sort.SliceStable(dr, func(i, j int) bool { return dr[i].StartDateTime.Before(dr[j].StartDateTime) })
	sort.SliceStable(pstn, func(i, j int) bool { return pstn[i].StartDateTime.Before(pstn[j].StartDateTime) })
	return dr, pstn
}

func (g *gen) phoneNumber(country string) string {
	switch country {
	case "DE":
		return fmt.Sprintf("+4969%08d", g.r.IntN(1e8))
	case "GB":
		return fmt.Sprintf("+4420%08d", g.r.IntN(1e8))
	}
	return fmt.Sprintf("+1425%07d", g.r.IntN(1e7))
}

func (g *gen) userFields(u person) (id, upn, name *string) {
	n := u.name()
	mail := fmt.Sprintf("%s.%s@contoso.example", u.first, u.last)
	return &u.id, &mail, &n
}

// sipFailure draws the final SIP code of a failed call: callers hanging up
// or busy on healthy trunks, server errors and timeouts on the failing one.
func (g *gen) sipFailure(trunk string) (int32, string, int32) {
	if trunk == FailingTrunk {
		c := weighted(g, []int32{503, 408, 500, 504, 487}, []float64{45, 25, 15, 10, 5})
		return c, map[int32]string{503: "Service Unavailable", 408: "Request Timeout", 500: "Internal Server Error", 504: "Server Time-out", 487: "Request Terminated"}[c], 560000 + c
	}
	c := weighted(g, []int32{486, 487, 480, 404, 603, 408}, []float64{30, 30, 15, 10, 10, 5})
	return c, map[int32]string{486: "Busy Here", 487: "Request Terminated", 480: "Temporarily Unavailable", 404: "Not Found", 603: "Decline", 408: "Request Timeout"}[c], 510000 + c
}

func (g *gen) directRoutingRow(start time.Time) DirectRoutingRow {
	trunk := weighted(g, trunks, trunkWeights)
	u := pick(g, g.users)
	id, upn, name := g.userFields(u)
	r := DirectRoutingRow{
		ID: g.uuid(), CorrelationID: g.uuid(), UserID: id, UserPrincipalName: upn, UserDisplayName: name,
		CallType:                      weighted(g, []string{"ByotIn", "ByotOut", "ByotOutUserForwarding"}, []float64{45, 45, 10}),
		TrunkFullyQualifiedDomainName: trunk,
		MediaBypassEnabled:            trunkBypass[trunk],
		MediaPathLocation:             pick(g, []string{"EUWE", "EUNO", "USWE", "USEA"}),
		SignalingLocation:             pick(g, []string{"EUWE", "EUNO", "USWE", "USEA"}),
		CallerNumber:                  g.phoneNumber("US"),
		CalleeNumber:                  g.phoneNumber(pick(g, []string{"US", "GB", "DE"})),
	}
	success := 0.94
	if trunk == FailingTrunk {
		success = 0.35
	}
	r.SuccessfulCall = g.chance(success)
	if r.SuccessfulCall {
		setup := time.Duration(math.Min(math.Max(g.logn(2.2, 0.6), 0.2), 45) * float64(time.Second)).Truncate(time.Millisecond)
		r.StartDateTime = start
		r.InviteDateTime = start.Add(-setup)
		r.Duration = int32(math.Min(math.Max(g.logn(170, 1.1), 1), 5*3600))
		r.EndDateTime = start.Add(time.Duration(r.Duration) * time.Second)
		r.FinalSIPCode, r.FinalSIPCodePhrase, r.CallEndSubReason = 0, "BYE", 540000
		return r
	}
	// A failed call: Graph documents its start as the invite or the
	// failure time, and it has no end.
	r.InviteDateTime = start
	r.FailureDateTime = start.Add(time.Duration(g.uniform(0.3, 30) * float64(time.Second))).Truncate(time.Millisecond)
	r.StartDateTime = start
	if g.chance(0.5) {
		r.StartDateTime = r.FailureDateTime
	}
	r.FinalSIPCode, r.FinalSIPCodePhrase, r.CallEndSubReason = g.sipFailure(trunk)
	return r
}

var (
	pstnCountries = []string{"US", "DE", "GB"}
	pstnCurrency  = map[string]string{"US": "USD", "DE": "EUR", "GB": "GBP"}
	pstnCountry   = map[string]string{"US": "United States", "DE": "Germany", "GB": "United Kingdom"}
)

func (g *gen) pstnRow(start time.Time) PSTNRow {
	callType := weighted(g, []string{"user_in", "user_out", "emergency_out", "conf_in", "conf_out", "ucap_in", "ucap_out"},
		[]float64{35, 40, 1, 10, 4, 7, 3})
	country := weighted(g, pstnCountries, []float64{50, 30, 20})
	r := PSTNRow{
		ID: g.uuid(), CallID: fmt.Sprintf("%d_%d@192.0.2.%d", g.r.Uint32(), g.r.Uint32(), 1+g.r.IntN(254)),
		StartDateTime: start, CallType: callType,
		Currency: pstnCurrency[country], UsageCountryCode: country, TenantCountryCode: "US",
		LicenseCapability: "MCOPSTNU", InventoryType: "Subscriber",
		Operator: "Microsoft", CallDurationSource: "microsoft",
	}
	if g.chance(0.3) {
		r.Operator, r.CallDurationSource = "Contoso Telecom", "operator" // Operator Connect
	}
	own := g.phoneNumber(country)
	other := g.phoneNumber(country)
	outbound := callType == "user_out" || callType == "emergency_out" || callType == "conf_out" || callType == "ucap_out"
	international := false
	if outbound {
		international = callType != "emergency_out" && g.chance(0.25)
		if international {
			dest := pick(g, pstnCountries)
			for dest == country {
				dest = pick(g, pstnCountries)
			}
			other = g.phoneNumber(dest)
			r.DestinationName = pstnCountry[dest]
			r.DestinationContext = ptr("International")
		} else {
			r.DestinationName = pstnCountry[country]
			r.DestinationContext = ptr("Domestic")
		}
		r.CallerNumber, r.CalleeNumber = own, other
	} else {
		// Microsoft's example inbound row has a null destinationContext.
		r.DestinationName = pstnCountry[country]
		r.CallerNumber, r.CalleeNumber = other, own
	}
	switch callType {
	case "ucap_in", "ucap_out": // bot calls: no user, as documented
		r.InventoryType = "Service"
	case "conf_in", "conf_out":
		r.ConferenceID = ptr(fmt.Sprint(100000 + g.r.IntN(900000)))
		r.InventoryType = "Service"
		fallthrough
	default:
		r.UserID, r.UserPrincipalName, r.UserDisplayName = g.userFields(pick(g, g.users))
	}
	if g.chance(0.04) {
		r.Duration = 0 // connected and dropped at once
	} else {
		r.Duration = int32(math.Min(math.Max(g.logn(150, 1.0), 1), 4*3600))
	}
	r.EndDateTime = start.Add(time.Duration(r.Duration) * time.Second)
	// Charged per started minute in 1/64 units of the currency: plausible
	// prices (0.016 domestic, 0.19 international) whose sums are exact in
	// floating point, so the truth does not depend on the order of adding.
	if outbound && callType != "emergency_out" {
		perMinute := 1.0 / 64
		if international {
			perMinute = 12.0 / 64
		}
		r.Charge = float64((int(r.Duration)+59)/60) * perMinute
	}
	return r
}

// CallLogPersonalValues lists the personal data in call-log rows: user ids,
// sign-in and display names, phone numbers, correlation and call ids
// (conference ids are short numbers that would only make false alarms). Tests grep the exporter's output and logs for them.
func CallLogPersonalValues(dr []DirectRoutingRow, pstn []PSTNRow) []string {
	seen := map[string]bool{}
	add := func(vs ...*string) {
		for _, v := range vs {
			if v != nil && len(*v) >= 6 {
				seen[*v] = true
			}
		}
	}
	for i := range dr {
		r := &dr[i]
		add(&r.CorrelationID, r.UserID, r.UserPrincipalName, r.UserDisplayName, &r.CallerNumber, &r.CalleeNumber)
	}
	for i := range pstn {
		r := &pstn[i]
		add(&r.CallID, r.UserID, r.UserPrincipalName, r.UserDisplayName, &r.CallerNumber, &r.CalleeNumber)
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
