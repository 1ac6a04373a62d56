// Monitoring mixin of the Teams call-quality exporter: the very dashboards
// and rules of this folder, for those who assemble their monitoring with
// jsonnet (jsonnet-bundler, kube-prometheus). Needs jsonnet 0.20 or later
// (std.parseYaml, std.get).
//
// rules/teams-exporter.rules.yml is the one source of the rules (Prometheus
// loads it as it is; deploy/ carries generated copies). The mixin applies
// _config to it:
//
//   (import 'mixin.libsonnet') + {
//     _config+:: {
//       jobSelector: 'job="teams"',
//       audioObjective: 0.99,
//       runbookURLPattern: 'https://wiki.example.com/teams-exporter/%s',
//       alerts+: {
//         TeamsExporterPollsFailing: { 'for': '15m', thresholds: { '1800': '3600' } },
//         TeamsCallQualityPoorAudioStreamsHigh: { labels: { severity: 'critical' } },
//       },
//     },
//   }
local rules = std.parseYaml(importstr 'rules/teams-exporter.rules.yml');

// What the rules file is written with, which _config replaces.
local fileJobSelector = 'job="teams-exporter"';
// The rules file's runbook_url of an alert is this with %s replaced by the
// alert's name: its page in docs/runbooks/.
local fileRunbookURLPattern = 'https://github.com/teams-exporter/teams-exporter/blob/main/docs/runbooks/%s.md';

local comparisons = ['>=', '<=', '==', '!=', '>', '<'];

// The audio quality objective the rules file and the call-quality dashboard
// are written with, and the burn-rate alerts' thresholds: burn rate times
// the error budget (1 - objective), as the file writes them.
local fileAudioObjective = 0.97;
local burnRateAlerts = ['TeamsAudioQualityBudgetBurnFast', 'TeamsAudioQualityBudgetBurnSlow'];
local burnRateThresholds = { '0.432': 14.4, '0.18': 6, '0.03': 1 };

// number writes a threshold to six decimals without trailing zeros and
// without float noise (14.4 * 0.03 is 0.43200000000000005).
local number(x) = std.rstripChars(std.rstripChars(std.format('%.6f', x), '0'), '.');

// replaceThreshold changes the number literal `from` to `to` wherever the
// expression compares with it ("<signal> <op> <number>", the rules file's
// convention).
local replaceThreshold(expr, from, to) =
  std.foldl(function(e, op) std.strReplace(e, op + ' ' + from, op + ' ' + to), comparisons, expr);

{
  _config+:: {
    // Selects the exporter's scrape job in the alerts on the target itself.
    jobSelector: fileJobSelector,
    // runbook_url of every alert: this with %s replaced by the alert's
    // name (e.g. 'https://wiki.example.com/teams/%s' or
    // 'https://runbooks.example.com/teams.html#%s').
    runbookURLPattern: fileRunbookURLPattern,
    // The audio quality objective: the share of classified audio streams
    // that must be good over 30 days. The burn-rate alerts and the
    // dashboard's objective row follow it.
    audioObjective: fileAudioObjective,
    // Per alert name: 'for', labels to add or change, and thresholds (the
    // number literal an expression compares with, as written in the rules
    // file, to the one to use).
    alerts: {},
  },

  local config = self._config,
  // objectiveThresholds are the burn-rate thresholds of an alert for the
  // configured objective.
  local objectiveThresholds(alert) =
    if !std.member(burnRateAlerts, alert) || config.audioObjective == fileAudioObjective then {}
    else { [from]: number(burnRateThresholds[from] * (1 - config.audioObjective)) for from in std.objectFields(burnRateThresholds) },
  local adapt(rule) =
    if !std.objectHas(rule, 'alert') then rule
    else
      local o = std.get(config.alerts, rule.alert, {});
      local objective = std.foldl(
        function(e, from) replaceThreshold(e, from, objectiveThresholds(rule.alert)[from]),
        std.objectFields(objectiveThresholds(rule.alert)),
        rule.expr,
      );
      local expr = std.foldl(
        function(e, from) replaceThreshold(e, from, o.thresholds[from]),
        std.objectFields(std.get(o, 'thresholds', {})),
        std.strReplace(objective, fileJobSelector, config.jobSelector),
      );
      rule {
        expr: expr,
        annotations+: {
          runbook_url: std.strReplace(config.runbookURLPattern, '%s', rule.alert),
        },
        labels+: std.get(o, 'labels', {}),
      } + (if std.objectHas(o, 'for') then { 'for': o['for'] } else {}),
  local isAlertGroup(g) = std.all([std.objectHas(r, 'alert') for r in g.rules]),
  local groups = [g { rules: [adapt(r) for r in g.rules] } for g in rules.groups],

  grafanaDashboards+:: {
    // The objective row's queries and texts are written with the file's
    // objective (0.97, 97 %).
    'teams-call-quality.json':
      if config.audioObjective == fileAudioObjective then import 'teams-call-quality.json'
      else std.parseJson(std.strReplace(std.strReplace(importstr 'teams-call-quality.json',
                                                       '0.97', number(config.audioObjective)),
                                        '97 %', number(100 * config.audioObjective) + ' %')),
    'teams-exporter-health.json': import 'teams-exporter-health.json',
    'teams-phone.json': import 'teams-phone.json',
  },
  prometheusRules+:: {
    groups+: [g for g in groups if !isAlertGroup(g)],
  },
  prometheusAlerts+:: {
    groups+: [g for g in groups if isAlertGroup(g)],
  },
}
