// Package graphsim is a simulated Microsoft Graph tenant for tests and the
// exporter's demo mode. It speaks the wire protocol of Entra ID (OpenID
// configuration, instance discovery, client-credentials token endpoint) and
// of the call-records surface of Graph v1.0 (list with $filter and paging,
// get with expanded and paged sessions, the sessions collection, JSON
// batching, evolvable enums), over real HTTP(S).
//
// It is an independent implementation: it does not import the exporter's
// graph or collector packages, so a mistake in the exporter's models is not
// mirrored here. Its record types follow the microsoft.graph.callRecords
// namespace field by field; Generate builds realistic, varied records from a
// seed. The exact series the exporter must show after ingesting them once
// (the test oracle) is computed by package simtruth, from the observation
// model described in docs/design.md; only tests import it, so the demo
// neither ships nor computes it.
package graphsim
