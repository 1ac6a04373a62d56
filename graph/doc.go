// Package graph is a small client for the call-records surface of Microsoft
// Graph v1.0: authentication through azidentity, OData paging, throttling,
// retries, and the typed records that the rest of the exporter consumes.
//
// It knows HTTP, OData and Entra tokens, and nothing of Prometheus: request
// outcomes are reported through the Observer interface.
package graph
