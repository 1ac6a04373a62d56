// Monitoring mixin of the Teams call-quality exporter: the very dashboards
// and rules of this folder, for those who assemble their monitoring with
// jsonnet (jsonnet-bundler, kube-prometheus). Needs jsonnet 0.18 or later
// (std.parseYaml).
local rules = std.parseYaml(importstr 'rules/teams-exporter.rules.yml');
local isAlertGroup(g) = std.all([std.objectHas(r, 'alert') for r in g.rules]);

{
  grafanaDashboards+:: {
    'teams-call-quality.json': import 'teams-call-quality.json',
    'teams-exporter-health.json': import 'teams-exporter-health.json',
    'teams-phone.json': import 'teams-phone.json',
  },
  prometheusRules+:: {
    groups+: [g for g in rules.groups if !isAlertGroup(g)],
  },
  prometheusAlerts+:: {
    groups+: [g for g in rules.groups if isAlertGroup(g)],
  },
}
