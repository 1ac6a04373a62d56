// Package collector turns Microsoft Teams call records (package graph) into
// call-quality observations: stream and network histograms, the CQD-style
// stream classification and per-call counters described in docs/metrics.md.
//
// The collector keeps its own aggregate store (label set -> classic bucket
// counts, sum, count, native buckets, last exemplar) instead of using
// client_golang's live metrics, because the store must survive restarts and
// scrapes must only show what has been saved. Snapshot cuts an immutable
// copy of the store: the value the ledger writes to the state file and
// then publishes to scrapes, which render it once (Families, Encode) and
// share the result. Restore validates a snapshot read back from the state
// file and replaces the store with it. Every series counts what has been
// ingested since the state began; an observation is made when its record
// is ingested, not when the call happened.
//
// Labels are bounded: each label value is one of a fixed list, held as a
// small enum, or one of a bounded set learned from data or configuration
// (see dimension), so hostile or unexpected strings can never grow the
// number of series. The record id travels only as the exemplar label
// call_id. docs/design.md describes how to add a family or a label.
package collector
