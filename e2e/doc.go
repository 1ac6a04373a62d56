// Package e2e holds the end-to-end tests of the monitoring bundle: the
// exporter binary in demo mode scraped by a real Prometheus, every PromQL
// expression of the Grafana dashboards and Prometheus rules in dashboards/
// evaluated against it, promtool's checks and rule unit tests, the dashboards'
// conformance to the Grafana dashboard linter's rules, and the deployment
// examples in deploy/.
//
// The tests need the prometheus and promtool binaries (Debian package
// "prometheus") on PATH. Without them they skip, except when the environment
// variable CI is "true": there a missing tool fails the test, so that CI can
// never pass by skipping.
package e2e

// The deployment files generated from the rules file and the configuration
// (deploy/kubernetes/prometheusrule.yaml, the Helm chart's copy of the
// rules, deploy/compose/teams-exporter.env.example):
//go:generate go test -run ^(TestPrometheusRuleMatchesRulesFile|TestComposeEnvFile)$ -update .
