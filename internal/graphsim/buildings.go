package graphsim

import _ "embed"

// DemoBuildingFile is the building file of the demo tenant, in the form of
// Microsoft's CQD building data file: offices in Seattle (one /16
// supernet), Berlin (two /24s), Tokyo (IPv4 and IPv6) and London (a /23),
// and a VPN pool. The generator puts clients in these networks, at home
// (192.168.1.0/24, unmapped), in an office missing from the file
// (10.77.0.0/16, unmapped) and on mobile networks.
//
//go:embed demo-buildings.csv
var DemoBuildingFile []byte
