// Package collector turns Microsoft Teams call records (package graph) into
// call-quality observations: stream and network histograms, the CQD-style
// stream classification and per-call counters of the exporter's SPEC.
//
// The collector keeps its own aggregate store (label set -> classic bucket
// counts, sum, count, native buckets, last exemplar) instead of using
// client_golang's live metrics, because the store must survive restarts:
// Snapshot and Restore move it to and from the exporter's state file, and
// scrapes read it as protobuf metric families rendered once per change of
// the store and shared until the next (Collect, or Gather and GatherVersion,
// which let a handler serve them beside a registry without its per-series
// checks and cache what it derives from them). Every
// series counts what has been ingested since the state began; an
// observation is made when its record is ingested, not when the call
// happened.
//
// Labels are bounded: each label value is one of SPEC's fixed lists, held as
// a small enum, so hostile or unexpected strings can never grow the number of
// series. The record id travels only as the exemplar label call_id.
package collector
