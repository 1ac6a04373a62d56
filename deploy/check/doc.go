// Package check holds the checks of the deployment files against the types
// of the software that reads them: every Kubernetes manifest and every
// object the Helm chart renders decoded strictly (no unknown field) into
// the Kubernetes and Prometheus Operator Go types, every dashboard into the
// Grafana Foundation SDK's dashboard types, and the rules generated from
// the monitoring mixin.
//
// It is a module of its own so that these heavy, test-only dependencies
// (k8s.io/api, the Prometheus Operator's API, the Grafana Foundation SDK,
// go-jsonnet) never reach the exporter's module. Run it from this directory:
// go test ./... (needs helm on PATH; .ci/run installs it). Under CI=true a
// missing tool fails the test instead of skipping it.
package check
