// Package simtruth computes the test oracle of the simulated tenant: from
// generated records (package graphsim), the exact series the exporter must
// show after ingesting them once (Truth), by its own reading of the
// observation model and the CQD classification in docs/design.md. It does
// not import the exporter's collector, so a mistake there is not mirrored
// here. Only tests import it: the demo serves graphsim's records and never
// computes their truth.
package simtruth
