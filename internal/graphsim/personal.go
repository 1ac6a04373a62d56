package graphsim

import (
	"sort"
	"strings"
)

// PersonalValues lists the personal data in records: user, guest and phone
// ids and display names, IP addresses and subnets, MAC addresses and
// BSSIDs, device names (audio devices named after their owner, user-agent
// headers that name the device), meeting join URLs and feedback text. Tests grep the exporter's
// output and logs for them: none may appear. Record ids are not listed
// (they are allowed as exemplars); placeholders shorter than 6 characters
// and the iOS privacy MAC are left out to avoid false alarms.
func PersonalValues(recs []Record) []string {
	seen := map[string]bool{}
	add := func(vs ...string) {
		for _, v := range vs {
			if len(v) >= 6 && v != "02-00-00-00-00-00" {
				seen[v] = true
			}
		}
	}
	identity := func(is *IdentitySet) {
		if is == nil {
			return
		}
		for _, id := range []*Identity{is.User, is.Application, is.Device, is.Phone, is.Guest} {
			if id == nil {
				continue
			}
			add(id.ID)
			if id.DisplayName != nil {
				add(*id.DisplayName)
			}
		}
	}
	endpoint := func(e Endpoint) {
		identity(e.Identity)
		if e.UserAgent != nil {
			add(e.UserAgent.HeaderValue)
		}
		if e.Feedback != nil && e.Feedback.Text != nil {
			add(*e.Feedback.Text)
		}
	}
	network := func(n *NetworkInfo) {
		if n != nil {
			add(n.IPAddress, n.Subnet, n.ReflexiveIPAddress, n.RelayIPAddress, n.MACAddress, n.BasicServiceSetIdentifier)
		}
	}
	// Audio device names are personal when they carry the owner's name
	// ("Abbie's AirPods Pro"); generic ones ("Speakers (Realtek(R) Audio)")
	// would only make false alarms.
	device := func(d *DeviceInfo) {
		if d == nil {
			return
		}
		for _, n := range []string{d.CaptureDeviceName, d.RenderDeviceName} {
			if strings.Contains(n, "'s ") {
				add(n)
			}
		}
	}
	for i := range recs {
		r := &recs[i]
		identity(r.Organizer)
		for j := range r.Participants {
			identity(&r.Participants[j])
		}
		if r.JoinWebURL != nil {
			add(*r.JoinWebURL)
		}
		for _, s := range r.Sessions {
			endpoint(s.Caller)
			endpoint(s.Callee)
			for _, g := range s.Segments {
				endpoint(g.Caller)
				endpoint(g.Callee)
				for _, m := range g.Media {
					network(m.CallerNetwork)
					network(m.CalleeNetwork)
					device(m.CallerDevice)
					device(m.CalleeDevice)
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
